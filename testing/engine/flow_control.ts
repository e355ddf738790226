// FlowControl: owns the concurrency groups (per declaration and key: who runs, who waits),
// the rate limits (units left per key, refilled once per window) and the refill wake-ups. The
// queue asks it whether a task may join the queue (concurrency), whether it may be assigned now
// (rate limits), how a worker ranks for a task (desired labels, sticky) and tells it who got a
// sticky run; the attempts room tells it when a task finished, which frees its places. The rules
// are the engine's (pkg/scheduling/v1: concurrency/strategy.go, rate_limit.go, scheduler.go
// rankWorkerIds, worker.go computeWeight).

import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { JsonObject, JsonValue } from "../../transport/types.ts";
import type { Attempts } from "./attempts.ts";
import { invalid } from "./errors.ts";
import type { Queue } from "./queue.ts";
import type { Records } from "./records.ts";
import type {
  ConcurrencySpec,
  DesiredLabel,
  EngineState,
  Holder,
  TaskRun,
  WorkerState,
  WorkflowRun,
} from "./types.ts";

/** What the flow-control room uses of the other rooms. */
export interface FlowControlLinks {
  readonly queue: Pick<Queue, "push" | "requestSchedule">;
  readonly attempts: Pick<Attempts, "fail" | "cancel">;
  readonly records: Pick<Records, "note">;
}

/** Concurrency groups, rate limits and worker ranking. */
export class FlowControl {
  #state: EngineState;
  #links: FlowControlLinks;
  #groups = new ConcurrencyGroups();
  #rateLimits = new RateLimits();
  /** Refill times a rate-limited pass asked to be woken at. */
  #refillWakeups = new Set<number>();

  constructor(state: EngineState, links: FlowControlLinks) {
    this.#state = state;
    this.#links = links;
  }

  /**
   * Called when a task is queued (again): evaluates its rate-limit units once, and tells whether
   * it may join the queue now. When not, its run or the task itself waits for a concurrency
   * place, and the task is pushed to the queue once it has them all.
   */
  admit(task: TaskRun): boolean {
    if (task.rateUnits === undefined && task.def.rateLimits.length > 0) this.#rateUnits(task);
    const gate = task.run.gate;
    if (gate && !gate.admitted) {
      gate.deferred.push(task);
      return false;
    }
    return task.def.concurrency.length === 0 || this.#taskAdmitted(task);
  }

  /** Puts a new run of a workflow with concurrency limits in line for its places. */
  enterRun(run: WorkflowRun): void {
    const specs = run.version.concurrency;
    if (specs.length === 0) return;
    let admitted = 0;
    const holder: Holder = {
      seq: this.#state.seq++,
      priority: run.priority,
      admit: () => {
        admitted++;
        if (admitted < specs.length) return enter(specs[admitted]);
        const gate = run.gate!;
        gate.admitted = true;
        for (const task of gate.deferred.splice(0)) {
          if (task.status !== "QUEUED") continue;
          if (task.def.concurrency.length === 0 || this.#taskAdmitted(task)) {
            this.#links.queue.push(task);
          }
        }
        this.#state.activity++;
      },
      cancel: () => {
        this.#links.records.note(`run ${run.id} cancelled by its workflow's concurrency limit`);
        for (const task of run.tasks.values()) this.#links.attempts.cancel(task);
        this.#links.queue.requestSchedule();
      },
    };
    const enter = (spec: ConcurrencySpec) => {
      const key = celValue(spec.expression, run.input, run.additionalMetadata);
      if (key.error !== undefined) {
        this.#links.records.note(
          `concurrency expression ${
            JSON.stringify(spec.expression)
          } of run ${run.id} failed: ${key.error}`,
        );
      }
      this.#groups.enter(spec, String(key.value ?? ""), holder);
    };
    run.gate = { holder, admitted: false, deferred: [] };
    enter(specs[0]);
  }

  /** Frees the concurrency places a finished task (and, once all are done, its run) held. */
  release(task: TaskRun): void {
    if (task.gate) {
      const holder = task.gate.holder;
      task.gate = undefined;
      this.#groups.release(holder);
      this.#links.queue.requestSchedule();
    }
    const gate = task.run.gate;
    if (gate && [...task.run.tasks.values()].every(isFinal)) {
      task.run.gate = undefined;
      this.#groups.release(gate.holder);
      this.#links.queue.requestSchedule();
    }
  }

  /**
   * Takes the task's rate-limit units, all or none; false when a key has too few left (the
   * scheduler is woken when it refills).
   */
  take(task: TaskRun): boolean {
    if (!task.rateUnits || task.rateUnits.size === 0) return true;
    const taken = this.#rateLimits.take(task.rateUnits, this.#state.clock.now());
    if (taken === true) return true;
    if (taken.retryAt !== undefined) this.#wakeAtRefill(taken.retryAt);
    return false;
  }

  /**
   * The engine's rankWorkerIds: a sticky run's worker ranks 1 (soft) or is the only candidate
   * (hard); otherwise desired labels score each worker, and -1 (a required label unmet)
   * excludes it.
   */
  rank(task: TaskRun, worker: WorkerState): number {
    const run = task.run;
    const sticky = run.version.sticky;
    if (sticky !== undefined && run.desiredWorkerId !== undefined) {
      if (worker.id === run.desiredWorkerId) return 1;
      return sticky === "HARD" ? -1 : 0;
    }
    const labels = run.labelOverrides ?? task.def.desiredLabels;
    return labels.length === 0 ? 0 : labelWeight(labels, worker.labels);
  }

  /**
   * Whether the task's run carries its own affinity (trigger labels, a sticky worker): then
   * another run's task of the same definition may fit where this one did not.
   */
  ownAffinity(task: TaskRun): boolean {
    const run = task.run;
    return run.labelOverrides !== undefined ||
      (run.version.sticky !== undefined && run.desiredWorkerId !== undefined);
  }

  /** Notes the worker a sticky run's first task went to. */
  assigned(task: TaskRun, worker: WorkerState): void {
    if (task.run.version.sticky !== undefined) task.run.desiredWorkerId ??= worker.id;
  }

  /** Whether a static rate limit named `key` was put. */
  hasRateLimit(key: string): boolean {
    return this.#rateLimits.has(key);
  }

  /** `PutRateLimit`. */
  putRateLimit(key: string, limit: number, duration: number): void {
    if (key === "") throw invalid("rate limit key is required");
    if (limit <= 0) throw invalid(`rate limit must be positive, got ${limit}`);
    const windowMs = WINDOW_MS[duration];
    if (windowMs === undefined) throw invalid(`unknown rate limit duration ${duration}`);
    this.#rateLimits.put(key, limit, windowMs, this.#state.clock.now());
    this.#links.queue.requestSchedule();
  }

  /** Whether the task holds a place in all its concurrency groups; enters the next one if not. */
  #taskAdmitted(task: TaskRun): boolean {
    const specs = task.def.concurrency;
    if (task.gate && task.gate.admitted >= specs.length) return true;
    if (!task.gate) {
      const holder: Holder = {
        seq: task.enqueueSeq,
        priority: task.run.priority,
        admit: () => {
          const gate = task.gate!;
          gate.admitted++;
          if (gate.admitted < specs.length) this.#enterGroup(task, specs[gate.admitted]);
          else this.#links.queue.push(task);
          this.#state.activity++;
        },
        cancel: () => {
          this.#links.records.note(
            `task ${task.id} (${task.def.readableId}) cancelled by its concurrency limit`,
          );
          this.#links.attempts.cancel(task);
          this.#links.queue.requestSchedule();
        },
      };
      task.gate = { holder, admitted: 0 };
      this.#enterGroup(task, specs[0]);
    }
    return false;
  }

  #enterGroup(task: TaskRun, spec: ConcurrencySpec): void {
    const key = celValue(spec.expression, task.run.input, task.run.additionalMetadata);
    if (key.error !== undefined) {
      this.#links.records.note(
        `concurrency expression ${
          JSON.stringify(spec.expression)
        } of task ${task.id} failed: ${key.error}`,
      );
      this.#links.attempts.fail(task, `could not evaluate concurrency key: ${key.error}`, true);
      return;
    }
    this.#groups.enter(spec, String(key.value), task.gate!.holder);
  }

  /** Evaluates the task's rate-limit keys and units; dynamic limits are upserted now. */
  #rateUnits(task: TaskRun): void {
    const units = new Map<string, number>();
    const { input, additionalMetadata } = task.run;
    for (const rl of task.def.rateLimits) {
      let key = rl.key;
      if (rl.keyExpr) {
        const v = celValue(rl.keyExpr, input, additionalMetadata);
        if (v.error !== undefined) {
          this.#links.records.note(`rate limit key ${rl.keyExpr} failed: ${v.error}`);
        }
        key = String(v.value ?? rl.key);
      }
      let n = rl.units;
      if (rl.unitsExpr) {
        const v = celValue(rl.unitsExpr, input, additionalMetadata);
        n = typeof v.value === "number" ? v.value : Number(v.value ?? 1);
      }
      if (rl.limitExpr) {
        const v = celValue(rl.limitExpr, input, additionalMetadata);
        const limit = typeof v.value === "number" ? v.value : Number(v.value);
        if (Number.isFinite(limit) && limit > 0) {
          this.#rateLimits.put(key, limit, rl.windowMs, this.#state.clock.now());
        } else {
          this.#links.records.note(
            `rate limit ${key}: limit ${rl.limitExpr} gave ${String(v.value)}`,
          );
        }
      }
      units.set(key, (units.get(key) ?? 0) + n);
    }
    task.rateUnits = units;
  }

  #wakeAtRefill(at: number): void {
    if (this.#refillWakeups.has(at)) return;
    this.#refillWakeups.add(at);
    this.#state.clock.at(at, () => {
      this.#refillWakeups.delete(at);
      this.#links.queue.requestSchedule();
    });
  }
}

function isFinal(task: TaskRun): boolean {
  return task.status === "COMPLETED" || task.status === "FAILED" ||
    task.status === "CANCELLED" || task.status === "SKIPPED";
}

interface Group {
  spec: ConcurrencySpec;
  running: Set<Holder>;
  /** Best first: priority, then oldest (newest for CANCEL_IN_PROGRESS). */
  queued: Holder[];
}

type CelProgram = (bindings: Record<string, JsonValue>) => unknown;

const celEnvironment = celEnv();
/** Planned programs by expression: a run of 10,000 tasks evaluates the same key 10,000 times. */
const celPrograms = new Map<string, CelProgram | { error: string }>();

function celProgram(expression: string): CelProgram | { error: string } {
  let program = celPrograms.get(expression);
  if (program === undefined) {
    try {
      program = plan(celEnvironment, parse(expression)) as CelProgram;
    } catch (err) {
      program = { error: err instanceof Error ? err.message : String(err) };
    }
    celPrograms.set(expression, program);
  }
  return program;
}

/** Evaluates a CEL expression to a value, with `input` and `additional_metadata` bound. */
export function celValue(
  expression: string,
  input: JsonObject,
  additionalMetadata: JsonObject | undefined,
): { value?: JsonValue; error?: string } {
  const program = celProgram(expression);
  if (typeof program !== "function") return { error: program.error };
  try {
    const result = program({ input, additional_metadata: additionalMetadata ?? {} });
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
