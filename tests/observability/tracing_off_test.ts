// No OpenTelemetry SDK is registered in this file: tracing is off, and nothing of it shows.

import assert from "node:assert/strict";
import { createWorker, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { tracingOff } from "../../observability/_tracing.ts";

Deno.test("Worker with no OpenTelemetry SDK leaves a run's traceparent as sent and adds no metadata to log lines", async () => {
  assert.equal(tracingOff(), true);
  await using engine = new MockEngine();
  const wf = workflow({ name: "untraced" });
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      await ctx.log("hello");
      return { metadata: ctx.additionalMetadata ?? null };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const sent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const run = await engine.client.runs.trigger(wf, {}, {
    additionalMetadata: { tenant: "acme", traceparent: sent },
  });
  // The caller's traceparent goes through untouched: no span of ours took its place.
  assert.deepEqual((await run.result()).outputs.t, {
    metadata: { tenant: "acme", traceparent: sent },
  });
  await engine.client.events.push("nothing", {}, { additionalMetadata: { a: 1 } });
  const [line] = engine.logs();
  assert.equal(line.message, "hello");
  assert.equal(line.metadata, undefined);
  assert.equal("metadata" in line, false);
});
