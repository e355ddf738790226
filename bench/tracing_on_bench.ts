// The dispatch row of bench/tracing_bench.ts with an OpenTelemetry SDK recording every span (an
// in-memory exporter): what turning tracing on costs, next to the tracing-off row.

import { trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { createWorker, workflow } from "../mod.ts";
import { MockEngine } from "../testing/mod.ts";

const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

const wf = workflow({ name: "dispatch" });
wf.task({ name: "noop", fn: () => ({}) });
const engine = new MockEngine();
const worker = createWorker(engine.client, { name: "bench", workflows: [wf], slots: 100 });
await worker.start();

Deno.bench("100 task dispatches on MockEngine, tracing on", { group: "dispatch" }, async () => {
  const runs = await Promise.all(
    Array.from({ length: 100 }, () => engine.client.runs.trigger(wf, {})),
  );
  await Promise.all(runs.map((run) => run.result()));
  exporter.reset();
});
