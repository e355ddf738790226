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

Deno.test("createWorker() runs tasks whose workflow and task names have upper-case letters", async () => {
  // The engine stores action ids lower-cased and assigns under that form.
  await using engine = new MockEngine({ namespace: "Team" });
  const wf = workflow({ name: "OrderFlow" });
  const charge = wf.task({ name: "chargeCard", fn: () => ({ charged: true }) });
  wf.task({ name: "SendReceipt", parents: [charge], fn: (_i, ctx) => ctx.taskOutput(charge) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  assert.deepEqual(engine.workers()[0].actions.toSorted(), [
    "team_orderflow:chargecard",
    "team_orderflow:sendreceipt",
  ]);
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs, {
    chargeCard: { charged: true },
    SendReceipt: { charged: true },
  });
});

Deno.test("RunRef.result() waits for a run the engine has not created yet", async () => {
  // A real engine returns the run id before the run exists when its optimistic scheduler is
  // busy; GetRunDetails then says NOT_FOUND for a while.
  await using engine = new MockEngine({ triggerDelay: "2s" });
  const wf = workflow({ name: "late-run" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const runs = await Promise.all(
    Array.from({ length: 5 }, () => engine.client.runs.trigger(wf, {})),
  );
  const results = runs.map((run) => run.result());
  await engine.advance("1s");
  assert.deepEqual(engine.workflowRuns(), []);
  await engine.advance("1s");
  assert.equal(engine.workflowRuns().length, 5);
  for (const result of await Promise.all(results)) {
    assert.deepEqual(result, { status: "COMPLETED", outputs: { t: { ok: true } }, errors: {} });
  }
});
