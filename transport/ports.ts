// Hand-written ports: the engine's RPCs as plain TypeScript, so that context/, durable/ and
// worker/ never see a generated or Connect type. connection.ts implements them over any Connect
// transport (native fetch, node:http2, or the mock engine's in-memory router). Field meanings
// are those of the wire messages named in each comment (../shared/hatchet-protocol.md).

import type { JsonObject } from "./types.ts";

/** Options every port call takes. */
export interface CallOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Deadline for the call in milliseconds. */
  timeoutMs?: number;
  /** Called when the engine's response headers arrive (a stream is then established). */
  onHeader?: () => void;
}

/** `ActionType` of an `AssignedAction`. */
export type ActionKind =
  | "START_STEP_RUN"
  | "CANCEL_STEP_RUN"
  | "START_GET_GROUP_KEY"
  | "START_BATCH";

/** `AssignedAction` (§2.1, §3.6). Optional proto fields are `undefined` when unset. */
export interface AssignedActionData {
  tenantId: string;
  workflowRunId: string;
  jobId: string;
  jobName: string;
  jobRunId: string;
  taskId: string;
  taskRunExternalId: string;
  actionId: string;
  actionType: ActionKind;
  actionPayload: string;
  taskName: string;
  retryCount: number;
  additionalMetadata: string | undefined;
  childWorkflowIndex: number | undefined;
  childWorkflowKey: string | undefined;
  parentWorkflowRunId: string | undefined;
  priority: number;
  workflowId: string | undefined;
  workflowVersionId: string | undefined;
  durableTaskInvocationCount: number | undefined;
  triggeringEventExternalId: string | undefined;
  triggeringEventKey: string | undefined;
}

/** `WorkerLabels`: a label value. */
export type LabelValue = string | number;

/** `WorkerRegisterRequest` (§3.2). Exactly one of `slots` and `slotConfig` is sent. */
export interface RegisterWorkerInput {
  workerName: string;
  actions: string[];
  services: string[];
  slots?: number;
  slotConfig?: Record<string, number>;
  labels?: Record<string, LabelValue>;
  runtimeInfo?: {
    sdkVersion?: string;
    language?: "UNKNOWN" | "TYPESCRIPT";
    languageVersion?: string;
    os?: string;
    extra?: string;
  };
}

/** `StepActionEventType`. */
export type StepEventKind = "STARTED" | "COMPLETED" | "FAILED" | "ACKNOWLEDGED" | "CANCELLED";

/** `StepActionEvent` (§3.7). */
export interface StepActionEventInput {
  workerId: string;
  jobId: string;
  jobRunId: string;
  taskId: string;
  taskRunExternalId: string;
  actionId: string;
  eventTimestamp: Date;
  eventType: StepEventKind;
  eventPayload: string;
  retryCount: number;
  shouldNotRetry?: boolean;
}

/** Which listen RPC to open: `ListenV2` (default) or the old `Listen`. */
export type ListenVersion = "v2" | "v1";

/** `Dispatcher` service. */
export interface DispatcherPort {
  /** `GetVersion`; `undefined` when the engine answers `UNIMPLEMENTED` (older than v0.78.27). */
  getVersion(options?: CallOptions): Promise<string | undefined>;
  register(
    input: RegisterWorkerInput,
    options?: CallOptions,
  ): Promise<{ workerId: string; tenantId: string }>;
  /** `ListenV2` / `Listen` server stream; ends or throws when the stream ends. */
  listen(
    workerId: string,
    version: ListenVersion,
    options?: CallOptions,
  ): AsyncIterable<AssignedActionData>;
  heartbeat(workerId: string, at: Date, options?: CallOptions): Promise<void>;
  sendStepActionEvent(event: StepActionEventInput, options?: CallOptions): Promise<void>;
  /** `RefreshTimeout`; returns the new `timeout_at`. `incrementBy` is in the engine's form. */
  refreshTimeout(
    taskRunExternalId: string,
    incrementBy: string,
    options?: CallOptions,
  ): Promise<Date | undefined>;
  releaseSlot(taskRunExternalId: string, options?: CallOptions): Promise<void>;
  unsubscribe(workerId: string, options?: CallOptions): Promise<void>;
  upsertWorkerLabels(
    workerId: string,
    labels: Record<string, LabelValue>,
    options?: CallOptions,
  ): Promise<void>;
}

/** `PutLogRequest` (§2.2). */
export interface PutLogInput {
  taskRunExternalId: string;
  createdAt: Date;
  message: string;
  level?: "DEBUG" | "INFO" | "WARN" | "ERROR";
  metadata?: string;
  taskRetryCount?: number;
}

/** `PutStreamEventRequest` (§2.2). */
export interface PutStreamEventInput {
  taskRunExternalId: string;
  createdAt: Date;
  message: Uint8Array;
  metadata?: string;
  eventIndex?: number;
}

/** `PushEventRequest` (§2.2). `payload` and `additionalMetadata` are JSON text. */
export interface PushEventInput {
  key: string;
  payload: string;
  eventTimestamp: Date;
  additionalMetadata?: string;
  priority?: number;
  scope?: string;
}

/** `EventsService`. */
export interface EventsPort {
  push(input: PushEventInput, options?: CallOptions): Promise<{ eventId: string }>;
  /** `BulkPush` (1 to 1000 events): event ids in request order. */
  bulkPush(inputs: PushEventInput[], options?: CallOptions): Promise<{ eventId: string }[]>;
  putLog(input: PutLogInput, options?: CallOptions): Promise<void>;
  putStreamEvent(input: PutStreamEventInput, options?: CallOptions): Promise<void>;
}

/** `v1.Action` of a match condition. */
export type MatchAction = "CREATE" | "QUEUE" | "CANCEL" | "SKIP";

/** `v1.BaseMatchCondition`. */
export interface BaseMatchInput {
  readableDataKey: string;
  action: MatchAction;
  orGroupId: string;
  expression: string;
}

/** `v1.SleepMatchCondition`. */
export interface SleepMatchInput {
  base: BaseMatchInput;
  sleepFor: string;
}

/** `v1.UserEventMatchCondition`. */
export interface UserEventMatchInput {
  base: BaseMatchInput;
  userEventKey: string;
  eventScope?: string;
  /** `consider_events_since`: lookback (the engine honours it only with a scope). */
  considerEventsSince?: Date;
}

/** `v1.ParentOverrideMatchCondition`. */
export interface ParentOverrideMatchInput {
  base: BaseMatchInput;
  parentReadableId: string;
}

/** `v1.DurableEventListenerConditions`. */
export interface DurableConditionsInput {
  sleepConditions: SleepMatchInput[];
  userEventConditions: UserEventMatchInput[];
}

/** `v1.TaskConditions`. */
export interface TaskConditionsInput extends DurableConditionsInput {
  parentOverrideConditions: ParentOverrideMatchInput[];
}

/** `v1.DurableEvent`. */
export interface DurableEventData {
  taskId: string;
  signalKey: string;
  data: Uint8Array;
}

/** `v1.V1Dispatcher` legacy durable path (§6.3). */
export interface DurablePort {
  registerDurableEvent(
    input: { taskId: string; signalKey: string; conditions: DurableConditionsInput },
    options?: CallOptions,
  ): Promise<void>;
  /**
   * Opens one `ListenForDurableEvent` bidi stream. `requests` feeds the request side (each item
   * subscribes one key); the returned iterable yields events until the stream ends or throws.
   */
  listenForDurableEvent(
    requests: AsyncIterable<{ taskId: string; signalKey: string }>,
    options?: CallOptions,
  ): AsyncIterable<DurableEventData>;
}

/** `v1.DurableEventLogEntryRef`: one position of a durable task's event log. */
export interface EntryRefData {
  taskId: string;
  invocationCount: number;
  branchId: number;
  nodeId: number;
}

/** `v1.TriggerWorkflowRequest` as a durable task sends it in `trigger_runs`. */
export interface DurableTriggerInput {
  name: string;
  /** JSON text. */
  input: string;
  parentId?: string;
  parentTaskRunExternalId?: string;
  childIndex?: number;
  childKey?: string;
  /** JSON text. */
  additionalMetadata?: string;
  priority?: number;
}

/** `v1.DurableTaskRequest`, one variant per `oneof` case. */
export type DurableTaskRequestData =
  | { kind: "registerWorker"; workerId: string }
  | {
    kind: "memo";
    taskId: string;
    invocationCount: number;
    key: Uint8Array;
    payload?: Uint8Array;
  }
  | {
    kind: "triggerRuns";
    taskId: string;
    invocationCount: number;
    triggers: DurableTriggerInput[];
  }
  | {
    kind: "waitFor";
    taskId: string;
    invocationCount: number;
    conditions: DurableConditionsInput;
    label?: string;
  }
  | { kind: "evictInvocation"; taskId: string; invocationCount: number; reason?: string }
  | {
    kind: "workerStatus";
    workerId: string;
    waiting: { taskId: string; invocationCount: number; branchId: number; nodeId: number }[];
  }
  | { kind: "completeMemo"; ref: EntryRefData; payload: Uint8Array; memoKey: Uint8Array };

/** `v1.DurableTaskResponse`, one variant per `oneof` case. */
export type DurableTaskResponseData =
  | { kind: "registerWorker"; workerId: string }
  | { kind: "memoAck"; ref: EntryRefData; alreadyExisted: boolean; result?: Uint8Array }
  | {
    kind: "triggerRunsAck";
    taskId: string;
    invocationCount: number;
    entries: { nodeId: number; branchId: number; workflowRunId: string }[];
  }
  | { kind: "waitForAck"; ref: EntryRefData }
  | {
    kind: "entryCompleted";
    ref: EntryRefData;
    payload: Uint8Array;
    isFailure: boolean;
    errorMessage?: string;
  }
  | { kind: "error"; ref: EntryRefData; nondeterminism: boolean; message: string }
  | { kind: "evictionAck"; taskId: string; invocationCount: number }
  | { kind: "serverEvict"; taskId: string; invocationCount: number; reason: string };

/** `v1.V1Dispatcher/DurableTask`: the durable event-log path (engines >= v0.80.0). */
export interface DurableTaskPort {
  /**
   * Opens one `DurableTask` bidi stream. `requests` feeds the request side; the returned
   * iterable yields responses until the stream ends or throws.
   */
  durableTask(
    requests: AsyncIterable<DurableTaskRequestData>,
    options?: CallOptions,
  ): AsyncIterable<DurableTaskResponseData>;
}

/** `StepRunResult` of a `WorkflowRunEvent`: one task's output (JSON text) or error. */
export interface StepRunResultData {
  taskRunExternalId: string;
  taskName: string;
  jobRunId: string;
  error: string | undefined;
  output: string | undefined;
}

/** `WorkflowRunEvent` (`SubscribeToWorkflowRuns`): a run finished, with each task's result. */
export interface WorkflowRunEventData {
  workflowRunId: string;
  eventTimestamp: Date | undefined;
  results: StepRunResultData[];
}

/** `ResourceType` of a `WorkflowEvent`. */
export type ResourceKind = "UNKNOWN" | "STEP_RUN" | "WORKFLOW_RUN";

/** `ResourceEventType` of a `WorkflowEvent`. */
export type ResourceEventKind =
  | "UNKNOWN"
  | "STARTED"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "TIMED_OUT"
  | "STREAM";

/** `WorkflowEvent` (`SubscribeToWorkflowEvents`). */
export interface WorkflowEventData {
  workflowRunId: string;
  resourceType: ResourceKind;
  eventType: ResourceEventKind;
  /** The task run id for `STEP_RUN` events, the workflow run id for `WORKFLOW_RUN` ones. */
  resourceId: string;
  eventTimestamp: Date | undefined;
  eventPayload: string;
  /** The last event of the stream: the engine hangs up after it. */
  hangup: boolean;
  retryCount: number | undefined;
  eventIndex: number | undefined;
}

/** `SubscribeToWorkflowEventsRequest`: by run id, or by one additional-metadata pair. */
export interface SubscribeToWorkflowEventsInput {
  workflowRunId?: string;
  additionalMetaKey?: string;
  additionalMetaValue?: string;
}

/** `Dispatcher` run subscriptions (the client side of runs, not the worker's). */
export interface SubscriptionsPort {
  /**
   * Opens one `SubscribeToWorkflowRuns` bidi stream. Each item of `runIds` subscribes one run;
   * the returned iterable yields each subscribed run once, when it finishes.
   */
  subscribeToWorkflowRuns(
    runIds: AsyncIterable<string>,
    options?: CallOptions,
  ): AsyncIterable<WorkflowRunEventData>;
  /** `SubscribeToWorkflowEvents` server stream; ends after the event marked `hangup`. */
  subscribeToWorkflowEvents(
    input: SubscribeToWorkflowEventsInput,
    options?: CallOptions,
  ): AsyncIterable<WorkflowEventData>;
}

/** `v1.TriggerWorkflowRequest`, as `WorkflowService.TriggerWorkflow` takes it. */
export interface TriggerWorkflowInput {
  /** The namespaced workflow name. */
  name: string;
  input: JsonObject;
  /** The parent's workflow run id (children only). */
  parentId?: string;
  /** The parent's task run id (children only). */
  parentTaskRunExternalId?: string;
  childIndex?: number;
  childKey?: string;
  additionalMetadata?: JsonObject;
  desiredWorkerId?: string;
  priority?: number;
}

/** `ScheduleWorkflowRequest`. */
export interface ScheduleWorkflowInput {
  /** The namespaced workflow name. */
  name: string;
  schedules: Date[];
  input: JsonObject;
  additionalMetadata?: JsonObject;
  priority?: number;
}

/** `WorkflowService` (the v0 service the official SDKs trigger, spawn, schedule and put rate limits through). */
export interface WorkflowPort {
  /** `TriggerWorkflow`; a child with the same parent and key (or index) returns the same run. */
  triggerWorkflow(
    input: TriggerWorkflowInput,
    options?: CallOptions,
  ): Promise<{ workflowRunId: string }>;
  /** `BulkTriggerWorkflow`: run ids in request order. */
  bulkTriggerWorkflow(inputs: TriggerWorkflowInput[], options?: CallOptions): Promise<string[]>;
  /** `ScheduleWorkflow`: one scheduled run per time. */
  scheduleWorkflow(
    input: ScheduleWorkflowInput,
    options?: CallOptions,
  ): Promise<{ id: string; triggerAt: Date }[]>;
  /** `PutRateLimit`; `durationIndex` is the `RateLimitDuration` number (0 = SECOND). */
  putRateLimit(
    input: { key: string; limit: number; durationIndex: number },
    options?: CallOptions,
  ): Promise<void>;
}

/** `v1.TasksFilter` of `CancelTasks` / `ReplayTasks`: runs created in a window. */
export interface TasksFilterInput {
  /** Run statuses (`QUEUED`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`); empty means all. */
  statuses: string[];
  since: Date;
  until?: Date;
  workflowIds: string[];
  /** `"key:value"` pairs. */
  additionalMetadata: string[];
}

/** `v1.Concurrency`; `strategy` is the `ConcurrencyLimitStrategy` name. */
export interface ConcurrencyInput {
  expression: string;
  maxRuns: number;
  strategy: "GROUP_ROUND_ROBIN" | "CANCEL_IN_PROGRESS" | "CANCEL_NEWEST";
}

/** `v1.CreateTaskRateLimit`; `durationIndex` is the `RateLimitDuration` number (0 = SECOND). */
export interface RateLimitInput {
  key: string;
  units?: number;
  keyExpr?: string;
  unitsExpr?: string;
  limitValuesExpr?: string;
  durationIndex?: number;
}

/** `v1.DesiredWorkerLabels`. */
export interface DesiredLabelInput {
  strValue?: string;
  intValue?: number;
  required?: boolean;
  comparator?:
    | "EQUAL"
    | "NOT_EQUAL"
    | "GREATER_THAN"
    | "GREATER_THAN_OR_EQUAL"
    | "LESS_THAN"
    | "LESS_THAN_OR_EQUAL";
  weight?: number;
}

/** `v1.CreateTaskOpts`. */
export interface CreateTaskInput {
  readableId: string;
  action: string;
  timeout: string;
  inputs: string;
  parents: string[];
  retries: number;
  backoffFactor?: number;
  backoffMaxSeconds?: number;
  conditions?: TaskConditionsInput;
  scheduleTimeout?: string;
  isDurable: boolean;
  slotRequests: Record<string, number>;
  rateLimits?: RateLimitInput[];
  workerLabels?: Record<string, DesiredLabelInput>;
  concurrency?: ConcurrencyInput[];
}

/** `v1.CreateWorkflowVersionRequest`. */
export interface PutWorkflowInput {
  name: string;
  description: string;
  version: string;
  eventTriggers: string[];
  /** Five-field cron expressions (UTC). */
  cronTriggers?: string[];
  /** JSON text of the input cron runs get. */
  cronInput?: string;
  tasks: CreateTaskInput[];
  onFailureTask?: CreateTaskInput;
  defaultPriority?: number;
  concurrencyArr?: ConcurrencyInput[];
  sticky?: "SOFT" | "HARD";
}

/** `v1.RunStatus` as text. */
export type RunStatusName = "QUEUED" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED" | "EVICTED";

/** `v1.GetRunDetailsResponse`, JSON fields parsed. */
export interface RunDetailsData {
  input: JsonObject;
  status: RunStatusName;
  done: boolean;
  additionalMetadata: JsonObject | undefined;
  taskRuns: Record<string, {
    externalId: string;
    status: RunStatusName;
    error: string | undefined;
    output: JsonObject | undefined;
    readableId: string;
  }>;
}

/** `v1.AdminService`. */
export interface AdminPort {
  putWorkflow(
    input: PutWorkflowInput,
    options?: CallOptions,
  ): Promise<{ id: string; workflowId: string }>;
  cancelTasks(externalIds: string[], options?: CallOptions): Promise<string[]>;
  /** `CancelTasks` with a filter instead of ids; returns the ids the engine reports. */
  cancelTasksByFilter(filter: TasksFilterInput, options?: CallOptions): Promise<string[]>;
  /** `ReplayTasks` by ids (task or run ids) or by filter; returns the replayed task run ids. */
  replayTasks(
    target: { externalIds: string[] } | { filter: TasksFilterInput },
    options?: CallOptions,
  ): Promise<string[]>;
  triggerWorkflowRun(
    input: {
      workflowName: string;
      input: JsonObject;
      additionalMetadata?: JsonObject;
      priority?: number;
      desiredWorkerLabels?: Record<string, DesiredLabelInput>;
    },
    options?: CallOptions,
  ): Promise<{ workflowRunId: string }>;
  getRunDetails(workflowRunId: string, options?: CallOptions): Promise<RunDetailsData>;
}

/** All services over one transport. */
export interface EnginePorts {
  dispatcher: DispatcherPort;
  events: EventsPort;
  durable: DurablePort;
  durableTask: DurableTaskPort;
  admin: AdminPort;
  workflows: WorkflowPort;
  subscriptions: SubscriptionsPort;
}

/**
 * gRPC status codes, named as Connect names them (`"unavailable"`, `"not_found"`, ...).
 *
 * @example
 * ```ts
 * import { type RpcCode, RpcError } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * const code: RpcCode = "unavailable";
 * engine.faults.failNext("Push", code);
 * const err = await engine.client.events.push("k", {}).catch((e) => e);
 * assert.ok(err instanceof RpcError);
 * assert.equal(err.code, code);
 * assert.equal(err.transient, true);
 * ```
 */
export type RpcCode =
  | "canceled"
  | "unknown"
  | "invalid_argument"
  | "deadline_exceeded"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "aborted"
  | "out_of_range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data_loss"
  | "unauthenticated";
