import assert from "node:assert/strict";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { createWorker, type DurableContext, UserEventCondition, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { formatTraceparent, parseTraceparent } from "../../observability/_tracing.ts";
import { installTracing, parentOf, takeSpans, treeOf } from "./_otel.ts";

installTracing();
const quiet = { warn() {}, error() {} };

function byName(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span named ${name}, found ${found.length}`);
  return found[0];
}

Deno.test("Worker traces a DAG run as one tree: trigger, task attempts, a durable wait and a run triggered from a task", async () => {
  takeSpans();
  await using engine = new MockEngine();
  const notify = workflow({ name: "notify" });
  notify.task({ name: "send", fn: () => ({ sent: true }) });
  const order = workflow<{ id: string }>({ name: "order" });
  const validate = order.task({
    name: "validate",
    fn: async (input, ctx) => {
      await ctx.log(`validating ${input.id}`);
      return { ok: true };
    },
  });
  const review = order.durableTask({
    name: "review",
    parents: [validate],
    fn: async (_input, ctx: DurableContext) => {
      await ctx.waitFor("approval", new UserEventCondition("order:approved"));
      return { approved: true };
    },
  });
  const charge = order.task({
    name: "charge",
    parents: [validate],
    fn: async () => {
      const child = await engine.client.runs.trigger(notify, {});
      return { notifyRun: child.id };
    },
  });
  order.task({ name: "ship", parents: [review, charge], fn: () => ({ shipped: true }) });
  await using worker = createWorker(engine.client, {
    name: "tracer",
    workflows: [order, notify],
    logger: quiet,
  });
  await worker.start();

  const run = await engine.client.runs.trigger(order, { id: "o-1" });
  await engine.settle();
  await engine.client.events.push("order:approved", {});
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  const notifyRun = String(result.outputs.charge.notifyRun);
  await engine.settle();

  const spans = takeSpans();
  const trigger = byName(spans, "runs.trigger order");
  const traceId = trigger.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  assert.equal(
    treeOf(inTrace),
    [
      "runs.trigger order",
      "  charge",
      "    runs.trigger notify",
      "      send",
      "  review",
      "    waitFor approval",
      "  ship",
      "  validate",
    ].join("\n"),
  );
  assert.equal(parentOf(trigger), undefined);
  // The event push is its own trace: it started no run, it only woke the wait.
  const push = byName(spans, "events.push order:approved");
  assert.notEqual(push.spanContext().traceId, traceId);
  assert.equal(spans.length, inTrace.length + 1);

  const tasks = engine.taskRuns(run.id);
  const validateRun = tasks.find((t) => t.taskName === "validate")!;
  const validateSpan = byName(spans, "validate");
  assert.deepEqual(validateSpan.attributes, {
    "hatchet.workflow_name": "order",
    "hatchet.task_name": "validate",
    "hatchet.workflow_run_id": run.id,
    "hatchet.task_run_id": validateRun.id,
    "hatchet.action_name": "order:validate",
    "hatchet.retry_count": 0,
    "hatchet.attempt_number": 1,
    "hatchet.tenant_id": engine.tenantId,
    "hatchet.worker_id": worker.id,
    "hatchet.worker_name": "tracer",
    "hatchet.durable": false,
    "hatchet.outcome": "completed",
  });
  assert.equal(validateSpan.status.code, SpanStatusCode.OK);
  assert.equal(trigger.attributes["hatchet.workflow_run_id"], run.id);
  assert.equal(byName(spans, "send").attributes["hatchet.workflow_run_id"], notifyRun);
  assert.equal(byName(spans, "review").attributes["hatchet.durable"], true);
  const wait = byName(spans, "waitFor approval");
  assert.equal(wait.attributes["hatchet.signal_key"], "approval");
  assert.equal(typeof wait.attributes["hatchet.wait_ms"], "number");

  // The run carried the trigger span as its traceparent; each log line names its task's span.
  const [line] = engine.logs(validateRun.id);
  assert.equal(line.message, "validating o-1");
  assert.deepEqual(line.metadata, {
    trace_id: traceId,
    span_id: validateSpan.spanContext().spanId,
  });
});

Deno.test("Worker records a failed attempt on its span and starts a new span for the retry", async () => {
  takeSpans();
  await using engine = new MockEngine();
  const wf = workflow({ name: "flaky" });
  let calls = 0;
  wf.task({
    name: "wobble",
    retries: 1,
    fn: () => {
      if (++calls === 1) throw new Error("disk full");
      return { calls };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf], logger: quiet });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1m");
  assert.equal((await run.result()).status, "COMPLETED");

  const spans = takeSpans();
  assert.equal(treeOf(spans), ["runs.trigger flaky", "  wobble", "  wobble"].join("\n"));
  const [first, second] = spans.filter((s) => s.name === "wobble");
  assert.deepEqual(
    [first, second].map((s) => [
      s.attributes["hatchet.attempt_number"],
      s.attributes["hatchet.outcome"],
      s.status.code,
    ]),
    [[1, "failed", SpanStatusCode.ERROR], [2, "completed", SpanStatusCode.OK]],
  );
  assert.match(first.status.message ?? "", /disk full/);
  assert.deepEqual(first.events.map((e) => e.name), ["exception"]);
  assert.match(String(first.events[0].attributes?.["exception.message"]), /disk full/);
});

Deno.test("events.push() carries the active span as traceparent into the runs the event triggers", async () => {
  takeSpans();
  await using engine = new MockEngine();
  const onSignup = workflow({ name: "on-signup", onEvents: ["user:signup"] });
  onSignup.task({
    name: "welcome",
    fn: (_input, ctx) => ({ traceparent: ctx.additionalMetadata?.traceparent ?? null }),
  });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [onSignup],
    logger: quiet,
  });
  await worker.start();

  const tracer = trace.getTracer("test");
  await tracer.startActiveSpan("signup handler", async (span) => {
    await engine.client.events.push("user:signup", { user: "u-1" }, {
      additionalMetadata: { source: "web" },
    });
    span.end();
  });
  await engine.settle();

  const spans = takeSpans();
  assert.equal(
    treeOf(spans),
    ["signup handler", "  events.push user:signup", "    welcome"].join("\n"),
  );
  const push = byName(spans, "events.push user:signup");
  assert.equal(typeof push.attributes["hatchet.event_id"], "string");
  const [task] = engine.taskRuns();
  assert.deepEqual(task.output, { traceparent: formatTraceparent(push.spanContext()) });
  assert.equal(byName(spans, "welcome").attributes["hatchet.event_key"], "user:signup");
});

Deno.test("runs.trigger() joins a traceparent the caller put in the metadata when no span is active", async () => {
  takeSpans();
  await using engine = new MockEngine();
  const wf = workflow({ name: "joined" });
  wf.task({ name: "t", fn: () => ({}) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf], logger: quiet });
  await worker.start();
  const upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const run = await engine.client.runs.trigger(wf, {}, {
    additionalMetadata: { traceparent: upstream, tenant: "acme" },
  });
  await run.result();
  const spans = takeSpans();
  assert.equal(treeOf(spans), ["runs.trigger joined", "  t"].join("\n"));
  const trigger = byName(spans, "runs.trigger joined");
  assert.equal(trigger.spanContext().traceId, "0af7651916cd43dd8448eb211c80319c");
  assert.equal(parentOf(trigger), "b7ad6b7169203331");
});

Deno.test("parseTraceparent() accepts W3C version 00 values and rejects malformed ones", () => {
  assert.deepEqual(parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: 1,
    isRemote: true,
  });
  for (
    const bad of [
      undefined,
      42,
      "",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
      "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
    ]
  ) {
    assert.equal(parseTraceparent(bad), undefined, String(bad));
  }
  const ctx = parseTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-x")!;
  assert.equal(formatTraceparent(ctx), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
});
