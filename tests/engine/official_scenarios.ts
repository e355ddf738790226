// Our durable waits next to the official SDKs' on the same engine, in the same suite run: event
// push → durable task resumed, and how late a 2 s durable sleep resumes (the engine checks due
// sleeps about once a second, so this is mostly its poll). Each side measures in its own process
// with its own clock, the same way: official_wake.py (the official Python SDK) and
// official_wake.mjs (the official TypeScript SDK under Node) do what `ours` does below. main.ts
// installs the official SDKs as `deno task test:official` does and passes their paths in
// HATCHET_TEST_OFFICIAL_PYTHON / HATCHET_TEST_OFFICIAL_NODE; without them the official columns
// are skipped and ours is still measured. Runs exclusive: nothing else loads the engine meanwhile.

import assert from "node:assert/strict";
import { type HatchetClient, workflow } from "../../mod.ts";
import {
  deferred,
  delay,
  formatMs,
  type Scenario,
  type ScenarioContext,
  within,
} from "./harness.ts";

const WAKES = 15;
const SLEEPS = 16;
const SLEEP_MS = 2_000;

/** Samples in milliseconds, as each side reports them. */
interface Samples {
  /** Event push sent → the durable task resumed from its wait. */
  wake: number[];
  /** The push RPC alone. */
  push: number[];
  /** How much later than 2 s a 2 s durable sleep resumed. */
  sleep: number[];
}

/** The median (the mean of the middle two of an even count). */
function p50(ms: readonly number[]): number {
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return Number.isInteger(mid) ? (sorted[mid - 1] + sorted[mid]) / 2 : sorted[Math.floor(mid)];
}

/**
 * The mean: with starts spread evenly over the engine's sleep poll, the overshoots spread evenly
 * over its period, and their mean moves less from run to run than their median.
 */
function mean(ms: readonly number[]): number {
  return ms.reduce((sum, x) => sum + x, 0) / ms.length;
}

async function measureOurs(client: HatchetClient, ctx: ScenarioContext): Promise<Samples> {
  const key = ctx.name("side:wake");
  const waiting = new Map<string, PromiseWithResolvers<void>>();
  const resumed = new Map<string, number>();
  const late = new Map<string, number>();
  const wakeWf = workflow<{ id: string }>({ name: ctx.name("side-wake") });
  wakeWf.durableTask({
    name: "wake",
    fn: async (input, t) => {
      waiting.get(input.id)?.resolve();
      await t.waitForEvent(key, { expression: `input.id == ${JSON.stringify(input.id)}` });
      resumed.set(input.id, performance.now());
      return { woke: true };
    },
  });
  const sleepWf = workflow<{ id: string }>({ name: ctx.name("side-sleep") });
  sleepWf.durableTask({
    name: "nap",
    fn: async (input, t) => {
      const before = performance.now();
      await t.sleepFor(`${SLEEP_MS}ms`);
      late.set(input.id, performance.now() - before - SLEEP_MS);
      return { slept: true };
    },
  });
  await ctx.startWorker([wakeWf, sleepWf]);
  const samples: Samples = { wake: [], push: [], sleep: [] };
  for (let i = 0; i < WAKES; i++) {
    const id = `w${i}`;
    const started = deferred<void>();
    waiting.set(id, started);
    const run = await client.runs.trigger(wakeWf, { id });
    await within(started.promise, ctx.signal, `run ${id} to wait`);
    await delay(1_000, ctx.signal);
    const pushed = performance.now();
    await client.events.push(key, { id });
    samples.push.push(performance.now() - pushed);
    const result = await run.result({ signal: ctx.signal });
    assert.equal(result.status, "COMPLETED", JSON.stringify(result.errors));
    samples.wake.push(resumed.get(id)! - pushed);
  }
  const runs = [];
  for (let i = 0; i < SLEEPS; i++) {
    runs.push(await client.runs.trigger(sleepWf, { id: `s${i}` }));
    await delay(2_000 / SLEEPS, ctx.signal);
  }
  for (const run of runs) {
    const result = await run.result({ signal: ctx.signal });
    assert.equal(result.status, "COMPLETED", JSON.stringify(result.errors));
  }
  samples.sleep = Array.from({ length: SLEEPS }, (_, i) => late.get(`s${i}`)!);
  return samples;
}

/** Runs one official SDK's measurement script; its RESULT line, or why there is none. */
async function measureOfficial(
  ctx: ScenarioContext,
  sdk: "python" | "typescript",
): Promise<Samples | string> {
  const command = sdk === "python"
    ? ctx.env.HATCHET_TEST_OFFICIAL_PYTHON
    : ctx.env.HATCHET_TEST_OFFICIAL_NODE;
  if (!command) return "not installed (main.ts installs it unless --no-official)";
  const script =
    new URL(sdk === "python" ? "official_wake.py" : "official_wake.mjs", import.meta.url)
      .pathname;
  const env = Object.fromEntries(
    Object.entries(ctx.env).filter((e): e is [string, string] =>
      e[0].startsWith("HATCHET_CLIENT_") && e[1] !== undefined
    ),
  );
  const child = new Deno.Command(command, {
    args: [script, ctx.name(`side-${sdk}`), ctx.name(`side:${sdk}`), `${WAKES}`, `${SLEEPS}`],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  };
  ctx.signal.addEventListener("abort", kill, { once: true });
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    if (!out.success || !line) {
      const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
      throw new Error(`the official ${sdk} SDK's run failed (exit ${out.code}): ${tail}`);
    }
    return JSON.parse(line.slice("RESULT ".length)) as Samples;
  } finally {
    ctx.signal.removeEventListener("abort", kill);
  }
}

/** The scenario's name; main.ts installs the official SDKs only when it is selected. */
export const SIDE_BY_SIDE = "durable wake: ours vs official SDKs";

// The official SDKs do not depend on our HTTP stack: they are measured on the first stack's
// run, and the second reports the same figures next to its own.
let officials: Promise<Record<"python" | "typescript", Samples | string>> | undefined;

const sideBySide: Scenario = {
  name: SIDE_BY_SIDE,
  exclusive: true,
  timeoutMs: 300_000,
  async run(client, ctx) {
    const ours = await measureOurs(client, ctx);
    officials ??= (async () => ({
      python: await measureOfficial(ctx, "python"),
      typescript: await measureOfficial(ctx, "typescript"),
    }))();
    const theirs = await officials;
    ctx.record(`push→resume p50 of ${WAKES}, ours`, p50(ours.wake));
    const table: [string, Samples | string][] = [
      ["ours", ours],
      ["official python", theirs.python],
      ["official typescript", theirs.typescript],
    ];
    for (const [who, samples] of table) {
      if (typeof samples === "string") {
        ctx.note(`${who}: ${samples}`);
        continue;
      }
      if (who !== "ours") ctx.record(`push→resume p50, ${who}`, p50(samples.wake));
      ctx.record(`push rpc p50, ${who}`, p50(samples.push));
      ctx.record(`2 s sleep overshoot p50 of ${SLEEPS}, ${who}`, p50(samples.sleep));
      ctx.record(`2 s sleep overshoot mean, ${who}`, mean(samples.sleep));
      ctx.note(
        `${who}: push→resume ${samples.wake.map(formatMs).join(", ")}; sleep overshoot ${
          samples.sleep.map(formatMs).join(", ")
        }`,
      );
    }
  },
};

/** Measurements next to the official SDKs, in table order. */
export const officialScenarios: readonly Scenario[] = [sideBySide];
