// No OpenTelemetry SDK is registered in this file: tracing is off, and nothing of it shows.

import assert from "node:assert/strict";
import { createWorker, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { tracingOff } from "../../observability/_tracing.ts";

Deno.test("Worker with no OpenTelemetry SDK adds no traceparent to runs and no metadata to log lines", async () => {
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
  const run = await engine.client.runs.trigger(wf, {}, { additionalMetadata: { tenant: "acme" } });
  assert.deepEqual((await run.result()).outputs.t, { metadata: { tenant: "acme" } });
  await engine.client.events.push("nothing", {}, { additionalMetadata: { a: 1 } });
  const [line] = engine.logs();
  assert.equal(line.message, "hello");
  assert.equal(line.metadata, undefined);
  assert.equal("metadata" in line, false);
});
