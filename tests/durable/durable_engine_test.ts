// The listener and DurableContext against MockEngine's in-memory transport, without a worker:
// the task run exists in the engine (queued), which is all RegisterDurableEvent and
// ListenForDurableEvent need.

import assert from "node:assert/strict";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { SleepCondition, UserEventCondition } from "../../durable/conditions.ts";
import { createDurableContext } from "../../durable/durable_context.ts";
import {
  createDurableListener,
  type DurableListenerOptions,
} from "../../durable/durable_listener.ts";
import { createEnginePorts } from "../../transport/connection.ts";
import type { DurablePort, EnginePorts } from "../../transport/ports.ts";
import { RpcError } from "../../transport/rpc_error.ts";
import { baseContext } from "./_base_context.ts";

async function queuedTaskRun(engine: MockEngine, ports: EnginePorts): Promise<string> {
  await ports.admin.putWorkflow({
    name: "durable",
    description: "",
    version: "",
    eventTriggers: [],
    tasks: [{
      readableId: "wait",
      action: "durable:wait",
      timeout: "48h",
      inputs: "{}",
      parents: [],
      retries: 0,
      isDurable: true,
      slotRequests: { durable: 1 },
    }],
  });
  const { workflowRunId } = await ports.admin.triggerWorkflowRun({
    workflowName: "durable",
    input: {},
  });
  return engine.taskRuns(workflowRunId)[0].id;
}

async function setup(engine: MockEngine, options: DurableListenerOptions = {}) {
  const ports = createEnginePorts(engine.transport());
  const taskRunId = await queuedTaskRun(engine, ports);
  const listener = createDurableListener(ports.durable, {
    backoff: { initialMs: 1, maxMs: 2 },
    ...options,
  });
  // Settles when a registration succeeded: retries run on real timers, which the engine's
  // settle() cannot see, and an event pushed before its registration is never matched.
  const { promise: registered, resolve } = Promise.withResolvers<void>();
  const port: DurablePort = {
    listenForDurableEvent: (requests, callOptions) =>
      ports.durable.listenForDurableEvent(requests, callOptions),
    async registerDurableEvent(input, callOptions) {
      await ports.durable.registerDurableEvent(input, callOptions);
      resolve();
    },
  };
  const ctx = createDurableContext(baseContext(taskRunId), {
    listener,
    port,
    namespace: "",
    retry: { initialMs: 1, maxMs: 2 },
  });
  return { ports, taskRunId, listener, ctx, registered };
}

function calls(engine: MockEngine, method: string) {
  return engine.rpcLog().filter((e) => e.method === method);
}

Deno.test("DurableContext.sleepFor() over the engine's transport sleeps 24 virtual hours", async () => {
  await using engine = new MockEngine();
  const { listener, ctx } = await setup(engine);
  await using _ = listener;
  const sleep = ctx.sleepFor("24h");
  await engine.advance("24h");
  assert.deepEqual(await sleep, { CREATE: { "sleep:24h": [{ sleep_duration: "24h" }] } });
});

Deno.test("DurableContext.waitFor() over the engine's transport retries RegisterDurableEvent on unavailable", async () => {
  await using engine = new MockEngine();
  const { listener, ctx, taskRunId, registered } = await setup(engine);
  await using _ = listener;
  engine.faults.failNext("RegisterDurableEvent", "unavailable", 2);
  const wait = ctx.waitFor("k", new UserEventCondition("go"));
  await registered;
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
  const { listener, ctx } = await setup(engine);
  await using _ = listener;
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
  const { listener, ctx, registered } = await setup(engine);
  await using _ = listener;
  engine.faults.failNext("ListenForDurableEvent", "unavailable", 2);
  const wait = ctx.waitFor("k", new UserEventCondition("go"));
  await registered;
  await engine.client.events.push("go", { n: 1 });
  assert.deepEqual(await wait, { CREATE: { go: [{ n: 1 }] } });
  const opens = calls(engine, "ListenForDurableEvent").filter((e) => !e.summary);
  assert.deepEqual(opens.map((e) => e.error), ["unavailable", "unavailable", undefined]);
});

Deno.test("DurableListener over the engine's transport fails the wait after repeated permission_denied", async () => {
  await using engine = new MockEngine();
  const { listener, ctx } = await setup(engine, { maxAttempts: 3 });
  await using _ = listener;
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
  const { listener, ctx } = await setup(engine, { idleTimeoutMs: 0 });
  await using _ = listener;
  const first = ctx.sleepFor("1m");
  await engine.advance("1m");
  await first;
  await engine.settle();
  assert.equal(listener.connected, false);
  const second = ctx.sleepFor("1m");
  await engine.advance("1m");
  assert.deepEqual(await second, { CREATE: { "sleep:1m": [{ sleep_duration: "1m" }] } });
  const opens = calls(engine, "ListenForDurableEvent").filter((e) => !e.summary);
  assert.equal(opens.length, 2);
});
