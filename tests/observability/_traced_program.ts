// Run by otlp_demo_test.ts under OTEL_DENO=true: a worker and two triggers over real gRPC (the
// native HTTP/2 stack) against a MockEngine listening on 127.0.0.1.

import { createClient, createWorker, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";

await using engine = new MockEngine();
await using server = await engine.listen();
await using client = createClient({
  token: engine.token,
  hostPort: server.hostPort,
  tls: "none",
  http: "native",
  env: {},
});
const wf = workflow({ name: "over-grpc" });
wf.task({
  name: "logger",
  fn: async (_input, ctx) => {
    await ctx.log("hello");
    return {};
  },
});
await using worker = createWorker(client, { name: "w", workflows: [wf] });
await worker.start();
for (let i = 0; i < 2; i++) await (await client.runs.trigger(wf, {})).result();
