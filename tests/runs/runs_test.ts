import assert from "node:assert/strict";
import {
  type Context,
  createWorker,
  type JsonObject,
  parseCron,
  type StreamChunk,
  workflow,
} from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";

const quiet = { warn() {}, error() {} };

Deno.test("ctx.spawnChild() links the child to its parent task, and a retry gets the same children", async () => {
  const child = workflow<{ n: number }>({ name: "child" });
  child.task({
    name: "echo",
    fn: (input, ctx) => ({
      n: input.n,
      parent: ctx.parentWorkflowRunId ?? null,
      meta: (ctx.additionalMetadata ?? {}) as JsonObject,
    }),
  });
  const parent = workflow({ name: "parent" });
  parent.task({
    name: "spawn",
    retries: 1,
    fn: async (_input, ctx: Context) => {
      const keyed = await ctx.spawnChild(child, { n: 1 }, {
        key: "k",
        additionalMetadata: { own: 1 },
      });
      const indexed = await ctx.spawnChild(child, { n: 2 });
      if (ctx.retryCount === 0) throw new Error("first attempt fails after spawning");
      const [a, b] = await Promise.all([keyed.result(), indexed.result()]);
      return { a: a.outputs.echo, b: b.outputs.echo, ids: [keyed.id, indexed.id] };
    },
  });
  await using engine = new MockEngine();
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [parent, child],
    logger: quiet,
  });
  await worker.start();
  const run = await engine.client.runs.trigger(parent, {}, {
    additionalMetadata: { tenant: "acme" },
  });
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  const out = result.outputs.spawn as { a: JsonObject; b: JsonObject; ids: string[] };
  const [parentTask] = engine.taskRuns(run.id);
  const runs = engine.runs();
  // Two children only, though two attempts spawned them.
  assert.deepEqual(
    runs.map((r) => [r.workflowName, r.triggeredBy, r.childIndex ?? null, r.childKey ?? null]),
    [
      ["parent", "manual", null, null],
      ["child", "child", 0, "k"],
      ["child", "child", 1, null],
    ],
  );
  assert.deepEqual(out.ids, [runs[1].id, runs[2].id]);
  assert.equal(runs[1].parentTaskRunId, parentTask.id);
  assert.equal(runs[1].parentWorkflowRunId, run.id);
  assert.equal(out.a.parent, parentTask.id);
  // The parent's metadata flows down (its traceparent too, so the child joins its trace).
  const traceparent = runs[0].additionalMetadata?.traceparent;
  assert.match(String(traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.deepEqual(out.a.meta, {
    tenant: "acme",
    own: 1,
    traceparent,
    hatchet__parent_workflow_run_id: run.id,
    hatchet__parent_step_run_id: parentTask.id,
  });
  assert.deepEqual(
    engine.rpcLog().filter((e) => e.method === "TriggerWorkflow").map((e) => e.summary?.childIndex),
    [0, 1, 0, 1],
  );
});

Deno.test("ctx.runChildren() spawns in one BulkTriggerWorkflow call and returns results in order", async () => {
  const square = workflow<{ n: number }>({ name: "square" });
  square.task({ name: "sq", fn: (input) => ({ sq: input.n * input.n }) });
  const fan = workflow({ name: "fan" });
  fan.task({
    name: "spawn",
    fn: async (_input, ctx) => {
      const results = await ctx.runChildren(
        [3, 1, 2].map((n) => ({ workflow: square, input: { n } })),
      );
      return { sq: results.map((r) => r.outputs.sq.sq as number) };
    },
  });
  await using engine = new MockEngine();
  await using worker = createWorker(engine.client, { name: "w", workflows: [fan, square] });
  await worker.start();
  const result = await (await engine.client.runs.trigger(fan, {})).result();
  assert.deepEqual(result.outputs.spawn, { sq: [9, 1, 4] });
  assert.deepEqual(
    engine.rpcLog().filter((e) => e.method === "BulkTriggerWorkflow").map((e) => e.summary),
    [{ count: 3 }],
  );
});

Deno.test("RunRef.result() waits on one shared SubscribeToWorkflowRuns stream, not by polling", async () => {
  const wf = workflow<{ i: number }>({ name: "many" });
  wf.task({ name: "t", fn: (input) => ({ i: input.i }) });
  await using engine = new MockEngine();
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const results = await Promise.all(
    Array.from(
      { length: 50 },
      async (_, i) => (await engine.client.runs.trigger(wf, { i })).result(),
    ),
  );
  assert.deepEqual(results.map((r) => r.outputs.t.i), Array.from({ length: 50 }, (_, i) => i));
  const log = engine.rpcLog();
  const opened = log.filter((e) =>
    e.method === "SubscribeToWorkflowRuns" && e.summary === undefined
  );
  assert.equal(opened.length, 1);
  // One GetRunDetails per run, after its finished event: no polling.
  assert.equal(log.filter((e) => e.method === "GetRunDetails").length, 50);
});

Deno.test("RunRef.stream() reads chunks in order as they arrive and ends with the run", async () => {
  const wf = workflow({ name: "talker" });
  wf.task({
    name: "talk",
    fn: async (_input, ctx) => {
      for (const word of ["a", "b", "c"]) await ctx.putStream(word);
      return {};
    },
  });
  await using engine = new MockEngine();
  const registrar = createWorker(engine.client, { name: "r", workflows: [wf] });
  await registrar.start();
  await registrar.stop();
  const run = await engine.client.runs.trigger(wf, {});
  const chunks: StreamChunk[] = [];
  const reading = (async () => {
    for await (const c of run.stream()) chunks.push(c);
  })();
  await engine.settle();
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  await reading;
  const [task] = engine.taskRuns(run.id);
  assert.deepEqual(chunks.map((c) => [c.taskRunId, c.index, c.text()]), [
    [task.id, 0, "a"],
    [task.id, 1, "b"],
    [task.id, 2, "c"],
  ]);
  // A run that already finished: the stream ends at once, empty.
  const after: StreamChunk[] = [];
  for await (const c of run.stream()) after.push(c);
  assert.deepEqual(after, []);
});

Deno.test("runs.bulkTrigger() and events.bulkPush() create every run", async () => {
  const wf = workflow<{ n: number }>({ name: "bulk", onEvents: ["bulk:go"] });
  wf.task({ name: "t", fn: (input) => ({ n: input.n ?? -1 }) });
  await using engine = new MockEngine();
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const refs = await engine.client.runs.bulkTrigger(wf, [{ input: { n: 1 } }, { input: { n: 2 } }]);
  assert.deepEqual((await Promise.all(refs.map((r) => r.result()))).map((r) => r.outputs.t.n), [
    1,
    2,
  ]);
  const ids = await engine.client.events.bulkPush([
    { key: "bulk:go", payload: { n: 3 } },
    { key: "bulk:go", payload: { n: 4 } },
  ]);
  assert.equal(ids.length, 2);
  await engine.settle();
  assert.deepEqual(engine.runs().map((r) => r.triggeredBy), ["manual", "manual", "event", "event"]);
});

Deno.test("runs.schedule() and onCrons fire on the virtual clock", async () => {
  const wf = workflow({ name: "timed", onCrons: ["*/5 * * * *"], cronInput: { from: "cron" } });
  wf.task({ name: "t", fn: (input) => ({ from: input.from ?? "schedule" }) });
  await using engine = new MockEngine({ start: new Date("2026-01-01T00:01:00Z") });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const at = new Date("2026-01-01T00:07:00Z");
  const scheduled = await engine.client.runs.schedule(wf, at, { from: "schedule" });
  assert.deepEqual(engine.schedules().map((s) => s.id), [scheduled.id]);
  await engine.advance("10m");
  assert.deepEqual(
    engine.runs().map((r) => [r.triggeredBy, r.createdAt.toISOString()]),
    [
      ["cron", "2026-01-01T00:05:00.000Z"],
      ["schedule", "2026-01-01T00:07:00.000Z"],
      ["cron", "2026-01-01T00:10:00.000Z"],
    ],
  );
  assert.deepEqual(engine.taskRuns().map((t) => t.output), [
    { from: "cron" },
    { from: "schedule" },
    { from: "cron" },
  ]);
  assert.deepEqual(engine.schedules(), []);
});

Deno.test("workflow() rejects a bad cron expression, naming it", () => {
  assert.throws(
    () => workflow({ name: "bad", onCrons: ["*/5 * * *"] }),
    (err: unknown) =>
      err instanceof RangeError &&
      err.message ===
        'Workflow "bad": Invalid cron expression "*/5 * * *": expected 5 fields (minute hour day-of-month month day-of-week), found 4',
  );
  assert.equal(
    parseCron("0 0 29 2 *").next(new Date("2026-03-01T00:00:00Z")).toISOString(),
    "2028-02-29T00:00:00.000Z",
  );
});

Deno.test("runs.replay() runs a finished run's tasks again as new attempts", async () => {
  let calls = 0;
  const wf = workflow({ name: "again" });
  const first = wf.task({ name: "first", fn: () => ({ call: ++calls }) });
  wf.task({
    name: "second",
    parents: [first],
    fn: (_i, ctx) => ({ saw: ctx.taskOutput(first).call }),
  });
  await using engine = new MockEngine();
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  assert.deepEqual((await run.result()).outputs.second, { saw: 1 });
  const replayed = await engine.client.runs.replay([run.id]);
  assert.equal(replayed.length, 2);
  const again = await engine.client.runs.get(run.id).result();
  assert.deepEqual(again.outputs, { first: { call: 2 }, second: { saw: 2 } });
  assert.deepEqual(engine.taskRuns(run.id).map((t) => t.retryCount), [1, 1]);
});

/** Resolves to the promise's state without waiting for it. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  const pending = Symbol("pending");
  return await Promise.race([p.then(() => true, () => true), Promise.resolve(pending)]) !==
    pending;
}

Deno.test("RunRef.result() waits by subscription for a run the engine creates late (triggerDelay)", async () => {
  await using engine = new MockEngine({ triggerDelay: "2s" });
  const wf = workflow<{ n: number }>({ name: "late" });
  wf.task({ name: "t", fn: (input) => ({ n: input.n }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf], logger: quiet });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, { n: 7 });
  const result = run.result();
  await engine.advance("1s");
  assert.deepEqual(engine.workflowRuns(), [], "the run does not exist yet");
  assert.equal(await settled(result), false);
  await engine.advance("1s");
  assert.deepEqual(await result, { status: "COMPLETED", outputs: { t: { n: 7 } }, errors: {} });
  const log = engine.rpcLog().filter((e) =>
    e.method === "SubscribeToWorkflowRuns" || e.method === "GetRunDetails"
  );
  // The listener asked for the id before the run existed; the details were read once, after
  // the engine said the run finished, so no NOT_FOUND poll happened.
  assert.deepEqual(log.map((e) => [e.method, e.summary?.workflowRunId, e.error]), [
    ["SubscribeToWorkflowRuns", undefined, undefined],
    ["SubscribeToWorkflowRuns", run.id, undefined],
    ["GetRunDetails", run.id, undefined],
  ]);
});

Deno.test("RunRef.result() for 50 concurrent triggers under triggerDelay shares one subscription", async () => {
  await using engine = new MockEngine({ triggerDelay: "2s" });
  const wf = workflow<{ n: number }>({ name: "burst" });
  wf.task({ name: "t", fn: (input) => ({ square: input.n * input.n }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf], logger: quiet });
  await worker.start();
  const inputs = Array.from({ length: 50 }, (_, n) => n);
  const results = Promise.all(inputs.map(async (n) => {
    const run = await engine.client.runs.trigger(wf, { n });
    return { id: run.id, result: await run.result() };
  }));
  await engine.advance("1s");
  assert.deepEqual(engine.workflowRuns(), []);
  assert.equal(await settled(results), false);
  await engine.advance("1s");
  const done = await results;
  assert.deepEqual(
    done.map((d) => d.result),
    inputs.map((n) => ({ status: "COMPLETED", outputs: { t: { square: n * n } }, errors: {} })),
  );
  const log = engine.rpcLog();
  const subscriptions = log.filter((e) => e.method === "SubscribeToWorkflowRuns");
  assert.equal(subscriptions.filter((e) => e.summary === undefined).length, 1, "one stream");
  assert.deepEqual(
    new Set(subscriptions.map((e) => e.summary?.workflowRunId).filter((id) => id !== undefined)),
    new Set(done.map((d) => d.id)),
  );
  assert.deepEqual(log.filter((e) => e.method === "GetRunDetails" && e.error !== undefined), []);
});

Deno.test("ctx.runChild() under triggerDelay waits for a child the engine creates late", async () => {
  await using engine = new MockEngine({ triggerDelay: "2s" });
  const child = workflow<{ n: number }>({ name: "late-child" });
  child.task({ name: "c", fn: (input) => ({ n: input.n + 1 }) });
  const parent = workflow({ name: "late-parent" });
  parent.task({
    name: "p",
    fn: async (_input, ctx) => (await ctx.runChild(child, { n: 1 })).outputs.c,
  });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [parent, child],
    logger: quiet,
  });
  await worker.start();
  const run = await engine.client.runs.trigger(parent, {});
  const result = run.result();
  await engine.advance("2s");
  assert.deepEqual(engine.runs().map((r) => r.workflowName), ["late-parent"]);
  await engine.advance("2s");
  assert.deepEqual(await result, { status: "COMPLETED", outputs: { p: { n: 2 } }, errors: {} });
  // WorkflowService triggers go through the same ingestion as TriggerWorkflowRun.
  assert.deepEqual(engine.runs().map((r) => [r.workflowName, r.createdAt.toISOString()]), [
    ["late-parent", "2026-01-01T00:00:02.000Z"],
    ["late-child", "2026-01-01T00:00:04.000Z"],
  ]);
});

Deno.test("onCrons stop firing once the workflow is registered again without them", async () => {
  const declare = (crons: string[]) => {
    const wf = workflow({ name: "ticking", onCrons: crons });
    wf.task({ name: "t", fn: () => ({}) });
    return wf;
  };
  await using engine = new MockEngine();
  await using first = createWorker(engine.client, {
    name: "w1",
    workflows: [declare(["* * * * *"])],
  });
  await first.start();
  await engine.advance("2m");
  await using second = createWorker(engine.client, { name: "w2", workflows: [declare([])] });
  await second.start();
  await engine.advance("5m");
  assert.deepEqual(engine.runs().map((r) => [r.triggeredBy, r.createdAt.toISOString()]), [
    ["cron", "2026-01-01T00:01:00.000Z"],
    ["cron", "2026-01-01T00:02:00.000Z"],
  ]);
});
