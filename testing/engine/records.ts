// Records: owns the PutLog rows, the PutStreamEvent rows and the engine's own log (bad CEL,
// dropped events, requeues). Serves PutLog and PutStreamEvent (a chunk is also published to the
// run's event subscribers) and what MockEngine reads of them.

import type { PutLogRequest, PutStreamEventRequest } from "../../transport/services.ts";
import type { JsonObject } from "../../transport/types.ts";
import { parseObject } from "../_validate.ts";
import { invalid } from "./errors.ts";
import type { Queue } from "./queue.ts";
import type { Runs } from "./runs.ts";
import type { Subscriptions } from "./subscriptions.ts";
import type { EngineState, LogRecord } from "./types.ts";

const MAX_LOG_CHARS = 10_000;
const LOG_LEVELS = new Set(["INFO", "ERROR", "WARN", "DEBUG"]);

/** A recorded `PutStreamEvent`. */
interface StreamRecord {
  taskRunId: string;
  eventIndex: number | undefined;
  seq: number;
  data: Uint8Array;
}

/** What the records room uses of the other rooms. */
export interface RecordsLinks {
  readonly runs: Pick<Runs, "taskForRpc">;
  readonly queue: Pick<Queue, "ack">;
  readonly subscriptions: Pick<Subscriptions, "streamEvent">;
}

/** Logs, stream events and engine notes. */
export class Records {
  #state: EngineState;
  #links: RecordsLinks;
  #logs: LogRecord[] = [];
  #streamEvents: StreamRecord[] = [];
  #engineLog: string[] = [];

  constructor(state: EngineState, links: RecordsLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** Appends a line to the engine's own log (bad CEL, dropped events). */
  note(line: string): void {
    this.#engineLog.push(line);
  }

  engineLog(): string[] {
    return [...this.#engineLog];
  }

  logs(taskRunId?: string): LogRecord[] {
    return this.#logs.filter((l) => taskRunId === undefined || l.taskRunId === taskRunId)
      .map((l) => ({ ...l }));
  }

  streamEvents(taskRunId: string): Uint8Array[] {
    return this.#streamEvents.filter((e) => e.taskRunId === taskRunId)
      .sort((a, b) =>
        (a.eventIndex ?? Number.MAX_SAFE_INTEGER) - (b.eventIndex ?? Number.MAX_SAFE_INTEGER) ||
        a.seq - b.seq
      )
      .map((e) => e.data.slice());
  }

  putLog(req: PutLogRequest): void {
    const task = this.#links.runs.taskForRpc(req.taskRunExternalId);
    this.#links.queue.ack(task.id);
    const length = [...req.message].length;
    if (length < 1 || length > MAX_LOG_CHARS) {
      throw invalid(`message must be 1 to ${MAX_LOG_CHARS} characters, received ${length}`);
    }
    if (req.level !== undefined && !LOG_LEVELS.has(req.level)) {
      throw invalid(
        `level must be one of INFO, ERROR, WARN, DEBUG, received ${JSON.stringify(req.level)}`,
      );
    }
    let metadata: JsonObject | undefined;
    if (req.metadata !== "") {
      metadata = parseObject(req.metadata);
      if (!metadata) {
        throw invalid(`metadata must be a JSON object, received ${JSON.stringify(req.metadata)}`);
      }
    }
    this.#logs.push({
      taskRunId: task.id,
      message: req.message,
      level: req.level ?? "INFO",
      createdAt: req.createdAt
        ? new Date(Number(req.createdAt.seconds) * 1000 + req.createdAt.nanos / 1e6)
        : new Date(this.#state.clock.now()),
      retryCount: req.taskRetryCount ?? task.retryCount,
      metadata,
    });
    this.#state.activity++;
  }

  putStreamEvent(req: PutStreamEventRequest): void {
    const task = this.#links.runs.taskForRpc(req.taskRunExternalId);
    this.#links.queue.ack(task.id);
    this.#links.subscriptions.streamEvent(task, req);
    this.#streamEvents.push({
      taskRunId: task.id,
      eventIndex: req.eventIndex === undefined ? undefined : Number(req.eventIndex),
      seq: this.#state.seq++,
      data: req.message.slice(),
    });
    this.#state.activity++;
  }
}
