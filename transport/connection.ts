// The ports of ports.ts over any Connect transport: generated messages in, plain data out, and
// every Connect failure turned into an RpcError so callers outside transport/ can decide on
// retries without importing Connect.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type CallOptions as ConnectCallOptions,
  Code,
  ConnectError,
  createClient,
} from "@connectrpc/connect";
import type { Transport } from "@connectrpc/connect";
import type {
  ActionKind,
  AdminPort,
  AssignedActionData,
  BaseMatchInput,
  CallOptions,
  ConcurrencyInput,
  CreateTaskInput,
  DesiredLabelInput,
  DispatcherPort,
  DurableConditionsInput,
  DurablePort,
  DurableTaskPort,
  DurableTaskRequestData,
  DurableTaskResponseData,
  EnginePorts,
  EntryRefData,
  EventsPort,
  LabelValue,
  MatchAction,
  ResourceEventKind,
  ResourceKind,
  RpcCode,
  RunDetailsData,
  RunStatusName,
  StepEventKind,
  SubscriptionsPort,
  TasksFilterInput,
  TriggerWorkflowInput,
  WorkflowEventData,
  WorkflowPort,
} from "./ports.ts";
import { RpcError } from "./rpc_error.ts";
import type { JsonObject } from "./types.ts";
import {
  Action,
  ActionType,
  AdminService,
  type AssignedAction,
  BaseMatchConditionSchema,
  ConcurrencyLimitStrategy,
  CreateTaskOptsSchema,
  type DesiredWorkerLabelsSchema,
  Dispatcher,
  DurableEventListenerConditionsSchema,
  type DurableEventLogEntryRef,
  DurableTaskErrorType,
  type DurableTaskRequest,
  DurableTaskRequestSchema,
  type DurableTaskResponse,
  EventsService,
  type RateLimitDuration,
  ResourceEventType,
  ResourceType,
  RunStatus,
  SDKS,
  StepActionEventType,
  StickyStrategy,
  TaskConditionsSchema,
  TasksFilterSchema,
  V1Dispatcher,
  WorkerLabelComparator,
  WorkerLabelsSchema,
  type WorkflowEvent,
  WorkflowService,
} from "./services.ts";

const CODE_NAMES: readonly RpcCode[] = [
  "unknown", // 0 is OK and never reaches an error
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/**
 * Turns whatever a Connect call threw into an `RpcError`. A `TypeError` from fetch (connection
 * refused, reset) carries no status: it is a transport failure, so it reads as `unavailable`.
 */
export function toRpcError(err: unknown, method: string): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof ConnectError) {
    let code = CODE_NAMES[err.code] ?? "unknown";
    if (err.code === Code.Unknown && err.cause instanceof TypeError) code = "unavailable";
    return new RpcError(code, method, err.rawMessage, { cause: err });
  }
  if (err instanceof TypeError) {
    return new RpcError("unavailable", method, err.message, { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new RpcError("unknown", method, detail, { cause: err });
}

async function call<T>(method: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toRpcError(err, method);
  }
}

async function* stream<T>(method: string, source: () => AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* source();
  } catch (err) {
    throw toRpcError(err, method);
  }
}

function connectOptions(options: CallOptions | undefined): ConnectCallOptions {
  const onHeader = options?.onHeader;
  return {
    signal: options?.signal,
    timeoutMs: options?.timeoutMs,
    onHeader: onHeader && (() => onHeader()),
  };
}

const ACTION_KINDS: Record<ActionType, ActionKind> = {
  [ActionType.START_STEP_RUN]: "START_STEP_RUN",
  [ActionType.CANCEL_STEP_RUN]: "CANCEL_STEP_RUN",
  [ActionType.START_GET_GROUP_KEY]: "START_GET_GROUP_KEY",
  [ActionType.START_BATCH]: "START_BATCH",
};

const STEP_EVENT_TYPES: Record<StepEventKind, StepActionEventType> = {
  STARTED: StepActionEventType.STEP_EVENT_TYPE_STARTED,
  COMPLETED: StepActionEventType.STEP_EVENT_TYPE_COMPLETED,
  FAILED: StepActionEventType.STEP_EVENT_TYPE_FAILED,
  ACKNOWLEDGED: StepActionEventType.STEP_EVENT_TYPE_ACKNOWLEDGED,
  CANCELLED: StepActionEventType.STEP_EVENT_TYPE_CANCELLED,
};

const MATCH_ACTIONS: Record<MatchAction, Action> = {
  CREATE: Action.CREATE,
  QUEUE: Action.QUEUE,
  CANCEL: Action.CANCEL,
  SKIP: Action.SKIP,
};

const RUN_STATUS: Record<RunStatus, RunStatusName> = {
  [RunStatus.QUEUED]: "QUEUED",
  [RunStatus.RUNNING]: "RUNNING",
  [RunStatus.COMPLETED]: "COMPLETED",
  [RunStatus.FAILED]: "FAILED",
  [RunStatus.CANCELLED]: "CANCELLED",
  [RunStatus.EVICTED]: "EVICTED",
};

const RESOURCE_KINDS: Record<ResourceType, ResourceKind> = {
  [ResourceType.UNKNOWN]: "UNKNOWN",
  [ResourceType.STEP_RUN]: "STEP_RUN",
  [ResourceType.WORKFLOW_RUN]: "WORKFLOW_RUN",
};

const RESOURCE_EVENT_KINDS: Record<ResourceEventType, ResourceEventKind> = {
  [ResourceEventType.UNKNOWN]: "UNKNOWN",
  [ResourceEventType.STARTED]: "STARTED",
  [ResourceEventType.COMPLETED]: "COMPLETED",
  [ResourceEventType.FAILED]: "FAILED",
  [ResourceEventType.CANCELLED]: "CANCELLED",
  [ResourceEventType.TIMED_OUT]: "TIMED_OUT",
  [ResourceEventType.STREAM]: "STREAM",
};

/** The plain view of a `WorkflowEvent`. */
export function fromWorkflowEvent(e: WorkflowEvent): WorkflowEventData {
  return {
    workflowRunId: e.workflowRunId,
    resourceType: RESOURCE_KINDS[e.resourceType] ?? "UNKNOWN",
    eventType: RESOURCE_EVENT_KINDS[e.eventType] ?? "UNKNOWN",
    resourceId: e.resourceId,
    eventTimestamp: e.eventTimestamp && timestampDate(e.eventTimestamp),
    eventPayload: e.eventPayload,
    hangup: e.hangup,
    retryCount: e.retryCount,
    eventIndex: e.eventIndex === undefined ? undefined : Number(e.eventIndex),
  };
}

function triggerToProto(t: TriggerWorkflowInput) {
  return {
    name: t.name,
    input: JSON.stringify(t.input),
    parentId: t.parentId,
    parentTaskRunExternalId: t.parentTaskRunExternalId,
    childIndex: t.childIndex,
    childKey: t.childKey,
    additionalMetadata: t.additionalMetadata && JSON.stringify(t.additionalMetadata),
    desiredWorkerId: t.desiredWorkerId,
    priority: t.priority,
  };
}

function filterToProto(f: TasksFilterInput) {
  return create(TasksFilterSchema, {
    statuses: f.statuses,
    since: timestampFromDate(f.since),
    until: f.until && timestampFromDate(f.until),
    workflowIds: f.workflowIds,
    additionalMetadata: f.additionalMetadata,
  });
}

/** The plain view of an `AssignedAction`. */
export function fromAssignedAction(a: AssignedAction): AssignedActionData {
  return {
    tenantId: a.tenantId,
    workflowRunId: a.workflowRunId,
    jobId: a.jobId,
    jobName: a.jobName,
    jobRunId: a.jobRunId,
    taskId: a.taskId,
    taskRunExternalId: a.taskRunExternalId,
    actionId: a.actionId,
    actionType: ACTION_KINDS[a.actionType] ?? "START_GET_GROUP_KEY",
    actionPayload: a.actionPayload,
    taskName: a.taskName,
    retryCount: a.retryCount,
    additionalMetadata: a.additionalMetadata,
    childWorkflowIndex: a.childWorkflowIndex,
    childWorkflowKey: a.childWorkflowKey,
    parentWorkflowRunId: a.parentWorkflowRunId,
    priority: a.priority,
    workflowId: a.workflowId,
    workflowVersionId: a.workflowVersionId,
    durableTaskInvocationCount: a.durableTaskInvocationCount,
    triggeringEventExternalId: a.triggeringEventExternalId,
    triggeringEventKey: a.triggeringEventKey,
  };
}

function labelsToProto(labels: Record<string, LabelValue> | undefined) {
  return Object.fromEntries(
    Object.entries(labels ?? {}).map(([k, v]) => [
      k,
      create(WorkerLabelsSchema, typeof v === "number" ? { intValue: v } : { strValue: v }),
    ]),
  );
}

function baseToProto(base: BaseMatchInput) {
  return create(BaseMatchConditionSchema, { ...base, action: MATCH_ACTIONS[base.action] });
}

function conditionLists(c: DurableConditionsInput) {
  return {
    sleepConditions: c.sleepConditions.map((s) => ({
      base: baseToProto(s.base),
      sleepFor: s.sleepFor,
    })),
    userEventConditions: c.userEventConditions.map((u) => ({
      base: baseToProto(u.base),
      userEventKey: u.userEventKey,
      eventScope: u.eventScope,
      considerEventsSince: u.considerEventsSince && timestampFromDate(u.considerEventsSince),
    })),
  };
}

function durableConditionsToProto(c: DurableConditionsInput) {
  return create(DurableEventListenerConditionsSchema, conditionLists(c));
}

function concurrencyToProto(c: ConcurrencyInput) {
  return {
    expression: c.expression,
    maxRuns: c.maxRuns,
    limitStrategy: ConcurrencyLimitStrategy[c.strategy],
  };
}

function desiredLabelsToProto(labels: Record<string, DesiredLabelInput>) {
  const out: Record<string, MessageInitShape<typeof DesiredWorkerLabelsSchema>> = {};
  for (const [name, l] of Object.entries(labels)) {
    out[name] = {
      strValue: l.strValue,
      intValue: l.intValue,
      required: l.required,
      comparator: l.comparator === undefined ? undefined : WorkerLabelComparator[l.comparator],
      weight: l.weight,
    };
  }
  return out;
}

function taskToProto(t: CreateTaskInput) {
  const { conditions, rateLimits, workerLabels, concurrency, ...rest } = t;
  return create(CreateTaskOptsSchema, {
    ...rest,
    rateLimits: rateLimits?.map((r) => ({
      key: r.key,
      units: r.units,
      keyExpr: r.keyExpr,
      unitsExpr: r.unitsExpr,
      limitValuesExpr: r.limitValuesExpr,
      duration: r.durationIndex as RateLimitDuration | undefined,
    })),
    workerLabels: workerLabels && desiredLabelsToProto(workerLabels),
    concurrency: concurrency?.map(concurrencyToProto),
    conditions: conditions && create(TaskConditionsSchema, {
      ...conditionLists(conditions),
      parentOverrideConditions: conditions.parentOverrideConditions.map((p) => ({
        base: baseToProto(p.base),
        parentReadableId: p.parentReadableId,
      })),
    }),
  });
}

function refToProto(ref: EntryRefData) {
  return {
    durableTaskExternalId: ref.taskId,
    invocationCount: ref.invocationCount,
    branchId: BigInt(ref.branchId),
    nodeId: BigInt(ref.nodeId),
  };
}

function refFromProto(ref: DurableEventLogEntryRef | undefined): EntryRefData {
  return {
    taskId: ref?.durableTaskExternalId ?? "",
    invocationCount: ref?.invocationCount ?? 0,
    branchId: Number(ref?.branchId ?? 0n),
    nodeId: Number(ref?.nodeId ?? 0n),
  };
}

/** A plain durable-task request as the wire message. */
export function durableTaskRequestToProto(r: DurableTaskRequestData): DurableTaskRequest {
  switch (r.kind) {
    case "registerWorker":
      return create(DurableTaskRequestSchema, {
        message: { case: "registerWorker", value: { workerId: r.workerId } },
      });
    case "memo":
      return create(DurableTaskRequestSchema, {
        message: {
          case: "memo",
          value: {
            invocationCount: r.invocationCount,
            durableTaskExternalId: r.taskId,
            key: r.key,
            payload: r.payload,
          },
        },
      });
    case "triggerRuns":
      return create(DurableTaskRequestSchema, {
        message: {
          case: "triggerRuns",
          value: {
            invocationCount: r.invocationCount,
            durableTaskExternalId: r.taskId,
            triggerOpts: r.triggers.map((t) => ({ ...t })),
          },
        },
      });
    case "waitFor":
      return create(DurableTaskRequestSchema, {
        message: {
          case: "waitFor",
          value: {
            invocationCount: r.invocationCount,
            durableTaskExternalId: r.taskId,
            waitForConditions: durableConditionsToProto(r.conditions),
            label: r.label,
          },
        },
      });
    case "evictInvocation":
      return create(DurableTaskRequestSchema, {
        message: {
          case: "evictInvocation",
          value: {
            invocationCount: r.invocationCount,
            durableTaskExternalId: r.taskId,
            reason: r.reason,
          },
        },
      });
    case "workerStatus":
      return create(DurableTaskRequestSchema, {
        message: {
          case: "workerStatus",
          value: {
            workerId: r.workerId,
            waitingEntries: r.waiting.map((w) => ({
              durableTaskExternalId: w.taskId,
              branchId: BigInt(w.branchId),
              nodeId: BigInt(w.nodeId),
              invocationCount: w.invocationCount,
            })),
          },
        },
      });
    case "completeMemo":
      return create(DurableTaskRequestSchema, {
        message: {
          case: "completeMemo",
          value: { ref: refToProto(r.ref), payload: r.payload, memoKey: r.memoKey },
        },
      });
  }
}

/** A wire durable-task response as plain data; `undefined` for an empty or unknown case. */
export function durableTaskResponseFromProto(
  r: DurableTaskResponse,
): DurableTaskResponseData | undefined {
  const m = r.message;
  switch (m.case) {
    case "registerWorker":
      return { kind: "registerWorker", workerId: m.value.workerId };
    case "memoAck":
      return {
        kind: "memoAck",
        ref: refFromProto(m.value.ref),
        alreadyExisted: m.value.memoAlreadyExisted,
        result: m.value.memoResultPayload,
      };
    case "triggerRunsAck":
      return {
        kind: "triggerRunsAck",
        taskId: m.value.durableTaskExternalId,
        invocationCount: m.value.invocationCount,
        entries: m.value.runEntries.map((e) => ({
          nodeId: Number(e.nodeId),
          branchId: Number(e.branchId),
          workflowRunId: e.workflowRunExternalId,
        })),
      };
    case "waitForAck":
      return { kind: "waitForAck", ref: refFromProto(m.value.ref) };
    case "entryCompleted":
      return {
        kind: "entryCompleted",
        ref: refFromProto(m.value.ref),
        payload: m.value.payload,
        isFailure: m.value.isFailure,
        errorMessage: m.value.errorMessage,
      };
    case "error":
      return {
        kind: "error",
        ref: refFromProto(m.value.ref),
        nondeterminism: m.value.errorType === DurableTaskErrorType.NONDETERMINISM,
        message: m.value.errorMessage,
      };
    case "evictionAck":
      return {
        kind: "evictionAck",
        taskId: m.value.durableTaskExternalId,
        invocationCount: m.value.invocationCount,
      };
    case "serverEvict":
      return {
        kind: "serverEvict",
        taskId: m.value.durableTaskExternalId,
        invocationCount: m.value.invocationCount,
        reason: m.value.reason,
      };
    default:
      return undefined;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parseJsonBytes(bytes: Uint8Array | undefined): JsonObject | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  const value = JSON.parse(decoder.decode(bytes));
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
}

/**
 * Implements every port over one Connect transport.
 *
 * @param transport Any Connect transport speaking gRPC to a Hatchet engine (or the mock).
 * @returns The four service ports.
 */
export function createEnginePorts(transport: Transport): EnginePorts {
  const dispatcher = createClient(Dispatcher, transport);
  const events = createClient(EventsService, transport);
  const v1 = createClient(V1Dispatcher, transport);
  const admin = createClient(AdminService, transport);
  const workflows = createClient(WorkflowService, transport);

  const dispatcherPort: DispatcherPort = {
    async getVersion(options) {
      try {
        const res = await call(
          "/Dispatcher/GetVersion",
          () => dispatcher.getVersion({}, connectOptions(options)),
        );
        return res.version;
      } catch (err) {
        if (err instanceof RpcError && err.code === "unimplemented") return undefined;
        throw err;
      }
    },
    async register(input, options) {
      const res = await call("/Dispatcher/Register", () =>
        dispatcher.register({
          workerName: input.workerName,
          actions: input.actions,
          services: input.services,
          slots: input.slots,
          slotConfig: input.slotConfig ?? {},
          labels: labelsToProto(input.labels),
          runtimeInfo: input.runtimeInfo && {
            ...input.runtimeInfo,
            language: input.runtimeInfo.language === "TYPESCRIPT" ? SDKS.TYPESCRIPT : SDKS.UNKNOWN,
          },
        }, connectOptions(options)));
      return { workerId: res.workerId, tenantId: res.tenantId };
    },
    listen(workerId, version, options) {
      const method = version === "v2" ? "/Dispatcher/ListenV2" : "/Dispatcher/Listen";
      return stream(method, async function* () {
        const source = version === "v2"
          ? dispatcher.listenV2({ workerId }, connectOptions(options))
          : dispatcher.listen({ workerId }, connectOptions(options));
        for await (const action of source) yield fromAssignedAction(action);
      });
    },
    async heartbeat(workerId, at, options) {
      await call(
        "/Dispatcher/Heartbeat",
        () =>
          dispatcher.heartbeat(
            { workerId, heartbeatAt: timestampFromDate(at) },
            connectOptions(options),
          ),
      );
    },
    async sendStepActionEvent(e, options) {
      await call("/Dispatcher/SendStepActionEvent", () =>
        dispatcher.sendStepActionEvent({
          ...e,
          eventTimestamp: timestampFromDate(e.eventTimestamp),
          eventType: STEP_EVENT_TYPES[e.eventType],
        }, connectOptions(options)));
    },
    async refreshTimeout(taskRunExternalId, incrementBy, options) {
      const res = await call("/Dispatcher/RefreshTimeout", () =>
        dispatcher.refreshTimeout(
          { taskRunExternalId, incrementTimeoutBy: incrementBy },
          connectOptions(options),
        ));
      return res.timeoutAt && timestampDate(res.timeoutAt);
    },
    async releaseSlot(taskRunExternalId, options) {
      await call(
        "/Dispatcher/ReleaseSlot",
        () => dispatcher.releaseSlot({ taskRunExternalId }, connectOptions(options)),
      );
    },
    async unsubscribe(workerId, options) {
      await call(
        "/Dispatcher/Unsubscribe",
        () => dispatcher.unsubscribe({ workerId }, connectOptions(options)),
      );
    },
    async upsertWorkerLabels(workerId, labels, options) {
      await call("/Dispatcher/UpsertWorkerLabels", () =>
        dispatcher.upsertWorkerLabels(
          { workerId, labels: labelsToProto(labels) },
          connectOptions(options),
        ));
    },
  };

  const eventsPort: EventsPort = {
    async push(input, options) {
      const res = await call("/EventsService/Push", () =>
        events.push(
          { ...input, eventTimestamp: timestampFromDate(input.eventTimestamp) },
          connectOptions(options),
        ));
      return { eventId: res.eventId };
    },
    async bulkPush(inputs, options) {
      const res = await call("/EventsService/BulkPush", () =>
        events.bulkPush({
          events: inputs.map((input) => ({
            ...input,
            eventTimestamp: timestampFromDate(input.eventTimestamp),
          })),
        }, connectOptions(options)));
      return res.events.map((e) => ({ eventId: e.eventId }));
    },
    async putLog(input, options) {
      await call("/EventsService/PutLog", () =>
        events.putLog({
          ...input,
          metadata: input.metadata ?? "",
          createdAt: timestampFromDate(input.createdAt),
        }, connectOptions(options)));
    },
    async putStreamEvent(input, options) {
      await call("/EventsService/PutStreamEvent", () =>
        events.putStreamEvent({
          ...input,
          metadata: input.metadata ?? "",
          eventIndex: input.eventIndex === undefined ? undefined : BigInt(input.eventIndex),
          createdAt: timestampFromDate(input.createdAt),
        }, connectOptions(options)));
    },
  };

  const durablePort: DurablePort = {
    async registerDurableEvent(input, options) {
      await call("/v1.V1Dispatcher/RegisterDurableEvent", () =>
        v1.registerDurableEvent({
          taskId: input.taskId,
          signalKey: input.signalKey,
          conditions: durableConditionsToProto(input.conditions),
        }, connectOptions(options)));
    },
    listenForDurableEvent(requests, options) {
      return stream("/v1.V1Dispatcher/ListenForDurableEvent", async function* () {
        const source = v1.listenForDurableEvent(
          (async function* () {
            for await (const r of requests) yield { taskId: r.taskId, signalKey: r.signalKey };
          })(),
          connectOptions(options),
        );
        for await (const e of source) {
          yield { taskId: e.taskId, signalKey: e.signalKey, data: e.data };
        }
      });
    },
  };

  const durableTaskPort: DurableTaskPort = {
    durableTask(requests, options) {
      return stream("/v1.V1Dispatcher/DurableTask", async function* () {
        const source = v1.durableTask(
          (async function* () {
            for await (const r of requests) yield durableTaskRequestToProto(r);
          })(),
          connectOptions(options),
        );
        for await (const response of source) {
          const data = durableTaskResponseFromProto(response);
          if (data) yield data;
        }
      });
    },
  };

  const adminPort: AdminPort = {
    async putWorkflow(input, options) {
      const res = await call("/v1.AdminService/PutWorkflow", () =>
        admin.putWorkflow({
          name: input.name,
          description: input.description,
          version: input.version,
          eventTriggers: input.eventTriggers,
          cronTriggers: input.cronTriggers ?? [],
          cronInput: input.cronInput,
          tasks: input.tasks.map(taskToProto),
          onFailureTask: input.onFailureTask && taskToProto(input.onFailureTask),
          defaultPriority: input.defaultPriority,
          concurrencyArr: input.concurrencyArr?.map(concurrencyToProto),
          sticky: input.sticky === undefined ? undefined : StickyStrategy[input.sticky],
        }, connectOptions(options)));
      return { id: res.id, workflowId: res.workflowId };
    },
    async cancelTasks(externalIds, options) {
      const res = await call(
        "/v1.AdminService/CancelTasks",
        () => admin.cancelTasks({ externalIds }, connectOptions(options)),
      );
      return res.cancelledTasks;
    },
    async cancelTasksByFilter(filter, options) {
      const res = await call(
        "/v1.AdminService/CancelTasks",
        () => admin.cancelTasks({ filter: filterToProto(filter) }, connectOptions(options)),
      );
      return res.cancelledTasks;
    },
    async replayTasks(target, options) {
      const res = await call(
        "/v1.AdminService/ReplayTasks",
        () =>
          admin.replayTasks(
            "filter" in target
              ? { filter: filterToProto(target.filter) }
              : { externalIds: target.externalIds },
            connectOptions(options),
          ),
      );
      return res.replayedTasks;
    },
    async triggerWorkflowRun(input, options) {
      const res = await call("/v1.AdminService/TriggerWorkflowRun", () =>
        admin.triggerWorkflowRun({
          workflowName: input.workflowName,
          input: encoder.encode(JSON.stringify(input.input)),
          additionalMetadata: input.additionalMetadata
            ? encoder.encode(JSON.stringify(input.additionalMetadata))
            : new Uint8Array(),
          priority: input.priority,
          desiredWorkerLabels: input.desiredWorkerLabels &&
            desiredLabelsToProto(input.desiredWorkerLabels),
        }, connectOptions(options)));
      return { workflowRunId: res.externalId };
    },
    async getRunDetails(workflowRunId, options) {
      const res = await call(
        "/v1.AdminService/GetRunDetails",
        () => admin.getRunDetails({ externalId: workflowRunId }, connectOptions(options)),
      );
      const details: RunDetailsData = {
        input: parseJsonBytes(res.input) ?? {},
        status: RUN_STATUS[res.status] ?? "QUEUED",
        done: res.done,
        additionalMetadata: parseJsonBytes(res.additionalMetadata),
        taskRuns: {},
      };
      for (const [id, t] of Object.entries(res.taskRuns)) {
        details.taskRuns[id] = {
          externalId: t.externalId,
          status: RUN_STATUS[t.status] ?? "QUEUED",
          error: t.error,
          output: parseJsonBytes(t.output),
          readableId: t.readableId,
        };
      }
      return details;
    },
  };

  const workflowPort: WorkflowPort = {
    async triggerWorkflow(input, options) {
      const res = await call(
        "/WorkflowService/TriggerWorkflow",
        () => workflows.triggerWorkflow(triggerToProto(input), connectOptions(options)),
      );
      return { workflowRunId: res.workflowRunId };
    },
    async bulkTriggerWorkflow(inputs, options) {
      const res = await call(
        "/WorkflowService/BulkTriggerWorkflow",
        () =>
          workflows.bulkTriggerWorkflow(
            { workflows: inputs.map(triggerToProto) },
            connectOptions(options),
          ),
      );
      return res.workflowRunIds;
    },
    async scheduleWorkflow(input, options) {
      const res = await call("/WorkflowService/ScheduleWorkflow", () =>
        workflows.scheduleWorkflow({
          name: input.name,
          schedules: input.schedules.map(timestampFromDate),
          input: JSON.stringify(input.input),
          additionalMetadata: input.additionalMetadata && JSON.stringify(input.additionalMetadata),
          priority: input.priority,
        }, connectOptions(options)));
      return res.scheduledWorkflows.map((s) => ({
        id: s.id,
        triggerAt: s.triggerAt ? timestampDate(s.triggerAt) : new Date(NaN),
      }));
    },
    async putRateLimit(input, options) {
      await call("/WorkflowService/PutRateLimit", () =>
        workflows.putRateLimit({
          key: input.key,
          limit: input.limit,
          duration: input.durationIndex,
        }, connectOptions(options)));
    },
  };

  const subscriptionsPort: SubscriptionsPort = {
    subscribeToWorkflowRuns(runIds, options) {
      return stream("/Dispatcher/SubscribeToWorkflowRuns", async function* () {
        const source = dispatcher.subscribeToWorkflowRuns(
          (async function* () {
            for await (const workflowRunId of runIds) yield { workflowRunId };
          })(),
          connectOptions(options),
        );
        for await (const e of source) {
          yield {
            workflowRunId: e.workflowRunId,
            eventTimestamp: e.eventTimestamp && timestampDate(e.eventTimestamp),
            results: e.results.map((r) => ({
              taskRunExternalId: r.taskRunExternalId,
              taskName: r.taskName,
              jobRunId: r.jobRunId,
              error: r.error,
              output: r.output,
            })),
          };
        }
      });
    },
    subscribeToWorkflowEvents(input, options) {
      return stream("/Dispatcher/SubscribeToWorkflowEvents", async function* () {
        const source = dispatcher.subscribeToWorkflowEvents(input, connectOptions(options));
        for await (const e of source) yield fromWorkflowEvent(e);
      });
    },
  };

  return {
    dispatcher: dispatcherPort,
    events: eventsPort,
    durable: durablePort,
    durableTask: durableTaskPort,
    admin: adminPort,
    workflows: workflowPort,
    subscriptions: subscriptionsPort,
  };
}
