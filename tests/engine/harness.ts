// The conformance suite's vocabulary: a Scenario is a name and a run(client, ctx) function; the
// runner gives each (scenario, HTTP stack) pair its own ScenarioContext, which hands out unique
// workflow names, starts workers it stops afterwards, times the scenario's key step and reads what
// only the engine knows through its REST API. Files here end neither in _test.ts nor .test.ts:
// `deno task test` must not pick them up (they need a real engine and wall-clock time).

import {
  createClient,
  createWorker,
  type HatchetClient,
  type HttpStack,
  type Worker,
  type WorkerOptions,
  type Workflow,
  workflow,
} from "../../mod.ts";
import { createRest, type Rest } from "./rest.ts";

/** One conformance scenario, run once per HTTP stack. */
export interface Scenario {
  /** Shown in the table; unique in the registry. */
  name: string;
  /** Throws (an assertion, a timeout) to fail; `ctx.skip(reason)` to skip. */
  run(client: HatchetClient, ctx: ScenarioContext): Promise<void>;
  /** Run alone, after every other scenario (an engine restart, say). */
  exclusive?: boolean;
  /** Give up after this long; default 60 s. */
  timeoutMs?: number;
}

/** What a scenario gets besides the client of its stack. */
export interface ScenarioContext {
  /** The HTTP/2 stack under test. */
  readonly stack: HttpStack;
  /** Aborts when the scenario's time is up; pass it to every wait. */
  readonly signal: AbortSignal;
  /** The engine's REST API (logs, runs), with the client's token. */
  readonly rest: Rest;
  /** The suite's environment (HATCHET_CLIENT_*, HATCHET_TEST_*). */
  readonly env: Record<string, string | undefined>;
  /** A workflow (or event) name unique to this suite run, scenario and stack. */
  name(base: string): string;
  /**
   * Starts a worker for `workflows` on `client` (default: the stack's); stopped when the scenario
   * ends. Unless `warmUp` is false it first waits for one run of a no-op workflow on the worker,
   * so the engine has discovered the new worker (it looks every 5 s) before the scenario's timed
   * steps; that wait is recorded as "worker discovered".
   */
  startWorker(
    // deno-lint-ignore no-explicit-any
    workflows: Workflow<any>[],
    options?: { client?: HatchetClient; slots?: number; warmUp?: boolean },
  ): Promise<Worker>;
  /** A client of the same engine on the same stack with other options (a namespace); closed at the end. */
  createClient(options: { namespace?: string }): HatchetClient;
  /** Times `fn` as the scenario's key step (the latency column); the first call wins the column. */
  measure<T>(label: string, fn: () => Promise<T>): Promise<T>;
  /** Records a latency the table's notes show, without running anything. */
  record(label: string, ms: number): void;
  /** A line for the notes under the table. */
  note(text: string): void;
  /** Ends the scenario as skipped. */
  skip(reason: string): never;
  /** Runs `fn` on cleanup, last registered first. */
  defer(fn: () => Promise<void> | void): void;
}

/** Thrown by `ctx.skip()`. */
export class ScenarioSkipped extends Error {
  override name = "ScenarioSkipped";
}

/** How one (scenario, stack) pair went. */
export interface ScenarioResult {
  scenario: string;
  stack: HttpStack;
  status: "pass" | "fail" | "skip";
  /** The key step: label and milliseconds. */
  key?: { label: string; ms: number };
  /** Every timed step, key included. */
  timings: { label: string; ms: number }[];
  notes: string[];
  error?: string;
  /** Warnings the scenario's workers logged (printed for failures). */
  workerLog: string[];
  totalMs: number;
}

/** Settings of one suite run. */
export interface SuiteOptions {
  /** Stacks to run each scenario on. */
  stacks: HttpStack[];
  /** Environment (HATCHET_CLIENT_*, HATCHET_TEST_*). */
  env: Record<string, string | undefined>;
  /** How many (scenario, stack) pairs run at once. */
  concurrency: number;
  /** Unique per suite run; part of every workflow name. */
  runId: string;
  /** Called as each pair finishes. */
  onResult?: (result: ScenarioResult) => void;
}

/**
 * Runs every scenario on every stack: the ordinary ones `concurrency` at a time, then the
 * exclusive ones one by one.
 */
export async function runSuite(
  scenarios: readonly Scenario[],
  options: SuiteOptions,
): Promise<ScenarioResult[]> {
  const clients = new Map<HttpStack, HatchetClient>();
  for (const stack of options.stacks) {
    clients.set(stack, createClient({ http: stack, env: options.env }));
  }
  const pairs = scenarios.flatMap((scenario) =>
    options.stacks.map((stack) => ({ scenario, stack }))
  );
  const results: ScenarioResult[] = [];
  const runPair = async (pair: { scenario: Scenario; stack: HttpStack }) => {
    const result = await runScenario(pair.scenario, pair.stack, clients.get(pair.stack)!, options);
    results.push(result);
    options.onResult?.(result);
  };
  try {
    const queue = pairs.filter((p) => !p.scenario.exclusive);
    const workers = Array.from(
      { length: Math.max(1, Math.min(options.concurrency, queue.length)) },
      async () => {
        for (let pair = queue.shift(); pair; pair = queue.shift()) await runPair(pair);
      },
    );
    await Promise.all(workers);
    for (const pair of pairs.filter((p) => p.scenario.exclusive)) await runPair(pair);
  } finally {
    await Promise.allSettled([...clients.values()].map((c) => c.close()));
  }
  const order = (r: ScenarioResult) =>
    scenarios.findIndex((s) => s.name === r.scenario) * 10 + options.stacks.indexOf(r.stack);
  return results.sort((a, b) => order(a) - order(b));
}

async function runScenario(
  scenario: Scenario,
  stack: HttpStack,
  client: HatchetClient,
  options: SuiteOptions,
): Promise<ScenarioResult> {
  const timeoutMs = scenario.timeoutMs ?? 60_000;
  const signal = AbortSignal.timeout(timeoutMs);
  const cleanups: (() => Promise<void> | void)[] = [];
  const result: ScenarioResult = {
    scenario: scenario.name,
    stack,
    status: "pass",
    timings: [],
    notes: [],
    workerLog: [],
    totalMs: 0,
  };
  const slug = scenario.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const rest = createRest(client.config);
  const record = (label: string, ms: number) => {
    const timing = { label, ms };
    result.timings.push(timing);
    result.key ??= timing;
  };
  const ctx: ScenarioContext = {
    stack,
    signal,
    rest,
    env: options.env,
    name: (base) => `${base}-${slug}-${options.runId}-${stack}`,
    async startWorker(workflows, workerOptions) {
      const on = workerOptions?.client ?? client;
      const warmUp = workerOptions?.warmUp === false
        ? undefined
        : workflow({ name: `warm-up-${slug}-${options.runId}-${stack}` });
      warmUp?.task({ name: "noop", fn: () => ({}) });
      const worker = createWorker(
        on,
        {
          name: `conformance-${slug}-${stack}`,
          workflows: warmUp ? [warmUp, ...workflows] : workflows,
          slots: workerOptions?.slots,
          drainTimeout: "2s",
          logger: {
            warn: (message) => result.workerLog.push(`warn: ${message}`),
            error: (message) => result.workerLog.push(`error: ${message}`),
          },
        } satisfies WorkerOptions,
      );
      cleanups.push(() => worker.stop());
      await worker.start();
      if (warmUp) {
        const start = performance.now();
        const run = await on.runs.trigger(warmUp, {});
        const { status } = await run.result({ signal });
        if (status !== "COMPLETED") throw new Error(`The warm-up run ended ${status}`);
        result.timings.push({ label: "worker discovered", ms: performance.now() - start });
      }
      return worker;
    },
    createClient(clientOptions) {
      const other = createClient({ http: stack, env: options.env, ...clientOptions });
      cleanups.push(() => other.close());
      return other;
    },
    async measure(label, fn) {
      const start = performance.now();
      const value = await fn();
      record(label, performance.now() - start);
      return value;
    },
    record,
    note: (text) => void result.notes.push(text),
    skip(reason) {
      throw new ScenarioSkipped(reason);
    },
    defer: (fn) => void cleanups.push(fn),
  };

  const started = performance.now();
  const timedOut = new Promise<never>((_, reject) => {
    signal.addEventListener(
      "abort",
      () => reject(new Error(`Timed out after ${timeoutMs / 1000} s`)),
      { once: true },
    );
  });
  try {
    await Promise.race([scenario.run(client, ctx), timedOut]);
  } catch (err) {
    if (err instanceof ScenarioSkipped) {
      result.status = "skip";
      result.notes.push(`skipped: ${err.message}`);
    } else {
      result.status = "fail";
      result.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        result.notes.push(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    result.totalMs = performance.now() - started;
  }
  return result;
}

/** Formats milliseconds for the table: `850 ms`, `4.2 s`. */
export function formatMs(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/**
 * The results as a Markdown table: scenario, its key step, then per stack pass/fail/skip and the
 * key step's latency.
 */
export function formatTable(results: readonly ScenarioResult[], stacks: HttpStack[]): string {
  const names = [...new Set(results.map((r) => r.scenario))];
  const cell = (r: ScenarioResult | undefined) => {
    if (!r) return "";
    return r.status === "pass" && r.key ? `pass, ${formatMs(r.key.ms)}` : r.status;
  };
  const rows = [["scenario", "key step", ...stacks]];
  for (const name of names) {
    const mine = results.filter((r) => r.scenario === name);
    rows.push([
      name,
      mine.find((r) => r.key)?.key?.label ?? "",
      ...stacks.map((stack) => cell(mine.find((r) => r.stack === stack))),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    line(rows[0]),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.slice(1).map(line),
  ].join("\n");
}

/** A promise with its resolve and reject, for a task to tell the scenario something. */
export function deferred<T>(): PromiseWithResolvers<T> {
  return Promise.withResolvers<T>();
}

/** Waits for `promise`, or rejects with `what` when `signal` aborts first. */
export async function within<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  what: string,
): Promise<T> {
  signal.throwIfAborted();
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error(`Gave up waiting for ${what}`));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Runs `check` until it stops throwing, every 250 ms, and returns its value; on abort throws its
 * last error. For REST reads: the API answers from the engine's OLAP store, which lags the run
 * (404, or a run without all its tasks, for a moment after `result()` resolved).
 */
export async function eventually<T>(check: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (signal.aborted) throw err;
      try {
        await delay(250, signal);
      } catch {
        throw err;
      }
    }
  }
}

/** Resolves after `ms` of wall-clock time (the suite runs in real time), or rejects on abort. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
