// The records every room shares: workflow versions and their task definitions, workflow runs and
// task runs, matches and their conditions, workers and their listen streams, durable-event
// streams, plus the engine-wide state (clock, activity counter, arrival counter) and the shapes
// MockEngine reports. Owns no data itself: each room owns the maps holding these records.

import type { AssignedAction, DurableEvent } from "../../transport/services.ts";
import type { JsonObject, JsonValue } from "../../transport/types.ts";
import type { ClockMode, EngineClock, EngineTimer } from "../_clock.ts";
import type { StreamQueue } from "../_stream_queue.ts";

/** State every room reads and bumps. */
export interface EngineState {
  readonly tenantId: string;
  readonly clock: EngineClock;
  /** Bumped on every state change and RPC boundary; the quiet check watches it. */
  activity: number;
  /** Arrival counter, shared by the queue and stream events. */
  seq: number;
  /** Whether the engine was closed. */
  closed: boolean;
  /** How long a triggered run stays invisible (not created) after TriggerWorkflowRun answers. */
  readonly triggerDelayMs: number;
}

/** Options of `EngineCore`. */
export interface EngineCoreOptions {
  clock: ClockMode;
  startMs: number;
  version: string | null;
  tenantId: string;
  /** See `EngineState.triggerDelayMs`; default 0. */
  triggerDelayMs?: number;
}

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

export type ConditionAction = "CREATE" | "QUEUE" | "CANCEL" | "SKIP" | "CREATE_MATCH";

export interface StepCondition {
  kind: "PARENT" | "SLEEP" | "USER_EVENT";
  action: ConditionAction;
  orGroupId: string;
  expression: string;
  readableDataKey: string;
  parentReadableId?: string;
  sleepFor?: string;
  eventKey?: string;
}

export interface TaskDef {
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
  concurrency: ConcurrencySpec[];
  rateLimits: RateLimitDef[];
  desiredLabels: DesiredLabel[];
}

/** A `Concurrency` of a workflow or task. */
export interface ConcurrencySpec {
  /** Unique per declaration: groups are per (spec, key). */
  id: string;
  expression: string;
  maxRuns: number;
  strategy: "GROUP_ROUND_ROBIN" | "CANCEL_IN_PROGRESS" | "CANCEL_NEWEST";
}

/** A task's rate limit: a static key or a CEL key, units, and a dynamic limit's CEL. */
export interface RateLimitDef {
  key: string;
  keyExpr: string | undefined;
  units: number;
  unitsExpr: string | undefined;
  limitExpr: string | undefined;
  windowMs: number;
}

/** A desired label as the engine stores it (defaults applied). */
export interface DesiredLabel {
  key: string;
  strValue: string | undefined;
  intValue: number | undefined;
  required: boolean;
  comparator: string;
  weight: number;
}

/** What a concurrency group holds: a task run or a whole run. */
export interface Holder {
  /** Arrival order. */
  seq: number;
  priority: number;
  /** Called once the holder got its place. */
  admit(): void;
  /** Called when the strategy cancels the holder (queued or running). */
  cancel(): void;
}

export interface WorkflowVersion {
  workflowId: string;
  versionId: string;
  name: string;
  eventTriggers: string[];
  cronTriggers: string[];
  /** The input of the runs its crons create. */
  cronInput: JsonObject;
  tasks: TaskDef[];
  onFailure: TaskDef | undefined;
  defaultPriority: number | undefined;
  concurrency: ConcurrencySpec[];
  sticky: "SOFT" | "HARD" | undefined;
}

/**
 * What created a run: a trigger call, an event, a parent task, a schedule or a cron.
 *
 * @example
 * ```ts
 * import type { RunTrigger } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const kinds: RunTrigger[] = ["manual", "event", "child", "schedule", "cron"];
 * assert.equal(kinds.length, 5);
 * ```
 */
export type RunTrigger = "manual" | "event" | "child" | "schedule" | "cron";

/** The parent task of a child run. */
export interface RunParent {
  workflowRunId: string;
  taskRunId: string;
  childIndex: number | undefined;
  childKey: string | undefined;
}

export interface WorkflowRun {
  id: string;
  version: WorkflowVersion;
  input: JsonObject;
  additionalMetadata: JsonObject | undefined;
  priority: number;
  triggeringEvent: { id: string; key: string } | undefined;
  tasks: Map<string, TaskRun>;
  triggeredBy: RunTrigger;
  parent: RunParent | undefined;
  /** Engine clock ms. */
  createdAt: number;
  /** Engine clock ms; undefined while unfinished (and again after a replay). */
  finishedAt: number | undefined;
  /** Trigger-time desired labels; they replace every task's own. */
  labelOverrides: DesiredLabel[] | undefined;
  /** Sticky runs: the worker that ran the run's first task. */
  desiredWorkerId: string | undefined;
  /** Workflow-level concurrency: the run's place, and tasks queued before it got one. */
  gate: { holder: Holder; admitted: boolean; deferred: TaskRun[] } | undefined;
}

/** What `Runs.trigger` takes besides the workflow version. */
export interface TriggerOptions {
  input: JsonObject;
  additionalMetadata?: JsonObject;
  priority?: number;
  triggeringEvent?: { id: string; key: string };
  /** Default: `event` with a triggering event, else `manual`. */
  triggeredBy?: RunTrigger;
  parent?: RunParent;
  /** The run id, when it was answered before the run exists; default a new one. */
  id?: string;
  /** Trigger-time desired labels; they replace every task's own. */
  labelOverrides?: DesiredLabel[];
}

/** What a satisfied parent condition carries: the parent's outcome. */
export interface ParentData {
  kind: "COMPLETED" | "FAILED" | "CANCELLED";
  output?: JsonValue;
  error?: string;
}

export interface TaskRun {
  id: string;
  run: WorkflowRun;
  def: TaskDef;
  status: TaskStatus;
  retryCount: number;
  appRetryCount: number;
  workerId: string | undefined;
  /** Slot units held on `slotWorkerId` until completion or ReleaseSlot. */
  slotWorkerId: string | undefined;
  output: JsonValue | undefined;
  error: string | undefined;
  timeoutAt: number | undefined;
  timers: { timeout?: EngineTimer; schedule?: EngineTimer; retry?: EngineTimer };
  /** Arrival order in the queue; -1 until first queued. */
  enqueueSeq: number;
  triggerData: Record<string, JsonValue[]>;
  stepRunErrors: Record<string, string>;
  /** Task-level concurrency: its place (held until the task finishes) once it entered. */
  gate: { holder: Holder; admitted: number } | undefined;
  /** Rate-limit units per key, evaluated when the task is first queued. */
  rateUnits: Map<string, number> | undefined;
  /** Durable tasks: the invocation count of the current assignment (0 before the first). */
  invocationCount: number;
  /** Durable tasks: evicted by its worker; no slot, no timeout, until restored. */
  evicted: boolean;
}

export interface MatchCondition {
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
  /** User events only: the scope an event must carry (unset: any). */
  scope?: string;
  timer?: EngineTimer;
  satisfied: boolean;
  data?: JsonValue;
}

export interface Match {
  kind: "TRIGGER" | "SIGNAL";
  task: TaskRun;
  signalKey?: string;
  conditions: MatchCondition[];
  parentData: Record<string, ParentData>;
  triggerData: Record<string, JsonValue[]>;
  removed: boolean;
  /** SIGNAL matches of the durable event log: called with the result instead of completeSignal. */
  onComplete?: (result: JsonObject) => void;
}

export interface ListenStream {
  queue: StreamQueue<AssignedAction>;
  version: "v1" | "v2";
}

export interface WorkerState {
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
  output?: JsonValue;
  /** The last error, once an attempt failed. */
  error?: string;
  /** Durable tasks: `true` while evicted by its worker (no slot held, waiting to be restored). */
  evicted?: true;
  /** Durable tasks: the invocation count of the latest assignment. */
  invocationCount?: number;
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

/**
 * A workflow run as {@link MockEngine.runs} reports it, with its parent link.
 *
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type RunInfo } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const child = workflow({ name: "child" });
 * child.task({ name: "c", fn: () => ({}) });
 * const parent = workflow({ name: "parent" });
 * parent.task({ name: "p", fn: async (_input, ctx) => (await ctx.runChild(child, {})).outputs.c });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [parent, child] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(parent, {});
 * await run.result();
 * const [p, c]: RunInfo[] = engine.runs();
 * assert.deepEqual([p.workflowName, p.triggeredBy, p.status], ["parent", "manual", "COMPLETED"]);
 * assert.deepEqual([c.workflowName, c.triggeredBy, c.parentWorkflowRunId, c.childIndex], [
 *   "child",
 *   "child",
 *   run.id,
 *   0,
 * ]);
 * assert.equal(c.parentTaskRunId, engine.taskRuns(run.id)[0].id);
 * ```
 */
export interface RunInfo {
  /** The workflow run id. */
  id: string;
  /** The workflow's (namespaced) name. */
  workflowName: string;
  /** `QUEUED`, `RUNNING`, `COMPLETED`, `FAILED` or `CANCELLED`, derived from its tasks. */
  status: "QUEUED" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED";
  /** What created it. */
  triggeredBy: RunTrigger;
  /** The run's input. */
  input: JsonObject;
  /** Its additional metadata (children carry `hatchet__parent_*` keys). */
  additionalMetadata?: JsonObject;
  /** For child runs: the parent's workflow run. */
  parentWorkflowRunId?: string;
  /** For child runs: the parent task run. */
  parentTaskRunId?: string;
  /** For child runs: the spawn index. */
  childIndex?: number;
  /** For child runs: the spawn key. */
  childKey?: string;
  /** When it was created, on the engine clock. */
  createdAt: Date;
  /** When it finished, on the engine clock. */
  finishedAt?: Date;
}
