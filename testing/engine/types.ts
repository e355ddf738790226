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
}

/** Options of `EngineCore`. */
export interface EngineCoreOptions {
  clock: ClockMode;
  startMs: number;
  version: string | null;
  tenantId: string;
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
}

export interface WorkflowVersion {
  workflowId: string;
  versionId: string;
  name: string;
  eventTriggers: string[];
  tasks: TaskDef[];
  onFailure: TaskDef | undefined;
  defaultPriority: number | undefined;
}

export interface WorkflowRun {
  id: string;
  version: WorkflowVersion;
  input: JsonObject;
  additionalMetadata: JsonObject | undefined;
  priority: number;
  triggeringEvent: { id: string; key: string } | undefined;
  tasks: Map<string, TaskRun>;
}

/** What a satisfied parent condition carries: the parent's outcome. */
export interface ParentData {
  kind: "COMPLETED" | "FAILED" | "CANCELLED";
  output?: JsonObject;
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
  output: JsonObject | undefined;
  error: string | undefined;
  timeoutAt: number | undefined;
  timers: { timeout?: EngineTimer; schedule?: EngineTimer; retry?: EngineTimer };
  /** Arrival order in the queue; -1 until first queued. */
  enqueueSeq: number;
  triggerData: Record<string, JsonValue[]>;
  stepRunErrors: Record<string, string>;
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
  output?: JsonObject;
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
