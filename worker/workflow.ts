import type { Context, TaskRef } from "../context/context.ts";
import { parseCron } from "../runs/cron.ts";
import type { DurableContext, EvictionPolicy, TaskCondition } from "../durable/mod.ts";
import {
  ParentCondition,
  type ResolvedEvictionPolicy,
  resolveEvictionPolicy,
  toTaskConditions,
} from "../durable/mod.ts";
import { formatDuration, parseDuration } from "../transport/duration.ts";
import type { ConcurrencyInput, DesiredLabelInput, RateLimitInput } from "../transport/ports.ts";
import type { DurationInput, JsonObject } from "../transport/types.ts";
import {
  type ConcurrencyOptions,
  type DesiredWorkerLabel,
  type StickyStrategy,
  type TaskRateLimit,
  validateConcurrency,
  validateDesiredLabels,
  validatePriority,
  validateRateLimits,
  validateSticky,
} from "./flow_control.ts";

/**
 * How a failed task's retries are spaced: `factor`^n seconds, at most `maxSeconds`.
 *
 * @example
 * ```ts
 * import { type BackoffOptions, createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "flaky" });
 * const backoff: BackoffOptions = { factor: 2, maxSeconds: 60 };
 * wf.task({
 *   name: "call",
 *   retries: 2,
 *   backoff,
 *   fn: (_input, ctx) => {
 *     if (ctx.retryCount === 0) throw new Error("try again");
 *     return { attempt: ctx.attemptNumber };
 *   },
 * });
 * await using engine = new MockEngine(); // virtual clock: the retry delay passes in advance()
 * await using worker = createWorker(engine.client, {
 *   name: "w",
 *   workflows: [wf],
 *   logger: { warn() {}, error() {} },
 * });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * await engine.advance("1m");
 * assert.deepEqual((await run.result()).outputs.call, { attempt: 2 });
 * ```
 */
export interface BackoffOptions {
  /** Multiplier between consecutive retry delays (> 0). */
  factor: number;
  /** Upper bound of one delay in whole seconds (> 0). */
  maxSeconds: number;
}

/**
 * Declares one task of a workflow.
 *
 * @typeParam I The workflow's input type.
 * @typeParam O The task's output type (a JSON object, or nothing).
 * @typeParam C The context type the function receives.
 *
 * @example
 * ```ts
 * import { type Context, createWorker, type TaskOptions, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * type Input = { n: number };
 * const wf = workflow<Input>({ name: "doubler" });
 * const options: TaskOptions<Input, { doubled: number }, Context<Input>> = {
 *   name: "double",
 *   fn: (input) => ({ doubled: input.n * 2 }),
 *   retries: 1,
 *   executionTimeout: "30s",
 * };
 * wf.task(options);
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, { n: 21 });
 * assert.deepEqual((await run.result()).outputs.double, { doubled: 42 });
 * ```
 */
export interface TaskOptions<I, O, C> {
  /** The task's name, unique in its workflow (its readable id in the engine). */
  name: string;
  /** The task's body: receives the run's input and the attempt's context. */
  fn: (input: I, ctx: C) => O | Promise<O>;
  /** Tasks of the same workflow that must finish first; their outputs reach `ctx.taskOutput`. */
  parents?: TaskRef<unknown>[];
  /** How many times the engine retries a failed run; default 0. */
  retries?: number;
  /** Exponential spacing of retries; default: the engine retries at once. */
  backoff?: BackoffOptions;
  /** How long one attempt may run before the engine cancels it; default `"60s"`. */
  executionTimeout?: DurationInput;
  /** How long the run may wait for a worker; default `"5m"`. */
  scheduleTimeout?: DurationInput;
  /** DAG conditions; a satisfied one skips the task. */
  skipIf?: TaskCondition[];
  /** DAG conditions the task waits for before it is queued. */
  waitFor?: TaskCondition[];
  /** Conditions that cancel the task instead of running it (e.g. a cancel event, a deadline). */
  cancelIf?: TaskCondition[];
  /** Concurrency limits on this task's runs (one or a list). */
  concurrency?: ConcurrencyOptions | ConcurrencyOptions[];
  /** Rate limits whose units a run consumes before it starts. */
  rateLimits?: TaskRateLimit[];
  /** Worker labels the task wants, by label name. */
  desiredWorkerLabels?: Record<string, DesiredWorkerLabel>;
  /** Slot units a run occupies on its worker (a positive integer); default 1. */
  slotCost?: number;
}

/**
 * Options of a durable task: those of a task plus its eviction policy.
 *
 * @example
 * ```ts
 * import { type DurableTaskOptions, workflow } from "@hatchet-deno/sdk";
 *
 * const options: DurableTaskOptions<{ id: string }, { ok: boolean }> = {
 *   name: "await-payment",
 *   evictionPolicy: { ttl: "1m" }, // free the slot after a minute of waiting
 *   fn: async (input, ctx) => {
 *     await ctx.waitForEvent(`payment:${input.id}`);
 *     return { ok: true };
 *   },
 * };
 * workflow<{ id: string }>({ name: "payments" }).durableTask(options);
 * ```
 */
export interface DurableTaskOptions<I, O> extends TaskOptions<I, O, DurableContext<I>> {
  /**
   * When the worker may evict the task while it waits (engines v0.80.0 and newer); default
   * `{ ttl: "15m", allowCapacityEviction: true, priority: 0 }`; `false` never evicts.
   */
  evictionPolicy?: EvictionPolicy | false;
}

/**
 * Options of {@link Workflow.onFailure}: a task without parents or conditions.
 *
 * @example
 * ```ts
 * import {
 *   createWorker,
 *   type JsonObject,
 *   type OnFailureOptions,
 *   workflow,
 * } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "with-cleanup" });
 * wf.task({
 *   name: "charge",
 *   fn: () => {
 *     throw new Error("card declined");
 *   },
 * });
 * const onFailure: OnFailureOptions<JsonObject, { failed: string[] }> = {
 *   name: "cleanup",
 *   fn: (_input, ctx) => ({ failed: Object.keys(ctx.taskRunErrors) }),
 * };
 * wf.onFailure(onFailure);
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, {
 *   name: "w",
 *   workflows: [wf],
 *   logger: { warn() {}, error() {} },
 * });
 * await worker.start();
 * const result = await (await engine.client.runs.trigger(wf, {})).result();
 * assert.equal(result.status, "FAILED");
 * assert.deepEqual(result.outputs.cleanup, { failed: ["charge"] });
 * ```
 */
export type OnFailureOptions<I, O> =
  & Omit<TaskOptions<I, O, Context<I>>, "parents" | "skipIf" | "waitFor" | "cancelIf" | "name">
  & {
    /** The task's name; default `"on-failure-task"`. */
    name?: string;
  };

/**
 * Options of {@link Workflow.onSuccess}: a task that runs once every other task of a run
 * completed (its parents are the workflow's leaf tasks).
 *
 * @example
 * ```ts
 * import { createWorker, type JsonObject, type OnSuccessOptions, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "order" });
 * wf.task({ name: "charge", fn: () => ({ charged: true }) });
 * wf.task({ name: "ship", fn: () => ({ shipped: true }) });
 * const onSuccess: OnSuccessOptions<JsonObject, { done: boolean }> = {
 *   name: "notify",
 *   fn: () => ({ done: true }),
 * };
 * wf.onSuccess(onSuccess);
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const result = await (await engine.client.runs.trigger(wf, {})).result();
 * assert.deepEqual(result.outputs.notify, { done: true });
 * ```
 */
export type OnSuccessOptions<I, O> =
  & Omit<TaskOptions<I, O, Context<I>>, "parents" | "skipIf" | "waitFor" | "cancelIf" | "name">
  & {
    /** The task's name; default `"on-success-task"`. */
    name?: string;
  };

/**
 * Defaults every task of a workflow takes unless it sets its own.
 *
 * @example
 * ```ts
 * import { type TaskDefaults, workflow } from "@hatchet-deno/sdk";
 * const taskDefaults: TaskDefaults = { retries: 3, executionTimeout: "5m" };
 * const wf = workflow({ name: "etl", taskDefaults });
 * wf.task({ name: "extract", fn: () => ({}) }); // 3 retries, 5 minutes
 * ```
 */
export interface TaskDefaults {
  /** Default `retries`. */
  retries?: number;
  /** Default `backoff`. */
  backoff?: BackoffOptions;
  /** Default `executionTimeout`. */
  executionTimeout?: DurationInput;
  /** Default `scheduleTimeout`. */
  scheduleTimeout?: DurationInput;
}

/**
 * Options of {@link workflow}.
 *
 * @example
 * ```ts
 * import { createWorker, workflow, type WorkflowOptions } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const options: WorkflowOptions = {
 *   name: "welcome",
 *   onEvents: ["user:created"],
 *   description: "Greets every new user",
 * };
 * const welcome = workflow(options);
 * welcome.task({ name: "greet", fn: (input) => ({ hello: input.name ?? null }) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [welcome] });
 * await worker.start();
 * await engine.client.events.push("user:created", { name: "Ada" });
 * await engine.settle();
 * assert.deepEqual(engine.taskRuns().map((t) => [t.taskName, t.output]), [["greet", {
 *   hello: "Ada",
 * }]]);
 * ```
 */
export interface WorkflowOptions {
  /** The workflow's name (namespaced by the client). */
  name: string;
  /** Event keys that trigger a run (namespaced by the client). */
  onEvents?: string[];
  /** Shown in the dashboard. */
  description?: string;
  /** Five-field cron expressions (UTC) on which the engine starts a run, e.g. `"*\/5 * * * *"`. */
  onCrons?: string[];
  /** The input of cron-started runs; default `{}`. */
  cronInput?: JsonObject;
  /** Concurrency limits on whole runs (one or a list); a run holds its place until it finishes. */
  concurrency?: ConcurrencyOptions | ConcurrencyOptions[];
  /** Keep a run's tasks on the worker that ran its first task: `"soft"` prefers, `"hard"` waits. */
  sticky?: StickyStrategy;
  /** Priority of runs triggered without one: 1 (lowest) to 3; default the engine's (1). */
  defaultPriority?: number;
  /** A version label the engine stores with this definition. */
  version?: string;
  /** Defaults for every task's retries, backoff and timeouts. */
  taskDefaults?: TaskDefaults;
}

/**
 * A workflow declaration: a named DAG of tasks. Build one with {@link workflow}, add tasks, then
 * hand it to `createWorker`.
 *
 * @typeParam I The run's input type.
 *
 * @example
 * ```ts
 * import { createWorker, type Workflow, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const pipeline: Workflow<{ text: string }> = workflow<{ text: string }>({ name: "pipeline" });
 * const upper = pipeline.task({
 *   name: "upper",
 *   fn: (input) => ({ text: input.text.toUpperCase() }),
 * });
 * pipeline.task({
 *   name: "exclaim",
 *   parents: [upper],
 *   fn: (_input, ctx) => ({ text: `${ctx.taskOutput(upper).text}!` }),
 * });
 * assert.equal(pipeline.name, "pipeline");
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [pipeline] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(pipeline, { text: "hi" });
 * assert.deepEqual((await run.result()).outputs.exclaim, { text: "HI!" });
 * ```
 */
export interface Workflow<I extends JsonObject = JsonObject> {
  /** The workflow's name, as declared (without namespace). */
  readonly name: string;
  /** Phantom field carrying the input type; never set at run time. */
  readonly __input?: I;
  /**
   * Adds a task.
   *
   * @param options Name, function, parents, retries, timeouts and conditions.
   * @returns A reference for `parents` and `ctx.taskOutput()`.
   * @throws {TypeError} When the name is empty or taken, the function missing, or a parent is not
   *   a task declared earlier in this workflow.
   * @throws {RangeError} When `retries`, `backoff` or a timeout is out of range.
   */
  task<O extends JsonObject | void>(options: TaskOptions<I, O, Context<I>>): TaskRef<O>;
  /**
   * Adds a durable task: its context can `waitFor` events and `sleepFor` durations that survive
   * worker restarts. It occupies a durable slot.
   *
   * @param options As for {@link Workflow.task}.
   * @returns A reference for `parents` and `ctx.taskOutput()`.
   * @throws {TypeError} As for {@link Workflow.task}.
   * @throws {RangeError} As for {@link Workflow.task}.
   */
  durableTask<O extends JsonObject | void>(options: DurableTaskOptions<I, O>): TaskRef<O>;
  /**
   * Sets the task the engine runs when any task of a run fails; it reads `ctx.taskRunErrors`.
   *
   * @param options Function, retries and timeouts; `name` defaults to `"on-failure-task"`.
   * @returns A reference to the on-failure task.
   * @throws {TypeError} When the workflow already has one, or the name is taken.
   * @throws {RangeError} When `retries`, `backoff` or a timeout is out of range.
   */
  onFailure<O extends JsonObject | void>(options: OnFailureOptions<I, O>): TaskRef<O>;
  /**
   * Sets the task the engine runs once every other task of a run completed; it reads their
   * outputs with `ctx.taskOutput()`.
   *
   * @param options Function, retries and timeouts; `name` defaults to `"on-success-task"`.
   * @returns A reference to the on-success task.
   * @throws {TypeError} When the workflow already has one, or the name is taken.
   * @throws {RangeError} When `retries`, `backoff` or a timeout is out of range.
   */
  onSuccess<O extends JsonObject | void>(options: OnSuccessOptions<I, O>): TaskRef<O>;
}

/** A task as the worker needs it, validated and with defaults applied. Internal. */
export interface TaskDefinition {
  name: string;
  // deno-lint-ignore no-explicit-any
  fn: (input: any, ctx: any) => unknown;
  parents: string[];
  retries: number;
  backoff: BackoffOptions | undefined;
  executionTimeout: string;
  scheduleTimeout: string;
  skipIf: TaskCondition[] | undefined;
  waitFor: TaskCondition[] | undefined;
  cancelIf: TaskCondition[] | undefined;
  durable: boolean;
  concurrency: ConcurrencyInput[];
  rateLimits: RateLimitInput[];
  desiredLabels: Record<string, DesiredLabelInput> | undefined;
  slotCost: number;
  /** Durable tasks only; `undefined` never evicts. */
  evictionPolicy: ResolvedEvictionPolicy | undefined;
}

/** A workflow as the worker needs it. Internal. */
export interface WorkflowDefinition {
  name: string;
  description: string;
  onEvents: string[];
  onCrons: string[];
  cronInput: JsonObject | undefined;
  tasks: TaskDefinition[];
  onFailure: TaskDefinition | undefined;
  onSuccess: TaskDefinition | undefined;
  concurrency: ConcurrencyInput[];
  sticky: StickyStrategy | undefined;
  defaultPriority: number | undefined;
  version: string;
}

/** The default `executionTimeout`. */
export const DEFAULT_EXECUTION_TIMEOUT = "60s";
/** The default `scheduleTimeout`. */
export const DEFAULT_SCHEDULE_TIMEOUT = "5m";
/** The default on-failure task name. */
export const DEFAULT_ON_FAILURE_NAME = "on-failure-task";
/** The default on-success task name. */
export const DEFAULT_ON_SUCCESS_NAME = "on-success-task";

// deno-lint-ignore no-explicit-any
const definitions = new WeakMap<Workflow<any>, WorkflowDefinition>();

/**
 * The validated definition behind a workflow declaration. Internal to the worker.
 *
 * @param wf A workflow from {@link workflow}.
 * @returns Its definition.
 * @throws {TypeError} When `wf` was not made by {@link workflow}.
 */
// deno-lint-ignore no-explicit-any
export function definitionOf(wf: Workflow<any>): WorkflowDefinition {
  const def = definitions.get(wf);
  if (!def) {
    throw new TypeError(
      `Expected a workflow made by workflow(), received ${describe(wf)}`,
    );
  }
  return def;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object") {
    const name = (value as { name?: unknown }).name;
    return typeof name === "string" ? `an object named ${JSON.stringify(name)}` : "an object";
  }
  return String(value);
}

function requireName(value: unknown, what: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(`${what} must be a non-empty string, received ${describe(value)}`);
  }
  return value;
}

function durationOption(
  value: DurationInput | undefined,
  fallback: string,
  what: string,
): string {
  if (value === undefined) return fallback;
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new RangeError(`${what}: ${(err as Error).message}`);
  }
  if (ms <= 0) {
    throw new RangeError(`${what} must be positive, received ${JSON.stringify(value)}`);
  }
  return formatDuration(ms);
}

/**
 * Declares a workflow. Add tasks with `.task()`, `.durableTask()` and `.onFailure()`; parents must
 * be declared before their children, so a workflow is always a DAG.
 *
 * @param options The workflow's name, the event keys that trigger it and a description.
 * @returns The declaration.
 * @throws {TypeError} When the name is empty or `onEvents` is not an array of non-empty strings.
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const greet = workflow<{ name: string }>({ name: "greet" });
 * const hello = greet.task({ name: "hello", fn: (input) => ({ text: `Hello, ${input.name}` }) });
 * greet.task({
 *   name: "shout",
 *   parents: [hello],
 *   fn: (_input, ctx) => ({ text: ctx.taskOutput(hello).text.toUpperCase() }),
 * });
 *
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [greet] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(greet, { name: "Ada" });
 * const result = await run.result();
 * assert.deepEqual(result.outputs.shout, { text: "HELLO, ADA" });
 * ```
 */
export function workflow<I extends JsonObject = JsonObject>(options: WorkflowOptions): Workflow<I> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`workflow() expects an options object, received ${describe(options)}`);
  }
  const name = requireName(options.name, "Workflow name");
  const onEvents = options.onEvents ?? [];
  if (!Array.isArray(onEvents)) {
    throw new TypeError(
      `Workflow "${name}": onEvents must be an array of event keys, received ${describe(onEvents)}`,
    );
  }
  for (const key of onEvents) requireName(key, `Workflow "${name}": every onEvents key`);
  const onCrons = options.onCrons ?? [];
  if (!Array.isArray(onCrons)) {
    throw new TypeError(
      `Workflow "${name}": onCrons must be an array of cron expressions, received ${
        describe(onCrons)
      }`,
    );
  }
  for (const cron of onCrons) {
    try {
      parseCron(cron);
    } catch (err) {
      throw new (err instanceof RangeError ? RangeError : TypeError)(
        `Workflow "${name}": ${(err as Error).message}`,
      );
    }
  }
  const cronInput = options.cronInput;
  if (
    cronInput !== undefined &&
    (cronInput === null || typeof cronInput !== "object" || Array.isArray(cronInput))
  ) {
    throw new TypeError(
      `Workflow "${name}": cronInput must be a JSON object, received ${describe(cronInput)}`,
    );
  }
  if (options.description !== undefined && typeof options.description !== "string") {
    throw new TypeError(
      `Workflow "${name}": description must be a string, received ${describe(options.description)}`,
    );
  }

  const wfWhat = `Workflow "${name}"`;
  if (options.version !== undefined && typeof options.version !== "string") {
    throw new TypeError(
      `${wfWhat}: version must be a string, received ${describe(options.version)}`,
    );
  }
  const defaults = taskDefaultsOf(options.taskDefaults, `${wfWhat}: taskDefaults`);
  const def: WorkflowDefinition = {
    name,
    description: options.description ?? "",
    onEvents: [...onEvents],
    onCrons: [...onCrons],
    cronInput: cronInput && structuredClone(cronInput),
    tasks: [],
    onFailure: undefined,
    onSuccess: undefined,
    concurrency: validateConcurrency(options.concurrency, `${wfWhat}: concurrency`),
    sticky: validateSticky(options.sticky, `${wfWhat}: sticky`),
    defaultPriority: validatePriority(options.defaultPriority, `${wfWhat}: defaultPriority`),
    version: options.version ?? "",
  };
  const refs = new WeakSet<TaskRef<unknown>>();
  const taken = new Set<string>();

  function define(
    raw: TaskOptions<unknown, unknown, unknown> | undefined,
    kind: "task" | "durableTask" | "onFailure" | "onSuccess",
  ): TaskDefinition {
    if (raw === null || typeof raw !== "object") {
      throw new TypeError(
        `Workflow "${name}": ${kind}() expects an options object, received ${describe(raw)}`,
      );
    }
    const taskName = kind === "onFailure" && raw.name === undefined
      ? DEFAULT_ON_FAILURE_NAME
      : kind === "onSuccess" && raw.name === undefined
      ? DEFAULT_ON_SUCCESS_NAME
      : requireName(raw.name, `Workflow "${name}": task name`);
    const what = `Task "${taskName}" in workflow "${name}"`;
    if (taken.has(taskName)) {
      throw new TypeError(`${what}: the name is already used by another task of this workflow`);
    }
    // The engine lower-cases action ids, so names that differ only in case would share one.
    const clash = [...taken].find((other) => other.toLowerCase() === taskName.toLowerCase());
    if (clash !== undefined) {
      throw new TypeError(
        `${what}: the name differs only in case from task "${clash}", and the engine lower-cases task names in action ids`,
      );
    }
    if (typeof raw.fn !== "function") {
      throw new TypeError(`${what}: fn must be a function, received ${describe(raw.fn)}`);
    }

    const parents: string[] = [];
    if (raw.parents !== undefined) {
      if (!Array.isArray(raw.parents)) {
        throw new TypeError(`${what}: parents must be an array, received ${describe(raw.parents)}`);
      }
      for (const parent of raw.parents) {
        if (parent === null || typeof parent !== "object" || typeof parent.name !== "string") {
          throw new TypeError(
            `${what}: every parent must be a task reference, received ${describe(parent)}`,
          );
        }
        if (parent.workflow !== name) {
          throw new TypeError(
            `${what}: parent "${parent.name}" belongs to workflow "${parent.workflow}"; parents must be tasks of the same workflow`,
          );
        }
        if (parent.name === taskName) {
          throw new TypeError(`${what}: a task cannot be its own parent (that would be a cycle)`);
        }
        if (!refs.has(parent)) {
          throw new TypeError(
            `${what}: parent "${parent.name}" is not a task declared earlier in this workflow; declare parents before their children (cycles cannot be declared)`,
          );
        }
        if (parents.includes(parent.name)) {
          throw new TypeError(`${what}: parent "${parent.name}" is listed twice`);
        }
        parents.push(parent.name);
      }
    }

    const retries = raw.retries ?? defaults.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0) {
      throw new RangeError(
        `${what}: retries must be a non-negative integer, received ${describe(retries)}`,
      );
    }
    let backoff: BackoffOptions | undefined;
    const rawBackoff = raw.backoff ?? defaults.backoff;
    if (rawBackoff !== undefined) {
      const { factor, maxSeconds } = rawBackoff ?? {};
      if (typeof factor !== "number" || !Number.isFinite(factor) || factor <= 0) {
        throw new RangeError(
          `${what}: backoff.factor must be a positive number, received ${describe(factor)}`,
        );
      }
      if (!Number.isInteger(maxSeconds) || (maxSeconds as number) <= 0) {
        throw new RangeError(
          `${what}: backoff.maxSeconds must be a positive integer, received ${
            describe(maxSeconds)
          }`,
        );
      }
      backoff = { factor, maxSeconds };
    }

    const executionTimeout = durationOption(
      raw.executionTimeout ?? defaults.executionTimeout,
      DEFAULT_EXECUTION_TIMEOUT,
      `${what}: executionTimeout`,
    );
    const scheduleTimeout = durationOption(
      raw.scheduleTimeout ?? defaults.scheduleTimeout,
      DEFAULT_SCHEDULE_TIMEOUT,
      `${what}: scheduleTimeout`,
    );

    const copy = (list: TaskCondition[] | undefined, key: string) => {
      if (list !== undefined && !Array.isArray(list)) {
        throw new TypeError(`${what}: ${key} must be an array, received ${describe(list)}`);
      }
      return list === undefined ? undefined : [...list];
    };
    const skipIf = copy(raw.skipIf, "skipIf");
    const waitFor = copy(raw.waitFor, "waitFor");
    const cancelIf = copy(raw.cancelIf, "cancelIf");
    try {
      // Converting once here surfaces bad conditions at declaration instead of at start().
      toTaskConditions({ skipIf, waitFor }, "");
      toTaskConditions({ skipIf: cancelIf }, "");
    } catch (err) {
      throw new TypeError(`${what}: ${(err as Error).message}`);
    }
    const allConditions = [...(skipIf ?? []), ...(waitFor ?? []), ...(cancelIf ?? [])];
    for (const condition of flattenConditions(allConditions)) {
      if (condition instanceof ParentCondition && !parents.includes(condition.parent.name)) {
        throw new TypeError(
          `${what}: a ParentCondition names "${condition.parent.name}", which is not among this task's parents`,
        );
      }
    }

    const concurrency = validateConcurrency(raw.concurrency, `${what}: concurrency`);
    const rateLimits = validateRateLimits(raw.rateLimits, `${what}: rateLimits`);
    const desiredLabels = validateDesiredLabels(
      raw.desiredWorkerLabels,
      `${what}: desiredWorkerLabels`,
    );
    let slotCost = 1;
    if (raw.slotCost !== undefined) {
      if (!Number.isInteger(raw.slotCost) || raw.slotCost <= 0) {
        throw new RangeError(
          `${what}: slotCost must be a positive integer, received ${describe(raw.slotCost)}`,
        );
      }
      slotCost = raw.slotCost;
    }

    taken.add(taskName);
    return {
      name: taskName,
      fn: raw.fn as TaskDefinition["fn"],
      parents,
      retries,
      backoff,
      executionTimeout,
      scheduleTimeout,
      skipIf,
      waitFor,
      cancelIf,
      durable: kind === "durableTask",
      concurrency,
      rateLimits,
      desiredLabels,
      slotCost,
      evictionPolicy: kind === "durableTask"
        ? resolveEvictionPolicy((raw as DurableTaskOptions<unknown, unknown>).evictionPolicy, what)
        : undefined,
    };
  }

  function refFor<O>(task: TaskDefinition): TaskRef<O> {
    const ref: TaskRef<O> = Object.freeze({ name: task.name, workflow: name });
    refs.add(ref);
    return ref;
  }

  const wf: Workflow<I> = {
    name,
    task<O extends JsonObject | void>(taskOptions: TaskOptions<I, O, Context<I>>): TaskRef<O> {
      const task = define(taskOptions as TaskOptions<unknown, unknown, unknown>, "task");
      def.tasks.push(task);
      return refFor<O>(task);
    },
    durableTask<O extends JsonObject | void>(
      taskOptions: DurableTaskOptions<I, O>,
    ): TaskRef<O> {
      const task = define(taskOptions as TaskOptions<unknown, unknown, unknown>, "durableTask");
      def.tasks.push(task);
      return refFor<O>(task);
    },
    onFailure<O extends JsonObject | void>(taskOptions: OnFailureOptions<I, O>): TaskRef<O> {
      if (def.onFailure) {
        throw new TypeError(
          `Workflow "${name}" already has an on-failure task ("${def.onFailure.name}")`,
        );
      }
      if (taskOptions !== null && typeof taskOptions === "object") {
        for (const key of ["parents", "skipIf", "waitFor", "cancelIf"] as const) {
          if (key in taskOptions) {
            throw new TypeError(
              `Workflow "${name}": the on-failure task cannot have ${key}; it runs after any task fails`,
            );
          }
        }
      }
      const task = define(taskOptions as TaskOptions<unknown, unknown, unknown>, "onFailure");
      def.onFailure = task;
      return refFor<O>(task);
    },
    onSuccess<O extends JsonObject | void>(taskOptions: OnSuccessOptions<I, O>): TaskRef<O> {
      if (def.onSuccess) {
        throw new TypeError(
          `Workflow "${name}" already has an on-success task ("${def.onSuccess.name}")`,
        );
      }
      if (taskOptions !== null && typeof taskOptions === "object") {
        for (const key of ["parents", "skipIf", "waitFor", "cancelIf"] as const) {
          if (key in taskOptions) {
            throw new TypeError(
              `Workflow "${name}": the on-success task cannot have ${key}; it runs after every other task completed`,
            );
          }
        }
      }
      const task = define(taskOptions as TaskOptions<unknown, unknown, unknown>, "onSuccess");
      def.onSuccess = task;
      // Not added to the references parents may name: its parents are computed from the others.
      return Object.freeze({ name: task.name, workflow: name });
    },
  };
  definitions.set(wf, def);
  return wf;
}

function taskDefaultsOf(value: TaskDefaults | undefined, what: string): TaskDefaults {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`${what} must be an object, received ${describe(value)}`);
  }
  const known = ["retries", "backoff", "executionTimeout", "scheduleTimeout"];
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `${what}: unknown option ${JSON.stringify(key)}; expected one of ${known.join(", ")}`,
      );
    }
  }
  return value;
}

function* flattenConditions(conditions: readonly TaskCondition[]): Generator<unknown> {
  for (const condition of conditions) {
    if (condition && typeof condition === "object" && "conditions" in condition) {
      yield* condition.conditions;
    } else yield condition;
  }
}
