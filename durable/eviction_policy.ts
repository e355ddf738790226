import { parseDuration } from "../transport/duration.ts";
import { describeValue } from "../transport/describe.ts";
import type { DurationInput } from "../transport/types.ts";

/**
 * When the worker may evict a durable task that is blocked on the engine (a wait, a sleep, a
 * child's result): it tells the engine (`evict_invocation`), frees the durable slot and the
 * attempt's memory, and reports nothing else. When what the task waits for happens, the engine
 * re-assigns it (to any worker) with the next invocation count, and it replays from the start:
 * every recorded wait, memo and child answers at once. Only on engines with the durable event
 * log (v0.80.0 or newer); ignored on the legacy path.
 *
 * @example
 * ```ts
 * import { type EvictionPolicy, workflow } from "@hatchet-deno/sdk";
 *
 * const evictQuickly: EvictionPolicy = { ttl: "30s", allowCapacityEviction: true, priority: 1 };
 * const wf = workflow({ name: "approvals" });
 * wf.durableTask({
 *   name: "await-approval",
 *   evictionPolicy: evictQuickly,
 *   fn: async (_input, ctx) => ({ approved: await ctx.waitForEvent("approval:granted") }),
 * });
 * ```
 */
export interface EvictionPolicy {
  /** Evict once the task has been waiting this long; default `"15m"`. */
  ttl?: DurationInput;
  /**
   * Whether the task may be evicted, after 10 s of waiting, when waiting tasks hold every
   * durable slot of the worker; default `true`.
   */
  allowCapacityEviction?: boolean;
  /** Lower is evicted first; default 0. */
  priority?: number;
}

/** An {@link EvictionPolicy} with its defaults applied. */
export interface ResolvedEvictionPolicy {
  ttlMs: number;
  allowCapacityEviction: boolean;
  priority: number;
}

/** The policy of a durable task that declares none (as the official SDKs). */
export const DEFAULT_EVICTION_POLICY: Readonly<Required<EvictionPolicy>> = Object.freeze({
  ttl: "15m",
  allowCapacityEviction: true,
  priority: 0,
});

/**
 * Checks a task's `evictionPolicy` and applies the defaults: `undefined` is
 * {@link DEFAULT_EVICTION_POLICY}, `false` never evicts (returns `undefined`).
 *
 * @param policy The declared policy.
 * @param what Names the task in error messages.
 * @returns The resolved policy, or `undefined` for `false`.
 * @throws {TypeError} When the policy is not an object or `false`, or a field has the wrong type.
 * @throws {RangeError} When `ttl` does not parse.
 * @example
 * ```ts
 * import { resolveEvictionPolicy } from "./eviction_policy.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(resolveEvictionPolicy({ ttl: "1m" }, "task"), {
 *   ttlMs: 60_000,
 *   allowCapacityEviction: true,
 *   priority: 0,
 * });
 * assert.equal(resolveEvictionPolicy(false, "task"), undefined);
 * ```
 */
export function resolveEvictionPolicy(
  policy: EvictionPolicy | false | undefined,
  what: string,
): ResolvedEvictionPolicy | undefined {
  if (policy === false) return undefined;
  const p = policy ?? DEFAULT_EVICTION_POLICY;
  if (p === null || typeof p !== "object" || Array.isArray(p)) {
    throw new TypeError(
      `${what}: evictionPolicy must be an object or false, received ${describeValue(p)}`,
    );
  }
  let ttlMs: number;
  try {
    ttlMs = parseDuration(p.ttl ?? DEFAULT_EVICTION_POLICY.ttl);
  } catch (err) {
    throw new RangeError(`${what}: evictionPolicy.ttl: ${(err as Error).message}`);
  }
  const allow = p.allowCapacityEviction ?? true;
  if (typeof allow !== "boolean") {
    throw new TypeError(
      `${what}: evictionPolicy.allowCapacityEviction must be a boolean, received ${
        describeValue(allow)
      }`,
    );
  }
  const priority = p.priority ?? 0;
  if (typeof priority !== "number" || !Number.isFinite(priority)) {
    throw new TypeError(
      `${what}: evictionPolicy.priority must be a finite number, received ${
        describeValue(priority)
      }`,
    );
  }
  return { ttlMs, allowCapacityEviction: allow, priority };
}
