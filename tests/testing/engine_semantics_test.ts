// What the official SDKs rely on of the engine, beyond our own SDK: parent outputs of the whole
// run, outputs that are any JSON, run details that say nothing final before the run is, and an
// UNIMPLEMENTED answer to an unknown method only once its request was read.

import assert from "node:assert/strict";
import { RunStatus, StepActionEventType } from "../../transport/services.ts";
import { MockEngine } from "../../testing/mod.ts";
import { clientsOf, json, startWorker, task, trigger } from "./_helpers.ts";

Deno.test("MockEngine hands a grandchild and an on-failure task the outputs of every completed task", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "chain",
    tasks: [
      task("chain", "a"),
      task("chain", "b", { parents: ["a"] }),
      task("chain", "c", { parents: ["b"] }),
      task("chain", "d", { parents: ["c"] }),
    ],
    onFailureTask: task("chain", "on_failure"),
  });
  const worker = await startWorker(engine, c, "w", [
    "chain:a",
    "chain:b",
    "chain:c",
    "chain:d",
    "chain:on_failure",
  ]);
  const runId = await trigger(c, "chain");
  await worker.complete(await worker.next(), { a: 1 });
  await worker.complete(await worker.next(), { b: 2 });
  const c3 = await worker.next();
  assert.equal(c3.taskName, "c");
  assert.deepEqual(JSON.parse(c3.actionPayload).parents, { a: { a: 1 }, b: { b: 2 } });
  await worker.fail(c3, "c broke", true);
  const onFailure = await worker.next();
  assert.equal(onFailure.taskName, "on_failure");
  const payload = JSON.parse(onFailure.actionPayload);
  assert.deepEqual(payload.parents, { a: { a: 1 }, b: { b: 2 } });
  assert.deepEqual(payload.step_run_errors, { c: "c broke" });
  await worker.complete(onFailure, {});
  assert.deepEqual(engine.taskRuns(runId).map((t) => [t.taskName, t.status]), [
    ["a", "COMPLETED"],
    ["b", "COMPLETED"],
    ["c", "FAILED"],
    ["d", "CANCELLED"],
    ["on_failure", "COMPLETED"],
  ]);
  await worker.close();
});

Deno.test("MockEngine takes any valid JSON as a task's output: null, a string, an array", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "outputs",
    tasks: [task("outputs", "a"), task("outputs", "b", { parents: ["a"] })],
  });
  const worker = await startWorker(engine, c, "w", ["outputs:a", "outputs:b"]);
  for (const [output, expected] of [["null", null], ['"text"', "text"], ["[1,2]", [1, 2]]]) {
    const runId = await trigger(c, "outputs");
    const a = await worker.next();
    await c.dispatcher.sendStepActionEvent({
      workerId: worker.id,
      taskRunExternalId: a.taskRunExternalId,
      actionId: a.actionId,
      eventType: StepActionEventType.STEP_EVENT_TYPE_COMPLETED,
      eventPayload: output as string,
      retryCount: a.retryCount,
    });
    // The child runs and reads the output as it was sent.
    const b = await worker.next();
    assert.equal(b.taskName, "b");
    assert.deepEqual(JSON.parse(b.actionPayload).parents, { a: expected });
    await worker.complete(b, {});
    assert.deepEqual(engine.taskRuns(runId).map((t) => [t.taskName, t.status, t.output]), [
      ["a", "COMPLETED", expected],
      ["b", "COMPLETED", {}],
    ]);
    const details = await c.admin.getRunDetails({ externalId: runId });
    assert.deepEqual(json(details.taskRuns.a.output!), expected);
  }
  // Text that is not JSON still fails the task.
  const runId = await trigger(c, "outputs");
  const a = await worker.next();
  await c.dispatcher.sendStepActionEvent({
    workerId: worker.id,
    taskRunExternalId: a.taskRunExternalId,
    actionId: a.actionId,
    eventType: StepActionEventType.STEP_EVENT_TYPE_COMPLETED,
    eventPayload: "not json",
    retryCount: a.retryCount,
  });
  const [info] = engine.taskRuns(runId);
  assert.deepEqual([info.status, info.error], ["FAILED", "invalid json in field `taskOutput`"]);
  await worker.close();
});

Deno.test("MockEngine GetRunDetails says nothing final until the whole run has finished", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "pair",
    tasks: [task("pair", "a"), task("pair", "b", { parents: ["a"] })],
  });
  const worker = await startWorker(engine, c, "w", ["pair:a", "pair:b"]);
  const runId = await trigger(c, "pair");
  const a = await worker.next();
  await worker.complete(a, { a: 1 });
  const b = await worker.next();
  // a has completed and b runs: a reads as QUEUED, with no output, until the run is over.
  const running = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(running.done, false);
  assert.equal(running.status, RunStatus.RUNNING);
  assert.deepEqual(
    Object.values(running.taskRuns).map((t) => [t.readableId, t.status, t.output, t.error]),
    [["a", RunStatus.QUEUED, undefined, undefined], ["b", RunStatus.RUNNING, undefined, undefined]],
  );
  await worker.complete(b, { b: 2 });
  const done = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(done.done, true);
  assert.equal(done.status, RunStatus.COMPLETED);
  assert.deepEqual(
    Object.values(done.taskRuns).map((t) => [t.readableId, t.status, json(t.output!)]),
    [["a", RunStatus.COMPLETED, { a: 1 }], ["b", RunStatus.COMPLETED, { b: 2 }]],
  );
  await worker.close();
});

Deno.test("MockEngine.listen() answers an unknown streaming method UNIMPLEMENTED once the request is read", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  using client = Deno.createHttpClient({ http1: false, http2: true });
  let send!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (send = c) });
  let answered = false;
  const response = fetch(`http://${server.hostPort}/Dispatcher/NoSuchStream`, {
    method: "POST",
    headers: { "content-type": "application/grpc", authorization: `Bearer ${engine.token}` },
    body,
    client,
  }).then((res) => {
    answered = true;
    return res;
  });
  // A whole call on the same connection after the stream's headers: an answer sent on seeing
  // those headers would have arrived before this one's.
  const version = await fetch(`http://${server.hostPort}/Dispatcher/GetVersion`, {
    method: "POST",
    headers: { "content-type": "application/grpc", authorization: `Bearer ${engine.token}` },
    body: new Uint8Array([0, 0, 0, 0, 0]),
    client,
  });
  await version.body?.cancel();
  assert.equal(version.status, 200);
  assert.equal(answered, false, "no answer before the request was read");
  send.enqueue(new Uint8Array([0, 0, 0, 0, 0]));
  send.close();
  const res = await response;
  await res.body?.cancel();
  assert.deepEqual([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message")], [
    200,
    "12",
    "/Dispatcher/NoSuchStream is not implemented",
  ]);
});
