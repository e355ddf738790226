import type { Context } from "../context/context.ts";
import type { DurableConditionsInput, DurablePort } from "../transport/ports.ts";
import { isTransient } from "../transport/rpc_error.ts";
import type { DurationInput, JsonObject, JsonValue } from "../transport/types.ts";
import { describeValue } from "../transport/describe.ts";
import { backoffDelay, sleep } from "../transport/retry.ts";
import { SleepCondition, type WaitCondition } from "./conditions.ts";
import type { DurableListener } from "./durable_listener.ts";
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

/**
 * The context of a durable task: a {@link Context} plus waits that the engine tracks, so they
 * survive retries (a retried attempt replays finished waits at once).
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
   * Registers a wait keyed by `signalKey` and resolves once the engine reports it satisfied:
   * every condition given separately must hold; the members of one `or()` are alternatives.
   * Re-using a key within a task run returns the first result again at once.
   *
   * @param signalKey A key unique to this wait within the task run.
   * @param conditions Sleeps, user events, `or()` groups; at least one.
   * @returns The satisfying data, by action and readable data key.
   * @throws {TypeError} When `signalKey` is empty, no condition is given, or one is a `ParentCondition`.
   * @throws {RpcError} When the engine rejects the registration (e.g. `not_found`), or stays unreachable.
   * @throws {TaskCancelledError} (the signal's reason) When the run is cancelled during the wait.
   */
  waitFor(signalKey: string, ...conditions: WaitCondition[]): Promise<DurableWaitResult>;
  /**
   * Sleeps for `duration` in the engine: the attempt's `n`-th sleep uses the signal key
   * `sleep:<duration>-<n>`, so a retried attempt skips the sleeps that already finished.
   *
   * @param duration `"90s"`, `"5m"`, `"24h"`, ... or milliseconds.
   * @returns `{ CREATE: { "sleep:<duration>": [{ sleep_duration: "<duration>" }] } }`.
   * @throws {RangeError} When `duration` does not parse.
   * @throws {TaskCancelledError} (the signal's reason) When the run is cancelled during the sleep.
   */
  sleepFor(duration: DurationInput): Promise<DurableWaitResult>;
}

/** What {@link createDurableContext} needs besides the base context. */
export interface DurableContextDeps {
  /** The worker's shared listener. */
  listener: DurableListener;
  /** The durable RPCs. */
  port: DurablePort;
  /** The client's namespace (`""` for none), prefixed to event keys. */
  namespace: string;
  /** Retries of a transient `RegisterDurableEvent` failure; defaults 5 attempts, 200 ms doubling to 5 000 ms. */
  retry?: { attempts?: number; initialMs?: number; maxMs?: number };
  /**
   * Called as a wait starts (after its arguments were checked); the function it returns is called
   * once the wait ends, with the error when it failed. The worker's tracing and metrics use it.
   */
  observeWait?: (signalKey: string) => (error?: unknown) => void;
}

const REGISTER_TIMEOUT_MS = 5_000;

/**
 * Builds the context a durable task receives for one attempt: `base` plus `waitFor` and
 * `sleepFor`. Build one per attempt (the sleep counter restarts at 0, which is what makes a
 * retried attempt replay its finished sleeps).
 *
 * @param base The attempt's plain-object context.
 * @param deps The worker's listener, the durable port and the namespace.
 * @returns A plain object with every field of `base`, `waitFor` and `sleepFor`.
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
  const { listener, port, namespace } = deps;
  const attempts = deps.retry?.attempts ?? 5;
  const initialMs = deps.retry?.initialMs ?? 200;
  const maxMs = deps.retry?.maxMs ?? 5_000;
  let sleepIndex = 0;

  async function register(
    signalKey: string,
    conditions: DurableConditionsInput,
    signal: AbortSignal,
  ): Promise<void> {
    const input = { taskId: base.taskRunId, signalKey, conditions };
    for (let attempt = 1;; attempt++) {
      try {
        await port.registerDurableEvent(input, { signal, timeoutMs: REGISTER_TIMEOUT_MS });
        return;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (!isTransient(err) || attempt >= attempts) throw err;
        await sleep(backoffDelay(attempt, initialMs, maxMs), signal);
      }
    }
  }

  async function waitFor(
    signalKey: string,
    ...conditions: WaitCondition[]
  ): Promise<DurableWaitResult> {
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
    if (deps.observeWait === undefined) return await wait(signalKey, wire);
    const ended = deps.observeWait(signalKey);
    try {
      const result = await wait(signalKey, wire);
      ended();
      return result;
    } catch (err) {
      ended(err);
      throw err;
    }
  }

  async function wait(
    signalKey: string,
    wire: DurableConditionsInput,
  ): Promise<DurableWaitResult> {
    // Register first, then subscribe: the engine answers a subscription with a completion that
    // happened before it (hatchet-protocol.md §6.3, "no ordering is required"), so nothing can
    // be missed, and a failed registration leaves no subscription to undo. That is also what
    // keeps a pending wait small: no per-wait AbortController or AbortSignal.any() (about 1 KB),
    // which matters to a worker holding thousands of waits.
    await register(signalKey, wire, base.signal);
    const events = listener.subscribe(base.taskRunId, signalKey, { signal: base.signal });
    try {
      const result = await events.next();
      if (result.done) {
        throw new Error(
          `Durable wait for signal key ${JSON.stringify(signalKey)} ended without a result`,
        );
      }
      return result.value as DurableWaitResult;
    } finally {
      await events.return();
    }
  }

  async function sleepFor(duration: DurationInput): Promise<DurableWaitResult> {
    const signalKey = sleepSignalKey(duration, sleepIndex);
    sleepIndex++;
    return await waitFor(signalKey, new SleepCondition(duration));
  }

  return { ...base, waitFor, sleepFor };
}
