// Flow control of the mock engine: concurrency groups, rate limits and worker ranking by labels
// and stickiness. Owns the state of groups and limits; _engine.ts asks it before it queues a task
// (concurrency), before it assigns one (rate limits) and which worker to pick (labels, sticky).
// The rules are the engine's (pkg/scheduling/v1: concurrency/strategy.go, rate_limit.go,
// scheduler.go rankWorkerIds, worker.go computeWeight).

import { isCelError, run } from "@bufbuild/cel";
import type { JsonObject, JsonValue } from "../transport/types.ts";

/** A `Concurrency` of a workflow or task. */
export interface ConcurrencySpec {
  /** Unique per declaration: groups are per (spec, key). */
  id: string;
  expression: string;
  maxRuns: number;
  strategy: "GROUP_ROUND_ROBIN" | "CANCEL_IN_PROGRESS" | "CANCEL_NEWEST";
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

interface Group {
  spec: ConcurrencySpec;
  running: Set<Holder>;
  /** Best first: priority, then oldest (newest for CANCEL_IN_PROGRESS). */
  queued: Holder[];
}

/** Evaluates a CEL expression to a value, with `input` and `additional_metadata` bound. */
export function celValue(
  expression: string,
  input: JsonObject,
  additionalMetadata: JsonObject | undefined,
): { value?: JsonValue; error?: string } {
  try {
    const result = run(expression, { input, additional_metadata: additionalMetadata ?? {} });
    if (isCelError(result)) return { error: result.message };
    if (typeof result === "bigint") return { value: Number(result) };
    if (
      typeof result === "string" || typeof result === "number" || typeof result === "boolean"
    ) return { value: result };
    return { error: `the expression gave ${typeof result}, not a string or number` };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** Concurrency groups per (spec, key): admission, queueing and cancellation by strategy. */
export class ConcurrencyGroups {
  #groups = new Map<string, Group>();
  #held = new Map<Holder, Set<Group>>();

  /** Puts `holder` into the group of `spec` and `key`; it is admitted, waits or is cancelled. */
  enter(spec: ConcurrencySpec, key: string, holder: Holder): void {
    const id = `${spec.id}\u0000${key}`;
    let group = this.#groups.get(id);
    if (!group) {
      group = { spec, running: new Set(), queued: [] };
      this.#groups.set(id, group);
    }
    let held = this.#held.get(holder);
    if (!held) this.#held.set(holder, held = new Set());
    held.add(group);
    insertSorted(group.queued, holder, spec.strategy === "CANCEL_IN_PROGRESS");
    this.#decide(group);
  }

  /** Frees every place `holder` has (running or queued) and lets the next ones in. */
  release(holder: Holder): void {
    const groups = this.#held.get(holder);
    if (!groups) return;
    this.#held.delete(holder);
    for (const group of groups) {
      group.running.delete(holder);
      const i = group.queued.indexOf(holder);
      if (i >= 0) group.queued.splice(i, 1);
      this.#decide(group);
    }
  }

  /** Holders running and waiting per key, for inspection. */
  snapshot(): { key: string; running: number; queued: number }[] {
    return [...this.#groups.entries()].map(([id, g]) => ({
      key: id.slice(id.indexOf("\u0000") + 1),
      running: g.running.size,
      queued: g.queued.length,
    }));
  }

  #decide(group: Group): void {
    const { maxRuns, strategy } = group.spec;
    const admitted: Holder[] = [];
    const cancelled: Holder[] = [];
    let next = 0;
    while (next < group.queued.length && group.running.size < maxRuns) {
      const h = group.queued[next++];
      group.running.add(h);
      admitted.push(h);
    }
    if (strategy === "CANCEL_NEWEST") {
      cancelled.push(...group.queued.slice(next));
      next = group.queued.length;
    } else if (strategy === "CANCEL_IN_PROGRESS") {
      // At capacity, a better waiting holder (higher priority, or same priority and newer)
      // evicts the worst running one; the first that cannot, and all after it, are cancelled.
      while (next < group.queued.length) {
        const candidate = group.queued[next];
        const worst = worstRunning(group.running);
        if (worst && better(candidate, worst)) {
          group.running.delete(worst);
          cancelled.push(worst);
          group.running.add(candidate);
          admitted.push(candidate);
          next++;
          continue;
        }
        cancelled.push(...group.queued.slice(next));
        next = group.queued.length;
      }
    }
    if (next > 0) group.queued.splice(0, next);
    for (const h of cancelled) this.#held.get(h)?.delete(group);
    // Callbacks last: they may re-enter (a cancel frees the run's other places).
    for (const h of admitted) h.admit();
    for (const h of cancelled) {
      this.release(h);
      h.cancel();
    }
  }
}

function better(a: Holder, b: Holder): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq > b.seq;
}

function worstRunning(running: Set<Holder>): Holder | undefined {
  let worst: Holder | undefined;
  for (const h of running) if (!worst || better(worst, h)) worst = h;
  return worst;
}

function insertSorted(queue: Holder[], holder: Holder, newestFirst: boolean): void {
  let lo = 0;
  let hi = queue.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const q = queue[mid];
    const before = q.priority !== holder.priority
      ? q.priority > holder.priority
      : newestFirst
      ? q.seq > holder.seq
      : q.seq < holder.seq;
    if (before) lo = mid + 1;
    else hi = mid;
  }
  queue.splice(lo, 0, holder);
}

/** The engine's windows by `RateLimitDuration` number, in ms (a month 30 days, a year 365). */
export const WINDOW_MS: readonly number[] = [
  1_000,
  60_000,
  3_600_000,
  86_400_000,
  7 * 86_400_000,
  30 * 86_400_000,
  365 * 86_400_000,
];

interface Limit {
  limit: number;
  value: number;
  windowMs: number;
  lastRefill: number;
}

/** Rate limits by key: units taken at assignment, refilled in full once per window. */
export class RateLimits {
  #limits = new Map<string, Limit>();

  /** `PutRateLimit` / a dynamic limit's upsert: what is left never exceeds the new limit. */
  put(key: string, limit: number, windowMs: number, now: number): void {
    const old = this.#limits.get(key);
    if (!old) {
      this.#limits.set(key, { limit, value: limit, windowMs, lastRefill: now });
      return;
    }
    old.limit = limit;
    old.windowMs = windowMs;
    old.value = Math.min(old.value, limit);
  }

  has(key: string): boolean {
    return this.#limits.has(key);
  }

  /**
   * Takes `units` of every key at once, or nothing. Returns `true`, or when it cannot: the time
   * the blocking key refills (`undefined` when a key does not exist yet).
   */
  take(units: Map<string, number>, now: number): true | { retryAt: number | undefined } {
    for (const [key, n] of units) {
      const l = this.#limits.get(key);
      if (!l) return { retryAt: undefined };
      if (now - l.lastRefill >= l.windowMs) {
        l.value = l.limit;
        l.lastRefill = now;
      }
      if (l.value < n) return { retryAt: l.lastRefill + l.windowMs };
    }
    for (const [key, n] of units) this.#limits.get(key)!.value -= n;
    return true;
  }

  /** Current values, for inspection. */
  snapshot(): { key: string; limit: number; value: number; windowMs: number }[] {
    return [...this.#limits.entries()].map(([key, l]) => ({
      key,
      limit: l.limit,
      value: l.value,
      windowMs: l.windowMs,
    }));
  }
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

/** The engine's computeWeight: the sum of matched weights, or -1 when a required one fails. */
export function labelWeight(
  desired: readonly DesiredLabel[],
  labels: Record<string, string | number>,
): number {
  let total = 0;
  for (const d of desired) {
    const have = labels[d.key];
    if (have === undefined) {
      if (d.required) return -1;
      continue;
    }
    const str = typeof have === "string" ? have : undefined;
    const int = typeof have === "number" ? have : undefined;
    let met = false;
    switch (d.comparator) {
      case "EQUAL":
        met = (d.strValue !== undefined && str === d.strValue) ||
          (d.intValue !== undefined && int === d.intValue);
        break;
      case "NOT_EQUAL":
        met = (d.strValue !== undefined && str !== undefined && str !== d.strValue) ||
          (d.intValue !== undefined && int !== undefined && int !== d.intValue);
        break;
      case "GREATER_THAN":
        met = d.intValue !== undefined && int !== undefined && int > d.intValue;
        break;
      case "GREATER_THAN_OR_EQUAL":
        met = d.intValue !== undefined && int !== undefined && int >= d.intValue;
        break;
      case "LESS_THAN":
        met = d.intValue !== undefined && int !== undefined && int < d.intValue;
        break;
      case "LESS_THAN_OR_EQUAL":
        met = d.intValue !== undefined && int !== undefined && int <= d.intValue;
        break;
    }
    if (met) total += d.weight;
    else if (d.required) return -1;
  }
  return total;
}
