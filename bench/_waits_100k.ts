// The worker side of the "100,000 durable tasks waiting at once" measurement, run by
// `bench/e2e.ts` in its own process so that its RSS is the worker's alone:
//
//   deno run -A --v8-flags=--expose-gc bench/_waits_100k.ts <host:port> <token> <n> <evict|hold>
//
// It registers one durable task that waits for an event that never comes, prints "ready", and
// on a line "measure" on stdin prints one JSON line: its RSS growth since before the worker
// started (after a memory-reducing full GC, and before it), and how many task bodies began. With `evict` the task's policy evicts at once (the
// engine holds the waiting tasks; the worker frees each attempt); with `hold` the worker keeps
// every attempt (durable slots = n).

import { createClient, createWorker, workflow } from "../mod.ts";

const [hostPort, token, nArg, mode] = Deno.args;
const n = Number(nArg);
if (!hostPort || !token || !Number.isSafeInteger(n) || n < 1 || !["evict", "hold"].includes(mode)) {
  throw new TypeError(
    `Usage: _waits_100k.ts <host:port> <token> <n> <evict|hold>, received ${
      JSON.stringify(Deno.args)
    }`,
  );
}
const gc = (globalThis as { gc?: (options?: Record<string, string>) => void }).gc;
const usage = () => {
  for (let i = 0; i < 4; i++) gc?.();
  return Deno.memoryUsage();
};
// The full collection V8 runs under memory pressure: it also returns to the OS the pages that
// garbage freed (V8 keeps them pooled otherwise, until its memory reducer runs after idle time).
const reducedUsage = () => {
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
  return Deno.memoryUsage();
};

let started = 0;
const wf = workflow({ name: "bench-100k" });
wf.durableTask({
  name: "wait",
  executionTimeout: "1h",
  evictionPolicy: mode === "evict" ? { ttl: 0 } : false,
  fn: async (_input, ctx) => {
    started++;
    return { paid: await ctx.waitForEvent("bench:never") };
  },
});

const client = createClient({ token, hostPort, tls: "none", env: {} });
const before = usage();
const worker = createWorker(client, {
  name: `bench-100k-${mode}`,
  workflows: [wf],
  durableSlots: mode === "hold" ? n : 1_000,
  logger: { warn() {}, error() {} },
});
await worker.start();
console.log("ready");

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buffered = "";
for await (const chunk of lines) {
  buffered += chunk;
  if (buffered.includes("measure")) break;
}
// Right away, after ordinary full collections: this still counts the pages freed during the
// burst of task starts (about 1,000 in flight) that V8 keeps pooled.
const after = usage();
// Still holding every task, after the collection that returns those pages: what the waiting
// tasks themselves cost.
const reduced = reducedUsage();
console.log(JSON.stringify({
  rss_growth_bytes: reduced.rss - before.rss,
  pooled_rss_growth_bytes: after.rss - before.rss,
  heap_growth_bytes: after.heapUsed - before.heapUsed,
  external_growth_bytes: after.external - before.external,
  started,
  mode,
  n,
}));
// Held attempts would make stop() wait out its drain timeout: the measurement is done.
Deno.exit(0);
