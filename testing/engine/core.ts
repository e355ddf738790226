// EngineCore: the facade the RPC handlers (_services.ts), MockEngine and the push deliverer call.
// Owns the shared engine state (clock, activity counter, closed flag) and wires the rooms
// together; each public method hands the call to the room that owns the state it touches. The
// rules follow hatchet-protocol.md §3, §4, §6, §7 and the engine source it cites. Methods throw
// ConnectError with the engine's status codes.

import type {
  ActionEventResponse,
  BulkTriggerWorkflowRequest,
  CancelTasksRequest,
  CancelTasksResponse,
  CreateWorkflowVersionRequest,
  CreateWorkflowVersionResponse,
  DurableTaskRequest,
  Event,
  GetRunDetailsResponse,
  PushEventRequest,
  PutLogRequest,
  PutStreamEventRequest,
  RefreshTimeoutResponse,
  RegisterDurableEventRequest,
  ReplayTasksRequest,
  ReplayTasksResponse,
  ScheduleWorkflowRequest,
  StepActionEvent,
  TriggerWorkflowRequest,
  TriggerWorkflowRunRequest,
  UpsertWorkerLabelsRequest,
  WorkerRegisterRequest,
  WorkerRegisterResponse,
  WorkflowEvent,
  WorkflowVersion as WorkflowVersionMessage,
} from "../../transport/services.ts";
import { ScheduleWorkflowRequestSchema } from "../../transport/services.ts";
import type { JsonObject, JsonValue } from "../../transport/types.ts";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { notFound } from "./errors.ts";
import { EngineClock } from "../_clock.ts";
import type { RestRunView, RestScheduleView, RestWorkerView } from "../_rest.ts";
import type { StreamQueue } from "../_stream_queue.ts";
import { Attempts } from "./attempts.ts";
import { Children } from "./children.ts";
import { Durable } from "./durable.ts";
import {
  type DurableHost,
  type DurableLogEntry,
  DurableTaskRoom,
  type DurableTaskSession,
} from "./durable_task.ts";
import { Events } from "./events.ts";
import { FlowControl } from "./flow_control.ts";
import { Matches } from "./matches.ts";
import { Queue } from "./queue.ts";
import { Records } from "./records.ts";
import { Runs } from "./runs.ts";
import { type ScheduleInfo, Schedules } from "./schedules.ts";
import { type RunsStream, Subscriptions } from "./subscriptions.ts";
import type {
  DurableStream,
  EngineCoreOptions,
  EngineState,
  ListenStream,
  LogRecord,
  RunInfo,
  TaskRun,
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
  /** The durable event log, as the queue and matches rooms reach it. */
  durableTask: {
    assign(taskRunId: string): number | undefined;
    taskEvent(task: TaskRun): void;
  };
  children: Children;
  schedules: Schedules;
  subscriptions: Subscriptions;
  flowControl: FlowControl;
}

/** The mock engine's state machine. */
export class EngineCore {
  readonly tenantId: string;
  readonly version: string | null;
  readonly clock: EngineClock;
  /** Unary RPCs being handled. */
  inFlight = 0;
  /** Whether the version serves /v1.V1Dispatcher/DurableTask (v0.80.0 on, or a pre-release). */
  readonly servesEventLog: boolean;

  #state: EngineState;
  #rooms: Rooms;
  #durableTask: DurableTaskRoom;
  /** Child runs of durable tasks: workflow run id -> what to tell the parent's log entry. */
  #childWatchers = new Map<string, (result: { output: JsonValue } | { error: string }) => void>();

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
      triggerDelayMs: options.triggerDelayMs ?? 0,
    };
    this.#state = state;
    // Rooms keep this object and look their neighbours up at call time, so the order they are
    // built in does not matter.
    const rooms = {} as Rooms;
    rooms.records = new Records(state, rooms);
    rooms.workflows = new Workflows(state, rooms);
    rooms.workers = new Workers(state, rooms);
    rooms.queue = new Queue(state, rooms);
    rooms.runs = new Runs(state, rooms);
    rooms.attempts = new Attempts(state, rooms);
    rooms.matches = new Matches(state, rooms);
    rooms.durable = new Durable(state, rooms);
    rooms.events = new Events(state, rooms);
    this.servesEventLog = servesEventLog(options.version);
    this.#durableTask = new DurableTaskRoom(this.#durableHost(rooms));
    rooms.durableTask = {
      assign: (id) => this.servesEventLog ? this.#durableTask.assign(id) : undefined,
      taskEvent: (task) => this.#childEvent(task),
    };
    rooms.children = new Children(state, rooms);
    rooms.schedules = new Schedules(state, rooms);
    rooms.subscriptions = new Subscriptions(state, rooms);
    rooms.flowControl = new FlowControl(state, rooms);
    this.#rooms = rooms;
  }

  // What the durable event log needs of the other rooms.
  #durableHost(rooms: Rooms): DurableHost {
    const state = this.#state;
    const durableTask = (id: string): TaskRun | undefined => {
      const task = rooms.runs.task(id);
      return task && task.def.isDurable && task.status !== "PENDING" ? task : undefined;
    };
    return {
      now: () => state.clock.now(),
      durableTask: (id) => {
        const task = durableTask(id);
        if (!task) return undefined;
        rooms.queue.ack(id);
        return {
          workflowRunId: task.run.id,
          running: task.status === "RUNNING",
          workerId: task.workerId,
        };
      },
      registerWait: (id, signalKey, conditions, onSatisfied, lookback) => {
        const task = durableTask(id)!;
        const match = rooms.matches.addSignalMatch(
          task,
          signalKey,
          conditions.map((c) =>
            c.kind === "SLEEP"
              ? rooms.matches.sleepCondition({
                orGroupId: c.orGroupId,
                action: "CREATE",
                readableDataKey: c.readableDataKey,
                sleepFor: c.sleepFor ?? "",
              })
              : {
                orGroupId: c.orGroupId,
                action: "CREATE",
                eventType: "USER",
                eventKey: c.eventKey ?? "",
                expression: c.expression,
                readableDataKey: c.readableDataKey,
                scope: c.scope,
                satisfied: false,
              }
          ),
          onSatisfied,
        );
        if (lookback) {
          for (const c of conditions) {
            if (c.kind !== "USER_EVENT" || c.scope === undefined) continue;
            for (const e of rooms.events.since(c.eventKey ?? "", c.scope, lookback.since)) {
              rooms.matches.offerUserEvent(match, e.key, e.payload, e.scope);
            }
          }
        }
      },
      spawnChild: (parentId, trigger, onDone) => {
        const version = rooms.workflows.get(trigger.name);
        if (!version) throw new Error(`workflow names not found: ${trigger.name}`);
        const parent = rooms.runs.task(parentId);
        const run = rooms.runs.trigger(version, {
          input: trigger.input,
          additionalMetadata: trigger.additionalMetadata,
          priority: trigger.priority,
          triggeredBy: "child",
          parent: parent && {
            workflowRunId: parent.run.id,
            taskRunId: parent.id,
            childIndex: trigger.childIndex,
            childKey: trigger.childKey,
          },
        });
        this.#childWatchers.set(run.id, onDone);
        rooms.records.note(
          `durable task ${parentId} spawned child run ${run.id} (${trigger.name})`,
        );
        return run.id;
      },
      evict: (id) => {
        const task = durableTask(id);
        if (!task || task.status !== "RUNNING" || task.evicted) return false;
        if (task.timeoutAt !== undefined && task.timeoutAt <= state.clock.now()) return false;
        rooms.queue.freeSlot(task);
        state.clock.cancel(task.timers.timeout);
        task.evicted = true;
        task.workerId = undefined;
        return true;
      },
      isEvicted: (id) => rooms.runs.task(id)?.evicted === true,
      restore: (id, reason) => {
        const task = rooms.runs.task(id);
        if (!task?.evicted) return;
        rooms.records.note(`restoring evicted task ${id}: ${reason}`);
        task.evicted = false;
        rooms.queue.enqueue(task);
      },
      note: (line) => rooms.records.note(line),
      touch: () => {
        state.activity++;
      },
    };
  }

  // A task of a durable task's child run finished: once the whole run has, satisfy the entry.
  #childEvent(task: TaskRun): void {
    const watcher = this.#childWatchers.get(task.run.id);
    if (!watcher) return;
    const tasks = [...task.run.tasks.values()].filter((t) => !t.def.isOnFailure);
    if (
      tasks.some((t) => t.status === "PENDING" || t.status === "QUEUED" || t.status === "RUNNING")
    ) {
      return;
    }
    this.#childWatchers.delete(task.run.id);
    const failed = tasks.find((t) => t.status === "FAILED");
    const cancelled = tasks.find((t) => t.status === "CANCELLED");
    if (failed) watcher({ error: failed.error ?? "" });
    else if (cancelled) watcher({ error: "task was cancelled" });
    else {
      // As the engine's ExtractOutputFromMatchData: a one-task child gives its output as is, a
      // DAG child its outputs by task name.
      const output: JsonObject = {};
      for (const t of tasks) output[t.def.readableId] = t.output ?? {};
      watcher({ output: tasks.length === 1 ? tasks[0].output ?? {} : output });
    }
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
    return this.#rooms.workers.pendingDeliveries() + this.#rooms.durable.pendingDeliveries() +
      this.#durableTask.pending +
      this.#rooms.subscriptions.pendingDeliveries();
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
    this.#durableTask.abortAll(error);
    this.#rooms.subscriptions.abortStreams(error);
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

  runs(): RunInfo[] {
    return this.#rooms.runs.runs();
  }

  schedules(): ScheduleInfo[] {
    return this.#rooms.schedules.schedules();
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

  /** Opens a SubscribeToWorkflowRuns stream. */
  openRunsStream(): RunsStream {
    return this.#rooms.subscriptions.openRunsStream();
  }

  /** Waits for a run on a stream; a finished run is answered at once. */
  subscribeRun(stream: RunsStream, runId: string): void {
    this.#rooms.subscriptions.subscribeRun(stream, runId);
  }

  closeRunsStream(stream: RunsStream): void {
    this.#rooms.subscriptions.closeRunsStream(stream);
  }

  /** Opens a SubscribeToWorkflowEvents stream for one run. */
  openEventStream(runId: string): StreamQueue<WorkflowEvent> {
    return this.#rooms.subscriptions.openEventStream(runId);
  }

  closeEventStream(runId: string, queue: StreamQueue<WorkflowEvent>): void {
    this.#rooms.subscriptions.closeEventStream(runId, queue);
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

  // ---------------------------------------------------------------- REST (../_rest.ts)

  /** A run as the REST API reports it; undefined when there is no such run. */
  restRun(id: string): RestRunView | undefined {
    return this.#rooms.runs.restRun(id);
  }

  /**
   * Schedules a run of a workflow, named in any case, for a later engine time (REST
   * workflows/{name}/scheduled); the schedules room keeps it.
   */
  scheduleRun(workflowName: string, request: {
    input: JsonObject;
    additionalMetadata: JsonObject;
    triggerAt: number;
    priority: number | undefined;
  }): RestScheduleView {
    const lower = workflowName.toLowerCase();
    const version = [...this.#rooms.workflows.all()].find((v) => v.name.toLowerCase() === lower);
    if (!version) throw notFound(`workflow not found: ${workflowName}`);
    const answer = this.#rooms.schedules.scheduleWorkflow(create(ScheduleWorkflowRequestSchema, {
      name: version.name,
      schedules: [timestampFromMs(request.triggerAt)],
      input: JSON.stringify(request.input),
      additionalMetadata: JSON.stringify(request.additionalMetadata),
      priority: request.priority,
    }));
    return {
      id: answer.scheduledWorkflows[0]?.id ?? crypto.randomUUID(),
      workflowId: version.workflowId,
      workflowVersionId: version.versionId,
      workflowName: version.name,
      triggerAt: request.triggerAt,
      input: request.input,
      additionalMetadata: request.additionalMetadata,
      priority: request.priority,
      createdAt: this.clock.now(),
    };
  }

  /** Pauses or resumes a worker (REST PATCH workers/{id}). */
  setWorkerPaused(workerId: string, paused: boolean): RestWorkerView {
    const w = this.#rooms.workers.setPaused(workerId, paused);
    return {
      id: w.id,
      name: w.name,
      actions: [...w.actions],
      paused: w.paused,
      active: w.streams.length > 0,
      createdAt: w.registeredAt,
      lastHeartbeatAt: undefined,
    };
  }

  replayTasks(req: ReplayTasksRequest): ReplayTasksResponse {
    return this.#rooms.runs.replayTasks(req);
  }

  // ---------------------------------------------------------------- WorkflowService

  triggerWorkflow(req: TriggerWorkflowRequest): string {
    return this.#rooms.children.triggerWorkflow(req);
  }

  bulkTriggerWorkflow(req: BulkTriggerWorkflowRequest): string[] {
    return this.#rooms.children.bulkTriggerWorkflow(req);
  }

  scheduleWorkflow(req: ScheduleWorkflowRequest): WorkflowVersionMessage {
    return this.#rooms.schedules.scheduleWorkflow(req);
  }

  /** `PutRateLimit`: creates or updates a static rate limit. */
  putRateLimit(key: string, limit: number, duration: number): void {
    this.#rooms.flowControl.putRateLimit(key, limit, duration);
    this.#rooms.queue.flush();
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

  // ---------------------------------------------------------------- V1Dispatcher (event log)

  /** Opens a DurableTask stream session. */
  openDurableTask(): DurableTaskSession {
    return this.#durableTask.open();
  }

  /** Handles one DurableTask request, then runs the scheduler (children, restores). */
  durableTaskRequest(session: DurableTaskSession, req: DurableTaskRequest): void {
    this.#durableTask.handle(session, req);
    this.#rooms.queue.flush();
  }

  closeDurableTask(session: DurableTaskSession): void {
    this.#durableTask.close(session);
  }

  /** A durable task's event log, by node. */
  durableEventLog(taskRunId: string): DurableLogEntry[] {
    return this.#durableTask.entries(taskRunId);
  }
}

/** Pre-releases count as current: a source-built engine reports e.g. v0.1.0-alpha.0. */
function servesEventLog(version: string | null): boolean {
  if (version === null) return false;
  const m = /^v?(\d+)\.(\d+)\.(\d+)(-.*)?$/.exec(version);
  if (!m || m[4] !== undefined) return true;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 0 || minor >= 80;
}
