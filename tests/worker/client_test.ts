import assert from "node:assert/strict";
import { createWorker, type JsonObject, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";

const onPaid = workflow({ name: "On-Paid", onEvents: ["order:paid"] });
onPaid.task({
  name: "record",
  fn: (input, ctx) => ({
    input,
    metadata: (ctx.additionalMetadata ?? {}) as JsonObject,
    priority: ctx.priority ?? null,
    byEvent: ctx.wasTriggeredByEvent,
  }),
});

/** Registers the workflow with a worker that then stops, so triggered runs stay queued. */
async function registerOnly(engine: MockEngine): Promise<void> {
  const worker = createWorker(engine.client, { name: "registrar", workflows: [onPaid] });
  await worker.start();
  await worker.stop();
}

Deno.test("HatchetClient.events.push() namespaces the key and carries payload, metadata and priority to the runs it triggers", async () => {
  await using engine = new MockEngine({ namespace: "Dev" });
  await using worker = createWorker(engine.client, { name: "w", workflows: [onPaid] });
  await worker.start();

  const { eventId } = await engine.client.events.push("order:paid", { orderId: "o-1" }, {
    additionalMetadata: { source: "client-test" },
    priority: 3,
  });
  await engine.settle();

  assert.match(eventId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    engine.rpcLog().filter((e) => e.method === "Push").map((e) => e.summary),
    [{ key: "dev_order:paid" }],
  );
  const [run] = engine.taskRuns();
  assert.equal(run.status, "COMPLETED");
  const output = run.output as {
    input: JsonObject;
    metadata: JsonObject;
    priority: number;
    byEvent: boolean;
  };
  assert.deepEqual(output.input, { orderId: "o-1" });
  assert.equal(output.metadata.source, "client-test");
  assert.equal(output.priority, 3);
  assert.equal(output.byEvent, true);
});

Deno.test("HatchetClient.runs.trigger() takes a workflow name, namespaces it, and result() reports the outputs", async () => {
  await using engine = new MockEngine({ namespace: "dev" });
  await using worker = createWorker(engine.client, { name: "w", workflows: [onPaid] });
  await worker.start();

  const run = await engine.client.runs.trigger("On-Paid", { orderId: "o-2" }, { priority: 2 });
  const result = await run.result();

  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.errors, {});
  const { metadata, ...record } = result.outputs.record as { metadata: Record<string, string> };
  assert.deepEqual(record, { input: { orderId: "o-2" }, priority: 2, byEvent: false });
  assert.deepEqual(Object.keys(metadata), ["traceparent"]);
});

Deno.test("RunRef.result() rejects with the signal's reason when aborted before the run is done", async () => {
  await using engine = new MockEngine();
  await registerOnly(engine);
  // No worker is listening: the run stays queued, so only the signal can end the wait.
  const run = await engine.client.runs.trigger(onPaid, { orderId: "o-3" });
  const controller = new AbortController();
  const pending = run.result({ signal: controller.signal });
  await engine.settle();
  controller.abort(new Error("gave up waiting"));
  await assert.rejects(pending, { message: "gave up waiting" });
  assert.equal(engine.taskRuns(run.id)[0].status, "QUEUED");
});

Deno.test("HatchetClient.runs.cancel() cancels queued task runs by id", async () => {
  await using engine = new MockEngine();
  await registerOnly(engine);
  const run = await engine.client.runs.trigger(onPaid, { orderId: "o-4" });
  const [task] = engine.taskRuns(run.id);
  await engine.client.runs.cancel([task.id]);
  const result = await run.result();
  assert.equal(result.status, "CANCELLED");
  assert.equal(engine.taskRuns(run.id)[0].status, "CANCELLED");
});
