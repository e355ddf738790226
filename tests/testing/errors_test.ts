import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Dispatcher, StepActionEventType } from "../../transport/services.ts";
import { MockEngine } from "../../testing/mod.ts";
import { clientsOf, startWorker, task, trigger } from "./_helpers.ts";

async function rejectsWith(promise: Promise<unknown>, code: Code, message: string | RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${err}`);
    assert.equal(Code[err.code], Code[code]);
    if (typeof message === "string") assert.equal(err.rawMessage, message);
    else assert.match(err.rawMessage, message);
    return true;
  });
}

Deno.test("MockEngine answers UNAUTHENTICATED to a wrong or missing token", async () => {
  await using engine = new MockEngine();
  for (const token of ["not-the-token", ""]) {
    const dispatcher = createClient(Dispatcher, engine.transport({ token }));
    await rejectsWith(dispatcher.getVersion({}), Code.Unauthenticated, "invalid auth token");
  }
  const upper = createClient(Dispatcher, engine.transport());
  await upper.getVersion({}, { headers: { authorization: `Bearer ${engine.token}` } });
  assert.deepEqual(engine.rpcLog(), [
    { method: "GetVersion", error: "unauthenticated" },
    { method: "GetVersion", error: "unauthenticated" },
    { method: "GetVersion" },
  ]);
});

Deno.test("MockEngine answers UNIMPLEMENTED to GetVersion when built with version null", async () => {
  await using engine = new MockEngine({ version: null });
  const c = clientsOf(engine.transport());
  await rejectsWith(c.dispatcher.getVersion({}), Code.Unimplemented, /GetVersion not implemented/);
  await using custom = new MockEngine({ version: "v0.104.7" });
  assert.equal((await clientsOf(custom.transport()).dispatcher.getVersion({})).version, "v0.104.7");
});

Deno.test("MockEngine validates Register slots and defaults to 100 default slots", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await rejectsWith(
    c.dispatcher.register({ workerName: "w", slots: 5, slotConfig: { default: 5 } }),
    Code.InvalidArgument,
    "cannot specify both slots and slot_config",
  );
  await c.dispatcher.register({ workerName: "plain", actions: ["a:b"] });
  await c.dispatcher.register({ workerName: "legacy", slots: 7 });
  await c.dispatcher.register({
    workerName: "labelled",
    slotConfig: { default: 2, durable: 3 },
    labels: { zone: { strValue: "eu" }, gpu: { intValue: 1 } },
  });
  assert.deepEqual(
    engine.workers().map((w) => [w.name, w.slotConfig, w.labels, w.active, w.live]),
    [
      ["plain", { default: 100 }, {}, false, false],
      ["legacy", { default: 7 }, {}, false, false],
      ["labelled", { default: 2, durable: 3 }, { zone: "eu", gpu: 1 }, false, false],
    ],
  );
});

Deno.test("MockEngine.heartbeat answers NOT_FOUND for an unknown worker and FAILED_PRECONDITION once its stream closed", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  const unknown = crypto.randomUUID();
  await rejectsWith(
    c.dispatcher.heartbeat({ workerId: unknown }),
    Code.NotFound,
    `worker not found: ${unknown}`,
  );
  await rejectsWith(
    c.dispatcher.heartbeat({ workerId: "w-1" }),
    Code.InvalidArgument,
    "invalid worker ID format: w-1",
  );
  const worker = await startWorker(engine, c, "w", []);
  await c.dispatcher.heartbeat({ workerId: worker.id });
  await worker.close();
  await engine.settle();
  await rejectsWith(
    c.dispatcher.heartbeat({ workerId: worker.id }),
    Code.FailedPrecondition,
    `Heartbeat rejected: worker stream is not active: ${worker.id}`,
  );
});

Deno.test("MockEngine rejects bad PutWorkflow and TriggerWorkflowRun requests", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await rejectsWith(
    c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "a", { parents: ["ghost"] })] }),
    Code.InvalidArgument,
    "parent step 'ghost' not found for step 'a'",
  );
  await rejectsWith(
    c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "a", { timeout: "1d" })] }),
    Code.InvalidArgument,
    'workflow "wf", task "a": invalid timeout "1d"',
  );
  await rejectsWith(
    c.admin.putWorkflow({
      name: "wf",
      tasks: [task("wf", "a", { parents: ["b"] }), task("wf", "b", { parents: ["a"] })],
    }),
    Code.InvalidArgument,
    'workflow "wf": tasks form a cycle: a -> b -> a',
  );
  await rejectsWith(
    trigger(c, "missing"),
    Code.InvalidArgument,
    "workflow names not found: missing",
  );
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "a")] });
  await rejectsWith(
    trigger(c, "wf", [1, 2]),
    Code.InvalidArgument,
    "input must be a JSON object, received [1,2]",
  );
  await rejectsWith(
    trigger(c, "wf", {}, { priority: 4 }),
    Code.InvalidArgument,
    "priority must be between 1 and 3, got 4",
  );
  await rejectsWith(
    c.admin.getRunDetails({ externalId: "x" }),
    Code.InvalidArgument,
    "invalid external id",
  );
  await rejectsWith(
    c.admin.getRunDetails({ externalId: crypto.randomUUID() }),
    Code.NotFound,
    "workflow run not found",
  );
});

Deno.test("MockEngine validates PutLog, PutStreamEvent and Push", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "a")] });
  const worker = await startWorker(engine, c, "w", ["wf:a"]);
  await trigger(c, "wf");
  const a = await worker.next();
  const id = a.taskRunExternalId;
  const missing = crypto.randomUUID();
  await rejectsWith(
    c.events.putLog({ taskRunExternalId: missing, message: "x", metadata: "" }),
    Code.NotFound,
    `task not found: ${missing}`,
  );
  await rejectsWith(
    c.events.putLog({ taskRunExternalId: id, message: "", metadata: "" }),
    Code.InvalidArgument,
    "message must be 1 to 10000 characters, received 0",
  );
  await rejectsWith(
    c.events.putLog({ taskRunExternalId: id, message: "x".repeat(10_001), metadata: "" }),
    Code.InvalidArgument,
    "message must be 1 to 10000 characters, received 10001",
  );
  await rejectsWith(
    c.events.putLog({ taskRunExternalId: id, message: "x", level: "TRACE", metadata: "" }),
    Code.InvalidArgument,
    'level must be one of INFO, ERROR, WARN, DEBUG, received "TRACE"',
  );
  await rejectsWith(
    c.events.putLog({ taskRunExternalId: id, message: "x", metadata: "[1]" }),
    Code.InvalidArgument,
    'metadata must be a JSON object, received "[1]"',
  );
  await rejectsWith(
    c.events.putStreamEvent({
      taskRunExternalId: missing,
      message: new Uint8Array(),
      metadata: "",
    }),
    Code.NotFound,
    `task not found: ${missing}`,
  );
  await rejectsWith(
    c.events.push({ key: "k", payload: "{" }),
    Code.InvalidArgument,
    "invalid json in field `payload`",
  );
  await rejectsWith(
    c.events.push({ key: "k", payload: '{"a":"\\u0000"}' }),
    Code.InvalidArgument,
    "encoded jsonb contains invalid null character \\u0000 in field `payload`",
  );
  await rejectsWith(
    c.events.push({ key: "k", payload: "{}", priority: 0 }),
    Code.InvalidArgument,
    "priority must be between 1 and 3, got 0",
  );
  await rejectsWith(
    c.dispatcher.refreshTimeout({ taskRunExternalId: id, incrementTimeoutBy: "1d" }),
    Code.InvalidArgument,
    'invalid increment_timeout_by: expected a duration like "30s", "5m" or "1h30m", received "1d"',
  );
  await rejectsWith(
    c.dispatcher.releaseSlot({ taskRunExternalId: missing }),
    Code.NotFound,
    `task run ${missing} has no runtime: it is not running`,
  );
  await worker.complete(a);
  await worker.close();
});

Deno.test("MockEngine fails a task whose COMPLETED payload is not JSON or holds a NUL, not one that is an array", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "a"), task("wf", "b"), task("wf", "c")],
  });
  const worker = await startWorker(engine, c, "w", ["wf:a", "wf:b", "wf:c"]);
  const runId = await trigger(c, "wf");
  const actions = [await worker.next(), await worker.next(), await worker.next()];
  const payloads: Record<string, string> = { a: "[1,2]", b: "{oops", c: '{"s":"\\u0000"}' };
  for (const action of actions) {
    await c.dispatcher.sendStepActionEvent({
      workerId: worker.id,
      taskRunExternalId: action.taskRunExternalId,
      eventType: StepActionEventType.STEP_EVENT_TYPE_COMPLETED,
      eventPayload: payloads[action.taskName],
      retryCount: action.retryCount,
    });
  }
  const errors = Object.fromEntries(
    engine.taskRuns(runId).map((t) => [t.taskName, [t.status, t.error ?? t.output]]),
  );
  assert.deepEqual(errors, {
    a: ["COMPLETED", [1, 2]],
    b: ["FAILED", "invalid json in field `taskOutput`"],
    c: ["FAILED", "encoded jsonb contains invalid null character \\u0000 in field `taskOutput`"],
  });
  await rejectsWith(
    c.dispatcher.sendStepActionEvent({ taskRunExternalId: "nope" }),
    Code.InvalidArgument,
    "invalid task external run id nope: not a UUID",
  );
  await worker.close();
});

Deno.test("MockEngine.faults.failNext fails the next calls of one method with the given code", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  engine.faults.failNext("GetVersion", "unavailable", 2);
  await rejectsWith(
    c.dispatcher.getVersion({}),
    Code.Unavailable,
    "injected fault: GetVersion fails with unavailable",
  );
  await rejectsWith(c.dispatcher.getVersion({}), Code.Unavailable, /injected fault/);
  assert.equal((await c.dispatcher.getVersion({})).version, "v0.104.7");
  assert.throws(() => engine.faults.failNext("GetVersion", "nope" as never), TypeError);
  assert.throws(() => engine.faults.failNext("GetVersion", "internal", 0), RangeError);
  assert.deepEqual(engine.rpcLog().map((e) => e.error), ["unavailable", "unavailable", undefined]);
});

Deno.test("MockEngine.dropStreams ends open ListenV2 streams with UNAVAILABLE", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  const worker = await startWorker(engine, c, "w", []);
  engine.dropStreams();
  const err = await worker.ended;
  assert.ok(err instanceof ConnectError);
  assert.equal(err.code, Code.Unavailable);
  assert.equal(err.rawMessage, "mock engine dropped the stream");
  await engine.settle();
  assert.deepEqual(engine.workers().map((w) => w.active), [false]);
});
