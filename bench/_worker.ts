// The worker process `bench/e2e.ts` runs for our SDK: the same two workflows as
// `bench/official/worker.mjs`, so both SDKs do identical work against the same engine. The
// harness passes the engine through HATCHET_CLIENT_* and stops the worker by closing stdin.
//
//   deno run -A bench/_worker.ts <suffix> <native|node>

import { createClient, createWorker, workflow } from "../mod.ts";

const [suffix = "ours", http = "native"] = Deno.args;
if (http !== "native" && http !== "node") {
  throw new TypeError(`Expected the HTTP stack "native" or "node", received "${http}"`);
}

const trivial = workflow({ name: `bench-trivial-${suffix}` });
trivial.task({ name: "noop", fn: () => ({}) });

const logs = workflow<{ n: number }>({ name: `bench-log-${suffix}` });
logs.task({
  name: "log",
  executionTimeout: "10m",
  fn: (input, ctx) => {
    // ctx.log() enqueues and returns: the worker delivers the lines in order and reports the
    // result only after the last one reached the engine.
    for (let i = 0; i < input.n; i++) ctx.log(`line ${i}`);
    return {};
  },
});

const client = createClient({ http });
const worker = createWorker(client, {
  name: `bench-${suffix}`,
  workflows: [trivial, logs],
  slots: 100,
});
await worker.start();
console.log(`ready ${worker.id}`);

// Stdin closes when the harness is done (or dies): stop cleanly then.
const stdin = Deno.stdin.readable.getReader();
while (!(await stdin.read()).done) { /* the harness never writes; wait for the end */ }
await worker.stop();
await client.close();
