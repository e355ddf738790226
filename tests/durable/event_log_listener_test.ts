// The event-log listener against MockEngine's DurableTask service, driven directly (no worker):
// what the engine never answers, stale invocations, and the one-request-at-a-time rule.

import assert from "node:assert/strict";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { UserEventCondition } from "../../durable/conditions.ts";
import {
  createEventLogListener,
  InvocationEvictedError,
} from "../../durable/event_log_listener.ts";
import { toDurableConditions } from "../../durable/to_conditions.ts";
import { durableFixture } from "./_engine_fixture.ts";

const event = (key: string) => toDurableConditions([new UserEventCondition(key)], "");

Deno.test("createEventLogListener() fails a call the engine never acknowledges after ackTimeoutMs", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  await using listener = createEventLogListener(fx.ports.durableTask, {
    workerId: () => fx.workerId,
    ackTimeoutMs: 20,
  });
  // A task id the engine does not know: it logs the error and sends nothing (as v0.104.7).
  const unknown = crypto.randomUUID();
  const run = listener.open({
    taskRunId: unknown,
    invocationCount: 1,
    signal: new AbortController().signal,
  });
  await assert.rejects(
    run.wait("k", event("k"), { description: "event(k)" }),
    new Error(
      `The engine did not acknowledge event(k) of durable task run "${unknown}" within 20 ms`,
    ),
  );
  assert.ok(engine.engineLog().some((n) => n.includes(`task not found: ${unknown}`)));
  run.close();
});

Deno.test("createEventLogListener() ends a stale invocation on the engine's server_evict", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const evicted: [string, number, string][] = [];
  await using listener = createEventLogListener(fx.ports.durableTask, {
    workerId: () => fx.workerId,
    onServerEvict: (task, inv, reason) => evicted.push([task, inv, reason]),
  });
  const [task] = fx.taskRunIds;
  // The engine assigned invocation 1; invocation 2 is not the one it knows.
  const run = listener.open({
    taskRunId: task,
    invocationCount: 2,
    signal: new AbortController().signal,
  });
  const reason = `invocation count mismatch for task ${task}: server has 1, worker sent 2`;
  await assert.rejects(
    run.wait("k", event("k"), { description: "event(k)" }),
    (err) => err instanceof InvocationEvictedError && err.message.endsWith(reason),
  );
  assert.deepEqual(evicted, [[task, 2, reason]]);
});

Deno.test("createEventLogListener() sends one request per invocation at a time, in call order", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  await using listener = createEventLogListener(fx.ports.durableTask, {
    workerId: () => fx.workerId,
  });
  const [task] = fx.taskRunIds;
  const controller = new AbortController();
  const run = listener.open({ taskRunId: task, invocationCount: 1, signal: controller.signal });
  const a = run.wait("a", event("a"), { description: "event(a)" });
  const b = run.wait("b", event("b"), { description: "event(b)" });
  await engine.settle();
  await engine.client.events.push("b", { n: 2 });
  await engine.client.events.push("a", { n: 1 });
  assert.deepEqual(await Promise.all([a, b]), [
    { CREATE: { a: [{ n: 1 }] } },
    { CREATE: { b: [{ n: 2 }] } },
  ]);
  assert.deepEqual(
    engine.durableEventLog(task).map((e) => [e.nodeId, e.description]),
    [[1, "event(a)"], [2, "event(b)"]],
  );
  run.close();
});

Deno.test("createEventLogListener() rejects pending calls with the signal's reason on abort", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  await using listener = createEventLogListener(fx.ports.durableTask, {
    workerId: () => fx.workerId,
  });
  const controller = new AbortController();
  const run = listener.open({
    taskRunId: fx.taskRunIds[0],
    invocationCount: 1,
    signal: controller.signal,
  });
  const waiting = run.wait("k", event("never"), { description: "event(never)" });
  await engine.settle();
  const reason = new Error("stop");
  controller.abort(reason);
  await assert.rejects(waiting, (err) => err === reason);
});
