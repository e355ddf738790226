// The listener and DurableContext against MockEngine's in-memory transport, without a worker
// runtime: a raw worker holds the task run (RUNNING), which is all RegisterDurableEvent and
// ListenForDurableEvent need.

import assert from "node:assert/strict";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { SleepCondition, UserEventCondition } from "../../durable/conditions.ts";
import { createDurableContext } from "../../durable/durable_context.ts";
import {
  createDurableListener,
  type DurableListenerOptions,
} from "../../durable/legacy_listener.ts";
import { RpcError } from "../../transport/rpc_error.ts";
import { baseContext } from "./_base_context.ts";
import { durableFixture, registerLog, until } from "./_engine_fixture.ts";

async function setup(engine: MockEngine, options: DurableListenerOptions = {}) {
  const fx = await durableFixture(engine);
  const [taskRunId] = fx.taskRunIds;
  const listener = createDurableListener(fx.ports.durable, {
    backoff: { initialMs: 1, maxMs: 2 },
    ...options,
  });
  const ctx = createDurableContext(baseContext(taskRunId), {
    listener,
    port: fx.ports.durable,
    namespace: "",
    retry: { initialMs: 1, maxMs: 2 },
  });
  // Settles when a registration succeeded: retries run on real timers, which the engine's
  // settle() cannot see, and an event pushed before its registration is never matched.
  const registered = () =>
    until(engine, () => registerLog(engine).some((r) => r.length === 1), "a registration");
  return {
    taskRunId,
    listener,
    ctx,
    registered,
    async [Symbol.asyncDispose]() {
      await listener.close();
      await fx[Symbol.asyncDispose]();
    },
  };
}

function calls(engine: MockEngine, method: string) {
  return engine.rpcLog().filter((e) => e.method === method);
}

Deno.test("DurableContext.sleepFor() over the engine's transport sleeps 24 virtual hours", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const { ctx } = s;
  const sleep = ctx.sleepFor("24h");
  await engine.advance("24h");
  assert.deepEqual(await sleep, { CREATE: { "sleep:24h": [{ sleep_duration: "24h" }] } });
});

Deno.test("DurableContext.waitFor() over the engine's transport retries RegisterDurableEvent on unavailable", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const { ctx, taskRunId, registered } = s;
  engine.faults.failNext("RegisterDurableEvent", "unavailable", 2);
  const wait = ctx.waitFor("k", new UserEventCondition("go"));
  await registered();
  await engine.client.events.push("go", { ok: true });
  assert.deepEqual(await wait, { CREATE: { go: [{ ok: true }] } });
  assert.deepEqual(
    calls(engine, "RegisterDurableEvent").map((e) => [e.summary?.signalKey, e.error]),
    [["k", "unavailable"], ["k", "unavailable"], ["k", undefined]],
  );
  assert.equal(calls(engine, "RegisterDurableEvent")[2].summary?.taskRunId, taskRunId);
});

Deno.test("DurableContext.waitFor() over the engine's transport passes not_found to the caller", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const { listener, ctx } = s;
  engine.faults.failNext("RegisterDurableEvent", "not_found");
  await assert.rejects(ctx.waitFor("k", new SleepCondition("1s")), (err) => {
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, "not_found");
    assert.equal(err.method, "/v1.V1Dispatcher/RegisterDurableEvent");
    return true;
  });
  assert.equal(calls(engine, "RegisterDurableEvent").length, 1);
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener over the engine's transport reconnects after transient open failures", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const { ctx, registered } = s;
  engine.faults.failNext("ListenForDurableEvent", "unavailable", 2);
  const wait = ctx.waitFor("k", new UserEventCondition("go"));
  await registered();
  await engine.client.events.push("go", { n: 1 });
  assert.deepEqual(await wait, { CREATE: { go: [{ n: 1 }] } });
  const opens = calls(engine, "ListenForDurableEvent").filter((e) => !e.summary);
  assert.deepEqual(opens.map((e) => e.error), ["unavailable", "unavailable", undefined]);
});

Deno.test("DurableListener over the engine's transport fails the wait after repeated permission_denied", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine, { maxAttempts: 3 });
  const { listener, ctx } = s;
  engine.faults.failNext("ListenForDurableEvent", "permission_denied", 3);
  await assert.rejects(ctx.waitFor("k", new SleepCondition("1h")), (err) => {
    assert.ok(err instanceof Error);
    assert.match(
      err.message,
      /^Durable event stream failed 3 times in a row: \/v1\.V1Dispatcher\/ListenForDurableEvent failed with permission_denied: /,
    );
    assert.ok(err.cause instanceof RpcError);
    return true;
  });
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener over the engine's transport closes when idle and reopens on demand", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine, { idleTimeoutMs: 0 });
  const { listener, ctx } = s;
  const first = ctx.sleepFor("1m");
  await engine.advance("1m");
  await first;
  // The idle close runs on the listener's own (real, 0 ms) timer.
  await until(engine, () => !listener.connected, "the idle close");
  const second = ctx.sleepFor("1m");
  await engine.advance("1m");
  assert.deepEqual(await second, { CREATE: { "sleep:1m": [{ sleep_duration: "1m" }] } });
  const opens = calls(engine, "ListenForDurableEvent").filter((e) => !e.summary);
  assert.equal(opens.length, 2);
});
