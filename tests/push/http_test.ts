import assert from "node:assert/strict";
import { createPushHandler, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { actionJson, SECRET, sign } from "./_helpers.ts";

const wf = workflow<{ items: number[] }>({ name: "push-http" });
const sum = wf.task({
  name: "sum",
  fn: (input, ctx) => {
    ctx.log(`summing ${input.items.length} items`);
    return { total: input.items.reduce((a, b) => a + b, 0) };
  },
});
wf.task({
  name: "report",
  parents: [sum],
  fn: (_input, ctx) => ({ text: `total=${ctx.taskOutput(sum).total}` }),
});

Deno.test("createPushHandler() served by Deno.serve runs a DAG the mock engine pushes over HTTP", async () => {
  await using engine = new MockEngine({ clock: "real" });
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const url = `http://127.0.0.1:${server.addr.port}`;
  await using endpoint = await engine.addPushEndpoint({ url, signingSecret: SECRET });
  assert.deepEqual(endpoint.actions, ["push-http:sum", "push-http:report"]);

  const run = await engine.client.runs.trigger(wf, { items: [1, 2, 3] });
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs, { sum: { total: 6 }, report: { text: "total=6" } });
  assert.deepEqual(engine.logs().map((l) => l.message), ["summing 3 items"]);
  assert.deepEqual(
    endpoint.deliveries().map((d) => [d.taskName, d.status, d.body]),
    [["sum", 200, '{"total":6}'], ["report", 200, '{"text":"total=6"}']],
  );

  // Anyone else reaching the public URL gets 401 without the secret.
  const body = actionJson({ actionId: "push-http:sum", taskName: "sum" });
  const forged = await fetch(`${url}/hatchet/trigger`, {
    method: "POST",
    headers: { "X-Hatchet-Signature": await sign(body, "guessed") },
    body,
  });
  assert.equal(forged.status, 401);
  await forged.body?.cancel();
});

Deno.test("MockEngine.addPushEndpoint() fails the task when the endpoint cannot be reached", async () => {
  await using engine = new MockEngine({ clock: "real" });
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const url = `http://127.0.0.1:${server.addr.port}`;
  await using endpoint = await engine.addPushEndpoint({ url, signingSecret: SECRET });
  await server.shutdown();

  const run = await engine.client.runs.trigger(wf, { items: [1] });
  const result = await run.result();
  assert.equal(result.status, "FAILED");
  assert.match(
    result.errors.sum,
    new RegExp(`^could not deliver request to "${url}/hatchet/trigger": .+`),
  );
  assert.deepEqual(endpoint.deliveries().map((d) => [d.taskName, d.status]), [["sum", undefined]]);
});
