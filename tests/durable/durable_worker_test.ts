// Durable waits end to end: a real worker against MockEngine's in-memory transport, with the
// virtual clock standing in for hours of waiting.

import assert from "node:assert/strict";
import {
  createWorker,
  type DurableContext,
  type DurableWaitResult,
  type JsonObject,
  or,
  SleepCondition,
  TaskCancelledError,
  UserEventCondition,
  workflow,
} from "@hatchet-deno/sdk";
import { MockEngine } from "@hatchet-deno/sdk/testing";

type Fn = (input: JsonObject, ctx: DurableContext<JsonObject>) => Promise<JsonObject>;

/** A one-task workflow whose durable task runs `fn`, with a timeout that outlasts its waits. */
function durableWorkflow(name: string, fn: Fn, retries = 0) {
  const wf = workflow({ name });
  wf.durableTask({ name: "wait", executionTimeout: "48h", retries, fn });
  return wf;
}

async function started(engine: MockEngine, workflows: ReturnType<typeof durableWorkflow>[]) {
  const worker = createWorker(engine.client, { name: "durable-worker", workflows });
  await worker.start();
  return worker;
}

function statusOf(engine: MockEngine, runId: string): string {
  return engine.taskRuns(runId)[0].status;
}

// Both engine paths: the DurableTask event log (the mock's default version) and the legacy
// RegisterDurableEvent / ListenForDurableEvent pair of engines before v0.80.0.
const PATHS = [
  { label: "event log", version: undefined, stream: "DurableTask" },
  { label: "legacy", version: "v0.79.0", stream: "ListenForDurableEvent" },
] as const;

function durableStreams(engine: MockEngine, method: string): number {
  // Stream messages are logged with a summary; stream opens without.
  return engine.rpcLog().filter((e) => e.method === method && !e.summary).length;
}

function approvalWorkflow(name: string) {
  return durableWorkflow(name, async (input, ctx) => ({
    result: await ctx.waitFor(
      "approval",
      or(
        new UserEventCondition("approved", {
          expression: `input.orderId == ${JSON.stringify(input.orderId)} && input.ok == true`,
        }),
        new SleepCondition("1h"),
      ),
    ),
  }));
}
for (const { label, version, stream } of PATHS) {
  Deno.test(`DurableContext.sleepFor() sleeps 24 hours of virtual time [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    const wf = durableWorkflow("sleep-24h", async (_input, ctx) => ({
      slept: await ctx.sleepFor("24h"),
    }));
    await using _worker = await started(engine, [wf]);
    const run = await engine.client.runs.trigger(wf, {});
    await engine.advance("23h59m59s");
    assert.equal(statusOf(engine, run.id), "RUNNING");
    await engine.advance("1s");
    const result = await run.result();
    assert.equal(result.status, "COMPLETED");
    assert.deepEqual(result.outputs.wait, {
      slept: { CREATE: { "sleep:24h": [{ sleep_duration: "24h" }] } },
    });
  });

  Deno.test(`DurableContext.waitFor() of or(event, sleep) resolves with the event when it wins [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    const wf = approvalWorkflow("or-event-wins");
    await using _worker = await started(engine, [wf]);
    const run = await engine.client.runs.trigger(wf, { orderId: "o-1" });
    await engine.advance("10m");
    // Neither another key nor a payload failing the expression wakes the wait.
    await engine.client.events.push("rejected", { orderId: "o-1", ok: true });
    await engine.client.events.push("approved", { orderId: "o-1", ok: false });
    await engine.client.events.push("approved", { orderId: "o-2", ok: true });
    await engine.advance("10m");
    assert.equal(statusOf(engine, run.id), "RUNNING");
    await engine.client.events.push("approved", { orderId: "o-1", ok: true, by: "ana" });
    const result = await run.result();
    assert.deepEqual(result.outputs.wait, {
      result: { CREATE: { approved: [{ orderId: "o-1", ok: true, by: "ana" }] } },
    });
  });

  Deno.test(`DurableContext.waitFor() of or(event, sleep) resolves with the sleep when it wins [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    const wf = approvalWorkflow("or-sleep-wins");
    await using _worker = await started(engine, [wf]);
    const run = await engine.client.runs.trigger(wf, { orderId: "o-1" });
    await engine.client.events.push("approved", { orderId: "o-1", ok: false });
    await engine.advance("1h");
    const result = await run.result();
    assert.deepEqual(result.outputs.wait, {
      result: { CREATE: { "sleep:1h": [{ sleep_duration: "1h" }] } },
    });
    // A matching event after the sleep won changes nothing.
    await engine.client.events.push("approved", { orderId: "o-1", ok: true });
    assert.deepEqual((await run.result()).outputs.wait, result.outputs.wait);
  });

  Deno.test(`DurableContext.waitFor() with two separate conditions waits for both [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    const wf = durableWorkflow("and", async (_input, ctx) => ({
      result: await ctx.waitFor("both", new SleepCondition("10m"), new UserEventCondition("go")),
    }));
    await using _worker = await started(engine, [wf]);
    const run = await engine.client.runs.trigger(wf, {});
    await engine.advance("1m");
    await engine.client.events.push("go", { n: 1 });
    await engine.advance("5m");
    assert.equal(statusOf(engine, run.id), "RUNNING");
    await engine.advance("4m");
    const result = await run.result();
    assert.deepEqual(result.outputs.wait, {
      result: { CREATE: { "sleep:10m": [{ sleep_duration: "10m" }], go: [{ n: 1 }] } },
    });
  });

  Deno.test(`DurableContext.sleepFor() replays a finished sleep on retry without sleeping again [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    const start = engine.now().getTime();
    const seen: { attempt: number; at: number; result: DurableWaitResult }[] = [];
    const wf = durableWorkflow("replay", async (_input, ctx) => {
      const result = await ctx.sleepFor("1h");
      seen.push({ attempt: ctx.attemptNumber, at: engine.now().getTime() - start, result });
      if (ctx.retryCount === 0) throw new Error("first attempt fails after its sleep");
      return { result };
    }, 1);
    await using _worker = await started(engine, [wf]);
    const run = await engine.client.runs.trigger(wf, {});
    await engine.advance("1h");
    const result = await run.result();
    assert.equal(result.status, "COMPLETED");
    const slept = { CREATE: { "sleep:1h": [{ sleep_duration: "1h" }] } };
    assert.deepEqual(seen, [
      { attempt: 1, at: 3_600_000, result: slept },
      { attempt: 2, at: 3_600_000, result: slept },
    ]);
    assert.deepEqual(result.outputs.wait, { result: slept });
  });

  Deno.test(`DurableContext.waitFor() of two task runs on one signal key see only their own events [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    const wf = durableWorkflow("same-key", async (input, ctx) => ({
      result: await ctx.waitFor(
        "approval",
        new UserEventCondition("approved", {
          expression: `input.orderId == ${JSON.stringify(input.orderId)}`,
        }),
      ),
    }));
    await using _worker = await started(engine, [wf]);
    const a = await engine.client.runs.trigger(wf, { orderId: "a" });
    const b = await engine.client.runs.trigger(wf, { orderId: "b" });
    await engine.advance("1s");
    await engine.client.events.push("approved", { orderId: "b" });
    assert.deepEqual((await b.result()).outputs.wait, {
      result: { CREATE: { approved: [{ orderId: "b" }] } },
    });
    await engine.advance("1s");
    assert.equal(statusOf(engine, a.id), "RUNNING");
    await engine.client.events.push("approved", { orderId: "a" });
    assert.deepEqual((await a.result()).outputs.wait, {
      result: { CREATE: { approved: [{ orderId: "a" }] } },
    });
    assert.equal(durableStreams(engine, stream), 1);
  });

  Deno.test(`DurableContext.waitFor() rejects with TaskCancelledError when the run is cancelled [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    let caught: unknown;
    const wf = durableWorkflow("cancel", async (_input, ctx) => {
      try {
        return { result: await ctx.waitFor("never", new UserEventCondition("never")) };
      } catch (err) {
        caught = err;
        throw err;
      }
    });
    await using _worker = await started(engine, [wf]);
    const run = await engine.client.runs.trigger(wf, {});
    await engine.advance("1m");
    await engine.client.runs.cancel([engine.taskRuns(run.id)[0].id]);
    const result = await run.result();
    assert.equal(result.status, "CANCELLED");
    await engine.advance("1s");
    assert.ok(caught instanceof TaskCancelledError);
    assert.equal(caught.source, "engine");
  });

  Deno.test(`DurableContext.waitFor() resumes after the listener stream is cut mid-wait [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    const { promise: firstDone, resolve: reachedSecond } = Promise.withResolvers<void>();
    const wf = durableWorkflow("cut", async (_input, ctx) => {
      const before = await ctx.waitFor("first", new UserEventCondition("one"));
      reachedSecond();
      return { before, after: await ctx.waitFor("second", new UserEventCondition("two")) };
    });
    await using _worker = await started(engine, [wf]);
    const run = await engine.client.runs.trigger(wf, {});
    await engine.advance("1s");
    engine.dropStreams();
    // Pushed while the stream is down: the re-sent subscription still gets the completion.
    await engine.client.events.push("one", { n: 1 });
    await firstDone;
    // The legacy path has no lookback: wait until "second" is registered before pushing.
    await engine.settle();
    engine.dropStreams();
    await engine.client.events.push("two", { n: 2 });
    const result = await run.result();
    assert.deepEqual(result.outputs.wait, {
      before: { CREATE: { one: [{ n: 1 }] } },
      after: { CREATE: { two: [{ n: 2 }] } },
    });
    assert.equal(durableStreams(engine, stream), 3);
  });

  Deno.test(`DurableContext.waitFor() resolves 1,000 concurrent waits on one stream [${label}]`, async () => {
    await using engine = new MockEngine({ version });
    const wf = durableWorkflow("many", async (input, ctx) => ({
      result: await ctx.waitFor("go", new UserEventCondition(`go:${input.n}`)),
    }));
    await using _worker = await started(engine, [wf]);
    const n = 1_000;
    const runs = [];
    for (let i = 0; i < n; i++) runs.push(await engine.client.runs.trigger(wf, { n: i }));
    await engine.advance("1s");
    assert.equal(engine.taskRuns().filter((t) => t.status === "RUNNING").length, n);
    for (let i = n - 1; i >= 0; i--) await engine.client.events.push(`go:${i}`, { n: i });
    const results = await Promise.all(runs.map((r) => r.result()));
    for (const [i, result] of results.entries()) {
      assert.deepEqual(result.outputs.wait, { result: { CREATE: { [`go:${i}`]: [{ n: i }] } } });
    }
    assert.equal(durableStreams(engine, stream), 1);
  });
}
