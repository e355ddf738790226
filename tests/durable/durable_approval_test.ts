import assert from "node:assert/strict";
import { createWorker } from "@hatchet-deno/sdk";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { approvals } from "../../examples/durable_approval.ts";

Deno.test("examples/durable_approval.ts approves on the matching event after the cool-off sleep", async () => {
  await using engine = new MockEngine();
  await using worker = createWorker(engine.client, { name: "w", workflows: [approvals] });
  await worker.start();
  const run = await engine.client.runs.trigger(approvals, { orderId: "o-42" });
  await engine.advance("10m");
  // Another order's approval fails the CEL filter and leaves the wait pending.
  await engine.client.events.push("order:approved", { orderId: "o-7", approver: "bob" });
  await engine.advance("1h");
  assert.equal(engine.taskRuns(run.id)[0].status, "RUNNING");
  await engine.client.events.push("order:approved", { orderId: "o-42", approver: "ana" });
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs.approve, { orderId: "o-42", approved: true, approver: "ana" });
});

Deno.test("examples/durable_approval.ts gives up when no approval comes within 24 hours", async () => {
  await using engine = new MockEngine();
  await using worker = createWorker(engine.client, { name: "w", workflows: [approvals] });
  await worker.start();
  const run = await engine.client.runs.trigger(approvals, { orderId: "o-42" });
  await engine.advance("10m");
  await engine.advance("24h");
  const result = await run.result();
  assert.deepEqual(result.outputs.approve, { orderId: "o-42", approved: false, approver: null });
});
