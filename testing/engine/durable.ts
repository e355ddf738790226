// Durable: owns the legacy durable-wait state, the signal results (first completion per task run
// and signal key) and the open ListenForDurableEvent streams with their subscriptions. Serves
// RegisterDurableEvent (a SIGNAL match in the matches room) and delivers each result to the
// streams subscribed to it, or at once to a stream subscribing after it completed.

import { create } from "@bufbuild/protobuf";
import { DurableEventSchema, type RegisterDurableEventRequest } from "../../transport/services.ts";
import type { JsonObject } from "../../transport/types.ts";
import { StreamQueue } from "../_stream_queue.ts";
import { goJson, isUuid } from "../_validate.ts";
import { invalid, notFound } from "./errors.ts";
import type { Matches } from "./matches.ts";
import type { Queue } from "./queue.ts";
import type { Records } from "./records.ts";
import type { Runs } from "./runs.ts";
import type { DurableStream, EngineState, MatchCondition, TaskRun } from "./types.ts";

const encoder = new TextEncoder();

/** What the durable room uses of the other rooms. */
export interface DurableLinks {
  readonly runs: Pick<Runs, "task">;
  readonly queue: Pick<Queue, "ack" | "flush">;
  readonly matches: Pick<Matches, "addSignalMatch" | "sleepCondition">;
  readonly records: Pick<Records, "note">;
}

/** Durable signals and their listen streams. */
export class Durable {
  #state: EngineState;
  #links: DurableLinks;
  #completions = new Map<string, Uint8Array>();
  #streams = new Set<DurableStream>();

  constructor(state: EngineState, links: DurableLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** Messages pushed to durable-event streams and not yet taken by their handlers. */
  pendingDeliveries(): number {
    let n = 0;
    for (const s of this.#streams) n += s.queue.pending;
    return n;
  }

  /** Ends every durable-event stream, with `error` if given. */
  abortStreams(error?: unknown): void {
    for (const s of this.#streams) s.queue.abort(error);
  }

  registerDurableEvent(req: RegisterDurableEventRequest): void {
    if (!isUuid(req.taskId)) throw invalid("task id is not a valid uuid");
    const task = this.#links.runs.task(req.taskId);
    if (!task || task.status === "PENDING") throw notFound(`task not found: ${req.taskId}`);
    this.#links.queue.ack(task.id);
    const conditions: MatchCondition[] = [];
    for (const s of req.conditions?.sleepConditions ?? []) {
      this.#checkOrGroup(s.base?.orGroupId);
      conditions.push(this.#links.matches.sleepCondition({
        orGroupId: s.base!.orGroupId.toLowerCase(),
        action: "CREATE",
        readableDataKey: s.base!.readableDataKey,
        sleepFor: s.sleepFor,
      }));
    }
    for (const u of req.conditions?.userEventConditions ?? []) {
      this.#checkOrGroup(u.base?.orGroupId);
      conditions.push({
        orGroupId: u.base!.orGroupId.toLowerCase(),
        action: "CREATE",
        eventType: "USER",
        eventKey: u.userEventKey,
        expression: u.base!.expression,
        readableDataKey: u.base!.readableDataKey,
        satisfied: false,
      });
    }
    this.#links.matches.addSignalMatch(task, req.signalKey, conditions);
    this.#state.activity++;
    this.#links.queue.flush();
  }

  #checkOrGroup(id: string | undefined): void {
    if (id === undefined || !isUuid(id)) {
      throw invalid(`or_group_id must be a UUID, received ${JSON.stringify(id ?? "")}`);
    }
  }

  /** Opens a ListenForDurableEvent stream. */
  openDurableStream(): DurableStream {
    const stream: DurableStream = { queue: new StreamQueue(), subscriptions: new Set() };
    this.#streams.add(stream);
    this.#state.activity++;
    return stream;
  }

  /** Subscribes a stream to `(taskId, signalKey)`; delivers at once if already completed. */
  subscribeDurable(stream: DurableStream, taskId: string, signalKey: string): void {
    this.#state.activity++;
    if (!isUuid(taskId) || !this.#links.runs.task(taskId)) {
      this.#links.records.note(
        `ListenForDurableEvent: skipped subscription for unknown task ${taskId}`,
      );
      return;
    }
    const key = signalId(taskId, signalKey);
    const data = this.#completions.get(key);
    if (data) {
      stream.queue.push(create(DurableEventSchema, { taskId, signalKey, data }));
      return;
    }
    stream.subscriptions.add(key);
  }

  closeDurableStream(stream: DurableStream): void {
    this.#streams.delete(stream);
    this.#state.activity++;
  }

  completeSignal(task: TaskRun, signalKey: string, result: JsonObject): void {
    const key = signalId(task.id, signalKey);
    // The first completion per (task run, signal key) wins forever: a retried attempt that
    // registers the same key again replays this result.
    if (this.#completions.has(key)) return;
    const data = encoder.encode(goJson(result));
    this.#completions.set(key, data);
    for (const stream of this.#streams) {
      if (!stream.subscriptions.delete(key)) continue;
      stream.queue.push(create(DurableEventSchema, { taskId: task.id, signalKey, data }));
    }
  }
}

function signalId(taskId: string, signalKey: string): string {
  return `${taskId}\u0000${signalKey}`;
}
