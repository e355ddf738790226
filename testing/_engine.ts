// The mock engine's state and rules: workflows, runs, task runs, workers and slots, matches
// (DAG conditions and durable waits), logs and stream events. Every RPC handler in _services.ts
// calls one method here; the rules follow hatchet-protocol.md §3, §4, §6, §7 and the engine
// source it cites. Methods throw ConnectError with the engine's status codes.

import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Action,
  type ActionEventResponse,
  ActionEventResponseSchema,
  ActionType,
  type AssignedAction,
  AssignedActionSchema,
  type CancelTasksRequest,
  type CancelTasksResponse,
  CancelTasksResponseSchema,
  type CreateTaskOpts,
  type CreateWorkflowVersionRequest,
  type CreateWorkflowVersionResponse,
  CreateWorkflowVersionResponseSchema,
  type DurableEvent,
  DurableEventSchema,
  type Event,
  EventSchema,
  type GetRunDetailsResponse,
  GetRunDetailsResponseSchema,
  type PushEventRequest,
  type PutLogRequest,
  type PutStreamEventRequest,
  type RefreshTimeoutResponse,
  RefreshTimeoutResponseSchema,
  type RegisterDurableEventRequest,
  RunStatus,
  type StepActionEvent,
  StepActionEventType,
  type TaskConditions,
  TaskRunDetailSchema,
  type TriggerWorkflowRunRequest,
  type UpsertWorkerLabelsRequest,
  type WorkerLabels,
  type WorkerRegisterRequest,
  type WorkerRegisterResponse,
  WorkerRegisterResponseSchema,
} from "../transport/services.ts";
import type { JsonObject, JsonValue } from "../transport/types.ts";
import { evalCel } from "./_cel.ts";
import { type ClockMode, EngineClock, type EngineTimer } from "./_clock.ts";
import {
  RestError,
  type RestRunView,
  type RestScheduleView,
  type RestStatus,
  type RestTaskView,
  type RestWorkerView,
} from "./_rest.ts";
import { StreamQueue } from "./_stream_queue.ts";
import {
  goJson,
  isObject,
  isUuid,
  jsonbError,
  parseGoDuration,
  parseObject,
  parseSleepDuration,
} from "./_validate.ts";

/** How long after its last heartbeat (or stream start) a worker still gets work, in wall ms. */
const LIVENESS_MS = 5_000;
const DEFAULT_TIMEOUT = "5m";
const DEFAULT_SCHEDULE_TIMEOUT = "5m";
const MAX_LOG_CHARS = 10_000;
const LOG_LEVELS = new Set(["INFO", "ERROR", "WARN", "DEBUG"]);

/**
 * A task run's state. `PENDING` means not created yet: it waits for its parents or conditions.
 *
 * @example
 * ```ts
 * import { createWorker, UserEventCondition, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type TaskStatus } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "gated" });
 * const build = wf.task({ name: "build", fn: () => ({}) });
 * const gate = [new UserEventCondition("deploy:approved")];
 * wf.task({ name: "deploy", parents: [build], waitFor: gate, fn: () => ({}) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * await engine.settle();
 * const statuses = (): TaskStatus[] => engine.taskRuns(run.id).map((t) => t.status);
 * assert.deepEqual(statuses(), ["COMPLETED", "PENDING"]);
 * await engine.client.events.push("deploy:approved", {});
 * await run.result();
 * assert.deepEqual(statuses(), ["COMPLETED", "COMPLETED"]);
 * ```
 */
export type TaskStatus =
  | "PENDING"
  | "QUEUED"
  | "RUNNING"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "SKIPPED";

type ConditionAction = "CREATE" | "QUEUE" | "CANCEL" | "SKIP" | "CREATE_MATCH";

interface StepCondition {
  kind: "PARENT" | "SLEEP" | "USER_EVENT";
  action: ConditionAction;
  orGroupId: string;
  expression: string;
  readableDataKey: string;
  parentReadableId?: string;
  sleepFor?: string;
  eventKey?: string;
}

interface TaskDef {
  stepId: string;
  readableId: string;
  action: string;
  timeout: string;
  timeoutMs: number;
  scheduleTimeoutMs: number;
  parents: string[];
  retries: number;
  backoffFactor: number | undefined;
  backoffMaxSeconds: number | undefined;
  conditions: StepCondition[];
  isDurable: boolean;
  slotRequests: Record<string, number>;
  isOnFailure: boolean;
}

interface WorkflowVersion {
  workflowId: string;
  versionId: string;
  name: string;
  eventTriggers: string[];
  tasks: TaskDef[];
  onFailure: TaskDef | undefined;
  defaultPriority: number | undefined;
}

interface WorkflowRun {
  id: string;
  version: WorkflowVersion;
  input: JsonObject;
  additionalMetadata: JsonObject | undefined;
  priority: number;
  triggeringEvent: { id: string; key: string } | undefined;
  tasks: Map<string, TaskRun>;
  /** Engine time of the trigger, epoch ms. */
  createdAt: number;
}

/** What a satisfied parent condition carries: the parent's outcome. */
interface ParentData {
  kind: "COMPLETED" | "FAILED" | "CANCELLED";
  output?: JsonObject;
  error?: string;
}

interface TaskRun {
  id: string;
  run: WorkflowRun;
  def: TaskDef;
  status: TaskStatus;
  retryCount: number;
  appRetryCount: number;
  workerId: string | undefined;
  /** Slot units held on `slotWorkerId` until completion or ReleaseSlot. */
  slotWorkerId: string | undefined;
  output: JsonObject | undefined;
  error: string | undefined;
  timeoutAt: number | undefined;
  timers: { timeout?: EngineTimer; schedule?: EngineTimer; retry?: EngineTimer };
  /** Arrival order in the queue; -1 until first queued. */
  enqueueSeq: number;
  triggerData: Record<string, JsonValue[]>;
  stepRunErrors: Record<string, string>;
}

interface MatchCondition {
  orGroupId: string;
  action: ConditionAction;
  eventType: "INTERNAL" | "USER" | "SLEEP";
  /** COMPLETED/FAILED/CANCELLED for parent conditions, the event key for user events. */
  eventKey: string;
  /** The parent task run a parent condition listens to. */
  hint?: string;
  expression: string;
  readableDataKey: string;
  sleepFor?: string;
  timer?: EngineTimer;
  satisfied: boolean;
  data?: JsonValue;
}

interface Match {
  kind: "TRIGGER" | "SIGNAL";
  task: TaskRun;
  signalKey?: string;
  conditions: MatchCondition[];
  parentData: Record<string, ParentData>;
  triggerData: Record<string, JsonValue[]>;
  removed: boolean;
}

interface ListenStream {
  queue: StreamQueue<AssignedAction>;
  version: "v1" | "v2";
}

interface WorkerState {
  id: string;
  name: string;
  actions: Set<string>;
  slotConfig: Record<string, number>;
  used: Record<string, number>;
  labels: Record<string, string | number>;
  lastHeartbeatWall: number | undefined;
  listenerEstablishedWall: number | undefined;
  hadListener: boolean;
  streams: ListenStream[];
  unsubscribed: boolean;
  /** Paused over REST: keeps its runs, gets no new ones. */
  paused: boolean;
  /** Engine time of registration, epoch ms. */
  registeredAt: number;
}

/** One durable-event stream: the keys it waits for. */
export interface DurableStream {
  queue: StreamQueue<DurableEvent>;
  subscriptions: Set<string>;
}

/** A recorded `PutLog`. */
export interface LogRecord {
  taskRunId: string;
  message: string;
  level: string;
  createdAt: Date;
  retryCount: number;
  metadata: JsonObject | undefined;
}

/** A recorded `PutStreamEvent`. */
interface StreamRecord {
  taskRunId: string;
  eventIndex: number | undefined;
  seq: number;
  data: Uint8Array;
}

/**
 * A task run as {@link MockEngine.taskRuns} reports it.
 *
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type TaskRunInfo } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "info" });
 * wf.task({ name: "t", retries: 1, fn: (_input, ctx) => ({ attempt: ctx.attemptNumber }) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * await run.result();
 * const [info]: TaskRunInfo[] = engine.taskRuns(run.id);
 * assert.equal(info.workflowRunId, run.id);
 * assert.deepEqual([info.taskName, info.status, info.retryCount, info.output], [
 *   "t",
 *   "COMPLETED",
 *   0,
 *   { attempt: 1 },
 * ]);
 * assert.equal(info.workerId, undefined); // only set while it runs
 * ```
 */
export interface TaskRunInfo {
  /** Task run external id (`ctx.taskRunId`). */
  id: string;
  /** The workflow run it belongs to. */
  workflowRunId: string;
  /** The task's name (readable id). */
  taskName: string;
  /**
   * `PENDING` (waiting for parents or conditions), `QUEUED`, `RUNNING`, `COMPLETED`, `FAILED`,
   * `CANCELLED` or `SKIPPED`.
   */
  status: TaskStatus;
  /** The current attempt, 0-based. */
  retryCount: number;
  /** The worker running it, while it runs and holds its slot. */
  workerId?: string;
  /** The output, once completed. */
  output?: JsonObject;
  /** The last error, once an attempt failed. */
  error?: string;
}

/**
 * A worker as {@link MockEngine.workers} reports it.
 *
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type WorkerInfo } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "jobs" });
 * wf.task({ name: "run", fn: () => ({}) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, {
 *   name: "w1",
 *   workflows: [wf],
 *   labels: { zone: "a" },
 * });
 * await worker.start();
 * const [info]: WorkerInfo[] = engine.workers();
 * assert.deepEqual([info.id, info.name, info.actions, info.labels], [
 *   worker.id,
 *   "w1",
 *   ["jobs:run"],
 *   { zone: "a" },
 * ]);
 * assert.equal(info.active, true);
 * await worker.stop();
 * assert.equal(engine.workers()[0].active, false);
 * ```
 */
export interface WorkerInfo {
  /** Engine worker id. */
  id: string;
  /** Registered name. */
  name: string;
  /** Action ids it registered. */
  actions: string[];
  /** Slot units per slot type. */
  slotConfig: Record<string, number>;
  /** Slot units in use per slot type. */
  usedSlots: Record<string, number>;
  /** Labels. */
  labels: Record<string, string | number>;
  /** Whether a ListenV2/Listen stream is open. */
  active: boolean;
  /** Whether it would get new work now: stream open and a heartbeat within 5 s of wall time. */
  live: boolean;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function notFound(message: string): ConnectError {
  return new ConnectError(message, Code.NotFound);
}

function actionName(action: Action): ConditionAction {
  switch (action) {
    case Action.QUEUE:
      return "QUEUE";
    case Action.CANCEL:
      return "CANCEL";
    case Action.SKIP:
      return "SKIP";
    default:
      return "CREATE";
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

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Options of {@link EngineCore}. */
export interface EngineCoreOptions {
  clock: ClockMode;
  startMs: number;
  version: string | null;
  tenantId: string;
}

/** The mock engine's state machine. */
export class EngineCore {
  readonly tenantId: string;
  readonly version: string | null;
  readonly clock: EngineClock;
  /** Bumped on every state change and RPC boundary; the quiet check watches it. */
  activity = 0;
  /** Unary RPCs being handled. */
  inFlight = 0;

  #workflows = new Map<string, WorkflowVersion>();
  #runs = new Map<string, WorkflowRun>();
  #tasks = new Map<string, TaskRun>();
  #workers = new Map<string, WorkerState>();
  /** Tasks waiting for a worker, by priority then arrival; may hold ones that left the queue. */
  #queue: TaskRun[] = [];
  /** Open matches, in creation order (a Set: a resolved one leaves in O(1)). */
  #matches = new Set<Match>();
  #completions = new Map<string, Uint8Array>();
  #durableStreams = new Set<DurableStream>();
  #logs: LogRecord[] = [];
  #streamEvents: StreamRecord[] = [];
  #engineLog: string[] = [];
  #seq = 0;
  #needsSchedule = false;
  #closed = false;
  /** Task runs sent a START_STEP_RUN whose worker has not yet sent an RPC about them. */
  #awaitingAck = new Set<string>();

  constructor(options: EngineCoreOptions) {
    this.tenantId = options.tenantId;
    this.version = options.version;
    this.clock = new EngineClock(options.clock, options.startMs, () => this.#afterTimers());
  }

  // ---------------------------------------------------------------- quiet / lifecycle

  /** Messages pushed to stream queues and not yet taken by their handlers. */
  pendingDeliveries(): number {
    let n = 0;
    for (const w of this.#workers.values()) for (const s of w.streams) n += s.queue.pending;
    for (const s of this.#durableStreams) n += s.queue.pending;
    return n;
  }

  /** START_STEP_RUN assignments no RPC has mentioned yet (the worker may still be reacting). */
  awaitingAck(): number {
    return this.#awaitingAck.size;
  }

  /** Stops waiting for acknowledgements (for workers that never send any). */
  forgetAwaitingAck(): void {
    this.#awaitingAck.clear();
  }

  /** Counts a task run handed to an HTTP endpoint as not yet acknowledged until it answers. */
  awaitAck(taskRunId: string): void {
    if (!this.#tasks.has(taskRunId)) return;
    this.#awaitingAck.add(taskRunId);
    this.activity++;
  }

  /** Notes that the worker reacted to the task run's assignment. */
  #ack(taskRunId: string): void {
    this.#awaitingAck.delete(taskRunId);
  }

  /** Fires the virtual clock's timers due at its current time. */
  fireDueTimers(): void {
    if (this.clock.fireDue() > 0) this.#afterTimers();
  }

  #afterTimers(): void {
    this.activity++;
    this.#flush();
  }

  /** Ends every stream (normally, or with `error`) and stops all timers. */
  close(error?: unknown): void {
    this.#closed = true;
    this.clock.close();
    this.endStreams(error);
  }

  /** Whether `close` ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Ends open streams, worker listen streams and durable-event streams, with `error` if given. */
  endStreams(error?: unknown): void {
    for (const w of this.#workers.values()) for (const s of w.streams) s.queue.abort(error);
    for (const s of this.#durableStreams) s.queue.abort(error);
    this.activity++;
  }

  /** Appends a line to the engine's own log (bad CEL, dropped events). */
  note(line: string): void {
    this.#engineLog.push(line);
  }

  // ---------------------------------------------------------------- inspection

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

  taskRuns(workflowRunId?: string): TaskRunInfo[] {
    const out: TaskRunInfo[] = [];
    // A run keeps its own tasks (inserted with #tasks, so in the same order): asking about one
    // run must not walk every task the engine ever created.
    const tasks = workflowRunId === undefined
      ? this.#tasks.values()
      : this.#runs.get(workflowRunId)?.tasks.values() ?? [];
    for (const t of tasks) {
      const info: TaskRunInfo = {
        id: t.id,
        workflowRunId: t.run.id,
        taskName: t.def.readableId,
        status: t.status,
        retryCount: t.retryCount,
      };
      if (t.workerId !== undefined) info.workerId = t.workerId;
      if (t.output !== undefined) info.output = structuredClone(t.output);
      if (t.error !== undefined) info.error = t.error;
      out.push(info);
    }
    return out;
  }

  workflowRunIds(): string[] {
    return [...this.#runs.keys()];
  }

  workers(): WorkerInfo[] {
    return [...this.#workers.values()].map((w) => ({
      id: w.id,
      name: w.name,
      actions: [...w.actions],
      slotConfig: { ...w.slotConfig },
      usedSlots: { ...w.used },
      labels: { ...w.labels },
      active: w.streams.length > 0,
      live: this.#isLive(w),
    }));
  }

  /** The task's name, for RPC log summaries. */
  taskName(taskRunId: string): string | undefined {
    return this.#tasks.get(taskRunId)?.def.readableId;
  }

  // ---------------------------------------------------------------- REST (testing/_rest.ts)

  /** A run as the REST API reports it; undefined when there is no such run. */
  restRun(id: string): RestRunView | undefined {
    const run = this.#runs.get(id);
    if (!run) return undefined;
    const version = run.version;
    const defs = version.onFailure ? [...version.tasks, version.onFailure] : version.tasks;
    const tasks: RestTaskView[] = [];
    let anyOpen = false;
    let anyStarted = false;
    let failedError: string | undefined;
    let anyFailed = false;
    let anyCancelled = false;
    const output: JsonObject = {};
    let seq = 0;
    for (const def of defs) {
      const t = run.tasks.get(def.readableId)!;
      seq++;
      if (t.status === "PENDING" || t.status === "QUEUED" || t.status === "RUNNING") anyOpen = true;
      if (t.status !== "PENDING" && t.status !== "QUEUED") anyStarted = true;
      if (t.status === "FAILED") {
        anyFailed = true;
        failedError ??= t.error;
      }
      if (t.status === "CANCELLED") anyCancelled = true;
      if (t.status === "COMPLETED" || t.status === "SKIPPED") {
        output[def.readableId] = (t.output ?? null) as JsonValue;
      }
      if (t.status === "PENDING") continue;
      tasks.push({
        id: t.id,
        seq,
        stepId: def.stepId,
        name: def.readableId,
        actionId: def.action,
        status: t.status === "SKIPPED" ? "COMPLETED" : t.status,
        retryCount: t.retryCount,
        isDurable: def.isDurable,
        input: run.input,
        output: t.output as JsonValue | undefined,
        error: t.error,
        createdAt: run.createdAt,
        startedAt: undefined,
        finishedAt: undefined,
      });
    }
    const status: RestStatus = anyOpen
      ? (anyStarted ? "RUNNING" : "QUEUED")
      : anyFailed
      ? "FAILED"
      : anyCancelled
      ? "CANCELLED"
      : "COMPLETED";
    return {
      id: run.id,
      workflowId: version.workflowId,
      workflowVersionId: version.versionId,
      workflowName: version.name,
      isDag: defs.length > 1,
      status,
      input: run.input,
      additionalMetadata: run.additionalMetadata ?? {},
      output,
      error: anyOpen ? undefined : failedError,
      createdAt: run.createdAt,
      startedAt: undefined,
      finishedAt: undefined,
      parentTaskExternalId: undefined,
      tasks,
      shape: version.tasks.map((def) => ({
        taskExternalId: run.tasks.get(def.readableId)!.id,
        stepId: def.stepId,
        childrenStepIds: version.tasks.filter((d) => d.parents.includes(def.readableId))
          .map((d) => d.stepId),
        taskName: def.readableId,
      })),
    };
  }

  /**
   * Replays runs (every task) or task runs (the task and what depends on it in its DAG), as the
   * engine's ReplayTasks does: each replayed task runs again with its retry count plus one.
   * Returns the ids of the task runs queued again or waiting for replayed parents.
   */
  replay(externalIds: string[]): string[] {
    const targets = new Set<TaskRun>();
    for (const id of externalIds) {
      const run = this.#runs.get(id);
      if (run) {
        for (const t of run.tasks.values()) targets.add(t);
        continue;
      }
      const task = this.#tasks.get(id);
      if (!task) continue;
      const stack = [task];
      while (stack.length > 0) {
        const t = stack.pop()!;
        if (targets.has(t)) continue;
        targets.add(t);
        for (const d of t.run.version.tasks) {
          if (d.parents.includes(t.def.readableId)) stack.push(t.run.tasks.get(d.readableId)!);
        }
        const onFailure = t.run.version.onFailure;
        if (onFailure) targets.add(t.run.tasks.get(onFailure.readableId)!);
      }
    }
    const replayed: string[] = [];
    // Only finished tasks are replayed; one still open keeps running.
    const tasks = [...targets].filter((t) =>
      t.status !== "PENDING" && t.status !== "QUEUED" && t.status !== "RUNNING"
    );
    const again = new Set(tasks);
    for (const task of tasks) {
      for (const timer of Object.values(task.timers)) this.clock.cancel(timer);
      task.timers = {};
      task.status = "PENDING";
      task.retryCount++;
      task.appRetryCount = 0;
      task.output = undefined;
      task.error = undefined;
      task.stepRunErrors = {};
      task.workerId = undefined;
      replayed.push(task.id);
    }
    for (const task of tasks) {
      const { run, def } = task;
      if (def.isOnFailure) {
        this.#addMatch(task, this.#onFailureConditions(run));
        continue;
      }
      const waitsForReplayed = def.parents.some((p) => again.has(run.tasks.get(p)!));
      if (waitsForReplayed) this.#addMatch(task, this.#parentConditions(run, def));
      else this.#createTask(task, "QUEUE", {}, {});
    }
    this.#flush();
    return replayed;
  }

  /** Triggers a run of `workflowName` (any case) at engine time `triggerAt`. */
  scheduleRun(workflowName: string, request: {
    input: JsonObject;
    additionalMetadata: JsonObject;
    triggerAt: number;
    priority: number | undefined;
  }): RestScheduleView {
    const name = workflowName.toLowerCase();
    const version = [...this.#workflows.values()].find((v) => v.name.toLowerCase() === name);
    if (!version) throw new RestError(404, `Workflow not found: ${workflowName}`);
    const scheduled: RestScheduleView = {
      id: crypto.randomUUID(),
      workflowId: version.workflowId,
      workflowVersionId: version.versionId,
      workflowName: version.name,
      triggerAt: request.triggerAt,
      input: request.input,
      additionalMetadata: request.additionalMetadata,
      priority: request.priority,
      createdAt: this.clock.now(),
    };
    this.clock.at(Math.max(request.triggerAt, this.clock.now()), () => {
      if (this.#closed) return;
      const current = this.#workflows.get(version.name) ?? version;
      this.#trigger(
        current,
        request.input,
        request.additionalMetadata,
        request.priority,
        undefined,
      );
      this.#flush();
    });
    this.activity++;
    return scheduled;
  }

  /** Pauses or resumes a worker: a paused one keeps its runs and gets no new ones. */
  setWorkerPaused(workerId: string, paused: boolean): RestWorkerView {
    const w = this.#workers.get(workerId);
    if (!w) throw new RestError(404, `Worker not found: ${workerId}`);
    w.paused = paused;
    if (!paused) this.#needsSchedule = true;
    this.#flush();
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

  // ---------------------------------------------------------------- Dispatcher

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
      actions: new Set(req.actions),
      slotConfig,
      used: {},
      labels: labelsOf(req.labels),
      lastHeartbeatWall: undefined,
      listenerEstablishedWall: undefined,
      hadListener: false,
      streams: [],
      unsubscribed: false,
      paused: false,
      registeredAt: this.clock.now(),
    };
    this.#workers.set(worker.id, worker);
    this.activity++;
    return create(WorkerRegisterResponseSchema, {
      tenantId: this.tenantId,
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
    this.#needsSchedule = true;
    this.#flush();
    return stream;
  }

  /** Forgets a listen stream after it ended. */
  closeListen(workerId: string, stream: ListenStream): void {
    const worker = this.#workers.get(workerId);
    const undelivered = stream.queue.undelivered();
    if (!worker) return;
    worker.streams = worker.streams.filter((s) => s !== stream);
    this.activity++;
    // An assignment the stream never carried did not reach the worker: it goes back to the
    // queue rather than running on nobody until its timeout.
    for (const action of undelivered) {
      if (action.actionType !== ActionType.START_STEP_RUN) continue;
      const task = this.#tasks.get(action.taskRunExternalId);
      if (
        task === undefined || task.status !== "RUNNING" || task.workerId !== workerId ||
        task.retryCount !== action.retryCount
      ) continue;
      this.#requeue(
        task,
        `its assignment was not delivered before worker ${workerId}'s stream closed`,
      );
    }
    this.#flush();
  }

  /** Puts a task that never reached its worker back in the queue, as the engine does. */
  #requeue(task: TaskRun, why: string): void {
    this.note(`task ${task.id} (${task.def.readableId}) goes back to the queue: ${why}`);
    this.clock.cancel(task.timers.timeout);
    this.#freeSlot(task);
    task.workerId = undefined;
    this.#enqueue(task);
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
    this.#needsSchedule = true;
    this.#flush();
  }

  unsubscribe(workerId: string): void {
    const worker = this.#worker(workerId);
    worker.unsubscribed = true;
    this.activity++;
  }

  upsertWorkerLabels(req: UpsertWorkerLabelsRequest): void {
    const worker = this.#worker(req.workerId);
    Object.assign(worker.labels, labelsOf(req.labels));
    this.activity++;
  }

  /** Replaces a worker's actions, as the engine does for an HTTP operator after a healthcheck. */
  setWorkerActions(workerId: string, actions: string[]): void {
    const worker = this.#worker(workerId);
    worker.actions = new Set(actions);
    this.#needsSchedule = true;
    this.#flush();
  }

  #isLive(w: WorkerState): boolean {
    const stream = openStream(w);
    if (!stream || w.unsubscribed) return false;
    if (stream.version === "v1") return true;
    const last = Math.max(w.lastHeartbeatWall ?? -Infinity, w.listenerEstablishedWall ?? -Infinity);
    return Date.now() - last <= LIVENESS_MS;
  }

  // SendStepActionEvent answers INVALID_ARGUMENT for an unknown task (the engine wraps the
  // lookup error); PutLog and PutStreamEvent answer NOT_FOUND.
  #taskForRpc(id: string, unknownIsInvalid = false): TaskRun {
    if (!isUuid(id)) throw invalid(`invalid task external run id ${id}: not a UUID`);
    const task = this.#tasks.get(id);
    if (!task || task.status === "PENDING") {
      throw unknownIsInvalid
        ? invalid(`invalid task external run id ${id}: task not found`)
        : notFound(`task not found: ${id}`);
    }
    return task;
  }

  sendStepActionEvent(req: StepActionEvent): ActionEventResponse {
    const task = this.#taskForRpc(req.taskRunExternalId, true);
    this.#ack(task.id);
    const response = create(ActionEventResponseSchema, {
      tenantId: this.tenantId,
      workerId: req.workerId,
    });
    const retryCount = req.retryCount ?? task.retryCount;
    if (task.status !== "RUNNING" || retryCount !== task.retryCount) {
      if (req.eventType !== StepActionEventType.STEP_EVENT_TYPE_STARTED) {
        this.note(
          `ignored ${
            StepActionEventType[req.eventType]
          } for task ${task.id} (${task.def.readableId}) ` +
            `retry_count ${retryCount}: task is ${task.status} at retry_count ${task.retryCount}`,
        );
      }
      return response;
    }
    let eventType = req.eventType;
    let payload = req.eventPayload;
    if (eventType === StepActionEventType.STEP_EVENT_TYPE_COMPLETED) {
      let error = jsonbError(payload, "taskOutput");
      if (error === undefined && payload !== "" && parseObject(payload) === undefined) {
        error = `task output must be a JSON object in field \`taskOutput\`, received ${
          payload.length > 100 ? payload.slice(0, 100) + "…" : payload
        }`;
      }
      if (error !== undefined) {
        eventType = StepActionEventType.STEP_EVENT_TYPE_FAILED;
        payload = error;
      }
    }
    switch (eventType) {
      case StepActionEventType.STEP_EVENT_TYPE_COMPLETED:
        this.#complete(task, payload === "" ? {} : parseObject(payload)!);
        break;
      case StepActionEventType.STEP_EVENT_TYPE_FAILED: {
        const nul = jsonbError(payload, "error");
        if (nul?.includes("null character")) {
          payload = "error message contains invalid null character \\u0000. you likely need to " +
            "either escape the character or strip it out of the error. this generally is the " +
            "result of an LLM producing this unicode sequence in its output.";
        }
        this.#fail(task, payload, req.shouldNotRetry === true);
        break;
      }
      case StepActionEventType.STEP_EVENT_TYPE_CANCELLED:
        this.#cancel(task);
        break;
      default:
        break;
    }
    this.#flush();
    return response;
  }

  refreshTimeout(taskRunId: string, incrementBy: string): RefreshTimeoutResponse {
    if (!isUuid(taskRunId)) throw invalid(`invalid task external run id ${taskRunId}`);
    this.#ack(taskRunId);
    const increment = parseGoDuration(incrementBy);
    if (increment === undefined) {
      throw invalid(
        `invalid increment_timeout_by: expected a duration like "30s", "5m" or "1h30m", ` +
          `received ${JSON.stringify(incrementBy)}`,
      );
    }
    const task = this.#tasks.get(taskRunId);
    if (!task || task.status !== "RUNNING" || task.timeoutAt === undefined) {
      throw notFound(`task run ${taskRunId} has no runtime: it is not running`);
    }
    task.timeoutAt += increment;
    this.#armTimeout(task);
    this.activity++;
    return create(RefreshTimeoutResponseSchema, { timeoutAt: timestampFromMs(task.timeoutAt) });
  }

  releaseSlot(taskRunId: string): void {
    if (!isUuid(taskRunId)) throw invalid(`invalid task external run id ${taskRunId}`);
    this.#ack(taskRunId);
    const task = this.#tasks.get(taskRunId);
    if (!task || task.status !== "RUNNING") {
      throw notFound(`task run ${taskRunId} has no runtime: it is not running`);
    }
    this.#freeSlot(task);
    task.workerId = undefined;
    this.#needsSchedule = true;
    this.#flush();
  }

  // ---------------------------------------------------------------- Events

  push(req: PushEventRequest): Event {
    if (req.key === "") throw invalid("event key is required");
    const payloadError = jsonbError(req.payload, "payload");
    if (payloadError) throw invalid(payloadError);
    if (req.additionalMetadata !== undefined) {
      const metaError = jsonbError(req.additionalMetadata, "additionalMetadata");
      if (metaError) throw invalid(metaError);
    }
    if (req.priority !== undefined && (req.priority < 1 || req.priority > 3)) {
      throw invalid(`priority must be between 1 and 3, got ${req.priority}`);
    }
    const eventId = crypto.randomUUID();
    const now = this.clock.now();
    const payload = req.payload === "" ? {} : JSON.parse(req.payload);
    const meta = req.additionalMetadata ? parseObject(req.additionalMetadata) : undefined;
    for (const version of this.#workflows.values()) {
      if (!version.eventTriggers.includes(req.key)) continue;
      const runMeta: JsonObject = {};
      for (const [k, v] of Object.entries(meta ?? {})) {
        if (!k.startsWith("hatchet__")) runMeta[k] = v;
      }
      runMeta["hatchet__event_id"] = eventId;
      runMeta["hatchet__event_key"] = req.key;
      this.#trigger(version, isObject(payload) ? payload : {}, runMeta, req.priority, {
        id: eventId,
        key: req.key,
      });
    }
    if (isObject(payload)) this.#userEvent(req.key, payload);
    else this.note(`event ${eventId} (${req.key}): payload is not a JSON object, matches nothing`);
    this.#flush();
    return create(EventSchema, {
      tenantId: this.tenantId,
      eventId,
      key: req.key,
      payload: req.payload,
      eventTimestamp: req.eventTimestamp ?? timestampFromMs(now),
      additionalMetadata: req.additionalMetadata,
      scope: req.scope,
    });
  }

  putLog(req: PutLogRequest): void {
    const task = this.#taskForRpc(req.taskRunExternalId);
    this.#ack(task.id);
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
        : new Date(this.clock.now()),
      retryCount: req.taskRetryCount ?? task.retryCount,
      metadata,
    });
    this.activity++;
  }

  putStreamEvent(req: PutStreamEventRequest): void {
    const task = this.#taskForRpc(req.taskRunExternalId);
    this.#ack(task.id);
    this.#streamEvents.push({
      taskRunId: task.id,
      eventIndex: req.eventIndex === undefined ? undefined : Number(req.eventIndex),
      seq: this.#seq++,
      data: req.message.slice(),
    });
    this.activity++;
  }

  // ---------------------------------------------------------------- Admin

  putWorkflow(req: CreateWorkflowVersionRequest): CreateWorkflowVersionResponse {
    if (req.name === "") throw invalid("workflow name is required");
    if (req.tasks.length === 0) throw invalid(`workflow "${req.name}" has no tasks`);
    const tasks = req.tasks.map((t) => this.#taskDef(req.name, t, false));
    const names = new Set<string>();
    for (const t of tasks) {
      if (names.has(t.readableId)) {
        throw invalid(`workflow "${req.name}": duplicate task "${t.readableId}"`);
      }
      names.add(t.readableId);
    }
    for (const t of tasks) {
      for (const p of t.parents) {
        if (!names.has(p)) {
          throw invalid(`parent step '${p}' not found for step '${t.readableId}'`);
        }
      }
      for (const c of t.conditions) {
        if (c.kind === "PARENT" && !t.parents.includes(c.parentReadableId!)) {
          throw invalid(
            `task "${t.readableId}": parent condition on "${c.parentReadableId}", which is not a parent`,
          );
        }
      }
    }
    this.#checkAcyclic(req.name, tasks);
    const onFailure = req.onFailureTask
      ? this.#taskDef(req.name, req.onFailureTask, true)
      : undefined;
    if (onFailure && names.has(onFailure.readableId)) {
      throw invalid(`workflow "${req.name}": duplicate task "${onFailure.readableId}"`);
    }
    if (
      req.defaultPriority !== undefined && (req.defaultPriority < 1 || req.defaultPriority > 3)
    ) {
      throw invalid(`default_priority must be between 1 and 3, got ${req.defaultPriority}`);
    }
    const previous = this.#workflows.get(req.name);
    const version: WorkflowVersion = {
      workflowId: previous?.workflowId ?? crypto.randomUUID(),
      versionId: crypto.randomUUID(),
      name: req.name,
      eventTriggers: [...req.eventTriggers],
      tasks,
      onFailure,
      defaultPriority: req.defaultPriority,
    };
    this.#workflows.set(req.name, version);
    this.activity++;
    return create(CreateWorkflowVersionResponseSchema, {
      id: version.versionId,
      workflowId: version.workflowId,
    });
  }

  #taskDef(workflow: string, t: CreateTaskOpts, isOnFailure: boolean): TaskDef {
    const where = `workflow "${workflow}", task "${t.readableId}"`;
    if (t.readableId === "") throw invalid(`workflow "${workflow}": a task has no readable_id`);
    if (t.action === "") throw invalid(`${where}: action is required`);
    const timeout = t.timeout === "" ? DEFAULT_TIMEOUT : t.timeout;
    const timeoutMs = parseGoDuration(timeout);
    if (timeoutMs === undefined) {
      throw invalid(`${where}: invalid timeout ${JSON.stringify(t.timeout)}`);
    }
    const scheduleTimeout = t.scheduleTimeout || DEFAULT_SCHEDULE_TIMEOUT;
    const scheduleTimeoutMs = parseGoDuration(scheduleTimeout);
    if (scheduleTimeoutMs === undefined) {
      throw invalid(`${where}: invalid schedule_timeout ${JSON.stringify(t.scheduleTimeout)}`);
    }
    if (t.retries < 0) throw invalid(`${where}: retries must be >= 0, received ${t.retries}`);
    const slotRequests: Record<string, number> = Object.keys(t.slotRequests).length > 0
      ? { ...t.slotRequests }
      : t.isDurable
      ? { durable: 1 }
      : { default: 1 };
    return {
      stepId: crypto.randomUUID(),
      readableId: t.readableId,
      action: t.action,
      timeout,
      timeoutMs,
      scheduleTimeoutMs,
      parents: isOnFailure ? [] : [...t.parents],
      retries: t.retries,
      backoffFactor: t.backoffFactor,
      backoffMaxSeconds: t.backoffMaxSeconds,
      conditions: this.#stepConditions(where, t.conditions),
      isDurable: t.isDurable,
      slotRequests,
      isOnFailure,
    };
  }

  #stepConditions(where: string, c: TaskConditions | undefined): StepCondition[] {
    if (!c) return [];
    const out: StepCondition[] = [];
    const base = (b: { orGroupId: string; action: Action; expression: string } | undefined) => {
      if (!b) throw invalid(`${where}: a condition has no base`);
      if (!isUuid(b.orGroupId)) {
        throw invalid(
          `${where}: or_group_id must be a UUID, received ${JSON.stringify(b.orGroupId)}`,
        );
      }
      return {
        orGroupId: b.orGroupId.toLowerCase(),
        action: actionName(b.action),
        expression: b.expression,
      };
    };
    for (const p of c.parentOverrideConditions) {
      out.push({
        kind: "PARENT",
        ...base(p.base),
        readableDataKey: p.base?.readableDataKey || p.parentReadableId,
        parentReadableId: p.parentReadableId,
      });
    }
    for (const s of c.sleepConditions) {
      out.push({
        kind: "SLEEP",
        ...base(s.base),
        readableDataKey: s.base?.readableDataKey ?? "",
        sleepFor: s.sleepFor,
      });
    }
    for (const u of c.userEventConditions) {
      out.push({
        kind: "USER_EVENT",
        ...base(u.base),
        readableDataKey: u.base?.readableDataKey ?? "",
        eventKey: u.userEventKey,
      });
    }
    return out;
  }

  #checkAcyclic(workflow: string, tasks: TaskDef[]): void {
    const byName = new Map(tasks.map((t) => [t.readableId, t]));
    const state = new Map<string, "visiting" | "done">();
    const visit = (name: string, path: string[]) => {
      if (state.get(name) === "done") return;
      if (state.get(name) === "visiting") {
        throw invalid(
          `workflow "${workflow}": tasks form a cycle: ${[...path, name].join(" -> ")}`,
        );
      }
      state.set(name, "visiting");
      for (const p of byName.get(name)!.parents) visit(p, [...path, name]);
      state.set(name, "done");
    };
    for (const t of tasks) visit(t.readableId, []);
  }

  triggerWorkflowRun(req: TriggerWorkflowRunRequest): string {
    const version = this.#workflows.get(req.workflowName);
    if (!version) throw invalid(`workflow names not found: ${req.workflowName}`);
    const inputText = decoder.decode(req.input);
    const inputError = jsonbError(inputText, "payload");
    if (inputError) throw invalid(inputError);
    const input = inputText === "" ? {} : parseObject(inputText);
    if (!input) throw invalid(`input must be a JSON object, received ${inputText.slice(0, 100)}`);
    const metaText = decoder.decode(req.additionalMetadata);
    const metaError = jsonbError(metaText, "additionalMetadata");
    if (metaError) throw invalid(metaError);
    const meta = metaText === "" ? undefined : parseObject(metaText);
    if (metaText !== "" && !meta) {
      throw invalid(
        `additional_metadata must be a JSON object, received ${metaText.slice(0, 100)}`,
      );
    }
    if (req.priority !== undefined && (req.priority < 1 || req.priority > 3)) {
      throw invalid(`priority must be between 1 and 3, got ${req.priority}`);
    }
    const run = this.#trigger(version, input, meta, req.priority, undefined);
    this.#flush();
    return run.id;
  }

  getRunDetails(id: string): GetRunDetailsResponse {
    if (!isUuid(id)) throw invalid("invalid external id");
    const run = this.#runs.get(id);
    if (!run) throw notFound("workflow run not found");
    const statuses: RunStatus[] = [];
    const taskRuns: GetRunDetailsResponse["taskRuns"] = {};
    for (const t of run.tasks.values()) {
      if (t.status === "PENDING") {
        statuses.push(RunStatus.QUEUED);
        continue;
      }
      const status = wireStatus(t.status);
      statuses.push(status);
      const output = t.status === "SKIPPED" ? { skipped: true } : t.output;
      taskRuns[t.def.readableId] = create(TaskRunDetailSchema, {
        externalId: t.id,
        status,
        error: t.status === "FAILED" ? t.error : undefined,
        output: output === undefined ? undefined : encoder.encode(goJson(output)),
        readableId: t.def.readableId,
      });
    }
    const done = statuses.every((s) => s !== RunStatus.QUEUED && s !== RunStatus.RUNNING);
    return create(GetRunDetailsResponseSchema, {
      input: encoder.encode(goJson(run.input)),
      status: deriveRunStatus(statuses),
      taskRuns,
      done,
      additionalMetadata: run.additionalMetadata
        ? encoder.encode(goJson(run.additionalMetadata))
        : new Uint8Array(),
    });
  }

  cancelTasks(req: CancelTasksRequest): CancelTasksResponse {
    for (const id of req.externalIds) if (!isUuid(id)) throw invalid("invalid external id");
    if (req.externalIds.length > 0 && req.filter) {
      throw invalid("cannot provide both external ids and filter");
    }
    if (req.filter) {
      throw new ConnectError(
        "task filters are not supported by the mock engine",
        Code.Unimplemented,
      );
    }
    const cancelled: string[] = [];
    for (const id of req.externalIds) {
      const run = this.#runs.get(id);
      const targets = run ? [...run.tasks.values()] : [this.#tasks.get(id)].filter((t) => !!t);
      for (const task of targets) {
        if (task.status === "PENDING" && !run) continue;
        if (this.#cancel(task)) cancelled.push(task.id);
      }
    }
    this.#flush();
    return create(CancelTasksResponseSchema, { cancelledTasks: cancelled });
  }

  // ---------------------------------------------------------------- V1Dispatcher (durable)

  registerDurableEvent(req: RegisterDurableEventRequest): void {
    if (!isUuid(req.taskId)) throw invalid("task id is not a valid uuid");
    const task = this.#tasks.get(req.taskId);
    if (!task || task.status === "PENDING") throw notFound(`task not found: ${req.taskId}`);
    this.#ack(task.id);
    const conditions: MatchCondition[] = [];
    for (const s of req.conditions?.sleepConditions ?? []) {
      this.#checkOrGroup(s.base?.orGroupId);
      conditions.push(this.#sleepCondition({
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
    const match: Match = {
      kind: "SIGNAL",
      task,
      signalKey: req.signalKey,
      conditions,
      parentData: {},
      triggerData: {},
      removed: false,
    };
    for (const c of conditions) {
      if (c.timer === undefined && c.eventType === "SLEEP") this.#armSleep(match, c);
    }
    this.#matches.add(match);
    this.activity++;
    this.#flush();
  }

  #checkOrGroup(id: string | undefined): void {
    if (id === undefined || !isUuid(id)) {
      throw invalid(`or_group_id must be a UUID, received ${JSON.stringify(id ?? "")}`);
    }
  }

  /** Opens a ListenForDurableEvent stream. */
  openDurableStream(): DurableStream {
    const stream: DurableStream = { queue: new StreamQueue(), subscriptions: new Set() };
    this.#durableStreams.add(stream);
    this.activity++;
    return stream;
  }

  /** Subscribes a stream to `(taskId, signalKey)`; delivers at once if already completed. */
  subscribeDurable(stream: DurableStream, taskId: string, signalKey: string): void {
    this.activity++;
    if (!isUuid(taskId) || !this.#tasks.has(taskId)) {
      this.note(`ListenForDurableEvent: skipped subscription for unknown task ${taskId}`);
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
    this.#durableStreams.delete(stream);
    this.activity++;
  }

  // ---------------------------------------------------------------- runs and tasks

  #trigger(
    version: WorkflowVersion,
    input: JsonObject,
    additionalMetadata: JsonObject | undefined,
    priority: number | undefined,
    triggeringEvent: { id: string; key: string } | undefined,
  ): WorkflowRun {
    const run: WorkflowRun = {
      id: crypto.randomUUID(),
      version,
      input,
      additionalMetadata,
      priority: priority ?? version.defaultPriority ?? 1,
      triggeringEvent,
      tasks: new Map(),
      createdAt: this.clock.now(),
    };
    this.#runs.set(run.id, run);
    const defs = version.onFailure ? [...version.tasks, version.onFailure] : version.tasks;
    for (const def of defs) {
      const task: TaskRun = {
        id: crypto.randomUUID(),
        run,
        def,
        status: "PENDING",
        retryCount: 0,
        appRetryCount: 0,
        workerId: undefined,
        slotWorkerId: undefined,
        output: undefined,
        error: undefined,
        timeoutAt: undefined,
        timers: {},
        enqueueSeq: -1,
        triggerData: {},
        stepRunErrors: {},
      };
      run.tasks.set(def.readableId, task);
      this.#tasks.set(task.id, task);
    }
    for (const def of version.tasks) {
      const task = run.tasks.get(def.readableId)!;
      if (def.parents.length > 0) {
        this.#addMatch(task, this.#parentConditions(run, def));
        continue;
      }
      const own = def.conditions.filter((c) => c.kind !== "PARENT");
      if (own.length === 0) this.#createTask(task, "QUEUE", {}, {});
      else this.#addMatch(task, own.map((c) => this.#ownCondition(c)));
    }
    if (version.onFailure) {
      this.#addMatch(run.tasks.get(version.onFailure.readableId)!, this.#onFailureConditions(run));
    }
    this.activity++;
    return run;
  }

  #internal(
    orGroupId: string,
    eventKey: ParentData["kind"],
    parent: TaskRun,
    expression: string,
    action: ConditionAction,
  ): MatchCondition {
    return {
      orGroupId,
      action,
      eventType: "INTERNAL",
      eventKey,
      hint: parent.id,
      expression,
      readableDataKey: parent.def.readableId,
      satisfied: false,
    };
  }

  // The default DAG rules (engine: getParentInDAGGroupMatch): a child is queued when all its
  // parents completed, skipped when all were skipped, cancelled when any failed or was cancelled;
  // parent conditions replace the matching default.
  #parentConditions(run: WorkflowRun, def: TaskDef): MatchCondition[] {
    const hasOwn = def.conditions.some((c) => c.kind !== "PARENT");
    const anySkipOverride = def.conditions.some((c) => c.kind === "PARENT" && c.action === "SKIP");
    const completeAction: ConditionAction = hasOwn ? "CREATE_MATCH" : "QUEUE";
    const cancelGroup = crypto.randomUUID();
    const out: MatchCondition[] = [];
    for (const parentName of def.parents) {
      const parent = run.tasks.get(parentName)!;
      const overrides = def.conditions.filter((c) =>
        c.kind === "PARENT" && c.parentReadableId === parentName
      );
      const queue = overrides.filter((c) => c.action === "QUEUE");
      if (queue.length > 0) {
        for (const o of queue) {
          out.push(this.#internal(o.orGroupId, "COMPLETED", parent, o.expression, completeAction));
        }
      } else {
        out.push(this.#internal(crypto.randomUUID(), "COMPLETED", parent, "true", completeAction));
      }
      const skip = overrides.filter((c) => c.action === "SKIP");
      if (skip.length > 0) {
        for (const o of skip) {
          out.push(this.#internal(o.orGroupId, "COMPLETED", parent, o.expression, "SKIP"));
        }
      } else if (!anySkipOverride) {
        out.push(
          this.#internal(
            crypto.randomUUID(),
            "COMPLETED",
            parent,
            "has(output.skipped) && output.skipped",
            "SKIP",
          ),
        );
      }
      const cancel = overrides.filter((c) => c.action === "CANCEL");
      if (cancel.length > 0) {
        for (const o of cancel) {
          out.push(
            this.#internal(o.orGroupId, "COMPLETED", parent, o.expression, "CANCEL"),
            this.#internal(o.orGroupId, "FAILED", parent, "true", "CANCEL"),
            this.#internal(o.orGroupId, "CANCELLED", parent, "true", "CANCEL"),
          );
        }
      } else {
        out.push(
          this.#internal(cancelGroup, "FAILED", parent, "true", "CANCEL"),
          this.#internal(cancelGroup, "CANCELLED", parent, "true", "CANCEL"),
        );
      }
    }
    return out;
  }

  // The on-failure task (engine: getParentOnFailureGroupMatches) is queued as soon as any task
  // fails, and skipped once every task completed or was cancelled.
  #onFailureConditions(run: WorkflowRun): MatchCondition[] {
    const createGroup = crypto.randomUUID();
    const out: MatchCondition[] = [];
    for (const def of run.version.tasks) {
      const task = run.tasks.get(def.readableId)!;
      const skipGroup = crypto.randomUUID();
      out.push(
        this.#internal(createGroup, "FAILED", task, "true", "QUEUE"),
        this.#internal(skipGroup, "COMPLETED", task, "true", "SKIP"),
        this.#internal(skipGroup, "CANCELLED", task, "true", "SKIP"),
      );
    }
    return out;
  }

  #ownCondition(c: StepCondition): MatchCondition {
    if (c.kind === "SLEEP") {
      return this.#sleepCondition({
        orGroupId: c.orGroupId,
        action: c.action,
        readableDataKey: c.readableDataKey,
        sleepFor: c.sleepFor ?? "",
      });
    }
    return {
      orGroupId: c.orGroupId,
      action: c.action,
      eventType: "USER",
      eventKey: c.eventKey ?? "",
      expression: c.expression,
      readableDataKey: c.readableDataKey,
      satisfied: false,
    };
  }

  #sleepCondition(
    c: { orGroupId: string; action: ConditionAction; readableDataKey: string; sleepFor: string },
  ): MatchCondition {
    return {
      orGroupId: c.orGroupId,
      action: c.action,
      eventType: "SLEEP",
      eventKey: "",
      expression: "true",
      readableDataKey: c.readableDataKey,
      sleepFor: c.sleepFor,
      satisfied: false,
    };
  }

  #addMatch(task: TaskRun, conditions: MatchCondition[], carried?: Match): void {
    const match: Match = {
      kind: "TRIGGER",
      task,
      conditions,
      parentData: carried ? { ...carried.parentData } : {},
      triggerData: carried ? { ...carried.triggerData } : {},
      removed: false,
    };
    this.#matches.add(match);
    for (const c of conditions) if (c.eventType === "SLEEP") this.#armSleep(match, c);
  }

  #armSleep(match: Match, c: MatchCondition): void {
    const at = this.clock.now() + parseSleepDuration(c.sleepFor ?? "");
    c.timer = this.clock.at(at, () => {
      if (match.removed || c.satisfied) return;
      c.satisfied = true;
      c.data = { sleep_duration: c.sleepFor ?? "" };
      this.#resolve(match);
    });
  }

  #userEvent(key: string, payload: JsonObject): void {
    for (const match of [...this.#matches]) {
      if (match.removed) continue;
      let changed = false;
      for (const c of match.conditions) {
        if (c.satisfied || c.eventType !== "USER" || c.eventKey !== key) continue;
        if (this.#evaluate(c, payload, {}, match)) {
          c.satisfied = true;
          c.data = structuredClone(payload);
          changed = true;
        }
      }
      if (changed) this.#resolve(match);
    }
  }

  #taskEvent(task: TaskRun, kind: ParentData["kind"]): void {
    const output = task.status === "SKIPPED" ? { skipped: true } : task.output ?? {};
    for (const match of [...this.#matches]) {
      if (match.removed) continue;
      let changed = false;
      for (const c of match.conditions) {
        if (
          c.satisfied || c.eventType !== "INTERNAL" || c.eventKey !== kind || c.hint !== task.id
        ) {
          continue;
        }
        if (this.#evaluate(c, {}, kind === "COMPLETED" ? output : {}, match)) {
          c.satisfied = true;
          const data: ParentData = { kind };
          if (kind === "COMPLETED") data.output = output;
          if (kind === "FAILED") data.error = task.error ?? "";
          c.data = data as unknown as JsonValue;
          changed = true;
        }
      }
      if (changed) this.#resolve(match);
    }
  }

  #evaluate(c: MatchCondition, input: JsonObject, output: JsonObject, match: Match): boolean {
    const result = evalCel(c.expression, input, output);
    if (result.error !== undefined) {
      this.note(
        `CEL expression ${JSON.stringify(c.expression)} of a condition on task ${match.task.id} ` +
          `(${match.task.def.readableId}) failed: ${result.error}`,
      );
    }
    return result.matched;
  }

  // A match fires when every or-group of some action has a satisfied member; the precedence
  // when several actions are satisfied at once is the engine's: SKIP, CANCEL, CREATE, QUEUE.
  #resolve(match: Match): void {
    const order: ConditionAction[] = ["SKIP", "CANCEL", "CREATE", "QUEUE", "CREATE_MATCH"];
    let chosen: ConditionAction | undefined;
    for (const action of order) {
      const groups = new Set<string>();
      const satisfied = new Set<string>();
      for (const c of match.conditions) {
        if (c.action !== action) continue;
        groups.add(c.orGroupId);
        if (c.satisfied) satisfied.add(c.orGroupId);
      }
      if (groups.size > 0 && groups.size === satisfied.size) {
        chosen = action;
        break;
      }
    }
    if (!chosen) return;
    match.removed = true;
    this.#matches.delete(match);
    for (const c of match.conditions) this.clock.cancel(c.timer);
    const parentData = { ...match.parentData };
    const triggerData: Record<string, JsonValue[]> = {};
    for (const [k, v] of Object.entries(match.triggerData)) triggerData[k] = [...v];
    const aggregated: Record<string, JsonValue[]> = {};
    for (const c of match.conditions) {
      if (!c.satisfied || c.action !== chosen) continue;
      (aggregated[c.readableDataKey] ??= []).push(c.data ?? null);
      if (c.eventType === "INTERNAL") {
        parentData[c.readableDataKey] ??= c.data as unknown as ParentData;
      } else (triggerData[c.readableDataKey] ??= []).push(c.data ?? null);
    }
    this.activity++;
    if (match.kind === "SIGNAL") {
      this.#completeSignal(match.task, match.signalKey!, { [chosen]: aggregated });
      return;
    }
    const task = match.task;
    if (task.status !== "PENDING") return;
    if (chosen === "CREATE_MATCH") {
      const own = task.def.conditions.filter((c) => c.kind !== "PARENT").map((c) =>
        this.#ownCondition(c)
      );
      this.#addMatch(task, own, { ...match, parentData, triggerData });
      return;
    }
    this.#createTask(task, chosen, parentData, triggerData);
  }

  #completeSignal(task: TaskRun, signalKey: string, result: JsonObject): void {
    const key = signalId(task.id, signalKey);
    // The first completion per (task run, signal key) wins forever: a retried attempt that
    // registers the same key again replays this result.
    if (this.#completions.has(key)) return;
    const data = encoder.encode(goJson(result));
    this.#completions.set(key, data);
    for (const stream of this.#durableStreams) {
      if (!stream.subscriptions.delete(key)) continue;
      stream.queue.push(create(DurableEventSchema, { taskId: task.id, signalKey, data }));
    }
  }

  #createTask(
    task: TaskRun,
    action: ConditionAction,
    parentData: Record<string, ParentData>,
    triggerData: Record<string, JsonValue[]>,
  ): void {
    if (task.status !== "PENDING") return;
    task.triggerData = triggerData;
    for (const [name, data] of Object.entries(parentData)) {
      if (data?.kind === "FAILED") task.stepRunErrors[name] = data.error ?? "";
    }
    this.activity++;
    if (action === "SKIP") {
      task.status = "SKIPPED";
      task.output = { skipped: true };
      this.#taskEvent(task, "COMPLETED");
    } else if (action === "CANCEL") {
      task.status = "CANCELLED";
      this.#taskEvent(task, "CANCELLED");
    } else {
      this.#enqueue(task);
    }
  }

  #enqueue(task: TaskRun): void {
    const queue = this.#queue;
    // A task queued before (a retry, a requeue) leaves its old place first.
    if (task.enqueueSeq >= 0) {
      const old = queue.indexOf(task);
      if (old >= 0) queue.splice(old, 1);
    }
    task.status = "QUEUED";
    task.enqueueSeq = this.#seq++;
    // The queue stays ordered by priority, then arrival: the newest task goes after every task of
    // its priority or higher. (Sorting on each enqueue cost a burst of n triggers n sorts.)
    const priority = task.run.priority;
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (queue[mid].run.priority >= priority) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, task);
    const seq = task.enqueueSeq;
    this.clock.cancel(task.timers.schedule);
    task.timers.schedule = this.clock.at(this.clock.now() + task.def.scheduleTimeoutMs, () => {
      if (task.status !== "QUEUED" || task.enqueueSeq !== seq) return;
      this.note(
        `task ${task.id} (${task.def.readableId}) was not assigned in time: SCHEDULING_TIMED_OUT`,
      );
      this.#cancel(task);
    });
    this.#needsSchedule = true;
  }

  /** Runs the scheduler if anything changed. Called at the end of every operation. */
  #flush(): void {
    this.activity++;
    if (this.#closed) return;
    while (this.#needsSchedule) {
      this.#needsSchedule = false;
      this.#schedule();
    }
  }

  #schedule(): void {
    // The scheduler runs after every operation, so a pass must not cost more than the queue
    // changed: once a task found no worker, skip the later tasks of its definition (a pass only
    // uses capacity up, so they would find none either). Without this, each RPC matched every
    // queued task against every worker.
    // A busy queue is mostly tasks waiting for a slot: once no live worker has a free unit of
    // any slot type, nothing later in the queue can be assigned either, so the pass stops.
    const blocked = new Set<TaskDef>();
    const queue = this.#queue;
    for (const task of queue) {
      if (task.status !== "QUEUED" || blocked.has(task.def)) continue;
      const worker = this.#pickWorker(task);
      if (worker) {
        this.#assign(task, worker);
      } else {
        blocked.add(task.def);
        if (!this.#anyFreeSlot()) break;
      }
    }
    // Assigned tasks sit at the front of a first-in, first-out queue: drop that prefix. Others
    // that left the queue are skipped above and dropped at the next sort.
    let done = 0;
    while (done < queue.length && queue[done].status !== "QUEUED") done++;
    if (done > 0) queue.splice(0, done);
  }

  #anyFreeSlot(): boolean {
    for (const w of this.#workers.values()) {
      if (!this.#isLive(w)) continue;
      for (const [type, units] of Object.entries(w.slotConfig)) {
        if (units - (w.used[type] ?? 0) > 0) return true;
      }
    }
    return false;
  }

  #pickWorker(task: TaskRun): WorkerState | undefined {
    let best: WorkerState | undefined;
    let bestFree = -1;
    for (const w of this.#workers.values()) {
      if (!w.actions.has(task.def.action) || w.paused || !this.#isLive(w)) continue;
      let free = Infinity;
      for (const [type, units] of Object.entries(task.def.slotRequests)) {
        free = Math.min(free, (w.slotConfig[type] ?? 0) - (w.used[type] ?? 0) - units);
      }
      if (free >= 0 && free > bestFree) {
        best = w;
        bestFree = free;
      }
    }
    return best;
  }

  #assign(task: TaskRun, worker: WorkerState): void {
    this.clock.cancel(task.timers.schedule);
    task.status = "RUNNING";
    task.workerId = worker.id;
    task.slotWorkerId = worker.id;
    for (const [type, units] of Object.entries(task.def.slotRequests)) {
      worker.used[type] = (worker.used[type] ?? 0) + units;
    }
    task.timeoutAt = this.clock.now() + task.def.timeoutMs;
    this.#armTimeout(task);
    this.#send(worker, task, ActionType.START_STEP_RUN);
  }

  #armTimeout(task: TaskRun): void {
    this.clock.cancel(task.timers.timeout);
    const retryCount = task.retryCount;
    task.timers.timeout = this.clock.at(task.timeoutAt!, () => {
      if (task.status !== "RUNNING" || task.retryCount !== retryCount) return;
      this.#fail(task, `Task exceeded timeout of ${task.def.timeout}`, false, true);
    });
  }

  #freeSlot(task: TaskRun): void {
    const worker = task.slotWorkerId ? this.#workers.get(task.slotWorkerId) : undefined;
    task.slotWorkerId = undefined;
    if (!worker) return;
    for (const [type, units] of Object.entries(task.def.slotRequests)) {
      worker.used[type] = Math.max(0, (worker.used[type] ?? 0) - units);
    }
    this.#needsSchedule = true;
  }

  #send(worker: WorkerState, task: TaskRun, type: ActionType): void {
    const stream = openStream(worker);
    if (!stream) {
      if (type === ActionType.START_STEP_RUN) {
        this.#requeue(task, `worker ${worker.id} has no open stream`);
      } else {
        this.note(
          `dropped ${ActionType[type]} for task ${task.id}: worker ${worker.id} has no stream`,
        );
      }
      return;
    }
    const run = task.run;
    const action = create(AssignedActionSchema, {
      tenantId: this.tenantId,
      workflowRunId: run.id,
      getGroupKeyRunId: "",
      jobId: task.def.stepId,
      jobName: task.def.readableId,
      jobRunId: task.id,
      taskId: task.def.stepId,
      taskRunExternalId: task.id,
      actionId: task.def.action,
      actionType: type,
      actionPayload: type === ActionType.START_STEP_RUN ? this.#payload(task) : "",
      taskName: task.def.readableId,
      retryCount: task.retryCount,
      additionalMetadata: run.additionalMetadata ? goJson(run.additionalMetadata) : undefined,
      priority: run.priority,
      workflowId: run.version.workflowId,
      workflowVersionId: run.version.versionId,
      triggeringEventExternalId: run.triggeringEvent?.id,
      triggeringEventKey: run.triggeringEvent?.key,
    });
    stream.queue.push(action);
    if (type === ActionType.START_STEP_RUN) this.#awaitingAck.add(task.id);
    this.activity++;
  }

  #payload(task: TaskRun): string {
    const parents: Record<string, JsonValue> = {};
    for (const name of task.def.parents) {
      const parent = task.run.tasks.get(name)!;
      if (parent.status === "SKIPPED") parents[name] = { skipped: true };
      else if (parent.status === "COMPLETED") parents[name] = parent.output ?? {};
    }
    const triggers: Record<string, JsonValue> = { filter_payload: null };
    for (const [key, values] of Object.entries(task.triggerData)) {
      const first = values.find(isObject);
      if (first) triggers[key] = first;
    }
    const data: JsonObject = {
      input: task.run.input,
      triggered_by: "manual",
      parents,
      triggers,
      user_data: null,
      overrides: null,
    };
    if (Object.keys(task.stepRunErrors).length > 0) data.step_run_errors = task.stepRunErrors;
    // Go writes struct fields in declaration order and map keys sorted.
    const head = Object.entries(data).map(([k, v]) => `${JSON.stringify(k)}:${goJson(v)}`);
    return `{${head.join(",")}}`;
  }

  #complete(task: TaskRun, output: JsonObject): void {
    this.#finishAttempt(task);
    task.status = "COMPLETED";
    task.output = output;
    this.#taskEvent(task, "COMPLETED");
  }

  #finishAttempt(task: TaskRun): void {
    this.#freeSlot(task);
    this.clock.cancel(task.timers.timeout);
    this.clock.cancel(task.timers.schedule);
    this.clock.cancel(task.timers.retry);
    task.timers = {};
    task.timeoutAt = undefined;
    task.workerId = undefined;
    this.#awaitingAck.delete(task.id);
    this.activity++;
  }

  #fail(task: TaskRun, error: string, shouldNotRetry: boolean, cancelOnWorker = false): void {
    if (cancelOnWorker && task.workerId) {
      const worker = this.#workers.get(task.workerId);
      if (worker) this.#send(worker, task, ActionType.CANCEL_STEP_RUN);
    }
    this.#finishAttempt(task);
    if (!shouldNotRetry && task.def.retries > task.appRetryCount) {
      task.retryCount++;
      task.appRetryCount++;
      task.error = error;
      task.status = "QUEUED";
      const factor = task.def.backoffFactor;
      if (factor === undefined) {
        this.#enqueue(task);
        return;
      }
      const maxSeconds = task.def.backoffMaxSeconds ?? Infinity;
      const delayMs = 1000 * Math.min(maxSeconds, factor ** task.appRetryCount);
      const retryCount = task.retryCount;
      task.timers.retry = this.clock.at(this.clock.now() + delayMs, () => {
        if (task.status === "QUEUED" && task.retryCount === retryCount) this.#enqueue(task);
      });
      return;
    }
    task.status = "FAILED";
    task.error = error;
    this.#taskEvent(task, "FAILED");
  }

  /** Cancels a task run; false when it had already finished. */
  #cancel(task: TaskRun): boolean {
    if (task.status !== "PENDING" && task.status !== "QUEUED" && task.status !== "RUNNING") {
      return false;
    }
    if (task.status === "RUNNING" && task.workerId) {
      const worker = this.#workers.get(task.workerId);
      if (worker) this.#send(worker, task, ActionType.CANCEL_STEP_RUN);
    }
    if (task.status === "PENDING") {
      for (const m of this.#matches) {
        if (m.task === task && m.kind === "TRIGGER") {
          m.removed = true;
          for (const c of m.conditions) this.clock.cancel(c.timer);
          this.#matches.delete(m);
        }
      }
    }
    this.#finishAttempt(task);
    task.status = "CANCELLED";
    this.#taskEvent(task, "CANCELLED");
    return true;
  }
}

function signalId(taskId: string, signalKey: string): string {
  return `${taskId}\u0000${signalKey}`;
}

function wireStatus(status: TaskStatus): RunStatus {
  switch (status) {
    case "RUNNING":
      return RunStatus.RUNNING;
    case "COMPLETED":
    case "SKIPPED":
      return RunStatus.COMPLETED;
    case "FAILED":
      return RunStatus.FAILED;
    case "CANCELLED":
      return RunStatus.CANCELLED;
    default:
      return RunStatus.QUEUED;
  }
}

// The engine's DeriveWorkflowRunStatus: one status if all agree, else FAILED wins, then
// RUNNING (anything unfinished), then CANCELLED.
function deriveRunStatus(statuses: RunStatus[]): RunStatus {
  const unique = new Set(statuses);
  if (unique.size === 1) return [...unique][0];
  if (unique.has(RunStatus.FAILED)) return RunStatus.FAILED;
  if (unique.has(RunStatus.RUNNING) || unique.has(RunStatus.QUEUED)) return RunStatus.RUNNING;
  return RunStatus.CANCELLED;
}

/** The stream a worker gets its actions on: its newest one that is still open. */
function openStream(worker: WorkerState): ListenStream | undefined {
  for (let i = worker.streams.length - 1; i >= 0; i--) {
    if (!worker.streams[i].queue.closed) return worker.streams[i];
  }
  return undefined;
}
