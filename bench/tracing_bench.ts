// Tracing off must cost nothing measurable: with no OpenTelemetry SDK registered (and no
// OTEL_DENO=true), what the worker adds per task attempt is `observer.attempt()`, which asks the
// API for a span once and finds it non-recording. The first group times that against a plain
// call; the second times whole task dispatches on MockEngine, where that cost has to vanish.
// bench/tracing_on_bench.ts runs the same dispatches with an SDK recording every span.

import { createWorker, workflow } from "../mod.ts";
import { MockEngine } from "../testing/mod.ts";
import { createWorkerObserver } from "../observability/_worker_observer.ts";
import type { AttemptInfo } from "../observability/_tracing.ts";

const observer = createWorkerObserver(undefined, {
  state: () => "running",
  slots: { default: 100, durable: 1000 },
  slotsInUse: () => ({ default: 0, durable: 0 }),
});
const info: AttemptInfo = {
  workflowName: "order",
  taskName: "ship",
  workflowRunId: "1c0b6a52-36b8-4c1f-9d7a-1a2b3c4d5e6f",
  taskRunId: "9f0e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b",
  actionId: "order:ship",
  retryCount: 0,
  tenantId: "t",
  workerId: "w",
  workerName: "bench",
  durable: false,
  additionalMetadata: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
  parentWorkflowRunId: undefined,
  triggeringEventKey: undefined,
};
const task = () => ({ shipped: true });
let sink: unknown;

Deno.bench("task call without hooks", { group: "per attempt", baseline: true }, () => {
  sink = task();
});

Deno.bench("task call with the attempt hooks, tracing off", { group: "per attempt" }, () => {
  const observed = observer.attempt(info);
  sink = observed.run(task);
  observed.end("completed");
});

const wf = workflow({ name: "dispatch" });
wf.task({ name: "noop", fn: () => ({}) });
const engine = new MockEngine();
const worker = createWorker(engine.client, { name: "bench", workflows: [wf], slots: 100 });
await worker.start();

Deno.bench("100 task dispatches on MockEngine, tracing off", { group: "dispatch" }, async () => {
  const runs = await Promise.all(
    Array.from({ length: 100 }, () => engine.client.runs.trigger(wf, {})),
  );
  await Promise.all(runs.map((run) => run.result()));
});

globalThis.addEventListener("unload", () => {
  void sink;
});
