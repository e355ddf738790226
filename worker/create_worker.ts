import { createContext, type TaskRunPort } from "../context/create_context.ts";
import type { Context } from "../context/context.ts";
import { NonRetryableError, TaskCancelledError } from "../context/errors.ts";
import { createLogSender, type LogSender } from "../context/log_sender.ts";
import { parseAssignment, type TaskRunData } from "../context/parse_assignment.ts";
import { backoffDelay, retryTransient, sleep } from "../transport/retry.ts";
import {
  createDurableContext,
  createEventLogListener,
  createLegacyPath,
  type DurablePath,
  type DurableRun,
  InvocationEvictedError,
} from "../durable/mod.ts";
import { createEvictionManager, type EvictionTracker } from "../durable/_eviction_manager.ts";
import { formatDuration, parseDuration } from "../transport/duration.ts";
import type {
  AssignedActionData,
  EnginePorts,
  ListenVersion,
  RegisterWorkerInput,
  StepEventKind,
} from "../transport/ports.ts";
import { RpcError } from "../transport/rpc_error.ts";
import { createWorkerObserver, type ObservedAttempt } from "../observability/_worker_observer.ts";
import {
  type HealthcheckOptions,
  readEnv,
  resolveHealthcheck,
} from "../observability/healthcheck.ts";
import type { DurationInput } from "../transport/types.ts";
import { enginePortsOf, type HatchetClient, runsRuntimeOf } from "./client.ts";
import { describeError, serializeOutput } from "./_outcome.ts";
import {
  actionIdOf,
  missingRateLimitError,
  putWorkflowInput,
  registerInput,
  withNamespace,
} from "./_registration.ts";
import { createSlotPool, type SlotLease } from "./_slots.ts";
import { validateWorkerLabels } from "./flow_control.ts";
import { CALL_TIMEOUT_MS, engineTaskRunPort, messageOf } from "./_task_run_port.ts";
import {
  definitionOf,
  type TaskDefinition,
  type Workflow,
  type WorkflowDefinition,
} from "./workflow.ts";

/**
 * Where a worker reports reconnects, retries and delivery failures. Defaults to `console`.
 *
 * @example
 * ```ts
 * import { createWorker, type WorkerLogger, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "logged" });
 * wf.task({ name: "t", fn: () => ({}) });
 * const warned = Promise.withResolvers<string>();
 * const logger: WorkerLogger = { warn: (message) => warned.resolve(message), error() {} };
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf], logger });
 * await worker.start();
 * engine.dropStreams(); // as an engine restart would: the worker warns and reconnects
 * assert.match(await warned.promise, /the action stream failed: .* unavailable/);
 * ```
 */
export interface WorkerLogger {
  /** Something went wrong and the worker is recovering (a reconnect, a retry). */
  warn(message: string): void;
  /** Something was lost or could not be recovered. */
  error(message: string): void;
}

/**
 * Options of {@link createWorker}.
 *
 * @example
 * ```ts
 * import { createWorker, type WorkerOptions, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "labelled" });
 * wf.task({ name: "t", fn: (_input, ctx) => ({ db: (ctx.lifespan as { db: string }).db }) });
 * const options: WorkerOptions<{ db: string }> = {
 *   name: "gpu-worker",
 *   workflows: [wf],
 *   slots: 2,
 *   labels: { gpu: "a100" },
 *   async *lifespan() {
 *     yield { db: "connected" }; // code after the yield runs when the worker stops
 *   },
 * };
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, options);
 * await worker.start();
 * const [info] = engine.workers();
 * assert.deepEqual([info.name, info.slotConfig.default, info.labels], ["gpu-worker", 2, {
 *   gpu: "a100",
 * }]);
 * const run = await engine.client.runs.trigger(wf, {});
 * assert.deepEqual((await run.result()).outputs.t, { db: "connected" });
 * ```
 */
export interface WorkerOptions<L = undefined> {
  /** The worker's name (namespaced by the client). */
  name: string;
  /** The workflows whose tasks this worker runs. */
  // deno-lint-ignore no-explicit-any
  workflows: Workflow<any>[];
  /** How many non-durable tasks run at once; default 100. */
  slots?: number;
  /** How many durable tasks run at once; default 1000. */
  durableSlots?: number;
  /** Worker labels for affinity. */
  labels?: Record<string, string | number>;
  /**
   * Runs once at start; its yielded value is `ctx.lifespan` in every task. Resumed after the
   * worker stopped, so code after the `yield` cleans up.
   */
  lifespan?: () => AsyncGenerator<L, void, void>;
  /** How long `stop()` lets running tasks finish before cancelling them; default `"30s"`. */
  drainTimeout?: DurationInput;
  /** How long `start()` retries transient failures before giving up; default `"30s"`. */
  startTimeout?: DurationInput;
  /**
   * After a run is cancelled, how long its slot stays taken while the task function ignores
   * `ctx.signal`; default `"1s"`.
   */
  cancellationGracePeriod?: DurationInput;
  /** Interval between heartbeats; default `"4s"` (the engine drops workers silent for 5 s). */
  heartbeatInterval?: DurationInput;
  /** Receives reconnect and delivery warnings; default `console`. */
  logger?: WorkerLogger;
  /**
   * Whether SIGINT and SIGTERM stop the worker gracefully (as `stop()` does) while it runs;
   * default true. Pass false when the program handles signals itself.
   */
  handleSignals?: boolean;
  /**
   * Serve `GET /health` (200 while the action stream is up, else 503) and `GET /metrics`
   * (Prometheus text). Default: on when `HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED` is `true`,
   * at `HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT` (8001); `false` turns it off.
   */
  healthcheck?: HealthcheckOptions | boolean;
}

/**
 * Where a worker is in its life.
 *
 * @example
 * ```ts
 * import { createWorker, type WorkerState, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "states" });
 * wf.task({ name: "t", fn: () => ({}) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * const seen: WorkerState[] = [worker.state];
 * await worker.start();
 * seen.push(worker.state);
 * await worker.stop();
 * seen.push(worker.state);
 * assert.deepEqual(seen, ["idle", "running", "stopped"]);
 * ```
 */
export type WorkerState = "idle" | "starting" | "running" | "stopping" | "stopped" | "failed";

/**
 * A process that runs the tasks of its workflows. Stop it (or `await using`) when done.
 *
 * @example
 * ```ts
 * import { createWorker, type Worker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "echo" });
 * wf.task({ name: "echo", fn: (input) => input });
 * await using engine = new MockEngine({ namespace: "dev" });
 * await using worker: Worker = createWorker(engine.client, { name: "echoer", workflows: [wf] });
 * assert.equal(worker.id, undefined);
 * await worker.start();
 * assert.equal(worker.name, "dev_echoer");
 * assert.equal(worker.id, engine.workers()[0].id);
 * const run = await engine.client.runs.trigger(wf, { hi: 1 });
 * assert.deepEqual((await run.result()).outputs.echo, { hi: 1 });
 * await worker.stop();
 * assert.equal(worker.state, "stopped");
 * ```
 */
export interface Worker extends AsyncDisposable {
  /** The engine's id for this worker, once registered. */
  readonly id: string | undefined;
  /** The worker's namespaced name. */
  readonly name: string;
  /** `idle -> starting -> running -> stopping -> stopped`, or `failed` when start fails. */
  readonly state: WorkerState;
  /** The port `/health` and `/metrics` are served on, once started; `undefined` without one. */
  readonly healthcheckPort: number | undefined;
  /**
   * Registers the workflows and the worker, then listens for work. Resolves once listening.
   *
   * @throws {Error} When registration fails (after retrying transient errors for
   *   `startTimeout`), with the cause attached; or when the worker is not idle.
   */
  start(): Promise<void>;
  /**
   * Stops taking work, lets running tasks finish and report (up to `drainTimeout`, then cancels
   * them), stops heartbeats, unsubscribes and runs the lifespan cleanup. Idempotent.
   */
  stop(): Promise<void>;
  /**
   * Sets worker labels at run time (`UpsertWorkerLabels`): new names are added, existing ones
   * take the new value. Later registrations carry them too.
   *
   * @param labels Label values by name.
   * @throws {TypeError} When a value is neither a string nor an integer, or the worker is not
   *   running.
   * @example
   * ```ts
   * import { createWorker, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const wf = workflow({ name: "render" });
   * wf.task({
   *   name: "frame",
   *   desiredWorkerLabels: { gpu: { value: "on", required: true } },
   *   fn: () => ({ rendered: true }),
   * });
   * await using engine = new MockEngine();
   * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
   * await worker.start();
   * const run = await engine.client.runs.trigger(wf, {});
   * await engine.settle();
   * assert.equal(engine.taskRuns(run.id)[0].status, "QUEUED"); // no worker has gpu=on
   * await worker.upsertLabels({ gpu: "on" });
   * assert.equal((await run.result()).status, "COMPLETED");
   * assert.deepEqual(engine.workers()[0].labels, { gpu: "on" });
   * ```
   */
  upsertLabels(labels: Record<string, string | number>): Promise<void>;
}

const SDK_VERSION = "0.1.0";
const DEFAULT_SLOTS = 100;
const DEFAULT_DURABLE_SLOTS = 1000;
const HEARTBEAT_TIMEOUT_MS = 5_000;
/** PutWorkflow INTERNAL answers for a workflow with static rate limits before start() gives up. */
const PUT_WORKFLOW_INTERNAL_ATTEMPTS = 3;

interface ActionEntry {
  task: TaskDefinition;
  workflow: WorkflowDefinition;
}

interface Attempt {
  key: string;
  controller: AbortController;
  settled: Promise<void>;
  settle: () => void;
  lease: SlotLease | undefined;
  graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The attempt's durable operations (durable tasks only). */
  durable: DurableRun | undefined;
  eviction: EvictionTracker | undefined;
  /** Evicted (by the worker or the engine): reports nothing. */
  evicted: boolean;
}

const consoleLogger: WorkerLogger = {
  warn: (message) => console.warn(`[hatchet] ${message}`),
  error: (message) => console.error(`[hatchet] ${message}`),
};

function positiveInteger(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${what} must be a positive integer, received ${String(value)}`);
  }
  return value;
}

function durationMs(value: DurationInput | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  try {
    return parseDuration(value);
  } catch (err) {
    throw new RangeError(`${what}: ${(err as Error).message}`);
  }
}

// A re-assignment after eviction keeps the retry count and raises the invocation count.
function attemptKey(action: AssignedActionData): string {
  return `${action.taskRunExternalId}/${action.retryCount}/${
    action.durableTaskInvocationCount ?? 0
  }`;
}

/** The first engine version serving `/v1.V1Dispatcher/DurableTask`. */
const EVENT_LOG_VERSION = [0, 80, 0];

/**
 * Which durable path an engine version selects: `"event-log"` from v0.80.0, `"legacy"` before
 * it or without `GetVersion`, `"probe"` for a pre-release or unparseable version (try the
 * stream, fall back on UNIMPLEMENTED).
 */
export function durablePathFor(version: string | undefined): "event-log" | "legacy" | "probe" {
  if (version === undefined) return "legacy";
  const m = /^v?(\d+)\.(\d+)\.(\d+)(-.*)?$/.exec(version.trim());
  if (!m || m[4] !== undefined) return "probe";
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) {
    if (parts[i] !== EVENT_LOG_VERSION[i]) {
      return parts[i] > EVENT_LOG_VERSION[i] ? "event-log" : "legacy";
    }
  }
  return "event-log";
}

/**
 * Creates a worker for the given workflows. Nothing talks to the engine until `start()`.
 *
 * @param client A client from `createClient()` or `MockEngine.client`.
 * @param options Name, workflows, slots, labels, lifespan and timings.
 * @returns The worker, in state `"idle"`.
 * @throws {TypeError} When the name is empty, `workflows` is empty or holds something that is not
 *   a workflow, or two tasks map to the same action id.
 * @throws {RangeError} When a slot count or duration is invalid.
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const add = workflow<{ a: number; b: number }>({ name: "add" });
 * add.task({ name: "sum", fn: (input) => ({ sum: input.a + input.b }) });
 *
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "adder", workflows: [add], slots: 4 });
 * await worker.start();
 * assert.equal(worker.state, "running");
 * const run = await engine.client.runs.trigger(add, { a: 2, b: 3 });
 * assert.deepEqual((await run.result()).outputs.sum, { sum: 5 });
 * await worker.stop();
 * assert.equal(worker.state, "stopped");
 * ```
 */
export function createWorker<L = undefined>(
  client: HatchetClient,
  options: WorkerOptions<L>,
): Worker {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`createWorker() expects an options object, received ${String(options)}`);
  }
  if (typeof options.name !== "string" || options.name.trim() === "") {
    throw new TypeError(
      `Worker name must be a non-empty string, received ${JSON.stringify(options.name)}`,
    );
  }
  if (!Array.isArray(options.workflows) || options.workflows.length === 0) {
    throw new TypeError(`Worker "${options.name}": workflows must be a non-empty array`);
  }
  const runs = runsRuntimeOf(client);
  const healthcheck = resolveHealthcheck(options.healthcheck, readEnv, `Worker "${options.name}"`);
  const namespace = client.config.namespace ?? "";
  const workerName = withNamespace(namespace, options.name);
  const slots = positiveInteger(options.slots, DEFAULT_SLOTS, `Worker "${options.name}": slots`);
  const durableSlots = positiveInteger(
    options.durableSlots,
    DEFAULT_DURABLE_SLOTS,
    `Worker "${options.name}": durableSlots`,
  );
  const drainMs = durationMs(
    options.drainTimeout,
    30_000,
    `Worker "${options.name}": drainTimeout`,
  );
  const startMs = durationMs(
    options.startTimeout,
    30_000,
    `Worker "${options.name}": startTimeout`,
  );
  const graceMs = durationMs(
    options.cancellationGracePeriod,
    1_000,
    `Worker "${options.name}": cancellationGracePeriod`,
  );
  const heartbeatMs = durationMs(
    options.heartbeatInterval,
    4_000,
    `Worker "${options.name}": heartbeatInterval`,
  );
  let labels = options.labels === undefined
    ? undefined
    : validateWorkerLabels(options.labels, `Worker "${options.name}": labels`);
  const signals = options.handleSignals === false ? undefined : signalHandling(() => worker.stop());
  const logger = options.logger ?? consoleLogger;
  const observer = createWorkerObserver(healthcheck, {
    state: () => state,
    slots: { default: slots, durable: durableSlots },
    slotsInUse: () => ({ default: defaultPool.used, durable: durablePool.used }),
  });
  const ports: EnginePorts = observer.ports(enginePortsOf(client));

  const definitions = options.workflows.map((wf) => definitionOf(wf));
  const actions = new Map<string, ActionEntry>();
  for (const def of definitions) {
    const tasks = [...def.tasks, def.onSuccess, def.onFailure].filter((t) => t !== undefined);
    for (const task of tasks) {
      const id = actionIdOf(namespace, def.name, task.name);
      if (actions.has(id)) {
        throw new TypeError(
          `Worker "${options.name}": two tasks share the action id "${id}"; workflow names must differ after lower-casing`,
        );
      }
      actions.set(id, { task, workflow: def });
    }
  }
  const hasDurable = [...actions.values()].some((e) => e.task.durable);
  const hasDefault = [...actions.values()].some((e) => !e.task.durable);

  let state: WorkerState = "idle";
  let workerId: string | undefined;
  let engineVersion: string | undefined;
  let lifespanGen: AsyncGenerator<L, void, void> | undefined;
  let lifespanValue: L = undefined as L;
  let startPromise: Promise<void> | undefined;
  let stopPromise: Promise<void> | undefined;
  let stopRequested = false;
  let stopCalled = false;
  const stopController = new AbortController();
  // Aborted at the very end of stop(): result retries and other stragglers give up then.
  const halt = new AbortController();

  const defaultPool = createSlotPool(slots);
  const durablePool = createSlotPool(durableSlots);
  const attempts = new Map<string, Attempt>();
  const pending = new Set<Promise<void>>();
  // Lines and chunks ride out an engine outage about as long as results do (15 attempts, up to
  // 5 s apart), so an engine restart loses none of them; `halt` ends the retries at stop().
  const logSender: LogSender = createLogSender(ports.events, {
    attempts: 15,
    maxDelayMs: 5_000,
    signal: halt.signal,
  });
  let durablePath: DurablePath | undefined;
  let durableKind: "event-log" | "legacy" = "legacy";
  const evictions = createEvictionManager({ capacity: durableSlots });

  let listenController: AbortController | undefined;
  let listenOpen = false;
  let listenLoopDone: Promise<void> = Promise.resolve();
  let heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  let heartbeatInFlight: Promise<void> = Promise.resolve();
  let heartbeatsOn = false;
  const heartbeatAbort = new AbortController();
  let heartbeatUnimplemented = false;

  function track(p: Promise<void>): void {
    const tracked = p.catch((err) => logger.error(`Worker "${workerName}": ${describeError(err)}`));
    pending.add(tracked);
    tracked.finally(() => pending.delete(tracked));
  }

  // ---- reporting -------------------------------------------------------------------------

  async function sendEvent(
    action: AssignedActionData,
    eventType: StepEventKind,
    payload: string,
    shouldNotRetry: boolean,
    maxAttempts: number,
  ): Promise<void> {
    await retryTransient(
      () =>
        ports.dispatcher.sendStepActionEvent({
          workerId: workerId ?? "",
          jobId: action.jobId,
          jobRunId: action.jobRunId,
          taskId: action.taskId,
          taskRunExternalId: action.taskRunExternalId,
          actionId: action.actionId,
          eventTimestamp: new Date(),
          eventType,
          eventPayload: payload,
          retryCount: action.retryCount,
          shouldNotRetry,
        }, { timeoutMs: CALL_TIMEOUT_MS }),
      {
        attempts: maxAttempts,
        baseMs: 200,
        maxMs: 5_000,
        signal: halt.signal,
        onRetry: (err, n) =>
          logger.warn(
            `Worker "${workerName}": sending ${eventType} for task run ${action.taskRunExternalId} failed (${
              messageOf(err)
            }); retry ${n}`,
          ),
      },
    );
  }

  async function reportResult(
    action: AssignedActionData,
    eventType: "COMPLETED" | "FAILED",
    payload: string,
    shouldNotRetry: boolean,
  ): Promise<void> {
    try {
      await sendEvent(action, eventType, payload, shouldNotRetry, 15);
    } catch (err) {
      logger.error(
        `Worker "${workerName}": could not report ${eventType} for task run ${action.taskRunExternalId}; the engine will time it out: ${
          messageOf(err)
        }`,
      );
    }
  }

  // ---- running attempts -------------------------------------------------------------------

  function taskRunPort(
    action: AssignedActionData,
    attempt: Attempt,
    observed: ObservedAttempt,
  ): TaskRunPort {
    return engineTaskRunPort({
      ports,
      logSender,
      attemptKey: attempt.key,
      action,
      signal: halt.signal,
      warn: (message) => logger.warn(`Worker "${workerName}": ${message}`),
      onSlotReleased: () => attempt.lease?.release(),
      runs,
      logMetadata: observed.logMetadata,
      onLogDropped: () => observer.metrics.logLinesDropped++,
    });
  }

  function buildContext(
    data: TaskRunData,
    entry: ActionEntry,
    action: AssignedActionData,
    attempt: Attempt,
    observed: ObservedAttempt,
  ): Context<unknown, L> {
    const base = createContext<unknown, L>(data, {
      port: taskRunPort(action, attempt, observed),
      workerId: workerId ?? "",
      lifespan: lifespanValue,
      controller: attempt.controller,
    });
    if (!entry.task.durable) return base;
    durablePath ??= durableKind === "event-log"
      ? createEventLogListener(ports.durableTask, {
        workerId: () => workerId,
        onServerEvict: serverEvict,
      })
      : createLegacyPath(ports.durable, { retry: { attempts: 15 } });
    const policy = entry.task.evictionPolicy;
    if (durablePath.kind === "event-log" && policy !== undefined) {
      attempt.eviction = evictions.track({
        policy,
        evict: (reason) => track(evictAttempt(attempt, reason)),
      });
    }
    attempt.durable = durablePath.open({
      taskRunId: data.taskRunId,
      invocationCount: action.durableTaskInvocationCount || 1,
      signal: attempt.controller.signal,
      onWaiting: attempt.eviction?.onWaiting,
    });
    return createDurableContext(base, {
      run: attempt.durable,
      namespace,
      observeWait: observed.wait,
      runRef: runs?.runRef,
    });
  }

  // Eviction: the engine frees the slot and re-assigns the task (invocation + 1) once what it
  // waits for happens; this attempt ends here and reports nothing.
  async function evictAttempt(attempt: Attempt, reason: string): Promise<void> {
    const run = attempt.durable;
    if (!run || attempt.controller.signal.aborted) return;
    try {
      await run.evict(reason);
    } catch (err) {
      logger.warn(
        `Worker "${workerName}": evicting a durable task run failed; it keeps waiting: ${
          messageOf(err)
        }`,
      );
      return;
    }
    endEvicted(attempt, reason);
  }

  function endEvicted(attempt: Attempt, reason: string): void {
    observer.metrics.evictions++;
    attempt.evicted = true;
    attempt.lease?.release();
    abortAttempt(attempt, new TaskCancelledError("worker", `evicted: ${reason}`));
  }

  function serverEvict(taskRunId: string, invocationCount: number, reason: string): void {
    for (const attempt of attempts.values()) {
      if (
        attempt.key.startsWith(`${taskRunId}/`) &&
        attempt.durable?.invocationCount === invocationCount
      ) {
        logger.warn(
          `Worker "${workerName}": the engine evicted task run ${taskRunId} (invocation ${invocationCount}): ${reason}`,
        );
        endEvicted(attempt, reason);
      }
    }
  }

  async function runAttempt(action: AssignedActionData, entry: ActionEntry): Promise<void> {
    const key = attemptKey(action);
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => settle = resolve);
    const attempt: Attempt = {
      key,
      controller: new AbortController(),
      settled,
      settle,
      lease: undefined,
      graceTimer: undefined,
      durable: undefined,
      eviction: undefined,
      evicted: false,
    };
    attempts.set(key, attempt);
    try {
      attempt.lease = await (entry.task.durable ? durablePool : defaultPool).acquire();
      if (attempt.controller.signal.aborted) return;

      let data: TaskRunData;
      try {
        data = parseAssignment(action);
      } catch (err) {
        logger.warn(`Worker "${workerName}": ${messageOf(err)}`);
        await reportResult(action, "FAILED", describeError(err), true);
        return;
      }

      const observed = observer.attempt({
        workflowName: entry.workflow.name,
        taskName: entry.task.name,
        workflowRunId: data.workflowRunId,
        taskRunId: data.taskRunId,
        actionId: action.actionId,
        retryCount: action.retryCount,
        tenantId: action.tenantId,
        workerId: workerId ?? "",
        workerName,
        durable: entry.task.durable,
        additionalMetadata: data.additionalMetadata,
        parentWorkflowRunId: data.parentWorkflowRunId,
        triggeringEventKey: data.triggeringEventKey,
      });
      const ctx = buildContext(data, entry, action, attempt, observed);
      // STARTED is a monitoring event (the engine's dispatcher only forwards it to its OLAP
      // store), so the task runs while it is in flight instead of a round trip later: under
      // load that round trip was half of every task's time on the worker. It is sent before the
      // result and awaited before the attempt ends.
      const started = sendEvent(action, "STARTED", "", false, 3).catch((err) => {
        logger.warn(
          `Worker "${workerName}": could not report STARTED for task run ${action.taskRunExternalId}: ${
            messageOf(err)
          }`,
        );
      });

      let eventType: "COMPLETED" | "FAILED";
      let payload: string;
      let shouldNotRetry = false;
      try {
        const value = await observed.run(() => entry.task.fn(data.input, ctx));
        const out = serializeOutput(entry.task.name, value);
        if (out.ok) {
          eventType = "COMPLETED";
          payload = out.payload;
        } else {
          eventType = "FAILED";
          payload = out.message;
        }
      } catch (err) {
        // An evicted invocation is over: the engine resumes the task as a new one.
        if (err instanceof InvocationEvictedError) attempt.evicted = true;
        eventType = "FAILED";
        payload = describeError(err);
        shouldNotRetry = err instanceof NonRetryableError;
      }

      observed.end(
        attempt.controller.signal.aborted
          ? "cancelled"
          : eventType === "COMPLETED"
          ? "completed"
          : "failed",
        eventType === "FAILED" ? payload : undefined,
      );
      // The result goes out only after the attempt's logs and stream chunks were delivered.
      await logSender.flush(key);
      if (!attempt.controller.signal.aborted && !attempt.evicted) {
        await reportResult(action, eventType, payload, shouldNotRetry);
      }
      await started;
    } finally {
      if (attempt.graceTimer !== undefined) clearTimeout(attempt.graceTimer);
      attempt.eviction?.untrack();
      attempt.durable?.close();
      attempt.lease?.release();
      if (attempts.get(key) === attempt) attempts.delete(key);
      settle();
    }
  }

  function cancelAttempt(action: AssignedActionData): void {
    const attempt = attempts.get(attemptKey(action));
    if (!attempt) return;
    abortAttempt(attempt, new TaskCancelledError("engine"));
  }

  function abortAttempt(attempt: Attempt, reason: TaskCancelledError): void {
    if (!attempt.controller.signal.aborted) attempt.controller.abort(reason);
    if (attempt.graceTimer !== undefined) return;
    // A task that ignores its signal keeps running, but stops holding a slot after the grace period.
    attempt.graceTimer = setTimeout(() => {
      attempt.graceTimer = undefined;
      attempt.lease?.release();
      if (attempts.get(attempt.key) === attempt) attempts.delete(attempt.key);
      attempt.settle();
    }, graceMs);
  }

  function handleAction(action: AssignedActionData): void {
    switch (action.actionType) {
      case "START_STEP_RUN": {
        if (attempts.has(attemptKey(action))) {
          logger.warn(
            `Worker "${workerName}": ignoring a repeated assignment of task run ${action.taskRunExternalId} (retry ${action.retryCount})`,
          );
          return;
        }
        const entry = actions.get(action.actionId.toLowerCase());
        if (!entry) {
          const known = [...actions.keys()].map((a) => JSON.stringify(a)).join(", ");
          track(reportResult(
            action,
            "FAILED",
            `Worker "${workerName}" has no task for action id ${
              JSON.stringify(action.actionId)
            }; it registered ${known}`,
            false,
          ));
          return;
        }
        runAttempt(action, entry).catch((err) =>
          logger.error(`Worker "${workerName}": ${describeError(err)}`)
        );
        // Drain waits on `settled`, which the grace timer may resolve before the run ends.
        const { settled } = attempts.get(attemptKey(action))!;
        pending.add(settled);
        settled.finally(() => pending.delete(settled));
        return;
      }
      case "CANCEL_STEP_RUN":
        cancelAttempt(action);
        return;
      default:
        logger.warn(
          `Worker "${workerName}": ignoring unsupported action ${action.actionType} for task run ${action.taskRunExternalId}`,
        );
    }
  }

  // ---- action stream -------------------------------------------------------------------------

  async function listenLoop(): Promise<void> {
    let failures = 0;
    let version: ListenVersion = "v2";
    let opened = 0;
    while (!stopRequested) {
      const controller = new AbortController();
      listenController = controller;
      listenOpen = true;
      observer.streamOpening(opened++ > 0);
      const openedAt = Date.now();
      let received = false;
      try {
        for await (
          const action of ports.dispatcher.listen(workerId!, version, {
            signal: controller.signal,
            onHeader: observer.streamConnected,
          })
        ) {
          received = true;
          observer.streamConnected();
          handleAction(action);
        }
        if (stopRequested) return;
        if (!controller.signal.aborted) {
          logger.warn(`Worker "${workerName}": the action stream ended`);
        }
      } catch (err) {
        if (stopRequested) return;
        if (err instanceof RpcError && err.code === "unimplemented" && version === "v2") {
          logger.warn(`Worker "${workerName}": the engine has no ListenV2; using Listen`);
          version = "v1";
          continue;
        }
        if (!controller.signal.aborted) {
          logger.warn(`Worker "${workerName}": the action stream failed: ${messageOf(err)}`);
        }
      } finally {
        listenOpen = false;
        observer.streamClosed();
      }
      if (stopRequested) return;
      if (controller.signal.aborted) {
        // A heartbeat asked for a fresh stream: reconnect at once.
        continue;
      }
      if (received || Date.now() - openedAt > 5_000) failures = 0;
      failures++;
      const delay = Math.round(backoffDelay(failures, 100, 5_000));
      logger.warn(
        `Worker "${workerName}": reconnecting the action stream in ${delay} ms (attempt ${failures})`,
      );
      try {
        await sleep(delay, stopController.signal);
      } catch {
        return;
      }
    }
  }

  function relisten(): void {
    if (listenOpen) listenController?.abort();
  }

  // ---- heartbeats ----------------------------------------------------------------------------

  let registration: RegisterWorkerInput | undefined;

  async function heartbeat(): Promise<void> {
    if (!workerId || heartbeatUnimplemented) return;
    try {
      await ports.dispatcher.heartbeat(workerId, new Date(), {
        timeoutMs: HEARTBEAT_TIMEOUT_MS,
        signal: heartbeatAbort.signal,
      });
      observer.heartbeatOk();
    } catch (err) {
      if (!heartbeatsOn && heartbeatAbort.signal.aborted) return;
      const code = err instanceof RpcError ? err.code : undefined;
      if (code === "unimplemented") {
        heartbeatUnimplemented = true;
        logger.warn(`Worker "${workerName}": the engine has no Heartbeat; heartbeats stop`);
      } else if (code === "failed_precondition") {
        logger.warn(
          `Worker "${workerName}": the engine reports the action stream inactive; reconnecting`,
        );
        relisten();
      } else if (code === "not_found") {
        logger.warn(
          `Worker "${workerName}": the engine no longer knows this worker; registering again`,
        );
        try {
          const reg = await ports.dispatcher.register(registration!, {
            timeoutMs: CALL_TIMEOUT_MS,
            signal: heartbeatAbort.signal,
          });
          workerId = reg.workerId;
          relisten();
        } catch (regErr) {
          logger.warn(`Worker "${workerName}": registering again failed: ${messageOf(regErr)}`);
        }
      } else {
        logger.warn(`Worker "${workerName}": heartbeat failed: ${messageOf(err)}`);
      }
    }
  }

  function scheduleHeartbeat(): void {
    if (!heartbeatsOn) return;
    heartbeatTimer = setTimeout(() => {
      heartbeatTimer = undefined;
      heartbeatInFlight = heartbeat().finally(scheduleHeartbeat);
    }, heartbeatMs);
  }

  async function stopHeartbeats(): Promise<void> {
    heartbeatsOn = false;
    if (heartbeatTimer !== undefined) clearTimeout(heartbeatTimer);
    heartbeatTimer = undefined;
    heartbeatAbort.abort();
    await heartbeatInFlight;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  let startTimedOut = false;

  async function retryStart<T>(fn: () => Promise<T>, deadline: number): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const transient = err instanceof RpcError && err.transient;
        const left = deadline - Date.now();
        if (!transient || stopRequested) throw err;
        if (left <= 0) {
          startTimedOut = true;
          throw err;
        }
        const delay = Math.min(backoffDelay(attempt, 200, 5_000), left);
        logger.warn(
          `Worker "${workerName}": ${messageOf(err)}; retrying in ${Math.round(delay)} ms`,
        );
        await sleep(delay, stopController.signal);
      }
    }
  }

  // A pre-release or unparseable version: open the stream once; UNIMPLEMENTED means legacy.
  async function probeEventLog(id: string): Promise<"event-log" | "legacy"> {
    const controller = new AbortController();
    try {
      const requests = (async function* () {
        yield { kind: "registerWorker" as const, workerId: id };
        await new Promise((resolve) => controller.signal.addEventListener("abort", resolve));
      })();
      for await (
        const _ of ports.durableTask.durableTask(requests, {
          signal: controller.signal,
          timeoutMs: CALL_TIMEOUT_MS,
        })
      ) {
        return "event-log";
      }
      return "event-log";
    } catch (err) {
      if (err instanceof RpcError && err.code === "unimplemented") return "legacy";
      logger.warn(
        `Worker "${workerName}": probing the durable event log failed (${
          messageOf(err)
        }); using the legacy durable path`,
      );
      return "legacy";
    } finally {
      controller.abort();
    }
  }

  async function runLifespanCleanup(): Promise<void> {
    const gen = lifespanGen;
    lifespanGen = undefined;
    if (!gen) return;
    try {
      await gen.next();
      await gen.return(undefined);
    } catch (err) {
      logger.error(`Worker "${workerName}": the lifespan cleanup failed: ${describeError(err)}`);
    }
  }

  async function doStart(): Promise<void> {
    try {
      observer.start();
      if (options.lifespan) {
        const gen = options.lifespan();
        const first = await gen.next();
        if (first.done) {
          throw new TypeError("the lifespan generator returned without yielding a value");
        }
        lifespanGen = gen;
        lifespanValue = first.value;
      }
      const deadline = Date.now() + startMs;
      engineVersion = await retryStart(
        () => ports.dispatcher.getVersion({ timeoutMs: CALL_TIMEOUT_MS }),
        deadline,
      );
      const pathChoice = durablePathFor(engineVersion);
      for (const def of definitions) {
        const request = putWorkflowInput(def, namespace);
        let internal = 0;
        await retryStart(async () => {
          try {
            return await ports.admin.putWorkflow(request, { timeoutMs: CALL_TIMEOUT_MS });
          } catch (err) {
            // The engine fails PutWorkflow with INTERNAL when a task names a static rate limit
            // nobody put: after a few, say so instead of retrying for the whole startTimeout.
            const explained = missingRateLimitError(def, err, internal + 1);
            if (explained && ++internal >= PUT_WORKFLOW_INTERNAL_ATTEMPTS) throw explained;
            throw err;
          }
        }, deadline);
      }
      registration = registerInput({
        workerName,
        actions: [...actions.keys()],
        slots,
        durableSlots,
        hasDurable,
        hasDefault,
        labels,
        engineVersion,
        sdkVersion: SDK_VERSION,
      });
      const reg = await retryStart(
        () => ports.dispatcher.register(registration!, { timeoutMs: CALL_TIMEOUT_MS }),
        deadline,
      );
      if (stopRequested) throw new Error("stop() was called");
      workerId = reg.workerId;
      if (hasDurable) {
        durableKind = pathChoice === "probe" ? await probeEventLog(reg.workerId) : pathChoice;
      }
      listenLoopDone = listenLoop();
      heartbeatsOn = true;
      heartbeatInFlight = heartbeat();
      await heartbeatInFlight;
      scheduleHeartbeat();
      state = "running";
      signals?.on();
    } catch (err) {
      stopRequested = true;
      stopController.abort();
      listenController?.abort();
      await listenLoopDone;
      await stopHeartbeats();
      await runLifespanCleanup();
      halt.abort();
      await observer.close();
      if (stopCalled) {
        state = "stopped";
        throw new Error(`Worker "${workerName}" was stopped before it started`, { cause: err });
      }
      state = "failed";
      const why = startTimedOut
        ? `the engine at ${client.config.hostPort} kept failing for startTimeout (${
          formatDuration(startMs)
        }); last error: ${messageOf(err)}`
        : messageOf(err);
      throw new Error(`Worker "${workerName}" failed to start: ${why}`, { cause: err });
    }
  }

  function settleWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
    return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
  }

  async function doStop(): Promise<void> {
    if (state === "idle") {
      state = "stopped";
      return;
    }
    if (state === "starting") {
      stopCalled = true;
      stopRequested = true;
      stopController.abort();
      await startPromise?.catch(() => {});
    }
    // start() may have failed meanwhile; read the state afresh.
    if ((state as WorkerState) !== "running") return;
    signals?.off();
    state = "stopping";
    stopRequested = true;
    stopController.abort();
    listenController?.abort();
    await listenLoopDone;

    // Waiting durable tasks are evicted rather than failed: the engine resumes them elsewhere.
    evictions.evictAllWaiting("Worker shutdown");
    if (!await settleWithin(Promise.all(pending), drainMs)) {
      const left = [...attempts.values()];
      logger.warn(
        `Worker "${workerName}": ${left.length} task run(s) still running after the drain timeout; cancelling them`,
      );
      for (const attempt of left) {
        abortAttempt(
          attempt,
          new TaskCancelledError("worker", "the worker stopped before the task finished"),
        );
      }
      await settleWithin(Promise.all(left.map((a) => a.settled)), graceMs + 100);
    }
    await settleWithin(logSender.close(), drainMs);
    await stopHeartbeats();
    if (workerId) {
      try {
        await ports.dispatcher.unsubscribe(workerId, { timeoutMs: HEARTBEAT_TIMEOUT_MS });
      } catch (err) {
        logger.warn(`Worker "${workerName}": unsubscribe failed: ${messageOf(err)}`);
      }
    }
    // A restarted worker opens a fresh listener: a closed one fails every wait.
    evictions.close();
    const path = durablePath;
    durablePath = undefined;
    if (path) await path.close();
    halt.abort();
    await runLifespanCleanup();
    await observer.close();
    state = "stopped";
  }

  const worker: Worker = {
    get id() {
      return workerId;
    },
    get name() {
      return workerName;
    },
    get state() {
      return state;
    },
    get healthcheckPort() {
      return observer.port;
    },
    start(): Promise<void> {
      if (state !== "idle") {
        return Promise.reject(
          new Error(`Worker "${workerName}" cannot start: its state is "${state}"`),
        );
      }
      state = "starting";
      startPromise = doStart();
      return startPromise;
    },
    stop(): Promise<void> {
      stopPromise ??= doStop();
      return stopPromise;
    },
    async upsertLabels(next: Record<string, string | number>): Promise<void> {
      const checked = validateWorkerLabels(next, `Worker "${workerName}": upsertLabels()`);
      if (state !== "running" || workerId === undefined) {
        throw new TypeError(
          `Worker "${workerName}": upsertLabels() needs a running worker, its state is "${state}"`,
        );
      }
      await ports.dispatcher.upsertWorkerLabels(workerId, checked, {
        timeoutMs: CALL_TIMEOUT_MS,
      });
      labels = { ...labels, ...checked };
      if (registration) registration.labels = { ...labels };
    },
    [Symbol.asyncDispose](): Promise<void> {
      return worker.stop();
    },
  };
  return worker;
}

/** SIGINT/SIGTERM listeners that call `stop`, added while the worker runs. */
function signalHandling(stop: () => Promise<void>): { on(): void; off(): void } {
  const deno = (globalThis as {
    Deno?: {
      addSignalListener?(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
      removeSignalListener?(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
    };
  }).Deno;
  const handler = () => void stop();
  const names = ["SIGINT", "SIGTERM"] as const;
  let added: ("SIGINT" | "SIGTERM")[] = [];
  return {
    on() {
      for (const name of names) {
        try {
          deno?.addSignalListener?.(name, handler);
          added.push(name);
        } catch {
          // Not every platform has both signals (Windows has no SIGTERM listener).
        }
      }
    },
    off() {
      for (const name of added) deno?.removeSignalListener?.(name, handler);
      added = [];
    },
  };
}
