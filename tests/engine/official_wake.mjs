// The official TypeScript SDK's side of test:engine's "durable wake: ours vs official SDKs"
// (official_scenarios.ts), run under Node with the SDK that tests/official/install.ts installs
// and HATCHET_CLIENT_* pointing at the real engine:
//
//   node official_wake.mjs <workflow name prefix> <event key> <wake samples> <sleep samples>
//
// The same measurement as official_wake.py: event push -> durable task resumed, one run at a
// time; how late a 2 s durable sleep resumes, runs started evenly over two periods of the engine's
// 1 s sleep poll. Prints `RESULT {"wake": [...], "push": [...], "sleep": [...]}` (ms) on stdout.

import { createRequire } from "node:module";
import process from "node:process";

// The SDK is CommonJS without an exports map; it is installed next to test:official's worker.
const require = createRequire(new URL("../official/worker.mjs", import.meta.url));
const { HatchetClient } = require("@hatchet-dev/typescript-sdk/v1");

// The SDK logs to stdout, which carries the result line.
for (const method of ["log", "info", "debug", "warn"]) {
  console[method] = (...args) => process.stderr.write(`${args.join(" ")}\n`);
}

const [prefix, key, wakesArg, sleepsArg] = process.argv.slice(2);
const wakes = Number(wakesArg);
const sleeps = Number(sleepsArg);
const SLEEP_MS = 2_000;
const hatchet = HatchetClient.init();

const waiting = new Map();
const resumed = new Map();
const late = new Map();
const wakeWf = hatchet.workflow({ name: `${prefix}-wake` });
wakeWf.durableTask({
  name: "wake",
  executionTimeout: "10m",
  fn: async (input, ctx) => {
    waiting.get(input.id)?.();
    await ctx.waitFor({ eventKey: key, expression: `input.id == '${input.id}'` });
    resumed.set(input.id, performance.now());
    return { woke: true };
  },
});
const sleepWf = hatchet.workflow({ name: `${prefix}-sleep` });
sleepWf.durableTask({
  name: "nap",
  executionTimeout: "10m",
  fn: async (input, ctx) => {
    const before = performance.now();
    await ctx.sleepFor("2s");
    late.set(input.id, performance.now() - before - SLEEP_MS);
    return { slept: true };
  },
});

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
try {
  const worker = await hatchet.worker(`${prefix}-worker`, { workflows: [wakeWf, sleepWf] });
  void worker.start();
  // A run triggered before the worker has registered its workflows may never start: give the
  // worker a moment, and trigger again if the first run does not start.
  await pause(3_000);
  const wake = [];
  const push = [];
  for (let i = 0; i < wakes; i++) {
    const id = `w${i}`;
    const started = new Promise((resolve) => waiting.set(id, resolve));
    let ref;
    for (let attempt = 0;; attempt++) {
      if (attempt === 4) throw new Error(`run ${id} did not start (4 triggers, 15 s each)`);
      ref = await wakeWf.runNoWait({ id });
      const timer = new Promise((resolve) => setTimeout(() => resolve(false), 15_000));
      if (await Promise.race([started.then(() => true), timer])) break;
    }
    await pause(1_000);
    const pushed = performance.now();
    await hatchet.events.push(key, { id });
    push.push(performance.now() - pushed);
    await ref.result();
    wake.push(resumed.get(id) - pushed);
  }
  const refs = [];
  for (let i = 0; i < sleeps; i++) {
    refs.push(await sleepWf.runNoWait({ id: `s${i}` }));
    await pause(2_000 / sleeps);
  }
  await Promise.all(refs.map((ref) => ref.result()));
  const sleep = Array.from({ length: sleeps }, (_, i) => late.get(`s${i}`));
  process.stdout.write(`RESULT ${JSON.stringify({ wake, push, sleep })}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`official_wake.mjs failed: ${err?.stack ?? err}\n`);
  process.exit(1);
}
