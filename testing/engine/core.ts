// EngineCore: the facade the RPC handlers (_services.ts), MockEngine and the push deliverer call.
// Owns the shared engine state (clock, activity counter, closed flag) and wires the rooms
// together; each public method hands the call to the room that owns the state it touches. The
// rules follow hatchet-protocol.md §3, §4, §6, §7 and the engine source it cites. Methods throw
// ConnectError with the engine's status codes.

import type {
  ActionEventResponse,
  CancelTasksRequest,
  CancelTasksResponse,
  CreateWorkflowVersionRequest,
  CreateWorkflowVersionResponse,
  Event,
  GetRunDetailsResponse,
  PushEventRequest,
  PutLogRequest,
  PutStreamEventRequest,
  RefreshTimeoutResponse,
  RegisterDurableEventRequest,
  StepActionEvent,
  TriggerWorkflowRunRequest,
  UpsertWorkerLabelsRequest,
  WorkerRegisterRequest,
  WorkerRegisterResponse,
} from "../../transport/services.ts";
import { EngineClock } from "../_clock.ts";
import { Attempts } from "./attempts.ts";
import { Durable } from "./durable.ts";
import { Events } from "./events.ts";
import { Matches } from "./matches.ts";
import { Queue } from "./queue.ts";
import { Records } from "./records.ts";
import { Runs } from "./runs.ts";
import type {
  DurableStream,
  EngineCoreOptions,
  EngineState,
  ListenStream,
  LogRecord,
  TaskRunInfo,
  WorkerInfo,
} from "./types.ts";
import { Workers } from "./workers.ts";
import { Workflows } from "./workflows.ts";

/** Every room, as the others reach it. */
interface Rooms {
  records: Records;
  workflows: Workflows;
  workers: Workers;
  queue: Queue;
  runs: Runs;
  attempts: Attempts;
  matches: Matches;
  durable: Durable;
  events: Events;
}

/** The mock engine's state machine. */
export class EngineCore {
  readonly tenantId: string;
  readonly version: string | null;
  readonly clock: EngineClock;
  /** Unary RPCs being handled. */
  inFlight = 0;

  #state: EngineState;
  #rooms: Rooms;

  constructor(options: EngineCoreOptions) {
    this.tenantId = options.tenantId;
    this.version = options.version;
    this.clock = new EngineClock(options.clock, options.startMs, () => this.#afterTimers());
    const state: EngineState = {
      tenantId: options.tenantId,
      clock: this.clock,
      activity: 0,
      seq: 0,
      closed: false,
    };
    this.#state = state;
    // Rooms keep this object and look their neighbours up at call time, so the order they are
    // built in does not matter.
    const rooms = {} as Rooms;
    rooms.records = new Records(state, rooms);
    rooms.workflows = new Workflows(state);
    rooms.workers = new Workers(state, rooms);
    rooms.queue = new Queue(state, rooms);
    rooms.runs = new Runs(state, rooms);
    rooms.attempts = new Attempts(state, rooms);
    rooms.matches = new Matches(state, rooms);
    rooms.durable = new Durable(state, rooms);
    rooms.events = new Events(state, rooms);
    this.#rooms = rooms;
  }

  /** Bumped on every state change and RPC boundary; the quiet check watches it. */
  get activity(): number {
    return this.#state.activity;
  }

  set activity(value: number) {
    this.#state.activity = value;
  }

  // ---------------------------------------------------------------- quiet / lifecycle

  /** Messages pushed to stream queues and not yet taken by their handlers. */
  pendingDeliveries(): number {
    return this.#rooms.workers.pendingDeliveries() + this.#rooms.durable.pendingDeliveries();
  }

  /** START_STEP_RUN assignments no RPC has mentioned yet (the worker may still be reacting). */
  awaitingAck(): number {
    return this.#rooms.queue.awaitingAck();
  }

  /** Stops waiting for acknowledgements (for workers that never send any). */
  forgetAwaitingAck(): void {
    this.#rooms.queue.forgetAwaitingAck();
  }

  /** Counts a task run handed to an HTTP endpoint as not yet acknowledged until it answers. */
  awaitAck(taskRunId: string): void {
    this.#rooms.queue.awaitAck(taskRunId);
  }

  /** Fires the virtual clock's timers due at its current time. */
  fireDueTimers(): void {
    if (this.clock.fireDue() > 0) this.#afterTimers();
  }

  #afterTimers(): void {
    this.#state.activity++;
    this.#rooms.queue.flush();
  }

  /** Ends every stream (normally, or with `error`) and stops all timers. */
  close(error?: unknown): void {
    this.#state.closed = true;
    this.clock.close();
    this.endStreams(error);
  }

  /** Whether `close` ran. */
  get closed(): boolean {
    return this.#state.closed;
  }

  /** Ends open streams, worker listen streams and durable-event streams, with `error` if given. */
  endStreams(error?: unknown): void {
    this.#rooms.workers.abortStreams(error);
    this.#rooms.durable.abortStreams(error);
    this.#state.activity++;
  }

  /** Appends a line to the engine's own log (bad CEL, dropped events). */
  note(line: string): void {
    this.#rooms.records.note(line);
  }

  // ---------------------------------------------------------------- inspection

  engineLog(): string[] {
    return this.#rooms.records.engineLog();
  }

  logs(taskRunId?: string): LogRecord[] {
    return this.#rooms.records.logs(taskRunId);
  }

  streamEvents(taskRunId: string): Uint8Array[] {
    return this.#rooms.records.streamEvents(taskRunId);
  }

  taskRuns(workflowRunId?: string): TaskRunInfo[] {
    return this.#rooms.runs.taskRuns(workflowRunId);
  }

  workflowRunIds(): string[] {
    return this.#rooms.runs.workflowRunIds();
  }

  workers(): WorkerInfo[] {
    return this.#rooms.workers.infos();
  }

  /** The task's name, for RPC log summaries. */
  taskName(taskRunId: string): string | undefined {
    return this.#rooms.runs.taskName(taskRunId);
  }

  // ---------------------------------------------------------------- Dispatcher

  register(req: WorkerRegisterRequest): WorkerRegisterResponse {
    return this.#rooms.workers.register(req);
  }

  /** Opens a ListenV2 (`"v2"`) or Listen (`"v1"`) stream for a worker. */
  openListen(workerId: string, version: "v1" | "v2"): ListenStream {
    return this.#rooms.workers.openListen(workerId, version);
  }

  /** Forgets a listen stream after it ended. */
  closeListen(workerId: string, stream: ListenStream): void {
    this.#rooms.workers.closeListen(workerId, stream);
  }

  heartbeat(workerId: string): void {
    this.#rooms.workers.heartbeat(workerId);
  }

  unsubscribe(workerId: string): void {
    this.#rooms.workers.unsubscribe(workerId);
  }

  upsertWorkerLabels(req: UpsertWorkerLabelsRequest): void {
    this.#rooms.workers.upsertWorkerLabels(req);
  }

  /** Replaces a worker's actions, as the engine does for an HTTP operator after a healthcheck. */
  setWorkerActions(workerId: string, actions: string[]): void {
    this.#rooms.workers.setWorkerActions(workerId, actions);
  }

  sendStepActionEvent(req: StepActionEvent): ActionEventResponse {
    return this.#rooms.attempts.sendStepActionEvent(req);
  }

  refreshTimeout(taskRunId: string, incrementBy: string): RefreshTimeoutResponse {
    return this.#rooms.queue.refreshTimeout(taskRunId, incrementBy);
  }

  releaseSlot(taskRunId: string): void {
    this.#rooms.queue.releaseSlot(taskRunId);
  }

  // ---------------------------------------------------------------- Events

  push(req: PushEventRequest): Event {
    return this.#rooms.events.push(req);
  }

  putLog(req: PutLogRequest): void {
    this.#rooms.records.putLog(req);
  }

  putStreamEvent(req: PutStreamEventRequest): void {
    this.#rooms.records.putStreamEvent(req);
  }

  // ---------------------------------------------------------------- Admin

  putWorkflow(req: CreateWorkflowVersionRequest): CreateWorkflowVersionResponse {
    return this.#rooms.workflows.putWorkflow(req);
  }

  triggerWorkflowRun(req: TriggerWorkflowRunRequest): string {
    return this.#rooms.runs.triggerWorkflowRun(req);
  }

  getRunDetails(id: string): GetRunDetailsResponse {
    return this.#rooms.runs.getRunDetails(id);
  }

  cancelTasks(req: CancelTasksRequest): CancelTasksResponse {
    return this.#rooms.runs.cancelTasks(req);
  }

  // ---------------------------------------------------------------- V1Dispatcher (durable)

  registerDurableEvent(req: RegisterDurableEventRequest): void {
    this.#rooms.durable.registerDurableEvent(req);
  }

  /** Opens a ListenForDurableEvent stream. */
  openDurableStream(): DurableStream {
    return this.#rooms.durable.openDurableStream();
  }

  /** Subscribes a stream to `(taskId, signalKey)`; delivers at once if already completed. */
  subscribeDurable(stream: DurableStream, taskId: string, signalKey: string): void {
    this.#rooms.durable.subscribeDurable(stream, taskId, signalKey);
  }

  closeDurableStream(stream: DurableStream): void {
    this.#rooms.durable.closeDurableStream(stream);
  }
}
