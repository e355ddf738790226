import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  DurableEventListenerConditionsSchema,
  type SleepMatchCondition,
  type UserEventMatchCondition,
} from "../../transport/services.ts";
import { MockEngine } from "../../testing/mod.ts";
import { type Clients, clientsOf, listenDurable, startWorker, task, trigger } from "./_helpers.ts";

function sleep(sleepFor: string, readableDataKey: string, orGroupId: string = crypto.randomUUID()) {
  return { base: { readableDataKey, orGroupId, expression: "" }, sleepFor } as SleepMatchCondition;
}

function userEvent(
  key: string,
  expression = "",
  orGroupId: string = crypto.randomUUID(),
  readableDataKey = key,
) {
  return {
    base: { readableDataKey, orGroupId, expression },
    userEventKey: key,
  } as UserEventMatchCondition;
}

async function durableSetup(engine: MockEngine, retries = 0) {
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "dur",
    tasks: [
      task("dur", "waiter", {
        isDurable: true,
        slotRequests: { durable: 1 },
        timeout: "48h",
        retries,
      }),
    ],
  });
  const worker = await startWorker(engine, c, "w", ["dur:waiter"], { default: 1, durable: 10 });
  const runId = await trigger(c, "dur");
  const action = await worker.next();
  return { c, worker, runId, action, taskId: action.taskRunExternalId };
}

async function register(
  c: Clients,
  taskId: string,
  signalKey: string,
  sleeps: SleepMatchCondition[],
  events: UserEventMatchCondition[],
) {
  await c.durable.registerDurableEvent({
    taskId,
    signalKey,
    conditions: create(DurableEventListenerConditionsSchema, {
      sleepConditions: sleeps,
      userEventConditions: events,
    }),
  });
}

Deno.test("MockEngine completes a 24-hour durable sleep on the virtual clock", async () => {
  await using engine = new MockEngine();
  const { c, worker, taskId, action } = await durableSetup(engine);
  await register(c, taskId, "sleep:24h-0", [sleep("24h", "sleep:24h")], []);
  const listener = listenDurable(c);
  listener.subscribe(taskId, "sleep:24h-0");
  await engine.advance("23h59m59s");
  assert.equal(listener.received.length, 0);
  await engine.advance("1s");
  assert.deepEqual(await listener.next(), {
    taskId,
    signalKey: "sleep:24h-0",
    data: { CREATE: { "sleep:24h": [{ sleep_duration: "24h" }] } },
  });
  assert.equal(await listener.close(), undefined);
  await worker.complete(action);
  await worker.close();
  assert.deepEqual(
    engine.rpcLog({ omit: ["GetVersion"] }).map((e) => e.method),
    [
      "PutWorkflow",
      "Register",
      "ListenV2",
      "TriggerWorkflowRun",
      "RegisterDurableEvent",
      "ListenForDurableEvent",
      "ListenForDurableEvent",
      "SendStepActionEvent",
    ],
  );
});

Deno.test("MockEngine ANDs or-groups and ORs their members, matching user events with CEL", async () => {
  await using engine = new MockEngine();
  const { c, worker, taskId, action } = await durableSetup(engine);
  const either = crypto.randomUUID();
  await register(
    c,
    taskId,
    "k",
    [sleep("1h", "sleep:1h", either)],
    [
      userEvent("order:paid", "input.amount > 10", either),
      userEvent("order:shipped"),
    ],
  );
  const listener = listenDurable(c);
  listener.subscribe(taskId, "k");
  const push = (key: string, payload: unknown) =>
    c.events.push({ key, payload: JSON.stringify(payload) });
  await push("order:paid", { amount: 5 });
  await push("order:shipped", { carrier: "ups" });
  await engine.settle();
  assert.equal(listener.received.length, 0, "the or-group is not satisfied yet");
  await push("order:paid", { amount: 20 });
  assert.deepEqual((await listener.next()).data, {
    CREATE: { "order:paid": [{ amount: 20 }], "order:shipped": [{ carrier: "ups" }] },
  });
  await engine.advance("2h");
  assert.equal(listener.received.length, 1, "a completed match never fires again");
  await listener.close();
  await worker.complete(action);
  await worker.close();
});

Deno.test("MockEngine lets the sleep member of an or-group win", async () => {
  await using engine = new MockEngine();
  const { c, worker, taskId, action } = await durableSetup(engine);
  const group = crypto.randomUUID();
  await register(c, taskId, "k", [sleep("1m", "sleep:1m", group)], [userEvent("go", "", group)]);
  const listener = listenDurable(c);
  listener.subscribe(taskId, "k");
  await engine.advance("1m");
  assert.deepEqual((await listener.next()).data, {
    CREATE: { "sleep:1m": [{ sleep_duration: "1m" }] },
  });
  await listener.close();
  await worker.complete(action);
  await worker.close();
});

Deno.test("MockEngine replays a completed signal key to a retried attempt at once", async () => {
  await using engine = new MockEngine();
  const { c, worker, taskId, action } = await durableSetup(engine, 1);
  await register(c, taskId, "sleep:10s-0", [sleep("10s", "sleep:10s")], []);
  const first = listenDurable(c);
  first.subscribe(taskId, "sleep:10s-0");
  await engine.advance("10s");
  const original = await first.next();
  await first.close();
  await worker.fail(action, "crash after the sleep");
  const retry = await worker.next();
  assert.equal(retry.retryCount, 1);
  // The retried attempt registers the same key again (a new 10 s sleep) and subscribes.
  await register(c, taskId, "sleep:10s-0", [sleep("10s", "sleep:10s")], []);
  const second = listenDurable(c);
  second.subscribe(taskId, "sleep:10s-0");
  assert.deepEqual(await second.next(), original);
  await engine.advance("10s");
  assert.equal(second.received.length, 1);
  await second.close();
  await worker.complete(retry);
  await worker.close();
});

Deno.test("MockEngine never matches a bad CEL expression and reports it in the engine log", async () => {
  await using engine = new MockEngine();
  const { c, worker, taskId, action } = await durableSetup(engine);
  await register(c, taskId, "k", [], [userEvent("e", "input.amount >")]);
  const listener = listenDurable(c);
  listener.subscribe(taskId, "k");
  await c.events.push({ key: "e", payload: '{"amount":1}' });
  await engine.settle();
  assert.equal(listener.received.length, 0);
  assert.match(engine.engineLog().join("\n"), /CEL expression "input.amount >" .* failed/);
  await listener.close();
  await worker.complete(action);
  await worker.close();
});

Deno.test("MockEngine rejects a durable registration with a bad task id or or_group_id", async () => {
  await using engine = new MockEngine();
  const { c, worker, taskId, action } = await durableSetup(engine);
  await assert.rejects(
    register(c, "nope", "k", [sleep("1s", "s")], []),
    /\[invalid_argument\] task id is not a valid uuid/,
  );
  await assert.rejects(
    register(c, crypto.randomUUID(), "k", [sleep("1s", "s")], []),
    /\[not_found\] task not found/,
  );
  await assert.rejects(
    register(c, taskId, "k", [sleep("1s", "s", "group-1")], []),
    /\[invalid_argument\] or_group_id must be a UUID, received "group-1"/,
  );
  await worker.complete(action);
  await worker.close();
});

Deno.test("MockEngine.dropStreams ends ListenForDurableEvent with UNAVAILABLE; a new stream replays", async () => {
  await using engine = new MockEngine();
  const { c, worker, taskId, action } = await durableSetup(engine);
  await register(c, taskId, "k", [], [userEvent("go")]);
  const first = listenDurable(c);
  first.subscribe(taskId, "k");
  await engine.settle();
  engine.dropStreams();
  const err = await first.close();
  assert.match(String(err), /\[unavailable\] mock engine dropped the stream/);
  await c.events.push({ key: "go", payload: '{"x":1}' });
  const second = listenDurable(c);
  second.subscribe(taskId, "k");
  assert.deepEqual((await second.next()).data, { CREATE: { go: [{ x: 1 }] } });
  await second.close();
  await worker.complete(action);
  await worker.close();
});
