// The Connect service implementations of the mock engine: one router for the in-memory
// transport and the real-gRPC listener. Every handler checks the token, records itself in the
// RPC log, applies injected faults, and keeps the in-flight count the virtual clock waits on.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { RpcCode } from "../transport/ports.ts";
import {
  AdminService,
  type AssignedAction,
  BulkTriggerWorkflowResponseSchema,
  CancelTasksResponseSchema,
  Dispatcher,
  type DurableEvent,
  type DurableTaskRequest,
  type DurableTaskResponse,
  EventsSchema,
  EventsService,
  GetVersionResponseSchema,
  HeartbeatResponseSchema,
  type ListenForDurableEventRequest,
  PutLogResponseSchema,
  PutRateLimitResponseSchema,
  PutStreamEventResponseSchema,
  RegisterDurableEventResponseSchema,
  ReleaseSlotResponseSchema,
  StepActionEventType,
  type SubscribeToWorkflowEventsRequest,
  type SubscribeToWorkflowRunsRequest,
  type TriggerWorkflowRequest,
  TriggerWorkflowResponseSchema,
  TriggerWorkflowRunResponseSchema,
  UpsertWorkerLabelsResponseSchema,
  V1Dispatcher,
  WorkerUnsubscribeResponseSchema,
  type WorkflowEvent,
  type WorkflowRunEvent,
  WorkflowService,
} from "../transport/services.ts";
import type { EngineCore } from "./_engine.ts";
import { DurableTaskRoom } from "./engine/durable_task.ts";
import type { CallContext, ServiceRegistry } from "./_listener.ts";

/**
 * One RPC the engine received, in arrival order.
 *
 * @example
 * ```ts
 * import { MockEngine, type RpcLogEntry } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * engine.faults.failNext("Push", "resource_exhausted");
 * await engine.client.events.push("order:paid", {}).catch(() => {});
 * const [entry]: RpcLogEntry[] = engine.rpcLog();
 * assert.deepEqual(entry, {
 *   method: "Push",
 *   summary: { key: "order:paid" },
 *   error: "resource_exhausted",
 * });
 * ```
 */
export interface RpcLogEntry {
  /** The method's short name, e.g. `"Register"`, `"PutLog"`, `"ListenForDurableEvent"`. */
  method: string;
  /** The request fields that identify the call (names, ids, event types); absent for some. */
  summary?: Record<string, string | number | boolean | string[]>;
  /** The status code the call failed with, when it failed. */
  error?: RpcCode;
}

const CODES: Record<RpcCode, Code> = {
  canceled: Code.Canceled,
  unknown: Code.Unknown,
  invalid_argument: Code.InvalidArgument,
  deadline_exceeded: Code.DeadlineExceeded,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  permission_denied: Code.PermissionDenied,
  resource_exhausted: Code.ResourceExhausted,
  failed_precondition: Code.FailedPrecondition,
  aborted: Code.Aborted,
  out_of_range: Code.OutOfRange,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
  unavailable: Code.Unavailable,
  data_loss: Code.DataLoss,
  unauthenticated: Code.Unauthenticated,
};

const CODE_NAMES = new Map<Code, RpcCode>(
  Object.entries(CODES).map(([name, code]) => [code, name as RpcCode]),
);

/** The Connect code for an `RpcCode` name. */
export function connectCode(code: RpcCode): Code {
  const c = CODES[code];
  if (c === undefined) {
    throw new TypeError(
      `Unknown RPC code: expected e.g. "unavailable", received ${JSON.stringify(code)}`,
    );
  }
  return c;
}

/** State the handlers share with `MockEngine`: tokens, log, faults. */
export class ServiceState {
  readonly core: EngineCore;
  /** Every token the engine issued: the engine's own and one per listener. */
  readonly tokens: Set<string>;
  readonly log: RpcLogEntry[] = [];
  readonly faults = new Map<string, { code: RpcCode; remaining: number }[]>();

  constructor(core: EngineCore, token: string) {
    this.core = core;
    this.tokens = new Set([token]);
  }

  /** Records the call and throws when it must fail: closed engine, bad token, injected fault. */
  begin(method: string, ctx: CallContext, summary?: RpcLogEntry["summary"]): RpcLogEntry {
    const entry: RpcLogEntry = { method };
    if (summary !== undefined) entry.summary = summary;
    this.log.push(entry);
    this.core.activity++;
    try {
      if (this.core.closed) throw new ConnectError("mock engine is closed", Code.Unavailable);
      const header = ctx.requestHeader.get("authorization") ?? "";
      const match = /^bearer\s+(\S+)\s*$/i.exec(header);
      if (!match || !this.tokens.has(match[1])) {
        throw new ConnectError("invalid auth token", Code.Unauthenticated);
      }
      const queue = this.faults.get(method);
      const fault = queue?.[0];
      if (fault) {
        if (--fault.remaining <= 0) queue!.shift();
        throw new ConnectError(
          `injected fault: ${method} fails with ${fault.code}`,
          connectCode(fault.code),
        );
      }
    } catch (err) {
      this.fail(entry, err);
      throw err;
    }
    return entry;
  }

  /** Notes on the log entry that the call failed. */
  fail(entry: RpcLogEntry, err: unknown): void {
    const code = err instanceof ConnectError ? err.code : Code.Unknown;
    entry.error = CODE_NAMES.get(code) ?? "unknown";
  }

  /** Runs a unary handler body, counting it as in flight. */
  async unary<T>(
    method: string,
    ctx: CallContext,
    summary: RpcLogEntry["summary"] | undefined,
    body: () => T,
  ): Promise<T> {
    const core = this.core;
    core.inFlight++;
    try {
      const entry = this.begin(method, ctx, summary);
      try {
        // One turn of the event loop so a unary call is never synchronous, as over a network.
        await Promise.resolve();
        return body();
      } catch (err) {
        this.fail(entry, err);
        throw err;
      }
    } finally {
      core.inFlight--;
      core.activity++;
    }
  }

  #taskSummary(taskRunId: string): { taskName?: string; taskRunId: string } {
    const taskName = this.core.taskName(taskRunId);
    return taskName === undefined ? { taskRunId } : { taskName, taskRunId };
  }

  /** Registers the four services on a router. */
  routes(router: ServiceRegistry): void {
    const core = this.core;
    router.service(Dispatcher, {
      getVersion: (_req, ctx) =>
        this.unary("GetVersion", ctx, undefined, () => {
          if (core.version === null) {
            throw new ConnectError("method GetVersion not implemented", Code.Unimplemented);
          }
          return create(GetVersionResponseSchema, { version: core.version });
        }),
      register: (req, ctx) =>
        this.unary("Register", ctx, { workerName: req.workerName }, () => core.register(req)),
      listen: (req, ctx) => this.#listen("Listen", "v1", req.workerId, ctx),
      listenV2: (req, ctx) => this.#listen("ListenV2", "v2", req.workerId, ctx),
      heartbeat: (req, ctx) =>
        this.unary("Heartbeat", ctx, { workerId: req.workerId }, () => {
          core.heartbeat(req.workerId);
          return create(HeartbeatResponseSchema, {});
        }),
      sendStepActionEvent: (req, ctx) =>
        this.unary("SendStepActionEvent", ctx, {
          ...this.#taskSummary(req.taskRunExternalId),
          eventType: StepActionEventType[req.eventType].replace("STEP_EVENT_TYPE_", ""),
          ...(req.retryCount === undefined ? {} : { retryCount: req.retryCount }),
        }, () => core.sendStepActionEvent(req)),
      unsubscribe: (req, ctx) =>
        this.unary("Unsubscribe", ctx, { workerId: req.workerId }, () => {
          core.unsubscribe(req.workerId);
          return create(WorkerUnsubscribeResponseSchema, {
            tenantId: core.tenantId,
            workerId: req.workerId,
          });
        }),
      refreshTimeout: (req, ctx) =>
        this.unary("RefreshTimeout", ctx, {
          ...this.#taskSummary(req.taskRunExternalId),
          incrementBy: req.incrementTimeoutBy,
        }, () => core.refreshTimeout(req.taskRunExternalId, req.incrementTimeoutBy)),
      releaseSlot: (req, ctx) =>
        this.unary("ReleaseSlot", ctx, this.#taskSummary(req.taskRunExternalId), () => {
          core.releaseSlot(req.taskRunExternalId);
          return create(ReleaseSlotResponseSchema, {});
        }),
      subscribeToWorkflowRuns: (requests, ctx) => this.#subscribeRuns(requests, ctx),
      subscribeToWorkflowEvents: (req, ctx) => this.#subscribeEvents(req, ctx),
      upsertWorkerLabels: (req, ctx) =>
        this.unary("UpsertWorkerLabels", ctx, { workerId: req.workerId }, () => {
          core.upsertWorkerLabels(req);
          return create(UpsertWorkerLabelsResponseSchema, {
            tenantId: core.tenantId,
            workerId: req.workerId,
          });
        }),
    });
    router.service(EventsService, {
      push: (req, ctx) => this.unary("Push", ctx, { key: req.key }, () => core.push(req)),
      bulkPush: (req, ctx) =>
        this.unary("BulkPush", ctx, { keys: req.events.map((e) => e.key) }, () => {
          if (req.events.length < 1 || req.events.length > 1000) {
            throw new ConnectError(
              `BulkPush takes 1 to 1000 events, received ${req.events.length}`,
              Code.InvalidArgument,
            );
          }
          return create(EventsSchema, { events: req.events.map((e) => core.push(e)) });
        }),
      putLog: (req, ctx) =>
        this.unary("PutLog", ctx, {
          ...this.#taskSummary(req.taskRunExternalId),
          message: req.message,
        }, () => {
          core.putLog(req);
          return create(PutLogResponseSchema, {});
        }),
      putStreamEvent: (req, ctx) =>
        this.unary("PutStreamEvent", ctx, {
          ...this.#taskSummary(req.taskRunExternalId),
          ...(req.eventIndex === undefined ? {} : { eventIndex: Number(req.eventIndex) }),
        }, () => {
          core.putStreamEvent(req);
          return create(PutStreamEventResponseSchema, {});
        }),
    });
    router.service(V1Dispatcher, {
      registerDurableEvent: (req, ctx) =>
        this.unary("RegisterDurableEvent", ctx, {
          ...this.#taskSummary(req.taskId),
          signalKey: req.signalKey,
        }, () => {
          core.registerDurableEvent(req);
          return create(RegisterDurableEventResponseSchema, {});
        }),
      listenForDurableEvent: (requests, ctx) => this.#listenDurable(requests, ctx),
      durableTask: (requests, ctx) => this.#durableTask(requests, ctx),
    });
    router.service(WorkflowService, {
      triggerWorkflow: (req, ctx) =>
        this.unary(
          "TriggerWorkflow",
          ctx,
          triggerSummary(req),
          () =>
            create(TriggerWorkflowResponseSchema, {
              workflowRunId: core.triggerWorkflow(req),
            }),
        ),
      bulkTriggerWorkflow: (req, ctx) =>
        this.unary(
          "BulkTriggerWorkflow",
          ctx,
          { count: req.workflows.length },
          () =>
            create(BulkTriggerWorkflowResponseSchema, {
              workflowRunIds: core.bulkTriggerWorkflow(req),
            }),
        ),
      scheduleWorkflow: (req, ctx) =>
        this.unary(
          "ScheduleWorkflow",
          ctx,
          { name: req.name, schedules: req.schedules.length },
          () => core.scheduleWorkflow(req),
        ),
      putRateLimit: (req, ctx) =>
        this.unary("PutRateLimit", ctx, { key: req.key, limit: req.limit }, () => {
          core.putRateLimit(req.key, req.limit, req.duration);
          return create(PutRateLimitResponseSchema, {});
        }),
    });
    router.service(AdminService, {
      putWorkflow: (req, ctx) =>
        this.unary("PutWorkflow", ctx, { name: req.name }, () => core.putWorkflow(req)),
      triggerWorkflowRun: (req, ctx) =>
        this.unary(
          "TriggerWorkflowRun",
          ctx,
          { workflowName: req.workflowName },
          () =>
            create(TriggerWorkflowRunResponseSchema, {
              externalId: core.triggerWorkflowRun(req),
            }),
        ),
      getRunDetails: (req, ctx) =>
        this.unary(
          "GetRunDetails",
          ctx,
          { workflowRunId: req.externalId },
          () => core.getRunDetails(req.externalId),
        ),
      replayTasks: (req, ctx) =>
        this.unary(
          "ReplayTasks",
          ctx,
          { externalIds: [...req.externalIds] },
          () => core.replayTasks(req),
        ),
      cancelTasks: (req, ctx) =>
        this.unary(
          "CancelTasks",
          ctx,
          { externalIds: [...req.externalIds] },
          () =>
            req.externalIds.length === 0 && !req.filter
              ? create(CancelTasksResponseSchema, {})
              : core.cancelTasks(req),
        ),
    });
  }

  // Streaming handlers do their engine work when called, as the engine does when a call arrives,
  // and return the messages to come. A client that goes away closes the stream even if it never
  // read from it.
  #listen(
    method: string,
    version: "v1" | "v2",
    workerId: string,
    ctx: CallContext,
  ): AsyncIterable<AssignedAction> {
    const entry = this.begin(method, ctx, { workerId });
    const core = this.core;
    let stream: ReturnType<EngineCore["openListen"]>;
    try {
      stream = core.openListen(workerId, version);
    } catch (err) {
      this.fail(entry, err);
      throw err;
    }
    const close = onceClosed(ctx.signal, () => core.closeListen(workerId, stream));
    return (async function* () {
      try {
        yield* stream.queue.drain(ctx.signal);
      } finally {
        close();
      }
    })();
  }

  // One session per stream; each request is handled as it arrives (the engine handles them
  // concurrently, but SDKs send one per invocation at a time), and logged with a summary.
  #durableTask(
    requests: AsyncIterable<DurableTaskRequest>,
    ctx: CallContext,
  ): AsyncIterable<DurableTaskResponse> {
    const entry = this.begin("DurableTask", ctx);
    const core = this.core;
    if (!core.servesEventLog) {
      const err = new ConnectError(
        "unknown method DurableTask for service v1.V1Dispatcher",
        Code.Unimplemented,
      );
      this.fail(entry, err);
      throw err;
    }
    const session = core.openDurableTask();
    void (async () => {
      try {
        for await (const req of requests) {
          this.log.push({ method: "DurableTask", summary: DurableTaskRoom.summary(req) });
          core.durableTaskRequest(session, req);
        }
      } catch {
        // The client went away; the session closes below.
      }
      core.closeDurableTask(session);
    })();
    const close = onceClosed(ctx.signal, () => core.closeDurableTask(session));
    return (async function* () {
      try {
        yield* session.queue.drain(ctx.signal);
      } finally {
        close();
      }
    })();
  }

  #subscribeRuns(
    requests: AsyncIterable<SubscribeToWorkflowRunsRequest>,
    ctx: CallContext,
  ): AsyncIterable<WorkflowRunEvent> {
    this.begin("SubscribeToWorkflowRuns", ctx);
    const core = this.core;
    const stream = core.openRunsStream();
    void (async () => {
      try {
        for await (const req of requests) {
          this.log.push({
            method: "SubscribeToWorkflowRuns",
            summary: { workflowRunId: req.workflowRunId },
          });
          core.subscribeRun(stream, req.workflowRunId);
        }
      } catch {
        // The client went away: the signal below closes the stream.
      }
    })();
    const close = onceClosed(ctx.signal, () => core.closeRunsStream(stream));
    return (async function* () {
      try {
        yield* stream.queue.drain(ctx.signal);
      } finally {
        close();
      }
    })();
  }

  #subscribeEvents(
    req: SubscribeToWorkflowEventsRequest,
    ctx: CallContext,
  ): AsyncIterable<WorkflowEvent> {
    const entry = this.begin("SubscribeToWorkflowEvents", ctx, {
      workflowRunId: req.workflowRunId ?? "",
    });
    const core = this.core;
    const runId = req.workflowRunId;
    let queue: ReturnType<typeof core.openEventStream>;
    try {
      if (runId === undefined) {
        throw new ConnectError(
          req.additionalMetaKey !== undefined
            ? "subscriptions by additional metadata are not served by the mock engine"
            : "either workflow run id or additional meta key-value must be provided",
          req.additionalMetaKey !== undefined ? Code.Unimplemented : Code.InvalidArgument,
        );
      }
      queue = core.openEventStream(runId);
    } catch (err) {
      this.fail(entry, err);
      throw err;
    }
    const close = onceClosed(ctx.signal, () => core.closeEventStream(runId, queue));
    const fail = (err: unknown) => this.fail(entry, err);
    return (async function* () {
      try {
        yield* queue.drain(ctx.signal);
      } catch (err) {
        fail(err);
        throw err;
      } finally {
        close();
      }
    })();
  }

  #listenDurable(
    requests: AsyncIterable<ListenForDurableEventRequest>,
    ctx: CallContext,
  ): AsyncIterable<DurableEvent> {
    this.begin("ListenForDurableEvent", ctx);
    const core = this.core;
    const stream = core.openDurableStream();
    // The engine reads subscriptions while it writes events; the stream ends when the client
    // closes its side (as the engine does on EOF).
    void (async () => {
      try {
        for await (const req of requests) {
          this.log.push({
            method: "ListenForDurableEvent",
            summary: { ...this.#taskSummary(req.taskId), signalKey: req.signalKey },
          });
          core.subscribeDurable(stream, req.taskId, req.signalKey);
        }
        stream.queue.end();
      } catch {
        stream.queue.end();
      }
    })();
    const close = onceClosed(ctx.signal, () => core.closeDurableStream(stream));
    return (async function* () {
      try {
        yield* stream.queue.drain(ctx.signal);
      } finally {
        close();
      }
    })();
  }
}

/**
 * Runs `close` once: when the call's signal aborts (the client went away, even before reading)
 * or when the returned function is called (the stream ended).
 */
function onceClosed(signal: AbortSignal, close: () => void): () => void {
  let closed = false;
  const run = () => {
    if (closed) return;
    closed = true;
    signal.removeEventListener("abort", run);
    close();
  };
  if (signal.aborted) run();
  else signal.addEventListener("abort", run, { once: true });
  return run;
}

function triggerSummary(req: TriggerWorkflowRequest): RpcLogEntry["summary"] {
  const summary: NonNullable<RpcLogEntry["summary"]> = { name: req.name };
  if (req.parentTaskRunExternalId !== undefined) {
    summary.parentTaskRunId = req.parentTaskRunExternalId;
  }
  if (req.childIndex !== undefined) summary.childIndex = req.childIndex;
  if (req.childKey !== undefined) summary.childKey = req.childKey;
  return summary;
}
