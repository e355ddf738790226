// DurableContext over MockEngine's in-memory transport: contexts of real (RUNNING) task runs,
// the engine's conditions and virtual clock, its injected faults, and its RPC log. The wire tap
// adds what the log does not keep: each RegisterDurableEvent's body and deadline.

import assert from "node:assert/strict";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { TaskCancelledError } from "../../context/errors.ts";
import {
  or,
  ParentCondition,
  SleepCondition,
  UserEventCondition,
  type WaitCondition,
} from "../../durable/conditions.ts";
import { createDurableContext, type DurableContextDeps } from "../../durable/durable_context.ts";
import {
  createDurableListener,
  type DurableListener,
  type LegacyRetryOptions,
} from "../../durable/legacy_listener.ts";
import { RpcError } from "../../transport/rpc_error.ts";
import { baseContext } from "./_base_context.ts";
import {
  type DurableFixture,
  durableFixture,
  durableLog,
  registerLog,
  until,
} from "./_engine_fixture.ts";

const REGISTER = "/v1.V1Dispatcher/RegisterDurableEvent";

interface Setup extends AsyncDisposable {
  fx: DurableFixture;
  listener: DurableListener;
  deps: DurableContextDeps;
  /** The first task run. */
  A: string;
}

/**
 * Task runs on a raw worker, a listener and the deps of their contexts: namespace `ns_`, and
 * register retries after 0 ms (they run on real timers, which the virtual clock does not move).
 */
async function setup(
  engine: MockEngine,
  options: { runs?: number; retry?: LegacyRetryOptions } = {},
): Promise<Setup> {
  const fx = await durableFixture(engine, options.runs ?? 1);
  const listener = createDurableListener(fx.ports.durable, { backoff: { initialMs: 0, maxMs: 0 } });
  return {
    fx,
    listener,
    deps: {
      listener,
      port: fx.ports.durable,
      namespace: "ns_",
      retry: options.retry ?? { initialMs: 0, maxMs: 0 },
    },
    A: fx.taskRunIds[0],
    async [Symbol.asyncDispose]() {
      await listener.close();
      await fx[Symbol.asyncDispose]();
    },
  };
}

/** The bodies of the RegisterDurableEvent requests that went on the wire. */
function registerBodies(fx: DurableFixture) {
  return fx.tap.calls.filter((c) => c.method === "RegisterDurableEvent").map((c) =>
    c.body as {
      signalKey: string;
      conditions: { sleepConditions: { base: { readableDataKey: string }; sleepFor: string }[] };
    }
  );
}

/** RegisterDurableEvent and ListenForDurableEvent entries of the RPC log. */
function durableRpcs(engine: MockEngine) {
  return engine.rpcLog().filter((e) =>
    e.method === "RegisterDurableEvent" || e.method === "ListenForDurableEvent"
  );
}

Deno.test("createDurableContext() keeps every field of the base context", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const controller = new AbortController();
  const ctx = createDurableContext(baseContext(s.A, controller), s.deps);
  assert.equal(ctx.taskRunId, s.A);
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
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const ctx = createDurableContext(baseContext(s.A), s.deps);
  const sleep = new SleepCondition("1m");
  const paid = new UserEventCondition("order:paid", { expression: "input.amount > 5" });
  const group = or(paid, sleep);
  const wait = ctx.waitFor("payment", group);
  await engine.settle();
  assert.deepEqual(s.fx.tap.calls.filter((c) => c.method === "RegisterDurableEvent"), [{
    method: "RegisterDurableEvent",
    timeoutMs: 5_000,
    body: {
      taskId: s.A,
      signalKey: "payment",
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
    },
  }]);
  const summary = { taskName: "wait", taskRunId: s.A, signalKey: "payment" };
  assert.deepEqual(durableRpcs(engine), [
    { method: "RegisterDurableEvent", summary },
    { method: "ListenForDurableEvent" },
    { method: "ListenForDurableEvent", summary },
  ]);
  // The key without the namespace, and a payload failing the expression, leave it waiting.
  await engine.client.events.push("order:paid", { orderId: "123", amount: 7 });
  await engine.client.events.push("ns_order:paid", { orderId: "123", amount: 3 });
  await engine.settle();
  assert.equal(s.listener.subscriptions, 1);
  await engine.client.events.push("ns_order:paid", { orderId: "123", amount: 7 });
  assert.deepEqual(await wait, { CREATE: { "order:paid": [{ orderId: "123", amount: 7 }] } });
  assert.equal(s.listener.subscriptions, 0);
});

Deno.test("DurableContext.sleepFor() uses sleep:<d>-<n> keys counted per attempt", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const ctx = createDurableContext(baseContext(s.A), s.deps);
  const first = ctx.sleepFor("10s");
  await engine.advance("10s");
  assert.deepEqual(await first, { CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } });
  const second = ctx.sleepFor(10_000);
  await engine.advance("10s");
  assert.deepEqual(await second, { CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } });
  const third = ctx.sleepFor("24h");
  await engine.advance("24h");
  assert.deepEqual(await third, { CREATE: { "sleep:24h": [{ sleep_duration: "24h" }] } });
  assert.deepEqual(registerLog(engine), [["sleep:10s-0"], ["sleep:10s-1"], ["sleep:24h-2"]]);
  const bodies = registerBodies(s.fx);
  assert.deepEqual(
    bodies.map((b) => [b.signalKey, b.conditions.sleepConditions[0].sleepFor]),
    [["sleep:10s-0", "10s"], ["sleep:10s-1", "10s"], ["sleep:24h-2", "24h"]],
  );
  assert.equal(bodies[0].conditions.sleepConditions[0].base.readableDataKey, "sleep:10s");
});

Deno.test("DurableContext.sleepFor() of a retried attempt replays the first attempt's result", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const attempt1 = createDurableContext(baseContext(s.A), s.deps);
  const firstSleep = attempt1.sleepFor("1h");
  await engine.advance("1h");
  const result1 = await firstSleep;
  assert.deepEqual(result1, { CREATE: { "sleep:1h": [{ sleep_duration: "1h" }] } });
  const before = engine.now().getTime();
  const attempt2 = createDurableContext(baseContext(s.A, new AbortController(), 1), s.deps);
  assert.deepEqual(await attempt2.sleepFor("1h"), result1);
  assert.equal(engine.now().getTime(), before);
  assert.deepEqual(registerLog(engine), [["sleep:1h-0"], ["sleep:1h-0"]]);
  assert.deepEqual(durableLog(s.fx), ["open", "A sleep:1h-0", "A sleep:1h-0"]);
});

Deno.test("DurableContext.sleepFor() rejects with RangeError and keeps the counter when the duration is bad", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const ctx = createDurableContext(baseContext(s.A), s.deps);
  await assert.rejects(
    ctx.sleepFor("later"),
    new RangeError(
      'Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received "later"',
    ),
  );
  const sleep = ctx.sleepFor("1s");
  await engine.advance("1s");
  assert.deepEqual(await sleep, { CREATE: { "sleep:1s": [{ sleep_duration: "1s" }] } });
  assert.deepEqual(registerLog(engine), [["sleep:1s-0"]]);
});

Deno.test("DurableContext.waitFor() rejects with TypeError for bad arguments without an RPC", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const ctx = createDurableContext(baseContext(s.A), s.deps);
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
  await engine.settle();
  assert.deepEqual(durableRpcs(engine), []);
});

Deno.test("DurableContext.waitFor() retries a transient register failure", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const ctx = createDurableContext(baseContext(s.A), s.deps);
  engine.faults.failNext("RegisterDurableEvent", "unavailable");
  engine.faults.failNext("RegisterDurableEvent", "deadline_exceeded");
  engine.faults.failNext("RegisterDurableEvent", "internal");
  const wait = ctx.waitFor("k", new UserEventCondition("e"));
  // The event must come after the registration: the engine matches no earlier event.
  await until(engine, () => registerLog(engine).length === 4, "the fourth register");
  await engine.client.events.push("ns_e", { k: 1 });
  assert.deepEqual(await wait, { CREATE: { e: [{ k: 1 }] } });
  assert.deepEqual(registerLog(engine), [
    ["k", "unavailable"],
    ["k", "deadline_exceeded"],
    ["k", "internal"],
    ["k"],
  ]);
});

Deno.test("DurableContext.waitFor() passes a not_found or invalid_argument error to the caller", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const unknown = crypto.randomUUID();
  const cases = [
    { taskRunId: unknown, code: "not_found", detail: `task not found: ${unknown}` },
    { taskRunId: "not-a-uuid", code: "invalid_argument", detail: "task id is not a valid uuid" },
  ];
  for (const { taskRunId, code, detail } of cases) {
    const ctx = createDurableContext(baseContext(taskRunId), s.deps);
    await assert.rejects(ctx.waitFor("k", new SleepCondition("1s")), (err) => {
      assert.ok(err instanceof RpcError);
      assert.equal(err.code, code);
      assert.equal(err.method, REGISTER);
      assert.equal(err.message, `${REGISTER} failed with ${code}: ${detail}`);
      return true;
    });
    assert.equal(s.listener.subscriptions, 0);
  }
  assert.deepEqual(registerLog(engine), [["k", "not_found"], ["k", "invalid_argument"]]);
});

Deno.test("DurableContext.waitFor() gives up after the retry attempts", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine, { retry: { attempts: 2, initialMs: 0, maxMs: 0 } });
  const ctx = createDurableContext(baseContext(s.A), s.deps);
  engine.faults.failNext("RegisterDurableEvent", "unavailable", 2);
  await assert.rejects(ctx.waitFor("k", new SleepCondition("1s")), (err) => {
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, "unavailable");
    assert.equal(
      err.message,
      `${REGISTER} failed with unavailable: injected fault: RegisterDurableEvent fails with unavailable`,
    );
    return true;
  });
  assert.deepEqual(registerLog(engine), [["k", "unavailable"], ["k", "unavailable"]]);
  assert.equal(s.listener.subscriptions, 0);
});

Deno.test("DurableContext.waitFor() rejects with the signal's reason when cancelled mid-wait", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const controller = new AbortController();
  const ctx = createDurableContext(baseContext(s.A, controller), s.deps);
  const wait = ctx.waitFor("k", new SleepCondition("24h"));
  await engine.settle();
  assert.equal(s.listener.subscriptions, 1);
  assert.deepEqual(registerLog(engine), [["k"]]);
  assert.deepEqual(durableLog(s.fx), ["open", "A k"]);
  const reason = new TaskCancelledError("engine");
  controller.abort(reason);
  await assert.rejects(wait, (err) => err === reason);
  assert.equal(s.listener.subscriptions, 0);
  // The sleep still ends in the engine; nobody is waiting for it.
  await engine.advance("24h");
  assert.equal(s.listener.subscriptions, 0);
});

Deno.test("DurableContext.waitFor() rejects with the signal's reason when cancelled between register retries", async () => {
  await using engine = new MockEngine();
  // A minute between retries: the cancellation must cut the wait short.
  await using s = await setup(engine, { retry: { initialMs: 60_000, maxMs: 60_000 } });
  const controller = new AbortController();
  const ctx = createDurableContext(baseContext(s.A, controller), s.deps);
  engine.faults.failNext("RegisterDurableEvent", "unavailable");
  const wait = ctx.waitFor("k", new SleepCondition("24h"));
  await until(engine, () => registerLog(engine).length === 1, "the failed register");
  const reason = new TaskCancelledError("worker");
  controller.abort(reason);
  await assert.rejects(wait, (err) => err === reason);
  assert.equal(s.listener.subscriptions, 0);
  await engine.settle();
  assert.deepEqual(registerLog(engine), [["k", "unavailable"]]);
});

Deno.test("DurableContext.waitFor() rejects with the signal's reason when cancelled while the register call is in flight", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const controller = new AbortController();
  const ctx = createDurableContext(baseContext(s.A, controller), s.deps);
  const wait = ctx.waitFor("k", new SleepCondition("24h"));
  const reason = new TaskCancelledError("worker");
  controller.abort(reason);
  await assert.rejects(wait, (err) => err === reason);
  assert.equal(s.listener.subscriptions, 0);
});

Deno.test("DurableContext.waitFor() rejects at once when the run is already cancelled", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine);
  const controller = new AbortController();
  const ctx = createDurableContext(baseContext(s.A, controller), s.deps);
  const reason = new TaskCancelledError("task", "ctx.cancel() was called");
  controller.abort(reason);
  await assert.rejects(ctx.sleepFor("1s"), (err) => err === reason);
  await engine.settle();
  assert.deepEqual(durableRpcs(engine), []);
});

Deno.test("DurableContext.waitFor() of two task runs on one key see only their own events", async () => {
  await using engine = new MockEngine();
  await using s = await setup(engine, { runs: 2 });
  const [A, B] = s.fx.taskRunIds;
  const approval = (run: string) =>
    new UserEventCondition("approved", { expression: `input.run == "${run}"` });
  const a = createDurableContext(baseContext(A), s.deps).waitFor("approval", approval("a"));
  const b = createDurableContext(baseContext(B), s.deps).waitFor("approval", approval("b"));
  await engine.settle();
  await engine.client.events.push("ns_approved", { run: "b" });
  assert.deepEqual(await b, { CREATE: { approved: [{ run: "b" }] } });
  await engine.settle();
  assert.equal(s.listener.subscriptions, 1);
  await engine.client.events.push("ns_approved", { run: "a" });
  assert.deepEqual(await a, { CREATE: { approved: [{ run: "a" }] } });
  assert.deepEqual(durableLog(s.fx), ["open", "A approval", "B approval"]);
});
