// Workers: owns the registered workers, their listen streams (ListenV2/Listen), heartbeats,
// liveness, labels and actions. A closed stream hands its undelivered assignments back to the
// queue; anything that can change who gets work asks the queue to schedule.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ActionType,
  type UpsertWorkerLabelsRequest,
  type WorkerLabels,
  type WorkerRegisterRequest,
  type WorkerRegisterResponse,
  WorkerRegisterResponseSchema,
} from "../../transport/services.ts";
import { StreamQueue } from "../_stream_queue.ts";
import { isUuid } from "../_validate.ts";
import { invalid, notFound } from "./errors.ts";
import type { Queue } from "./queue.ts";
import type { Runs } from "./runs.ts";
import type { EngineState, ListenStream, WorkerInfo, WorkerState } from "./types.ts";

/** How long after its last heartbeat (or stream start) a worker still gets work, in wall ms. */
const LIVENESS_MS = 5_000;

/** What the workers room uses of the other rooms. */
export interface WorkersLinks {
  readonly runs: Pick<Runs, "task">;
  readonly queue: Pick<Queue, "flush" | "requestSchedule" | "requeue">;
}

/** Registered workers and their streams. */
export class Workers {
  #state: EngineState;
  #links: WorkersLinks;
  #workers = new Map<string, WorkerState>();

  constructor(state: EngineState, links: WorkersLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** The worker with id `workerId`, if registered. */
  get(workerId: string): WorkerState | undefined {
    return this.#workers.get(workerId);
  }

  /** Every registered worker, in registration order. */
  all(): Iterable<WorkerState> {
    return this.#workers.values();
  }

  /** Messages pushed to listen streams and not yet taken by their handlers. */
  pendingDeliveries(): number {
    let n = 0;
    for (const w of this.#workers.values()) for (const s of w.streams) n += s.queue.pending;
    return n;
  }

  /** Ends every listen stream, with `error` if given. */
  abortStreams(error?: unknown): void {
    for (const w of this.#workers.values()) for (const s of w.streams) s.queue.abort(error);
  }

  /** What MockEngine.workers reports. */
  infos(): WorkerInfo[] {
    return [...this.#workers.values()].map((w) => ({
      id: w.id,
      name: w.name,
      actions: [...w.actions],
      slotConfig: { ...w.slotConfig },
      usedSlots: { ...w.used },
      labels: { ...w.labels },
      active: w.streams.length > 0,
      live: this.isLive(w),
    }));
  }

  register(req: WorkerRegisterRequest): WorkerRegisterResponse {
    const hasSlotConfig = Object.keys(req.slotConfig).length > 0;
    if (req.slots !== undefined && hasSlotConfig) {
      throw invalid("cannot specify both slots and slot_config");
    }
    if (req.workerName === "") throw invalid("worker_name is required");
    let slotConfig: Record<string, number>;
    if (hasSlotConfig) slotConfig = { ...req.slotConfig };
    else if (req.slots !== undefined) slotConfig = { default: req.slots };
    else slotConfig = { default: 100 };
    for (const [type, units] of Object.entries(slotConfig)) {
      if (units < 0) throw invalid(`slot_config["${type}"] must be >= 0, received ${units}`);
    }
    const worker: WorkerState = {
      id: crypto.randomUUID(),
      name: req.workerName,
      // The engine stores action ids lower-cased (UpsertAction) and routes by that form.
      actions: new Set(req.actions.map((a) => a.toLowerCase())),
      slotConfig,
      used: {},
      labels: labelsOf(req.labels),
      lastHeartbeatWall: undefined,
      listenerEstablishedWall: undefined,
      hadListener: false,
      streams: [],
      unsubscribed: false,
    };
    this.#workers.set(worker.id, worker);
    this.#state.activity++;
    return create(WorkerRegisterResponseSchema, {
      tenantId: this.#state.tenantId,
      workerId: worker.id,
      workerName: worker.name,
    });
  }

  #worker(workerId: string): WorkerState {
    if (!isUuid(workerId)) throw invalid(`invalid worker ID format: ${workerId}`);
    const worker = this.#workers.get(workerId);
    if (!worker) throw notFound(`worker not found: ${workerId}`);
    return worker;
  }

  /** Opens a ListenV2 (`"v2"`) or Listen (`"v1"`) stream for a worker. */
  openListen(workerId: string, version: "v1" | "v2"): ListenStream {
    const worker = this.#worker(workerId);
    const stream: ListenStream = { queue: new StreamQueue(), version };
    worker.streams.push(stream);
    worker.hadListener = true;
    worker.unsubscribed = false;
    worker.listenerEstablishedWall = Date.now();
    this.#links.queue.requestSchedule();
    this.#links.queue.flush();
    return stream;
  }

  /** Forgets a listen stream after it ended. */
  closeListen(workerId: string, stream: ListenStream): void {
    const worker = this.#workers.get(workerId);
    const undelivered = stream.queue.undelivered();
    if (!worker) return;
    worker.streams = worker.streams.filter((s) => s !== stream);
    this.#state.activity++;
    // An assignment the stream never carried did not reach the worker: it goes back to the
    // queue rather than running on nobody until its timeout.
    for (const action of undelivered) {
      if (action.actionType !== ActionType.START_STEP_RUN) continue;
      const task = this.#links.runs.task(action.taskRunExternalId);
      if (
        task === undefined || task.status !== "RUNNING" || task.workerId !== workerId ||
        task.retryCount !== action.retryCount
      ) continue;
      this.#links.queue.requeue(
        task,
        `its assignment was not delivered before worker ${workerId}'s stream closed`,
      );
    }
    this.#links.queue.flush();
  }

  heartbeat(workerId: string): void {
    const worker = this.#worker(workerId);
    if (worker.hadListener && worker.streams.length === 0) {
      throw new ConnectError(
        `Heartbeat rejected: worker stream is not active: ${workerId}`,
        Code.FailedPrecondition,
      );
    }
    worker.lastHeartbeatWall = Date.now();
    this.#links.queue.requestSchedule();
    this.#links.queue.flush();
  }

  unsubscribe(workerId: string): void {
    const worker = this.#worker(workerId);
    worker.unsubscribed = true;
    this.#state.activity++;
  }

  upsertWorkerLabels(req: UpsertWorkerLabelsRequest): void {
    const worker = this.#worker(req.workerId);
    Object.assign(worker.labels, labelsOf(req.labels));
    this.#state.activity++;
  }

  /** Replaces a worker's actions, as the engine does for an HTTP operator after a healthcheck. */
  setWorkerActions(workerId: string, actions: string[]): void {
    const worker = this.#worker(workerId);
    worker.actions = new Set(actions.map((a) => a.toLowerCase()));
    this.#links.queue.requestSchedule();
    this.#links.queue.flush();
  }

  /** Whether the worker would get work now: an open stream and a recent heartbeat. */
  isLive(w: WorkerState): boolean {
    const stream = openStream(w);
    if (!stream || w.unsubscribed) return false;
    if (stream.version === "v1") return true;
    const last = Math.max(w.lastHeartbeatWall ?? -Infinity, w.listenerEstablishedWall ?? -Infinity);
    return Date.now() - last <= LIVENESS_MS;
  }
}

function labelsOf(labels: { [key: string]: WorkerLabels }): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (value.strValue !== undefined) out[key] = value.strValue;
    else if (value.intValue !== undefined) out[key] = value.intValue;
  }
  return out;
}

/** The stream a worker gets its actions on: its newest one that is still open. */
export function openStream(worker: WorkerState): ListenStream | undefined {
  for (let i = worker.streams.length - 1; i >= 0; i--) {
    if (!worker.streams[i].queue.closed) return worker.streams[i];
  }
  return undefined;
}
