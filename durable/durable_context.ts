import type { Context } from "../context/context.ts";
import type { DurablePort } from "../transport/ports.ts";
import { applyNamespace } from "../transport/config.ts";
import { parseDuration } from "../transport/duration.ts";
import type { DurationInput, JsonObject, JsonValue } from "../transport/types.ts";
import { describeValue } from "../transport/describe.ts";
import { SleepCondition, UserEventCondition, type WaitCondition } from "./conditions.ts";
import type { DurableChildHandle, DurableRun } from "./durable_path.ts";
import type { ChildOptions, ChildSpawn, RunRef, RunResult, WorkflowRef } from "../runs/types.ts";
import {
  createLegacyRun,
  type DurableListener,
  type LegacyRetryOptions,
} from "./legacy_listener.ts";
import { sleepSignalKey } from "./signal_key.ts";
import { toDurableConditions } from "./to_conditions.ts";

/**
 * What a durable wait resolves with: action (always `"CREATE"` for durable waits) to readable
 * data key to the data of each satisfied condition with that key, e.g.
 * `{ CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } }`. A sleep's data is
 * `{ sleep_duration }`, a user event's data is the event's payload.
 *
 * @example
 * ```ts
 * import {
 *   createWorker,
 *   type DurableWaitResult,
 *   UserEventCondition,
 *   workflow,
 * } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "approval" });
 * wf.durableTask({
 *   name: "wait",
 *   fn: async (_input, ctx) => {
 *     const result: DurableWaitResult = await ctx.waitFor(
 *       "approved",
 *       new UserEventCondition("order:approved"),
 *     );
 *     return { by: result.CREATE["order:approved"][0] };
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * await engine.settle(); // the wait is registered
 * await engine.client.events.push("order:approved", { approver: "bob" });
 * assert.deepEqual((await run.result()).outputs.wait, { by: { approver: "bob" } });
 * ```
 */
export type DurableWaitResult = { [action: string]: { [readableDataKey: string]: JsonValue[] } };

/** Options of {@link DurableContext.waitForEvent}. */
export interface WaitForEventOptions {
  /** CEL over `input` (the event's payload); the wait ends on the first event it accepts. */
  expression?: string;
  /** Only events pushed with this scope match. */
  scope?: string;
  /**
   * Events pushed up to this long before the wait also match (needs `scope`, as the engine
   * honours a lookback only for scoped waits). Measured from {@link DurableContext.now}.
   */
  lookback?: DurationInput;
}

/**
 * The context of a durable task: a {@link Context} plus operations the engine records in the
 * task's event log, so that a later invocation (a retry, or a restore after eviction) replays
 * them: finished waits, memoized values and spawned children answer at once.
 *
 * Engines from v0.80.0 serve them over the `DurableTask` event log; older ones over the legacy
 * `RegisterDurableEvent` path, where `waitFor` and `sleepFor` replay by signal key, `memo` and
 * `now` are not recorded, and children and eviction are not available.
 *
 * A durable task must issue its durable calls in the same order on every invocation: a
 * different call at a recorded position rejects with {@link NonDeterminismError}.
 *
 * @example
 * ```ts
 * import { createWorker, type DurableContext, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "reminder" });
 * wf.durableTask({
 *   name: "remind",
 *   executionTimeout: "48h", // the execution timeout keeps running during the sleep
 *   fn: async (_input, ctx: DurableContext) => {
 *     const slept = await ctx.sleepFor("24h"); // engine-side: survives worker restarts
 *     return { slept: slept.CREATE["sleep:24h"][0] };
 *   },
 * });
 * await using engine = new MockEngine(); // virtual clock: 24 hours pass in advance()
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * await engine.advance("24h");
 * assert.deepEqual((await run.result()).outputs.remind, { slept: { sleep_duration: "24h" } });
 * ```
 */
export interface DurableContext<I = JsonObject, L = unknown> extends Context<I, L> {
  /**
   * Registers a wait and resolves once the engine reports it satisfied: every condition given
   * separately must hold; the members of one `or()` are alternatives. On the legacy path
   * `signalKey` identifies the wait (re-using it returns the first result again); on the event
   * log the wait's position does, and `signalKey` only names it.
   *
   * @param signalKey A key naming this wait within the task run.
   * @param conditions Sleeps, user events, `or()` groups; at least one.
   * @returns The satisfying data, by action and readable data key.
   * @throws {TypeError} When `signalKey` is empty, no condition is given, or one is a `ParentCondition`.
   * @throws {NonDeterminismError} When a replay finds another operation at this position.
   * @throws {RpcError} When the engine rejects the registration (e.g. `not_found`), or stays unreachable.
   * @throws {TaskCancelledError} (the signal's reason) When the run is cancelled during the wait.
   */
  waitFor(signalKey: string, ...conditions: WaitCondition[]): Promise<DurableWaitResult>;
  /**
   * Sleeps for `duration` in the engine; a replay skips a sleep that already finished.
   *
   * @param duration `"90s"`, `"5m"`, `"24h"`, ... or milliseconds.
   * @returns `{ CREATE: { "sleep:<duration>": [{ sleep_duration: "<duration>" }] } }`.
   * @throws {RangeError} When `duration` does not parse.
   * @throws {TaskCancelledError} (the signal's reason) When the run is cancelled during the sleep.
   */
  sleepFor(duration: DurationInput): Promise<DurableWaitResult>;
  /**
   * Sleeps until `date` (engine time of {@link now}); a date in the past sleeps `"0s"`.
   *
   * @param date When to wake.
   * @returns As {@link sleepFor}, for the remaining duration.
   * @throws {TypeError} When `date` is not a valid `Date`.
   */
  sleepUntil(date: Date): Promise<DurableWaitResult>;
  /**
   * The current time, recorded on first use: every replay of the task gets the same value.
   * (Legacy path: the worker's clock, not recorded.)
   *
   * @returns The recorded time.
   */
  now(): Promise<Date>;
  /**
   * Waits for a user event and returns its payload.
   *
   * @param key The event key (namespaced like pushes).
   * @param options `expression`, `scope`, `lookback`.
   * @returns The payload of the event that ended the wait.
   * @throws {TypeError} When `key` is empty, or `lookback` comes without `scope`.
   * @throws {RangeError} When `lookback` does not parse.
   */
  waitForEvent(key: string, options?: WaitForEventOptions): Promise<JsonValue>;
  /**
   * Runs `fn` once per task run and records its JSON result; a replay returns the recorded
   * value without running `fn`. (Legacy path: runs `fn` every time.)
   *
   * @param key Names the value (part of the replay check).
   * @param fn Computes the value (JSON-serialisable).
   * @returns The value, computed or replayed.
   * @throws {TypeError} When `key` is empty, `fn` is not a function, or its result is not JSON.
   */
  memo<T extends JsonValue>(key: string, fn: () => T | Promise<T>): Promise<T>;
  /**
   * The engine's invocation count of this attempt: 1 for the first run, +1 per re-assignment
   * (retry, restore after eviction).
   */
  readonly invocationCount: number;
  /**
   * As {@link Context.spawnChild}, but on the event log the spawn is recorded (`trigger_runs`):
   * a replay gets the same child back instead of spawning another, and waiting for its result
   * is a durable wait (evictable, answered at once on replay). On the legacy path it is the
   * plain `Context.spawnChild`.
   */
  spawnChild<CI extends JsonObject>(
    workflow: WorkflowRef<CI> | string,
    input: CI,
    options?: ChildOptions,
  ): Promise<RunRef>;
  /** {@link spawnChild}, then the child's result (see {@link Context.runChild}). */
  runChild<CI extends JsonObject>(
    workflow: WorkflowRef<CI> | string,
    input: CI,
    options?: ChildOptions,
  ): Promise<RunResult>;
  /** Several {@link spawnChild} in one `trigger_runs`, in `items` order. */
  spawnChildren<CI extends JsonObject>(items: ChildSpawn<CI>[]): Promise<RunRef[]>;
  /** {@link spawnChildren}, then every child's result. */
  runChildren<CI extends JsonObject>(items: ChildSpawn<CI>[]): Promise<RunResult[]>;
}

/** What {@link createDurableContext} needs besides the base context. */
export type DurableContextDeps =
  & (
    | {
      /** The attempt bound to an engine path (see `DurablePath.open`). */
      run: DurableRun;
    }
    | {
      /** Legacy path: the worker's shared listener. */
      listener: DurableListener;
      /** Legacy path: the durable RPCs. */
      port: DurablePort;
      /** Retries of a transient `RegisterDurableEvent` failure; defaults 5 attempts, 200 ms doubling to 5 000 ms. */
      retry?: LegacyRetryOptions;
    }
  )
  & {
    /** The client's namespace (`""` for none), prefixed to event keys and child names. */
    namespace: string;
    /**
     * Called as a wait starts (after its arguments were checked); the function it returns is
     * called once the wait ends, with the error when it failed. The worker's tracing and metrics
     * use it.
     */
    observeWait?: (signalKey: string) => (error?: unknown) => void;
    /** A reference to run `id` (the client's runs); durable children's refs build on it. */
    runRef?: (id: string) => RunRef;
  };

/**
 * Builds the context a durable task receives for one attempt: `base` plus the durable
 * operations. Build one per attempt (counters restart at 0, which is what makes a replay
 * line up with the recorded one).
 *
 * @param base The attempt's plain-object context.
 * @param deps The attempt's engine path (or the legacy listener and port) and the namespace.
 * @returns A plain object with every field of `base` and the durable operations.
 * @example
 * ```ts
 * import { createDurableContext, createDurableListener } from "./mod.ts";
 * import type { Context } from "../context/context.ts";
 * import type { DurablePort } from "../transport/ports.ts";
 * import assert from "node:assert/strict";
 * const port: DurablePort = {
 *   registerDurableEvent: () => Promise.resolve(),
 *   async *listenForDurableEvent(requests) {
 *     for await (const { taskId, signalKey } of requests) {
 *       const data = { CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } };
 *       yield { taskId, signalKey, data: new TextEncoder().encode(JSON.stringify(data)) };
 *     }
 *   },
 * };
 * await using listener = createDurableListener(port);
 * const base = { taskRunId: "run-1", signal: new AbortController().signal } as Context;
 * const ctx = createDurableContext(base, { listener, port, namespace: "" });
 * assert.deepEqual(await ctx.sleepFor("10s"), { CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } });
 * ```
 */
export function createDurableContext<I, L>(
  base: Context<I, L>,
  deps: DurableContextDeps,
): DurableContext<I, L> {
  const { namespace } = deps;
  const run: DurableRun = "run" in deps ? deps.run : createLegacyRun(deps.listener, deps.port, {
    taskRunId: base.taskRunId,
    invocationCount: 1,
    signal: base.signal,
    retry: deps.retry,
  });
  let sleepIndex = 0;
  let childIndex = 0;

  // Not an async function: it hands back the path's promise, so a pending wait keeps one
  // suspended frame fewer (a worker may hold thousands). Errors still arrive as rejections.
  function waitFor(
    signalKey: string,
    ...conditions: WaitCondition[]
  ): Promise<DurableWaitResult> {
    try {
      if (typeof signalKey !== "string" || signalKey === "") {
        throw new TypeError(
          `Invalid signal key: expected a non-empty string, received ${describeValue(signalKey)}`,
        );
      }
      if (conditions.length === 0) {
        throw new TypeError(
          `Invalid wait for signal key ${
            JSON.stringify(signalKey)
          }: expected at least one condition, received none`,
        );
      }
      const wire = toDurableConditions(conditions, namespace);
      base.signal.throwIfAborted();
      const ended = deps.observeWait?.(signalKey);
      const waiting = run.wait(signalKey, wire, {
        description: `wait_for(${signalKey})`,
      }) as Promise<DurableWaitResult>;
      return ended === undefined ? waiting : observed(waiting, ended);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async function observed<T>(waiting: Promise<T>, ended: (error?: unknown) => void): Promise<T> {
    try {
      const result = await waiting;
      ended();
      return result;
    } catch (err) {
      ended(err);
      throw err;
    }
  }

  function sleepFor(duration: DurationInput): Promise<DurableWaitResult> {
    try {
      const signalKey = sleepSignalKey(duration, sleepIndex);
      sleepIndex++;
      return waitFor(signalKey, new SleepCondition(duration));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async function now(): Promise<Date> {
    base.signal.throwIfAborted();
    const value = await run.memo(
      "hatchet:now",
      () => Promise.resolve({ ts: new Date().toISOString() }),
      {
        description: "now()",
      },
    );
    const ts = (value as { ts?: unknown } | null)?.ts;
    const date = typeof ts === "string" ? new Date(ts) : new Date(NaN);
    if (Number.isNaN(date.getTime())) {
      throw new Error(
        `The recorded time of durable task run ${
          JSON.stringify(base.taskRunId)
        } is not a timestamp: ${JSON.stringify(value)}`,
      );
    }
    return date;
  }

  async function sleepUntil(date: Date): Promise<DurableWaitResult> {
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
      throw new TypeError(
        `Invalid wake time: expected a valid Date, received ${describeValue(date)}`,
      );
    }
    const current = await now();
    const ms = Math.max(0, Math.ceil((date.getTime() - current.getTime()) / 1000) * 1000);
    return await sleepFor(ms);
  }

  async function waitForEvent(key: string, options: WaitForEventOptions = {}): Promise<JsonValue> {
    if (typeof key !== "string" || key === "") {
      throw new TypeError(
        `Invalid event key: expected a non-empty string, received ${describeValue(key)}`,
      );
    }
    if (options.lookback !== undefined && options.scope === undefined) {
      throw new TypeError(
        `Invalid waitForEvent options for key ${
          JSON.stringify(key)
        }: lookback needs a scope, received lookback ${
          describeValue(options.lookback)
        } without one`,
      );
    }
    const lookbackMs = options.lookback === undefined ? undefined : parseDuration(options.lookback);
    const condition = new UserEventCondition(key, {
      expression: options.expression,
      scope: options.scope,
    });
    const wire = toDurableConditions([condition], namespace);
    if (lookbackMs !== undefined) {
      const since = new Date((await now()).getTime() - lookbackMs);
      wire.userEventConditions[0].considerEventsSince = since;
    }
    base.signal.throwIfAborted();
    const signalKey = `event:${key}-${sleepIndex++}`;
    const result = await run.wait(signalKey, wire, {
      description: `event(${key})`,
    }) as DurableWaitResult;
    return result.CREATE?.[condition.readableDataKey]?.[0] ?? null;
  }

  async function memo<T extends JsonValue>(key: string, fn: () => T | Promise<T>): Promise<T> {
    if (typeof key !== "string" || key === "") {
      throw new TypeError(
        `Invalid memo key: expected a non-empty string, received ${describeValue(key)}`,
      );
    }
    if (typeof fn !== "function") {
      throw new TypeError(
        `Invalid memo function for key ${JSON.stringify(key)}: expected a function, received ${
          describeValue(fn)
        }`,
      );
    }
    base.signal.throwIfAborted();
    return await run.memo(`memo:${key}`, async () => await fn(), {
      description: `memo(${key})`,
    }) as T;
  }

  function childTriggers(items: ChildSpawn<JsonObject>[]) {
    return items.map(({ workflow, input, options = {} }) => {
      const name = typeof workflow === "string" ? workflow : workflow?.name;
      if (typeof name !== "string" || name === "") {
        throw new TypeError(
          `Invalid child workflow: expected a workflow or a non-empty name, received ${
            describeValue(workflow)
          }`,
        );
      }
      if (input === null || typeof input !== "object" || Array.isArray(input)) {
        throw new TypeError(
          `Invalid input of child workflow ${JSON.stringify(name)}: expected an object, received ${
            describeValue(input)
          }`,
        );
      }
      return {
        name: applyNamespace(namespace, name),
        input: JSON.stringify(input),
        parentId: base.workflowRunId,
        parentTaskRunExternalId: base.taskRunId,
        childIndex: childIndex++,
        childKey: options.key,
        additionalMetadata: options.additionalMetadata &&
          JSON.stringify(options.additionalMetadata),
        priority: options.priority,
      };
    });
  }

  // The child's ref, whose result() first waits for the log entry (durably), then reads the
  // outcome in the client's usual shape.
  function childRef(handle: DurableChildHandle): RunRef {
    const ref = deps.runRef?.(handle.workflowRunId);
    if (ref === undefined) {
      throw new Error(
        `Durable task run ${
          JSON.stringify(base.taskRunId)
        } spawned child ${handle.workflowRunId}, but has no client to follow it with`,
      );
    }
    const durable: RunRef = Object.create(ref);
    Object.defineProperty(durable, "result", {
      value: async (options?: { signal?: AbortSignal }): Promise<RunResult> => {
        // A failed child also ends the wait; its error comes with the outcome below.
        await handle.result().catch(() => {});
        return await ref.result({ signal: options?.signal ?? base.signal });
      },
    });
    return durable;
  }

  async function spawnDurable(items: ChildSpawn<JsonObject>[]): Promise<RunRef[]> {
    if (run.path !== "event-log") {
      return await base.spawnChildren(items);
    }
    if (!Array.isArray(items) || items.length === 0) {
      throw new TypeError(
        `Invalid children: expected a non-empty array, received ${describeValue(items)}`,
      );
    }
    base.signal.throwIfAborted();
    const handles = await run.spawn(childTriggers(items));
    return handles.map(childRef);
  }

  async function spawnChild<CI extends JsonObject>(
    workflow: WorkflowRef<CI> | string,
    input: CI,
    options?: ChildOptions,
  ): Promise<RunRef> {
    const [ref] = await spawnDurable([{ workflow, input, options } as ChildSpawn<JsonObject>]);
    return ref;
  }

  async function runChild<CI extends JsonObject>(
    workflow: WorkflowRef<CI> | string,
    input: CI,
    options?: ChildOptions,
  ): Promise<RunResult> {
    return await (await spawnChild(workflow, input, options)).result({ signal: base.signal });
  }

  async function spawnChildren<CI extends JsonObject>(items: ChildSpawn<CI>[]): Promise<RunRef[]> {
    return await spawnDurable(items as ChildSpawn<JsonObject>[]);
  }

  async function runChildren<CI extends JsonObject>(items: ChildSpawn<CI>[]): Promise<RunResult[]> {
    const refs = await spawnDurable(items as ChildSpawn<JsonObject>[]);
    return await Promise.all(refs.map((ref) => ref.result({ signal: base.signal })));
  }

  return {
    ...base,
    waitFor,
    sleepFor,
    sleepUntil,
    now,
    waitForEvent,
    memo,
    invocationCount: run.invocationCount,
    spawnChild,
    runChild,
    spawnChildren,
    runChildren,
  };
}
