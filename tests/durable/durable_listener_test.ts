import assert from "node:assert/strict";
import { createDurableListener } from "../../durable/durable_listener.ts";
import { RpcError } from "../../transport/rpc_error.ts";
import type { JsonValue } from "../../transport/types.ts";
import { createFakeDurablePort } from "./_fake_durable_port.ts";

const T1 = "11111111-1111-4111-8111-111111111111";
const T2 = "22222222-2222-4222-8222-222222222222";

async function first(gen: AsyncGenerator<JsonValue, void, undefined>): Promise<JsonValue> {
  for await (const value of gen) return value;
  throw new Error("generator ended without a value");
}

Deno.test("createDurableListener() opens no stream until the first subscription", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  assert.equal(port.streams.length, 0);
  assert.equal(listener.connected, false);
  const wait = first(listener.subscribe(T1, "k"));
  assert.equal(listener.connected, true);
  port.complete(T1, "k", { CREATE: { k: [1] } });
  assert.deepEqual(await wait, { CREATE: { k: [1] } });
  assert.equal(port.streams.length, 1);
  assert.deepEqual(port.streams[0].requests, [`${T1}|k`]);
});

Deno.test("DurableListener.subscribe() multiplexes one stream by task run and signal key", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  const a = first(listener.subscribe(T1, "k"));
  const b = first(listener.subscribe(T2, "k"));
  const c = first(listener.subscribe(T1, "other"));
  await port.requested(0, 3);
  port.complete(T2, "k", { CREATE: { who: ["T2 k"] } });
  port.complete(T1, "other", { CREATE: { who: ["T1 other"] } });
  port.complete(T1, "k", { CREATE: { who: ["T1 k"] } });
  assert.deepEqual(await Promise.all([a, b, c]), [
    { CREATE: { who: ["T1 k"] } },
    { CREATE: { who: ["T2 k"] } },
    { CREATE: { who: ["T1 other"] } },
  ]);
  assert.equal(port.streams.length, 1);
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener.subscribe() sends one request for two local subscribers of a key", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  const a = first(listener.subscribe(T1, "k"));
  const b = first(listener.subscribe(T1, "k"));
  assert.equal(listener.subscriptions, 2);
  await port.requested(0, 1);
  port.complete(T1, "k", { CREATE: {} });
  assert.deepEqual(await Promise.all([a, b]), [{ CREATE: {} }, { CREATE: {} }]);
  assert.deepEqual(port.streams[0].requests, [`${T1}|k`]);
});

Deno.test("DurableListener.subscribe() asks again for a key answered before (replay)", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  port.complete(T1, "sleep:10s-0", { CREATE: { "sleep:10s": [{ sleep_duration: "10s" }] } });
  const one = await first(listener.subscribe(T1, "sleep:10s-0"));
  const two = await first(listener.subscribe(T1, "sleep:10s-0"));
  assert.deepEqual(one, two);
  assert.deepEqual(port.streams[0].requests, [`${T1}|sleep:10s-0`, `${T1}|sleep:10s-0`]);
});

Deno.test("DurableListener.subscribe() removes the subscription on break", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  port.complete(T1, "k", { CREATE: {} });
  for await (const value of listener.subscribe(T1, "k")) {
    assert.deepEqual(value, { CREATE: {} });
    assert.equal(listener.subscriptions, 1);
    break;
  }
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener.subscribe() throws the signal's reason and unsubscribes on abort", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  const controller = new AbortController();
  const wait = first(listener.subscribe(T1, "k", { signal: controller.signal }));
  await port.requested(0, 1);
  assert.equal(listener.subscriptions, 1);
  const reason = new Error("cancelled");
  controller.abort(reason);
  await assert.rejects(wait, (err) => err === reason);
  assert.equal(listener.subscriptions, 0);
  // A late completion for the key is dropped quietly.
  port.complete(T1, "k", { CREATE: {} });
});

Deno.test("DurableListener.subscribe() throws at once when the signal is already aborted", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  const reason = new Error("gone");
  await assert.rejects(
    first(listener.subscribe(T1, "k", { signal: AbortSignal.abort(reason) })),
    (err) => err === reason,
  );
  assert.equal(port.streams.length, 0);
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener.subscribe() throws TypeError for an empty task run id or signal key", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  await assert.rejects(
    first(listener.subscribe("", "k")),
    new TypeError('Invalid task run id: expected a non-empty string, received ""'),
  );
  await assert.rejects(
    first(listener.subscribe(T1, "")),
    new TypeError('Invalid signal key: expected a non-empty string, received ""'),
  );
});

Deno.test("DurableListener.subscribe() throws SyntaxError when the event data is not JSON", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  port.completeRaw(T1, "k", new TextEncoder().encode("{oops"));
  await assert.rejects(first(listener.subscribe(T1, "k")), (err) => {
    assert.ok(err instanceof SyntaxError);
    assert.match(
      err.message,
      new RegExp(
        `^Invalid durable event for task run "${T1}" and signal key "k": data is not JSON: `,
      ),
    );
    return true;
  });
  assert.equal(listener.subscriptions, 0);
});

Deno.test("DurableListener reconnects after a clean end and re-sends every pending key first", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port, { backoff: { initialMs: 1, maxMs: 2 } });
  const a = first(listener.subscribe(T1, "a"));
  const b = first(listener.subscribe(T2, "b"));
  const done = first(listener.subscribe(T1, "done"));
  await port.requested(0, 3);
  port.complete(T1, "done", { CREATE: { done: [true] } });
  assert.deepEqual(await done, { CREATE: { done: [true] } });

  port.cut();
  const second = await port.streamOpened(2);
  await port.requested(1, 2);
  assert.deepEqual(second.requests, [`${T1}|a`, `${T2}|b`]);
  // A wait registered after the reconnect goes on the new stream.
  const c = first(listener.subscribe(T2, "c"));
  await port.requested(1, 3);
  port.complete(T2, "b", { CREATE: { b: [2] } });
  port.complete(T1, "a", { CREATE: { a: [1] } });
  port.complete(T2, "c", { CREATE: { c: [3] } });
  assert.deepEqual(await Promise.all([a, b, c]), [
    { CREATE: { a: [1] } },
    { CREATE: { b: [2] } },
    { CREATE: { c: [3] } },
  ]);
  assert.equal(port.streams.length, 2);
});

Deno.test("DurableListener delivers an event completed while the stream was down", async () => {
  const port = createFakeDurablePort();
  port.listenFailures.push(
    new RpcError("unavailable", "/v1.V1Dispatcher/ListenForDurableEvent", "down"),
  );
  await using listener = createDurableListener(port, { backoff: { initialMs: 1, maxMs: 2 } });
  const wait = first(listener.subscribe(T1, "k"));
  port.complete(T1, "k", { CREATE: { k: ["late"] } });
  assert.deepEqual(await wait, { CREATE: { k: ["late"] } });
  assert.equal(port.streams.length, 2);
});

Deno.test("DurableListener keeps retrying transient errors past maxAttempts", async () => {
  const port = createFakeDurablePort();
  for (let i = 0; i < 6; i++) {
    port.listenFailures.push(new RpcError("unavailable", "/ListenForDurableEvent", "down"));
  }
  await using listener = createDurableListener(port, {
    backoff: { initialMs: 1, maxMs: 2 },
    maxAttempts: 2,
  });
  const wait = first(listener.subscribe(T1, "k"));
  await port.streamOpened(7);
  port.complete(T1, "k", { CREATE: {} });
  assert.deepEqual(await wait, { CREATE: {} });
});

Deno.test("DurableListener fails pending waits after maxAttempts non-transient errors", async () => {
  const port = createFakeDurablePort();
  const denied = new RpcError("permission_denied", "/ListenForDurableEvent", "no");
  port.listenFailures.push(denied, denied, denied);
  await using listener = createDurableListener(port, {
    backoff: { initialMs: 1, maxMs: 2 },
    maxAttempts: 3,
  });
  const a = first(listener.subscribe(T1, "a"));
  const b = first(listener.subscribe(T2, "b"));
  for (const wait of [a, b]) {
    await assert.rejects(wait, (err) => {
      assert.ok(err instanceof Error);
      assert.equal(
        err.message,
        "Durable event stream failed 3 times in a row: /ListenForDurableEvent failed with permission_denied: no",
      );
      assert.equal(err.cause, denied);
      return true;
    });
  }
  assert.equal(listener.subscriptions, 0);
  assert.equal(port.streams.length, 3);
  // The listener stays usable: the next wait opens a fresh stream.
  port.complete(T1, "again", { CREATE: {} });
  assert.deepEqual(await first(listener.subscribe(T1, "again")), { CREATE: {} });
  assert.equal(port.streams.length, 4);
});

Deno.test("DurableListener closes the stream when idle and reopens it on demand", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port, { idleTimeoutMs: 0 });
  port.complete(T1, "a", { CREATE: {} });
  assert.deepEqual(await first(listener.subscribe(T1, "a")), { CREATE: {} });
  await port.streams[0].closed;
  assert.equal(port.streams[0].open, false);
  port.complete(T1, "b", { CREATE: { b: [] } });
  assert.deepEqual(await first(listener.subscribe(T1, "b")), { CREATE: { b: [] } });
  assert.equal(port.streams.length, 2);
  assert.deepEqual(port.streams[1].requests, [`${T1}|b`]);
});

Deno.test("DurableListener keeps the stream while a wait is pending", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port, { idleTimeoutMs: 0 });
  const pending = first(listener.subscribe(T2, "pending"));
  port.complete(T1, "a", { CREATE: {} });
  await first(listener.subscribe(T1, "a"));
  assert.equal(port.streams[0].open, true);
  port.complete(T2, "pending", { CREATE: {} });
  await pending;
  assert.equal(port.streams.length, 1);
});

Deno.test("DurableListener.close() fails pending waits, ends the stream, refuses new ones", async () => {
  const port = createFakeDurablePort();
  const listener = createDurableListener(port);
  const wait = first(listener.subscribe(T1, "k"));
  await port.requested(0, 1);
  await listener.close();
  await assert.rejects(wait, new Error("Durable event listener is closed"));
  assert.equal(port.streams[0].open, false);
  assert.equal(listener.connected, false);
  await assert.rejects(
    first(listener.subscribe(T1, "k")),
    new Error('Durable event listener is closed: cannot wait for signal key "k"'),
  );
  await listener.close();
});

Deno.test("DurableListener shares one stream among 10,000 concurrent subscriptions", async () => {
  const port = createFakeDurablePort();
  await using listener = createDurableListener(port);
  const n = 10_000;
  const taskId = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
  const waits = Array.from({ length: n }, (_, i) => first(listener.subscribe(taskId(i), "k")));
  assert.equal(listener.subscriptions, n);
  await port.requested(0, n);
  for (let i = n - 1; i >= 0; i--) port.complete(taskId(i), "k", { CREATE: { i: [i] } });
  const results = await Promise.all(waits);
  assert.ok(results.every((r, i) => (r as { CREATE: { i: number[] } }).CREATE.i[0] === i));
  assert.equal(port.streams.length, 1);
  assert.equal(listener.subscriptions, 0);
});
