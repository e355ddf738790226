// The durable event-log path end to end: a real worker against MockEngine (which serves
// /v1.V1Dispatcher/DurableTask by default): eviction and restore, memo and now() replay,
// event lookback, durable children, non-determinism, worker shutdown.

import assert from "node:assert/strict";
import {
  createWorker,
  type DurableContext,
  type DurableTaskOptions,
  type JsonObject,
  NonDeterminismError,
  workflow,
} from "@hatchet-deno/sdk";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { until } from "./_engine_fixture.ts";

type Fn = (input: JsonObject, ctx: DurableContext<JsonObject>) => Promise<JsonObject>;

function durableWorkflow(
  name: string,
  fn: Fn,
  options: Partial<DurableTaskOptions<JsonObject, JsonObject>> = {},
) {
  const wf = workflow({ name });
  wf.durableTask({ name: "wait", executionTimeout: "48h", ...options, fn });
  return wf;
}

/** The DurableTask requests of the RPC log, as `kind` or `kind@invocation`. */
function durableRequests(engine: MockEngine): string[] {
  return engine.rpcLog().filter((e) => e.method === "DurableTask" && e.summary).map((e) =>
    e.summary!.invocation === undefined
      ? String(e.summary!.kind)
      : `${e.summary!.kind}@${e.summary!.invocation}`
  );
}

/** The step events the worker sent for a task run, in order. */
function stepEvents(engine: MockEngine, taskRunId: string): string[] {
  return engine.rpcLog().filter((e) =>
    e.method === "SendStepActionEvent" && e.summary?.taskRunId === taskRunId
  ).map((e) => String(e.summary!.eventType));
}

Deno.test("durableTask() with evictionPolicy is evicted mid-wait and replays from the start when restored", async () => {
  await using engine = new MockEngine();
  const invocations: number[] = [];
  const wf = durableWorkflow("evict", async (_input, ctx) => {
    invocations.push(ctx.invocationCount);
    const slept = await ctx.sleepFor("10m");
    const paid = await ctx.waitForEvent("order:paid");
    return { slept, paid, invocation: ctx.invocationCount };
  }, { evictionPolicy: { ttl: 0 } });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf], durableSlots: 1 });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  const taskRunId = engine.taskRuns(run.id)[0].id;
  await until(engine, () => engine.taskRuns(run.id)[0].evicted === true, "the first eviction");
  // Evicted: the slot is free, the attempt reported nothing but STARTED.
  assert.equal(engine.workers()[0].usedSlots.durable ?? 0, 0);
  await engine.advance("10m");
  // Restored by the sleep (invocation 2), it replays the sleep at once and waits again.
  await until(
    engine,
    () => invocations.length === 2 && engine.taskRuns(run.id)[0].evicted === true,
    "the second eviction",
  );
  await engine.client.events.push("order:paid", { id: 7 });
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs.wait, {
    slept: { CREATE: { "sleep:10m": [{ sleep_duration: "10m" }] } },
    paid: { id: 7 },
    invocation: 3,
  });
  assert.deepEqual(invocations, [1, 2, 3]);
  assert.deepEqual(durableRequests(engine), [
    "register_worker",
    "wait_for@1",
    "evict_invocation@1",
    "wait_for@2",
    "wait_for@2",
    "evict_invocation@2",
    "wait_for@3",
    "wait_for@3",
  ]);
  assert.deepEqual(stepEvents(engine, taskRunId), ["STARTED", "STARTED", "STARTED", "COMPLETED"]);
  assert.deepEqual(engine.durableEventLog(taskRunId).map((e) => [e.kind, e.nodeId, e.satisfied]), [
    ["WAIT_FOR", 1, true],
    ["WAIT_FOR", 2, true],
  ]);
});

Deno.test("durableTask() with evictionPolicy false is never evicted", async () => {
  await using engine = new MockEngine();
  const wf = durableWorkflow("no-evict", async (_input, ctx) => ({
    paid: await ctx.waitForEvent("paid"),
  }), { evictionPolicy: false });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1h");
  assert.equal(engine.taskRuns(run.id)[0].evicted, undefined);
  await engine.client.events.push("paid", { ok: true });
  assert.deepEqual((await run.result()).outputs.wait, { paid: { ok: true } });
  assert.ok(!durableRequests(engine).some((r) => r.startsWith("evict_invocation")));
});

Deno.test("DurableContext.memo() runs its function once per task run and replays the value", async () => {
  await using engine = new MockEngine();
  let calls = 0;
  const seen: number[] = [];
  const wf = durableWorkflow("memo", async (_input, ctx) => {
    const value = await ctx.memo("roll", () => {
      calls++;
      return { roll: 1 + calls * 10 };
    });
    seen.push((value as { roll: number }).roll);
    if (ctx.retryCount === 0) throw new Error("the first attempt fails after the memo");
    return { value };
  }, { retries: 1 });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.equal(calls, 1);
  assert.deepEqual(seen, [11, 11]);
  assert.deepEqual(result.outputs.wait, { value: { roll: 11 } });
  assert.deepEqual(durableRequests(engine), [
    "register_worker",
    "memo@1",
    "complete_memo",
    "memo@2",
  ]);
});

Deno.test("DurableContext.now() returns the same time on replay", async () => {
  await using engine = new MockEngine();
  const seen: string[] = [];
  const wf = durableWorkflow("now", async (_input, ctx) => {
    const first = await ctx.now();
    seen.push(first.toISOString());
    await ctx.sleepFor("1h");
    if (ctx.retryCount === 0) throw new Error("fail once after an hour");
    return { first: first.toISOString() };
  }, { retries: 1 });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1h");
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.equal(seen.length, 2);
  assert.equal(seen[1], seen[0]);
  assert.deepEqual(result.outputs.wait, { first: seen[0] });
});

Deno.test("DurableContext.waitForEvent() with a lookback sees an event pushed before the wait", async () => {
  await using engine = new MockEngine();
  await engine.client.events.push("order:paid", { id: 1 }, { scope: "other" });
  await engine.client.events.push("order:paid", { id: 2 }, { scope: "tenant-a" });
  const wf = durableWorkflow("lookback", async (_input, ctx) => ({
    paid: await ctx.waitForEvent("order:paid", { scope: "tenant-a", lookback: "1h" }),
  }));
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  assert.deepEqual((await run.result()).outputs.wait, { paid: { id: 2 } });
});

Deno.test("DurableContext.waitForEvent() without a lookback ignores earlier events and matches its scope", async () => {
  await using engine = new MockEngine();
  await engine.client.events.push("order:paid", { id: 1 }, { scope: "tenant-a" });
  const wf = durableWorkflow("scoped", async (_input, ctx) => ({
    paid: await ctx.waitForEvent("order:paid", {
      scope: "tenant-a",
      expression: "input.id > 2",
    }),
  }));
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1s");
  await engine.client.events.push("order:paid", { id: 3 }, { scope: "tenant-b" });
  await engine.client.events.push("order:paid", { id: 2 }, { scope: "tenant-a" });
  await engine.advance("1s");
  assert.equal(engine.taskRuns(run.id)[0].status, "RUNNING");
  await engine.client.events.push("order:paid", { id: 4 }, { scope: "tenant-a" });
  assert.deepEqual((await run.result()).outputs.wait, { paid: { id: 4 } });
});

Deno.test("DurableContext.waitForEvent() rejects a lookback without a scope", async () => {
  await using engine = new MockEngine();
  const wf = durableWorkflow("lookback-no-scope", async (_input, ctx) => {
    try {
      await ctx.waitForEvent("k", { lookback: "1h" });
      return { error: null };
    } catch (err) {
      return { error: `${(err as Error).name}: ${(err as Error).message}` };
    }
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  assert.deepEqual((await run.result()).outputs.wait, {
    error:
      'TypeError: Invalid waitForEvent options for key "k": lookback needs a scope, received lookback "1h" without one',
  });
});

Deno.test("DurableContext.runChild() spawns a child once across a replay", async () => {
  await using engine = new MockEngine();
  const child = workflow<{ n: number }>({ name: "double" });
  child.task({ name: "twice", fn: (input) => ({ value: input.n * 2 }) });
  const results: JsonObject[] = [];
  const parent = durableWorkflow("parent", async (_input, ctx) => {
    const out = await ctx.runChild(child, { n: 21 });
    results.push(out.outputs.twice);
    if (ctx.retryCount === 0) throw new Error("fail once after the child");
    return { status: out.status, twice: out.outputs.twice };
  }, { retries: 1 });
  await using worker = createWorker(engine.client, { name: "w", workflows: [parent, child] });
  await worker.start();
  const run = await engine.client.runs.trigger(parent, {});
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs.wait, { status: "COMPLETED", twice: { value: 42 } });
  assert.deepEqual(results, [{ value: 42 }, { value: 42 }]);
  assert.equal(engine.taskRuns().filter((t) => t.taskName === "twice").length, 1);
  assert.deepEqual(durableRequests(engine), [
    "register_worker",
    "trigger_runs@1",
    "trigger_runs@2",
  ]);
  const [task] = engine.taskRuns(run.id);
  assert.deepEqual(engine.durableEventLog(task.id).map((e) => [e.kind, e.description]), [
    ["RUN", "run(double)"],
  ]);
});

Deno.test("DurableContext.spawnChildren() spawns in one trigger_runs and reports a failed child", async () => {
  await using engine = new MockEngine();
  const ok = workflow({ name: "fine" });
  ok.task({ name: "fine", fn: () => ({ ok: true }) });
  const bad = workflow({ name: "breaks" });
  bad.task({
    name: "boom",
    fn: () => {
      throw new Error("child broke");
    },
  });
  const parent = durableWorkflow("parent-of-two", async (_input, ctx) => {
    const refs = await ctx.spawnChildren([
      { workflow: ok, input: {} },
      { workflow: bad, input: {}, options: { key: "bad" } },
    ]);
    const [a, b] = await Promise.all(refs.map((r) => r.result()));
    return { ids: refs.map((r) => r.id), a: a.status, b: b.status, error: b.errors.boom };
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [parent, ok, bad] });
  await worker.start();
  const run = await engine.client.runs.trigger(parent, {});
  const out = (await run.result()).outputs.wait as {
    ids: string[];
    a: string;
    b: string;
    error: string;
  };
  assert.deepEqual(out.ids.map((id) => engine.taskRuns(id)[0].taskName), ["fine", "boom"]);
  assert.deepEqual([out.a, out.b], ["COMPLETED", "FAILED"]);
  assert.match(out.error, /child broke/);
  assert.deepEqual(durableRequests(engine), ["register_worker", "trigger_runs@1"]);
});

Deno.test("DurableContext rejects a different operation at a recorded position with NonDeterminismError", async () => {
  await using engine = new MockEngine();
  let caught: unknown;
  const wf = durableWorkflow("nde", async (_input, ctx) => {
    if (ctx.retryCount === 0) {
      await ctx.sleepFor("1s");
      throw new Error("fail once after the sleep");
    }
    try {
      await ctx.memo("changed", () => 1);
    } catch (err) {
      caught = err;
      throw err;
    }
    return {};
  }, { retries: 1 });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1s");
  const result = await run.result();
  assert.equal(result.status, "FAILED");
  assert.ok(caught instanceof NonDeterminismError);
  assert.equal(caught.nodeId, 1);
  assert.equal(caught.taskRunId, engine.taskRuns(run.id)[0].id);
  assert.match(caught.message, /expected: sleep\(1s\), received: memo\(changed\)/);
});

Deno.test("Worker.stop() evicts waiting durable tasks instead of failing them", async () => {
  await using engine = new MockEngine();
  const invocations: number[] = [];
  const wf = durableWorkflow("shutdown", async (_input, ctx) => {
    invocations.push(ctx.invocationCount);
    return { paid: await ctx.waitForEvent("paid") };
  });
  const first = createWorker(engine.client, { name: "first", workflows: [wf] });
  await first.start();
  const run = await engine.client.runs.trigger(wf, {});
  const taskRunId = engine.taskRuns(run.id)[0].id;
  await engine.advance("1s");
  await first.stop();
  assert.equal(engine.taskRuns(run.id)[0].status, "RUNNING");
  assert.equal(engine.taskRuns(run.id)[0].evicted, true);
  assert.deepEqual(stepEvents(engine, taskRunId), ["STARTED"]);
  await using second = createWorker(engine.client, { name: "second", workflows: [wf] });
  await second.start();
  await engine.client.events.push("paid", { ok: 1 });
  assert.deepEqual((await run.result()).outputs.wait, { paid: { ok: 1 } });
  assert.deepEqual(invocations, [1, 2]);
});

Deno.test("A pre-release engine version probes the DurableTask stream and takes the event log", async () => {
  await using engine = new MockEngine({ version: "v0.1.0-alpha.0" });
  const wf = durableWorkflow("probe", async (_input, ctx) => ({ slept: await ctx.sleepFor("1s") }));
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1s");
  assert.equal((await run.result()).status, "COMPLETED");
  assert.ok(durableRequests(engine).includes("wait_for@1"));
  assert.equal(engine.rpcLog().filter((e) => e.method === "RegisterDurableEvent").length, 0);
});

Deno.test("An engine before v0.80.0 takes the legacy path", async () => {
  await using engine = new MockEngine({ version: "v0.79.0" });
  const wf = durableWorkflow("old", async (_input, ctx) => ({ slept: await ctx.sleepFor("1s") }));
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1s");
  assert.equal((await run.result()).status, "COMPLETED");
  assert.deepEqual(durableRequests(engine), []);
  assert.equal(engine.rpcLog().filter((e) => e.method === "RegisterDurableEvent").length, 1);
});
