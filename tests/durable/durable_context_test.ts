import assert from "node:assert/strict";
import { TaskCancelledError } from "../../context/errors.ts";
import {
  or,
  ParentCondition,
  SleepCondition,
  UserEventCondition,
  type WaitCondition,
} from "../../durable/conditions.ts";
import { createDurableContext } from "../../durable/durable_context.ts";
import { createDurableListener } from "../../durable/durable_listener.ts";
import { RpcError } from "../../transport/rpc_error.ts";
import { baseContext } from "./_base_context.ts";
import { createFakeDurablePort } from "./_fake_durable_port.ts";

const T1 = "11111111-1111-4111-8111-111111111111";
const T2 = "22222222-2222-4222-8222-222222222222";
const REGISTER = "/v1.V1Dispatcher/RegisterDurableEvent";

function setup(taskRunId = T1, controller = new AbortController()) {
  const port = createFakeDurablePort();
  const listener = createDurableListener(port);
  const ctx = createDurableContext(baseContext(taskRunId, controller), {
    listener,
    port,
    namespace: "ns_",
    retry: { initialMs: 1, maxMs: 2 },
  });
  return { port, listener, ctx, controller };
}

Deno.test("createDurableContext() keeps every field of the base context", async () => {
  const { listener, ctx, controller } = setup();
  await using _ = listener;
  assert.equal(ctx.taskRunId, T1);
  assert.equal(ctx.workflowRunId, "wr-1");
  assert.equal(ctx.taskName, "approve");
  assert.equal(ctx.workerId, "worker-1");
  assert.equal(ctx.attemptNumber, 1);
  assert.deepEqual(ctx.input, { orderId: "o-1" });
  assert.equal(ctx.signal, controller.signal);
  assert.equal(ctx.done(), false);
  assert.equal(typeof ctx.log, "function");
  assert.equal(typeof ctx.waitFor, "function");
  assert.equal(typeof ctx.sleepFor, "function");
});

Deno.test("DurableContext.waitFor() registers the conditions and resolves with the event data", async () => {
  const { port, listener, ctx } = setup();
  await using _ = listener;
  const sleep = new SleepCondition("1m");
  const paid = new UserEventCondition("order:paid", { expression: "input.amount > 5" });
  const group = or(paid, sleep);
  const wait = ctx.waitFor("payment", group);
  await port.requested(0, 1);
  assert.deepEqual(port.registers, [{
    taskId: T1,
    signalKey: "payment",
    timeoutMs: 5_000,
    conditions: {
      sleepConditions: [{
        base: {
          readableDataKey: "sleep:1m",
          action: "CREATE",
          orGroupId: group.orGroupId,
          expression: "",
        },
        sleepFor: "1m",
      }],
      userEventConditions: [{
        base: {
          readableDataKey: "order:paid",
          action: "CREATE",
          orGroupId: group.orGroupId,
          expression: "input.amount > 5",
        },
        userEventKey: "ns_order:paid",
      }],
    },
  }]);
  port.complete(T1, "payment", { CREATE: { "order:paid": [{ orderId: "123", amount: 7 }] } });
  assert.deepEqual(await wait, { CREATE: { "order:paid": [{ orderId: "123", amount: 7 }] } });
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableContext.sleepFor() uses sleep:<d>-<n> keys counted per attempt", async () => {
  const { port, listener, ctx } = setup();
  await using _ = listener;
  port.complete(T1, "sleep:10s-0", { CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } });
  port.complete(T1, "sleep:10s-1", { CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } });
  port.complete(T1, "sleep:24h-2", { CREATE: { "sleep:24h": [{ sleep_duration: "24h" }] } });
  assert.deepEqual(await ctx.sleepFor("10s"), {
    CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] },
  });
  await ctx.sleepFor(10_000);
  assert.deepEqual(await ctx.sleepFor("24h"), {
    CREATE: { "sleep:24h": [{ sleep_duration: "24h" }] },
  });
  assert.deepEqual(
    port.registers.map((r) => [r.signalKey, r.conditions.sleepConditions[0].sleepFor]),
    [["sleep:10s-0", "10s"], ["sleep:10s-1", "10s"], ["sleep:24h-2", "24h"]],
  );
  assert.equal(port.registers[0].conditions.sleepConditions[0].base.readableDataKey, "sleep:10s");
});

Deno.test("DurableContext.sleepFor() of a retried attempt replays the first attempt's result", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  const deps = { listener, port, namespace: "" };
  const attempt1 = createDurableContext(baseContext(T1), deps);
  const firstSleep = attempt1.sleepFor("1h");
  await port.requested(0, 1);
  port.complete(T1, "sleep:1h-0", { CREATE: { "sleep:1h": [{ sleep_duration: "1h" }] } });
  const result1 = await firstSleep;
  const attempt2 = createDurableContext(baseContext(T1, new AbortController(), 1), deps);
  assert.deepEqual(await attempt2.sleepFor("1h"), result1);
  assert.deepEqual(port.registers.map((r) => r.signalKey), ["sleep:1h-0", "sleep:1h-0"]);
});

Deno.test("DurableContext.sleepFor() rejects with RangeError and keeps the counter when the duration is bad", async () => {
  const { port, listener, ctx } = setup();
  await using _ = listener;
  await assert.rejects(
    ctx.sleepFor("later"),
    new RangeError(
      'Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received "later"',
    ),
  );
  port.complete(T1, "sleep:1s-0", { CREATE: {} });
  await ctx.sleepFor("1s");
  assert.deepEqual(port.registers.map((r) => r.signalKey), ["sleep:1s-0"]);
});

Deno.test("DurableContext.waitFor() rejects with TypeError for bad arguments without an RPC", async () => {
  const { port, listener, ctx } = setup();
  await using _ = listener;
  await assert.rejects(
    ctx.waitFor("", new SleepCondition("1s")),
    new TypeError('Invalid signal key: expected a non-empty string, received ""'),
  );
  await assert.rejects(
    ctx.waitFor("k"),
    new TypeError(
      'Invalid wait for signal key "k": expected at least one condition, received none',
    ),
  );
  const parent = new ParentCondition({ name: "charge", workflow: "orders" }, "true");
  await assert.rejects(
    ctx.waitFor("k", parent as unknown as WaitCondition),
    new TypeError(
      'Invalid wait condition: a ParentCondition only applies to a DAG task\'s skipIf or waitFor, received one for parent "charge"',
    ),
  );
  assert.equal(port.registers.length, 0);
  assert.equal(port.streams.length, 0);
});

Deno.test("DurableContext.waitFor() retries a transient register failure", async () => {
  const { port, listener, ctx } = setup();
  await using _ = listener;
  port.registerFailures.push(
    new RpcError("unavailable", REGISTER, "connection reset"),
    new RpcError("deadline_exceeded", REGISTER, "slow"),
    new RpcError("internal", REGISTER, "oops"),
  );
  port.complete(T1, "k", { CREATE: { k: [1] } });
  assert.deepEqual(await ctx.waitFor("k", new UserEventCondition("e")), { CREATE: { k: [1] } });
  assert.equal(port.registers.length, 4);
});

Deno.test("DurableContext.waitFor() passes a not_found or invalid_argument error to the caller", async () => {
  for (const code of ["not_found", "invalid_argument"] as const) {
    const { port, listener, ctx } = setup();
    await using _ = listener;
    const error = new RpcError(code, REGISTER, "task not found");
    port.registerFailures.push(error);
    await assert.rejects(ctx.waitFor("k", new SleepCondition("1s")), (err) => err === error);
    assert.equal(port.registers.length, 1);
    assert.equal(listener.subscriptions, 0);
  }
});

Deno.test("DurableContext.waitFor() gives up after the retry attempts", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  const ctx = createDurableContext(baseContext(T1), {
    listener,
    port,
    namespace: "",
    retry: { attempts: 2, initialMs: 1, maxMs: 1 },
  });
  const last = new RpcError("unavailable", REGISTER, "down");
  port.registerFailures.push(new RpcError("unavailable", REGISTER, "down"), last);
  await assert.rejects(ctx.waitFor("k", new SleepCondition("1s")), (err) => err === last);
  assert.equal(port.registers.length, 2);
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableContext.waitFor() rejects with the signal's reason when cancelled mid-wait", async () => {
  const { port, listener, ctx, controller } = setup();
  await using _ = listener;
  const wait = ctx.waitFor("k", new SleepCondition("24h"));
  await port.requested(0, 1);
  assert.equal(listener.subscriptions, 1);
  const reason = new TaskCancelledError("engine");
  controller.abort(reason);
  await assert.rejects(wait, (err) => err === reason);
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableContext.waitFor() rejects with the signal's reason when cancelled while registering", async () => {
  const { port, listener, ctx, controller } = setup();
  await using _ = listener;
  port.hangRegister = true;
  const wait = ctx.waitFor("k", new SleepCondition("24h"));
  const reason = new TaskCancelledError("worker");
  await port.requested(0, 1);
  controller.abort(reason);
  await assert.rejects(wait, (err) => err === reason);
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableContext.waitFor() rejects at once when the run is already cancelled", async () => {
  const { port, listener, ctx, controller } = setup();
  await using _ = listener;
  const reason = new TaskCancelledError("task", "ctx.cancel() was called");
  controller.abort(reason);
  await assert.rejects(ctx.sleepFor("1s"), (err) => err === reason);
  assert.equal(port.registers.length, 0);
});

Deno.test("DurableContext.waitFor() of two task runs on one key see only their own events", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  const deps = { listener, port, namespace: "" };
  const a = createDurableContext(baseContext(T1), deps).waitFor(
    "approval",
    new SleepCondition("1h"),
  );
  const b = createDurableContext(baseContext(T2), deps).waitFor(
    "approval",
    new SleepCondition("1h"),
  );
  await port.requested(0, 2);
  port.complete(T2, "approval", { CREATE: { who: ["b"] } });
  assert.deepEqual(await b, { CREATE: { who: ["b"] } });
  assert.equal(listener.subscriptions, 1);
  port.complete(T1, "approval", { CREATE: { who: ["a"] } });
  assert.deepEqual(await a, { CREATE: { who: ["a"] } });
});
