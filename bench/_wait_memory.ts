// Heap growth per pending durable wait, run by `bench/e2e.ts` in its own process (it needs
// `--v8-flags=--expose-gc`, and a fresh heap measures only what the waits add):
//
//   deno run -A --v8-flags=--expose-gc bench/_wait_memory.ts 10000
//
// One worker on an in-memory MockEngine runs one durable task that holds `n` concurrent
// `ctx.waitFor()` calls on distinct signal keys for an event that never comes. The heap is
// measured after GC once every wait is registered and the engine is quiet. The engine shares
// the heap, so a second phase registers `n` waits through the bare durable port (no SDK wait
// machinery) to measure what the engine itself keeps per wait. Prints one JSON line.

import { createWorker, UserEventCondition, workflow } from "../mod.ts";
import { createRequestQueue } from "../transport/_request_queue.ts";
import { MockEngine } from "../testing/mod.ts";
import { enginePortsOf } from "../worker/client.ts";

const n = Number(Deno.args[0] ?? 10_000);
if (!Number.isSafeInteger(n) || n < 1) {
  throw new RangeError(`Expected a positive number of waits, received "${Deno.args[0]}"`);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc!();
  return Deno.memoryUsage().heapUsed;
}

let registered = 0;
let allRegistered!: () => void;
const registeredAll = new Promise<void>((resolve) => allRegistered = resolve);

const waits = workflow<{ n: number }>({ name: "bench-waits" });
waits.durableTask({
  name: "wait",
  executionTimeout: "48h",
  fn: async (input, ctx) => {
    const pending = [];
    for (let i = 0; i < input.n; i++) {
      pending.push(ctx.waitFor(`wait-${i}`, new UserEventCondition("bench:never")));
    }
    await Promise.all(pending);
    return {};
  },
});
// One finished wait first, so lazily built parts (the listener stream, code paths) are warm.
const warm = workflow({ name: "bench-warm" });
warm.durableTask({
  name: "warm",
  fn: async (_input, ctx) => {
    await ctx.waitFor("warm", new UserEventCondition("bench:warm"));
    return {};
  },
});
const holder = workflow({ name: "bench-holder" });
let holderId = "";
let releaseHolder!: () => void;
const held = new Promise<void>((resolve) => releaseHolder = resolve);
holder.task({
  name: "hold",
  fn: async (_input, ctx) => {
    holderId = ctx.taskRunId;
    await held;
    return {};
  },
});

// The legacy path, whose registrations this script counts (the event log's per-task cost is
// measured by _waits_100k.ts).
const engine = new MockEngine({ version: "v0.79.0" });
const ports = enginePortsOf(engine.client);
// Count registrations the engine acknowledged, to know when all waits are pending.
const register = ports.durable.registerDurableEvent.bind(ports.durable);
ports.durable.registerDurableEvent = async (req, options) => {
  await register(req, options);
  if (req.signalKey.startsWith("wait-") && ++registered === n) allRegistered();
};
const worker = createWorker(engine.client, {
  name: "bench-waits",
  workflows: [waits, warm, holder],
  durableSlots: 10,
  logger: { warn: () => {}, error: (message) => console.error(message) },
});
await worker.start();
const warmRun = await engine.client.runs.trigger(warm, {});
await engine.settle();
await engine.client.events.push("bench:warm", {});
await warmRun.result();
await engine.client.runs.trigger(holder, {});
await engine.settle();

const before = heapAfterGc();
await engine.client.runs.trigger(waits, { n });
await registeredAll;
await engine.settle();
const withWaits = heapAfterGc();

// The engine's share: the same registrations and subscriptions, sent through the bare port.
const requests = createRequestQueue<{ taskId: string; signalKey: string }>();
const stream = new AbortController();
const events = ports.durable.listenForDurableEvent(requests, { signal: stream.signal });
const reader = (async () => {
  try {
    for await (const _ of events) { /* nothing arrives */ }
  } catch { /* aborted below */ }
})();
await engine.settle();
const beforeBare = heapAfterGc();
const conditions = {
  sleepConditions: [],
  userEventConditions: [{
    base: {
      readableDataKey: "bench:never",
      action: "CREATE" as const,
      orGroupId: crypto.randomUUID(),
      expression: "",
    },
    userEventKey: "bench:never",
  }],
};
const bare = [];
for (let i = 0; i < n; i++) {
  requests.push({ taskId: holderId, signalKey: `bare-${i}` });
  bare.push(ports.durable.registerDurableEvent({
    taskId: holderId,
    signalKey: `bare-${i}`,
    conditions,
  }));
}
await Promise.all(bare);
bare.length = 0;
await engine.settle();
const withBare = heapAfterGc();

const total = (withWaits - before) / n;
const engineShare = (withBare - beforeBare) / n;
console.log(JSON.stringify({
  waits: n,
  bytes_per_wait: Math.round(total),
  engine_bytes_per_wait: Math.round(engineShare),
  worker_bytes_per_wait: Math.round(total - engineShare),
}));

stream.abort();
requests.end();
await reader;
releaseHolder();
await engine.close().catch(() => {});
Deno.exit(0);
