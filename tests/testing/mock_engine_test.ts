import assert from "node:assert/strict";
import { ActionType, RunStatus, StepActionEventType } from "../../transport/services.ts";
import { MockEngine } from "../../testing/mod.ts";
import { createClient } from "../../mod.ts";
import { clientsOf, json, listenDurable, startWorker, task, trigger } from "./_helpers.ts";

Deno.test("MockEngine runs a one-task workflow: register, assign, complete, run details", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  assert.equal((await c.dispatcher.getVersion({})).version, "v0.104.7");
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "hello")] });
  const worker = await startWorker(engine, c, "w1", ["wf:hello"]);
  const runId = await trigger(c, "wf", { name: "x" }, { additionalMetadata: { k: "v" } });
  const action = await worker.next();
  assert.equal(action.actionType, ActionType.START_STEP_RUN);
  assert.equal(action.workflowRunId, runId);
  assert.equal(action.taskName, "hello");
  assert.equal(action.actionId, "wf:hello");
  assert.equal(action.retryCount, 0);
  const { traceparent, ...meta } = JSON.parse(action.additionalMetadata!);
  assert.deepEqual(meta, { k: "v" });
  assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.equal(action.priority, 1);
  assert.equal(action.triggeringEventExternalId, undefined);
  assert.deepEqual(JSON.parse(action.actionPayload), {
    input: { name: "x" },
    triggered_by: "manual",
    parents: {},
    triggers: { filter_payload: null },
    user_data: null,
    overrides: null,
  });
  await worker.complete(action, { greeting: "hi" });
  const details = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(details.done, true);
  assert.equal(details.status, RunStatus.COMPLETED);
  assert.deepEqual(json(details.taskRuns.hello.output!), { greeting: "hi" });
  assert.deepEqual(json(details.input), { name: "x" });
  await worker.close();
  assert.deepEqual(engine.rpcLog().map((e) => e.method), [
    "GetVersion",
    "PutWorkflow",
    "Register",
    "ListenV2",
    "TriggerWorkflowRun",
    "SendStepActionEvent",
    "GetRunDetails",
  ]);
});

Deno.test("MockEngine.client triggers a run and awaits its result in memory", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "a")] });
  const worker = await startWorker(engine, c, "w", ["wf:a"]);
  const ref = await engine.client.runs.trigger("wf", { n: 1 });
  const action = await worker.next();
  assert.equal(action.workflowRunId, ref.id);
  await worker.complete(action, { doubled: 2 });
  assert.deepEqual(await ref.result(), {
    status: "COMPLETED",
    outputs: { a: { doubled: 2 } },
    errors: {},
  });
  await worker.close();
});

Deno.test("MockEngine runs a two-level DAG in parent order and skips a branch", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  const orGroupId = crypto.randomUUID();
  await c.admin.putWorkflow({
    name: "dag",
    tasks: [
      task("dag", "root"),
      task("dag", "left", {
        parents: ["root"],
        conditions: {
          parentOverrideConditions: [{
            base: {
              readableDataKey: "root",
              action: 3, /* SKIP */
              orGroupId,
              expression: "output.n > 5",
            },
            parentReadableId: "root",
          }],
        },
      }),
      task("dag", "right", { parents: ["root"] }),
      task("dag", "leaf", { parents: ["left", "right"] }),
      task("dag", "after_left", { parents: ["left"] }),
    ],
  });
  const worker = await startWorker(engine, c, "w", [
    "dag:root",
    "dag:left",
    "dag:right",
    "dag:leaf",
    "dag:after_left",
  ]);
  const runId = await trigger(c, "dag", { x: 1 });
  const root = await worker.next();
  assert.equal(root.taskName, "root");
  await engine.settle();
  assert.equal(worker.actions.length, 1, "children wait for their parent");
  await worker.complete(root, { n: 10 });
  const right = await worker.next();
  assert.equal(right.taskName, "right");
  assert.deepEqual(JSON.parse(right.actionPayload).parents, {
    root: { n: 10 },
    left: { skipped: true },
    after_left: { skipped: true },
  });
  await worker.complete(right, { r: true });
  const leaf = await worker.next();
  assert.equal(leaf.taskName, "leaf");
  // Every completed task of the run, declared parent or not (skipped ones count as completed).
  assert.deepEqual(JSON.parse(leaf.actionPayload).parents, {
    root: { n: 10 },
    left: { skipped: true },
    right: { r: true },
    after_left: { skipped: true },
  });
  await worker.complete(leaf);
  const byName = Object.fromEntries(engine.taskRuns(runId).map((t) => [t.taskName, t.status]));
  assert.deepEqual(byName, {
    root: "COMPLETED",
    left: "SKIPPED",
    right: "COMPLETED",
    leaf: "COMPLETED",
    after_left: "SKIPPED",
  });
  const details = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(details.status, RunStatus.COMPLETED);
  assert.equal(details.done, true);
  assert.deepEqual(json(details.taskRuns.left.output!), { skipped: true });
  assert.deepEqual(json(details.taskRuns.leaf.output!), {});
  await worker.close();
});

Deno.test("MockEngine retries a failed task with backoff on the virtual clock", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "flaky", { retries: 2, backoffFactor: 2, backoffMaxSeconds: 3 })],
  });
  const worker = await startWorker(engine, c, "w", ["wf:flaky"]);
  const runId = await trigger(c, "wf");
  const first = await worker.next();
  await worker.fail(first, "boom 1");
  await engine.settle();
  assert.equal(worker.actions.length, 1, "the first retry waits 2^1 = 2s");
  assert.deepEqual(engine.taskRuns(runId).map((t) => [t.status, t.retryCount]), [["QUEUED", 1]]);
  await engine.advance("1999ms");
  assert.equal(worker.actions.length, 1);
  await engine.advance("1ms");
  const second = await worker.next();
  assert.equal(second.retryCount, 1);
  assert.equal(second.taskRunExternalId, first.taskRunExternalId);
  await worker.fail(second, "boom 2");
  await engine.advance("2999ms");
  assert.equal(worker.actions.length, 2, "the second retry waits min(3, 2^2) = 3s");
  await engine.advance("1ms");
  const third = await worker.next();
  assert.equal(third.retryCount, 2);
  await worker.fail(third, "boom 3");
  const details = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(details.status, RunStatus.FAILED);
  assert.equal(details.taskRuns.flaky.error, "boom 3");
  await worker.close();
});

Deno.test("MockEngine fails without retry when should_not_retry is set and ignores stale events", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t", { retries: 3 })] });
  const worker = await startWorker(engine, c, "w", ["wf:t"]);
  const runId = await trigger(c, "wf");
  const first = await worker.next();
  await worker.fail(first, "transient");
  const second = await worker.next();
  assert.equal(second.retryCount, 1);
  await worker.complete(first, { stale: true });
  assert.equal(engine.taskRuns(runId)[0].status, "RUNNING");
  await worker.fail(second, "fatal", true);
  assert.deepEqual(
    engine.taskRuns(runId).map((t) => [t.status, t.retryCount, t.error]),
    [["FAILED", 1, "fatal"]],
  );
  assert.match(engine.engineLog().join("\n"), /ignored STEP_EVENT_TYPE_COMPLETED/);
  await worker.close();
});

Deno.test("MockEngine times a task out, cancels it on the worker, and RefreshTimeout extends the deadline", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "slow", { timeout: "10s" })] });
  const worker = await startWorker(engine, c, "w", ["wf:slow"]);
  const runId = await trigger(c, "wf");
  const start = await worker.next();
  const startedAt = engine.now().getTime();
  await engine.advance("8s");
  const refreshed = await c.dispatcher.refreshTimeout({
    taskRunExternalId: start.taskRunExternalId,
    incrementTimeoutBy: "5s",
  });
  const timeoutAt = Number(refreshed.timeoutAt!.seconds) * 1000;
  assert.equal(timeoutAt - startedAt, 15_000, "refresh adds to the deadline, not to now");
  await engine.advance("6999ms");
  assert.equal(worker.actions.length, 1);
  await engine.advance("1ms");
  const cancel = await worker.next();
  assert.equal(cancel.actionType, ActionType.CANCEL_STEP_RUN);
  assert.equal(cancel.taskRunExternalId, start.taskRunExternalId);
  assert.equal(cancel.retryCount, 0);
  assert.equal(cancel.actionPayload, "");
  const [run] = engine.taskRuns(runId);
  assert.equal(run.status, "FAILED");
  assert.equal(run.error, "Task exceeded timeout of 10s");
  await assert.rejects(
    c.dispatcher.refreshTimeout({
      taskRunExternalId: start.taskRunExternalId,
      incrementTimeoutBy: "5s",
    }),
    /task run .* has no runtime/,
  );
  await worker.close();
});

Deno.test("MockEngine frees the slot on ReleaseSlot and sends no CANCEL_STEP_RUN afterwards", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t", { timeout: "1m" })] });
  const worker = await startWorker(engine, c, "w", ["wf:t"], { default: 1 });
  const run1 = await trigger(c, "wf");
  const run2 = await trigger(c, "wf");
  const first = await worker.next();
  assert.equal(first.workflowRunId, run1);
  await engine.settle();
  assert.equal(worker.actions.length, 1, "one slot: the second run waits");
  await c.dispatcher.releaseSlot({ taskRunExternalId: first.taskRunExternalId });
  const second = await worker.next();
  assert.equal(second.workflowRunId, run2);
  assert.equal(engine.taskRuns(run1)[0].workerId, undefined);
  await c.admin.cancelTasks({ externalIds: [first.taskRunExternalId] });
  await engine.settle();
  assert.equal(worker.actions.length, 2, "a released task is not cancelled on the worker");
  assert.equal(engine.taskRuns(run1)[0].status, "CANCELLED");
  await worker.complete(second);
  await worker.close();
});

Deno.test("MockEngine cancels a running task: CANCEL_STEP_RUN, CANCELLED, later results ignored", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "a"), task("wf", "b", { parents: ["a"] })],
  });
  const worker = await startWorker(engine, c, "w", ["wf:a", "wf:b"]);
  const runId = await trigger(c, "wf");
  const a = await worker.next();
  const res = await c.admin.cancelTasks({ externalIds: [a.taskRunExternalId] });
  assert.deepEqual(res.cancelledTasks, [a.taskRunExternalId]);
  const cancel = await worker.next();
  assert.equal(cancel.actionType, ActionType.CANCEL_STEP_RUN);
  await worker.complete(a, { late: true });
  assert.deepEqual(engine.taskRuns(runId).map((t) => [t.taskName, t.status]), [
    ["a", "CANCELLED"],
    ["b", "CANCELLED"],
  ]);
  const details = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(details.status, RunStatus.CANCELLED);
  assert.equal(details.done, true);
  await worker.close();
});

Deno.test("MockEngine records logs and orders stream events by event_index", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t")] });
  const worker = await startWorker(engine, c, "w", ["wf:t"]);
  await trigger(c, "wf");
  const a = await worker.next();
  const id = a.taskRunExternalId;
  await c.events.putLog({ taskRunExternalId: id, message: "one", metadata: "" });
  await c.events.putLog({
    taskRunExternalId: id,
    message: "two",
    level: "WARN",
    metadata: '{"k":1}',
  });
  const enc = new TextEncoder();
  for (const [i, text] of [[2, "c"], [0, "a"], [1, "b"]] as const) {
    await c.events.putStreamEvent({
      taskRunExternalId: id,
      message: enc.encode(text),
      metadata: "",
      eventIndex: BigInt(i),
    });
  }
  assert.deepEqual(
    engine.logs(id).map((l) => [l.message, l.level, l.retryCount, l.metadata]),
    [["one", "INFO", 0, undefined], ["two", "WARN", 0, { k: 1 }]],
  );
  assert.deepEqual(engine.streamEvents(id).map((b) => new TextDecoder().decode(b)), [
    "a",
    "b",
    "c",
  ]);
  assert.deepEqual(engine.rpcLog({ omit: ["GetVersion"] }).slice(-5), [
    { method: "PutLog", summary: { taskName: "t", taskRunId: id, message: "one" } },
    { method: "PutLog", summary: { taskName: "t", taskRunId: id, message: "two" } },
    { method: "PutStreamEvent", summary: { taskName: "t", taskRunId: id, eventIndex: 2 } },
    { method: "PutStreamEvent", summary: { taskName: "t", taskRunId: id, eventIndex: 0 } },
    { method: "PutStreamEvent", summary: { taskName: "t", taskRunId: id, eventIndex: 1 } },
  ]);
  await worker.complete(a);
  await worker.close();
});

Deno.test("MockEngine judges worker liveness on wall time, so advance('24h') keeps a live worker", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t")] });
  const worker = await startWorker(engine, c, "w", ["wf:t"]);
  await engine.advance("24h");
  assert.deepEqual(engine.workers().map((w) => w.live), [true]);
  await trigger(c, "wf");
  const action = await worker.next();
  assert.equal(action.taskName, "t");
  await worker.complete(action);
  await worker.close();
});

Deno.test("MockEngine assigns nothing to a worker after Unsubscribe", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t")] });
  const worker = await startWorker(engine, c, "w", ["wf:t"]);
  await c.dispatcher.unsubscribe({ workerId: worker.id });
  const runId = await trigger(c, "wf");
  await engine.settle();
  assert.equal(worker.actions.length, 0);
  assert.equal(engine.taskRuns(runId)[0].status, "QUEUED");
  const other = await startWorker(engine, c, "w2", ["wf:t"]);
  await other.complete(await other.next());
  await worker.close();
  await other.close();
});

Deno.test("MockEngine serves the old Listen stream too", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t")] });
  const { workerId } = await c.dispatcher.register({
    workerName: "old",
    actions: ["wf:t"],
    slots: 1,
  });
  const abort = new AbortController();
  const stream = c.dispatcher.listen({ workerId }, { signal: abort.signal })
    [Symbol.asyncIterator]();
  const first = stream.next();
  await trigger(c, "wf");
  const { value } = await first;
  assert.equal(value?.taskName, "t");
  abort.abort();
  await assert.rejects(stream.next());
});

Deno.test("MockEngine with clock 'real' fires sleeps on wall time and refuses advance()", async () => {
  await using engine = new MockEngine({ clock: "real" });
  const before = Date.now();
  assert.ok(Math.abs(engine.now().getTime() - before) < 60_000);
  await assert.rejects(engine.advance("1s"), /Cannot advance: the engine runs on clock "real"/);
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "t", { isDurable: true, slotRequests: { durable: 1 } })],
  });
  const worker = await startWorker(engine, c, "w", ["wf:t"], { durable: 1 });
  await trigger(c, "wf");
  const action = await worker.next();
  await c.durable.registerDurableEvent({
    taskId: action.taskRunExternalId,
    signalKey: "s",
    conditions: {
      sleepConditions: [{
        base: { readableDataKey: "s", orGroupId: crypto.randomUUID() },
        sleepFor: "1ms",
      }],
    },
  });
  const listener = listenDurable(c);
  listener.subscribe(action.taskRunExternalId, "s");
  assert.deepEqual((await listener.next()).data, { CREATE: { s: [{ sleep_duration: "1ms" }] } });
  await listener.close();
  await worker.complete(action);
  await worker.close();
});

Deno.test("MockEngine.close() ends open streams and later calls fail with UNAVAILABLE", async () => {
  const engine = new MockEngine();
  const c = clientsOf(engine.transport());
  const worker = await startWorker(engine, c, "w", []);
  await engine.close();
  assert.equal(await worker.ended, undefined, "the listen stream ends cleanly");
  await assert.rejects(c.dispatcher.getVersion({}), /\[unavailable\] mock engine is closed/);
  await assert.rejects(engine.advance("1s"), /the mock engine is closed/);
  await engine.close();
});

Deno.test("MockEngine.token is a JWT whose claims name the tenant and addresses", async () => {
  await using engine = new MockEngine({ namespace: "Dev" });
  const [header, body, signature] = engine.token.split(".");
  assert.ok(engine.token.startsWith("ey"));
  assert.equal(signature, "");
  const decode = (s: string) => JSON.parse(atob(s.replaceAll("-", "+").replaceAll("_", "/")));
  assert.deepEqual(decode(header), { alg: "none", typ: "JWT" });
  const claims = decode(body);
  assert.equal(claims.sub, engine.tenantId);
  // Nothing listens yet: the addresses reach nothing, never a real engine's defaults.
  assert.equal(claims.grpc_broadcast_address, "127.0.0.1:0");
  assert.equal(claims.server_url, "http://127.0.0.1:0");
  assert.equal(engine.client.config.tenantId, engine.tenantId);
  assert.equal(engine.client.config.namespace, "dev_");
});

Deno.test("MockEngine.token names the first listener's gRPC and REST ports once it listens", async () => {
  await using engine = new MockEngine();
  const before = engine.token;
  await using server = await engine.listen();
  const decode = (s: string) => JSON.parse(atob(s.replaceAll("-", "+").replaceAll("_", "/")));
  const claims = decode(engine.token.split(".")[1]);
  assert.equal(engine.token, server.token);
  assert.equal(claims.sub, engine.tenantId);
  assert.equal(claims.grpc_broadcast_address, server.hostPort);
  assert.equal(claims.server_url, server.restUrl);
  assert.match(server.restUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  // Both tokens are accepted, over gRPC and over REST.
  for (const token of [before, server.token]) {
    await using client = createClient({ token, hostPort: server.hostPort, tls: "none", env: {} });
    await client.events.push("k", {});
    const response = await fetch(
      `${server.restUrl}/api/v1/stable/workflow-runs/${crypto.randomUUID()}`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    assert.equal(response.status, 404);
    await response.body?.cancel();
  }
  assert.deepEqual(engine.rpcLog().map((e) => [e.method, e.error]), [
    ["Push", undefined],
    ["GET /api/v1/stable/workflow-runs/{v1-workflow-run}", "not_found"],
    ["Push", undefined],
    ["GET /api/v1/stable/workflow-runs/{v1-workflow-run}", "not_found"],
  ]);
});

Deno.test("MockEngine gives durable tasks only durable slots and default tasks only default slots", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [
      task("wf", "plain"),
      task("wf", "durable", { isDurable: true, slotRequests: { durable: 1 } }),
    ],
  });
  const defaultOnly = await startWorker(engine, c, "d", ["wf:plain", "wf:durable"], { default: 5 });
  const runId = await trigger(c, "wf");
  const plain = await defaultOnly.next();
  assert.equal(plain.taskName, "plain");
  await engine.settle();
  assert.deepEqual(engine.taskRuns(runId).map((t) => [t.taskName, t.status]), [
    ["plain", "RUNNING"],
    ["durable", "QUEUED"],
  ]);
  const durableWorker = await startWorker(engine, c, "dd", ["wf:durable"], { durable: 1 });
  const durable = await durableWorker.next();
  assert.equal(durable.taskName, "durable");
  assert.deepEqual(engine.workers().map((w) => w.usedSlots), [{ default: 1 }, { durable: 1 }]);
  await defaultOnly.complete(plain);
  await durableWorker.complete(durable);
  assert.deepEqual(engine.workers().map((w) => w.usedSlots), [{ default: 0 }, { durable: 0 }]);
  await defaultOnly.close();
  await durableWorker.close();
});

Deno.test("MockEngine cancels a task the worker reports CANCELLED", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t")] });
  const worker = await startWorker(engine, c, "w", ["wf:t"]);
  const runId = await trigger(c, "wf");
  const action = await worker.next();
  await c.dispatcher.sendStepActionEvent({
    workerId: worker.id,
    taskRunExternalId: action.taskRunExternalId,
    eventType: StepActionEventType.STEP_EVENT_TYPE_CANCELLED,
    retryCount: 0,
  });
  assert.equal(engine.taskRuns(runId)[0].status, "CANCELLED");
  assert.equal((await worker.next()).actionType, ActionType.CANCEL_STEP_RUN);
  await worker.close();
});

Deno.test("MockEngine updates worker labels and pushes events in bulk", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  const { workerId } = await c.dispatcher.register({
    workerName: "w",
    labels: { a: { strValue: "1" } },
  });
  await c.dispatcher.upsertWorkerLabels({ workerId, labels: { b: { intValue: 2 } } });
  assert.deepEqual(engine.workers()[0].labels, { a: "1", b: 2 });
  await c.admin.putWorkflow({ name: "wf", eventTriggers: ["k"], tasks: [task("wf", "t")] });
  const { events } = await c.events.bulkPush({
    events: [{ key: "k", payload: '{"i":1}' }, { key: "k", payload: '{"i":2}' }],
  });
  assert.equal(events.length, 2);
  assert.equal(engine.workflowRuns().length, 2);
  await assert.rejects(
    c.events.bulkPush({ events: [] }),
    /BulkPush takes 1 to 1000 events, received 0/,
  );
});

Deno.test("MockEngine puts an assignment back in the queue when the stream closes before delivering it", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t")] });
  const { workerId } = await c.dispatcher.register({
    workerName: "w",
    actions: ["wf:t"],
    services: ["default"],
    slotConfig: { default: 2 },
  });
  // A client that reads one action, then goes away without reading the second.
  const abort = new AbortController();
  const stream = c.dispatcher.listenV2({ workerId }, { signal: abort.signal })[
    Symbol.asyncIterator
  ]();
  const firstRead = stream.next();
  const read = await trigger(c, "wf", {});
  const unread = await trigger(c, "wf", {});
  assert.equal((await firstRead).value?.workflowRunId, read);
  // (No settle() here: it would wait for the unread action to be delivered.)
  assert.deepEqual(
    engine.taskRuns().map((t) => [t.workflowRunId, t.status, t.workerId]),
    [[read, "RUNNING", workerId], [unread, "RUNNING", workerId]],
  );
  abort.abort();
  await assert.rejects(stream.next());
  await engine.settle();
  // The delivered one stays with its worker; the other goes back to the queue, slot freed.
  assert.deepEqual(
    engine.taskRuns().map((t) => [t.workflowRunId, t.status, t.workerId]),
    [[read, "RUNNING", workerId], [unread, "QUEUED", undefined]],
  );
  assert.deepEqual(engine.workers()[0].usedSlots, { default: 1 });
  assert.match(
    engine.engineLog().at(-1)!,
    /goes back to the queue: its assignment was not delivered before worker .*'s stream closed/,
  );
  // The next stream gets it, and the run completes.
  const worker = await startWorker(engine, c, "w2", ["wf:t"]);
  const action = await worker.next();
  assert.equal(action.workflowRunId, unread);
  await worker.complete(action, { ok: true });
  assert.equal((await c.admin.getRunDetails({ externalId: unread })).status, RunStatus.COMPLETED);
  await worker.close();
});

Deno.test("MockEngine never assigns to a stream it dropped, even before the client noticed", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t")] });
  const worker = await startWorker(engine, c, "w", ["wf:t"]);
  engine.dropStreams();
  // Triggered in the same turn: the dropped stream is still listed, but closed.
  const runId = await trigger(c, "wf", {});
  assert.deepEqual(engine.taskRuns(runId).map((t) => t.status), ["QUEUED"]);
  const ended = await worker.ended;
  assert.ok(ended instanceof Error && /dropped the stream/.test(ended.message), String(ended));
  const again = await startWorker(engine, c, "w-again", ["wf:t"]);
  const action = await again.next();
  assert.equal(action.workflowRunId, runId);
  await again.complete(action, {});
  await again.close();
});

Deno.test("MockEngine assigns queued tasks by priority, then first in, first out", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t")] });
  // No worker yet: every run waits in the queue.
  const runs = [];
  for (const priority of [1, 3, 2, 3, 1, 2]) {
    runs.push({ priority, id: await trigger(c, "wf", {}, { priority }) });
  }
  const worker = await startWorker(engine, c, "w", ["wf:t"], { default: 1 });
  const order: string[] = [];
  for (let i = 0; i < runs.length; i++) {
    const action = await worker.next();
    order.push(action.workflowRunId);
    await worker.complete(action, {});
  }
  const expected = [...runs].sort((a, b) => b.priority - a.priority).map((r) => r.id);
  assert.deepEqual(order, expected);
  await worker.close();
});
