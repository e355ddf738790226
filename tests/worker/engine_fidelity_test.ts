// Behaviour the real engine (v0.104.7) showed and MockEngine now reproduces: each test here failed
// against the SDK before the matching fix (see issue 13).

import assert from "node:assert/strict";
import { createWorker, workflow } from "@hatchet-deno/sdk";
import { MockEngine } from "@hatchet-deno/sdk/testing";

Deno.test("createWorker() runs durable tasks on an engine that reports a pre-release version", async () => {
  // A source build of hatchet-api reports v0.1.0-alpha.0; a worker that registered with the
  // legacy `slots` got no durable slot, and its durable tasks never ran.
  await using engine = new MockEngine({ version: "v0.1.0-alpha.0" });
  const wf = workflow({ name: "prerelease-durable" });
  wf.durableTask({
    name: "nap",
    executionTimeout: "2h",
    fn: async (_input, ctx) => ({ slept: Object.keys(await ctx.sleepFor("1h")) }),
  });
  wf.task({ name: "plain", fn: () => ({ ok: true }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  assert.deepEqual(engine.workers()[0].slotConfig, { default: 100, durable: 1000 });
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1h");
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs, { nap: { slept: ["CREATE"] }, plain: { ok: true } });
});

Deno.test("workflow().task() rejects two task names that differ only in case", () => {
  const wf = workflow({ name: "case-clash" });
  wf.task({ name: "sendEmail", fn: () => ({}) });
  assert.throws(
    () => wf.task({ name: "SendEmail", fn: () => ({}) }),
    {
      name: "TypeError",
      message:
        'Task "SendEmail" in workflow "case-clash": the name differs only in case from task "sendEmail", and the engine lower-cases task names in action ids',
    },
  );
});
