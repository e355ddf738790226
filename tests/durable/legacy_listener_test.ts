// The shared durable-event listener over MockEngine's in-memory transport: real task runs, the
// engine's completions, faults and dropped streams, and its RPC log as the record of what went
// over the one ListenForDurableEvent stream.

import assert from "node:assert/strict";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { SleepCondition, UserEventCondition } from "../../durable/conditions.ts";
import {
  createDurableListener,
  type DurableListenerOptions,
} from "../../durable/legacy_listener.ts";
import { toDurableConditions } from "../../durable/to_conditions.ts";
import { RpcError } from "../../transport/rpc_error.ts";
import { complete, durableFixture, durableLog, first, until } from "./_engine_fixture.ts";

const LISTEN = "/v1.V1Dispatcher/ListenForDurableEvent";

// Reconnect on the next macrotask: the listener's backoff runs on real timers.
const FAST: DurableListenerOptions = { backoff: { initialMs: 0, maxMs: 0 } };

Deno.test("createDurableListener() opens no stream until the first subscription", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  await engine.settle();
  assert.deepEqual(durableLog(fx), []);
  assert.equal(listener.connected, false);
  const wait = first(listener.subscribe(A, "k"));
  assert.equal(listener.connected, true);
  await complete(fx, A, "k", { n: 1 });
  assert.deepEqual(await wait, { CREATE: { done: [{ n: 1 }] } });
  assert.deepEqual(durableLog(fx), ["open", "A k"]);
});

Deno.test("DurableListener.subscribe() multiplexes one stream by task run and signal key", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine, 2);
  const [A, B] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  const a = first(listener.subscribe(A, "k"));
  const b = first(listener.subscribe(B, "k"));
  const c = first(listener.subscribe(A, "other"));
  await complete(fx, B, "k", { who: "B k" });
  await complete(fx, A, "other", { who: "A other" });
  await complete(fx, A, "k", { who: "A k" });
  assert.deepEqual(await Promise.all([a, b, c]), [
    { CREATE: { done: [{ who: "A k" }] } },
    { CREATE: { done: [{ who: "B k" }] } },
    { CREATE: { done: [{ who: "A other" }] } },
  ]);
  assert.deepEqual(durableLog(fx), ["open", "A k", "B k", "A other"]);
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener.subscribe() sends one request for two local subscribers of a key", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  const a = first(listener.subscribe(A, "k"));
  const b = first(listener.subscribe(A, "k"));
  assert.equal(listener.subscriptions, 2);
  await complete(fx, A, "k", { n: 1 });
  assert.deepEqual(await Promise.all([a, b]), [
    { CREATE: { done: [{ n: 1 }] } },
    { CREATE: { done: [{ n: 1 }] } },
  ]);
  assert.deepEqual(durableLog(fx), ["open", "A k"]);
});

Deno.test("DurableListener.subscribe() asks again for a key answered before (replay)", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  await fx.ports.durable.registerDurableEvent({
    taskId: A,
    signalKey: "sleep:10s-0",
    conditions: toDurableConditions([new SleepCondition("10s")], ""),
  });
  await engine.advance("10s");
  const one = await first(listener.subscribe(A, "sleep:10s-0"));
  const two = await first(listener.subscribe(A, "sleep:10s-0"));
  assert.deepEqual(one, { CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } });
  assert.deepEqual(two, one);
  assert.deepEqual(durableLog(fx), ["open", "A sleep:10s-0", "A sleep:10s-0"]);
});

Deno.test("DurableListener.subscribe() removes the subscription on break", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  await complete(fx, A, "k", { n: 1 });
  for await (const value of listener.subscribe(A, "k")) {
    assert.deepEqual(value, { CREATE: { done: [{ n: 1 }] } });
    assert.equal(listener.subscriptions, 1);
    break;
  }
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener.subscribe() removes the subscription on return and on a throw in the loop", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  await complete(fx, A, "k", { n: 1 });
  const gen = listener.subscribe(A, "k");
  assert.deepEqual(await gen.next(), { done: false, value: { CREATE: { done: [{ n: 1 }] } } });
  assert.equal(listener.subscriptions, 1);
  assert.deepEqual(await gen.return(), { done: true, value: undefined });
  assert.equal(listener.subscriptions, 0);
  const oops = new Error("caller failed");
  await assert.rejects(
    (async () => {
      for await (const _ of listener.subscribe(A, "k")) throw oops;
    })(),
    (err) => err === oops,
  );
  assert.equal(listener.subscriptions, 0);
  assert.deepEqual(durableLog(fx), ["open", "A k", "A k"]);
});

Deno.test("DurableListener.subscribe() throws the signal's reason and unsubscribes on abort", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  const controller = new AbortController();
  const wait = first(listener.subscribe(A, "k", { signal: controller.signal }));
  await engine.settle();
  assert.deepEqual(durableLog(fx), ["open", "A k"]);
  assert.equal(listener.subscriptions, 1);
  const reason = new Error("cancelled");
  controller.abort(reason);
  await assert.rejects(wait, (err) => err === reason);
  assert.equal(listener.subscriptions, 0);
  // A late completion for the key is dropped quietly.
  await complete(fx, A, "k", { n: 1 });
  await engine.settle();
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener.subscribe() throws at once when the signal is already aborted", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  const reason = new Error("gone");
  await assert.rejects(
    first(listener.subscribe(A, "k", { signal: AbortSignal.abort(reason) })),
    (err) => err === reason,
  );
  await engine.settle();
  assert.deepEqual(durableLog(fx), []);
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener.subscribe() throws TypeError for an empty task run id or signal key", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  await assert.rejects(
    first(listener.subscribe("", "k")),
    new TypeError('Invalid task run id: expected a non-empty string, received ""'),
  );
  await assert.rejects(
    first(listener.subscribe(A, "")),
    new TypeError('Invalid signal key: expected a non-empty string, received ""'),
  );
  await engine.settle();
  assert.deepEqual(durableLog(fx), []);
});

// The engine always sends valid JSON, so the bad bytes come from the wire tap (see _wire_tap.ts).
Deno.test("DurableListener.subscribe() throws SyntaxError when the event data is not JSON (wire tap)", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  fx.tap.corruptDurableEvents(new TextEncoder().encode("{oops"));
  await complete(fx, A, "k", { n: 1 });
  await assert.rejects(first(listener.subscribe(A, "k")), (err) => {
    assert.ok(err instanceof SyntaxError);
    assert.match(
      err.message,
      new RegExp(
        `^Invalid durable event for task run "${A}" and signal key "k": data is not JSON: `,
      ),
    );
    return true;
  });
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener reconnects after the engine drops the stream and re-sends every pending key first", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine, 2);
  const [A, B] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable, FAST);
  const a = first(listener.subscribe(A, "a"));
  const b = first(listener.subscribe(B, "b"));
  const done = first(listener.subscribe(A, "done"));
  await complete(fx, A, "done", { done: true });
  assert.deepEqual(await done, { CREATE: { done: [{ done: true }] } });

  engine.dropStreams();
  await until(engine, () => durableLog(fx).length === 7, "the re-sent keys");
  assert.deepEqual(durableLog(fx), ["open", "A a", "B b", "A done", "open", "A a", "B b"]);
  // A wait subscribed after the reconnect goes on the new stream.
  const c = first(listener.subscribe(B, "c"));
  await complete(fx, B, "b", { b: 2 });
  await complete(fx, A, "a", { a: 1 });
  await complete(fx, B, "c", { c: 3 });
  assert.deepEqual(await Promise.all([a, b, c]), [
    { CREATE: { done: [{ a: 1 }] } },
    { CREATE: { done: [{ b: 2 }] } },
    { CREATE: { done: [{ c: 3 }] } },
  ]);
  assert.deepEqual(durableLog(fx), [
    "open",
    "A a",
    "B b",
    "A done",
    "open",
    "A a",
    "B b",
    "B c",
  ]);
});

// dropStreams() ends streams with UNAVAILABLE; a clean (OK) end, as a proxy's max connection age
// gives, comes from the wire tap (see _wire_tap.ts). The listener reconnects without backoff.
Deno.test("DurableListener reconnects after a clean end of the stream (wire tap) and re-sends pending keys", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine, 2);
  const [A, B] = fx.taskRunIds;
  // A backoff of a minute: a reconnect that waited for it would hang this test.
  await using listener = createDurableListener(fx.ports.durable, {
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  });
  const a = first(listener.subscribe(A, "a"));
  const b = first(listener.subscribe(B, "b"));
  await engine.settle();
  fx.tap.endStreams();
  await until(engine, () => durableLog(fx).length === 6, "the re-sent keys");
  await complete(fx, A, "a", { a: 1 });
  await complete(fx, B, "b", { b: 2 });
  assert.deepEqual(await Promise.all([a, b]), [
    { CREATE: { done: [{ a: 1 }] } },
    { CREATE: { done: [{ b: 2 }] } },
  ]);
  assert.deepEqual(durableLog(fx), ["open", "A a", "B b", "open", "A a", "B b"]);
});

Deno.test("DurableListener delivers an event completed while the stream was down", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  // Down until the test clears the fault: the completion lands before any stream is up.
  engine.faults.failNext("ListenForDurableEvent", "unavailable", 1_000_000);
  await using listener = createDurableListener(fx.ports.durable, FAST);
  const wait = first(listener.subscribe(A, "k"));
  await complete(fx, A, "k", { n: "late" });
  engine.faults.clear();
  assert.deepEqual(await wait, { CREATE: { done: [{ n: "late" }] } });
  const log = engine.rpcLog().filter((e) =>
    e.method === "Push" || e.method === "ListenForDurableEvent"
  );
  const pushed = log.findIndex((e) => e.method === "Push");
  const up = log.findIndex((e) => e.method === "ListenForDurableEvent" && !e.error);
  assert.ok(pushed >= 0 && pushed < up, JSON.stringify(log));
  assert.ok(log.slice(0, up).every((e) => e.method === "Push" || e.error === "unavailable"));
  assert.deepEqual(durableLog(fx).slice(-2), ["open", "A k"]);
});

Deno.test("DurableListener keeps retrying transient errors past maxAttempts", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  engine.faults.failNext("ListenForDurableEvent", "unavailable", 6);
  await using listener = createDurableListener(fx.ports.durable, { ...FAST, maxAttempts: 2 });
  const wait = first(listener.subscribe(A, "k"));
  await until(engine, () => durableLog(fx).length === 8, "the seventh open");
  await complete(fx, A, "k", { n: 1 });
  assert.deepEqual(await wait, { CREATE: { done: [{ n: 1 }] } });
  assert.deepEqual(durableLog(fx), [
    ...Array(6).fill("open: unavailable"),
    "open",
    "A k",
  ]);
});

Deno.test("DurableListener fails pending waits after maxAttempts non-transient errors", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine, 2);
  const [A, B] = fx.taskRunIds;
  engine.faults.failNext("ListenForDurableEvent", "permission_denied", 3);
  await using listener = createDurableListener(fx.ports.durable, { ...FAST, maxAttempts: 3 });
  const a = first(listener.subscribe(A, "a"));
  const b = first(listener.subscribe(B, "b"));
  const detail = "injected fault: ListenForDurableEvent fails with permission_denied";
  for (const wait of [a, b]) {
    await assert.rejects(wait, (err) => {
      assert.ok(err instanceof Error);
      assert.equal(
        err.message,
        `Durable event stream failed 3 times in a row: ${LISTEN} failed with permission_denied: ${detail}`,
      );
      assert.ok(err.cause instanceof RpcError);
      assert.equal(err.cause.code, "permission_denied");
      assert.equal(err.cause.method, LISTEN);
      return true;
    });
  }
  assert.equal(listener.subscriptions, 0);
  assert.deepEqual(durableLog(fx), Array(3).fill("open: permission_denied"));
  // The listener stays usable: the next wait opens a fresh stream.
  await complete(fx, A, "again", { n: 1 });
  assert.deepEqual(await first(listener.subscribe(A, "again")), { CREATE: { done: [{ n: 1 }] } });
  assert.deepEqual(durableLog(fx), [
    ...Array(3).fill("open: permission_denied"),
    "open",
    "A again",
  ]);
});

Deno.test("DurableListener closes the stream when idle and reopens it on demand", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable, { idleTimeoutMs: 0 });
  await complete(fx, A, "a", { n: 1 });
  assert.deepEqual(await first(listener.subscribe(A, "a")), { CREATE: { done: [{ n: 1 }] } });
  await until(engine, () => !listener.connected, "the idle close");
  await complete(fx, A, "b", { n: 2 });
  assert.deepEqual(await first(listener.subscribe(A, "b")), { CREATE: { done: [{ n: 2 }] } });
  assert.deepEqual(durableLog(fx), ["open", "A a", "open", "A b"]);
});

Deno.test("DurableListener keeps the stream while a wait is pending", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine, 2);
  const [A, B] = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable, { idleTimeoutMs: 0 });
  const pending = first(listener.subscribe(B, "pending"));
  await complete(fx, A, "a", { n: 1 });
  await first(listener.subscribe(A, "a"));
  await engine.settle();
  assert.equal(listener.connected, true);
  await complete(fx, B, "pending", { n: 2 });
  assert.deepEqual(await pending, { CREATE: { done: [{ n: 2 }] } });
  assert.deepEqual(durableLog(fx), ["open", "B pending", "A a"]);
});

Deno.test("DurableListener.close() fails pending waits, ends the stream, refuses new ones", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine);
  const [A] = fx.taskRunIds;
  const listener = createDurableListener(fx.ports.durable);
  const wait = first(listener.subscribe(A, "k"));
  await engine.settle();
  await listener.close();
  await assert.rejects(wait, new Error("Durable event listener is closed"));
  assert.equal(listener.connected, false);
  await assert.rejects(
    first(listener.subscribe(A, "k")),
    new Error('Durable event listener is closed: cannot wait for signal key "k"'),
  );
  await listener.close();
  // The engine still completes the key; nothing is listening for it any more.
  await complete(fx, A, "k", { n: 1 });
  await engine.settle();
  assert.deepEqual(durableLog(fx), ["open", "A k"]);
});

Deno.test("DurableListener shares one stream among 10,000 concurrent subscriptions", async () => {
  await using engine = new MockEngine();
  await using fx = await durableFixture(engine, 2);
  const runs = fx.taskRunIds;
  await using listener = createDurableListener(fx.ports.durable);
  const n = 10_000;
  const waits = Array.from(
    { length: n },
    (_, i) => first(listener.subscribe(runs[i % 2], `k-${i}`)),
  );
  assert.equal(listener.subscriptions, n);
  // One event completes every wait; each under its own readable key, so a mix-up shows.
  for (let i = 0; i < n; i++) {
    await fx.ports.durable.registerDurableEvent({
      taskId: runs[i % 2],
      signalKey: `k-${i}`,
      conditions: toDurableConditions(
        [new UserEventCondition("go", { readableDataKey: `i${i}` })],
        "",
      ),
    });
  }
  await engine.client.events.push("go", { all: true });
  const results = await Promise.all(waits);
  for (const [i, result] of results.entries()) {
    assert.deepEqual(result, { CREATE: { [`i${i}`]: [{ all: true }] } });
  }
  const log = durableLog(fx);
  assert.equal(log.length, n + 1);
  assert.equal(log[0], "open");
  assert.equal(log.filter((e) => e === "open").length, 1);
  assert.equal(listener.subscriptions, 0);
});
