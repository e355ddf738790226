// The worker process `bench/e2e.ts` runs for the official Hatchet TypeScript SDK (Node 20+,
// the exact version pinned in package.json). Same two workflows as bench/_worker.ts. The
// harness passes the engine through HATCHET_CLIENT_* and stops the worker by closing stdin.
//
//   node bench/official/worker.mjs official

import { createRequire } from "node:module";
import process from "node:process";

// The SDK is CommonJS without an exports map.
const require = createRequire(import.meta.url);
const { HatchetClient } = require("@hatchet-dev/typescript-sdk/v1");

const suffix = process.argv[2] ?? "official";
const hatchet = HatchetClient.init();

const trivial = hatchet.workflow({ name: `bench-trivial-${suffix}` });
trivial.task({ name: "noop", fn: () => ({}) });

const logs = hatchet.workflow({ name: `bench-log-${suffix}` });
logs.task({
  name: "log",
  executionTimeout: "10m",
  fn: async (input, ctx) => {
    // Awaited: without the await the SDK fires every PutLog at once and the engine receives
    // the lines out of order (and the task reports its result before they arrive).
    for (let i = 0; i < input.n; i++) await ctx.logger.info(`line ${i}`);
    return {};
  },
});

const worker = await hatchet.worker(`bench-${suffix}`, { workflows: [trivial, logs], slots: 100 });
// start() resolves only when the worker stops, so it is not awaited here.
worker.start().catch((err) => {
  console.error(`worker failed: ${err?.message ?? err}`);
  process.exit(1);
});
await worker.waitUntilReady(60_000);
console.log("ready");

// Exit without worker.stop(): stop() pauses the worker over REST (PATCH /api/v1/workers/{id}),
// and the mock engine serves gRPC only.
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
