import assert from "node:assert/strict";
import { Action, ActionType, RunStatus } from "../../transport/services.ts";
import { MockEngine } from "../../testing/mod.ts";
import { clientsOf, json, startWorker, task, trigger } from "./_helpers.ts";

Deno.test("MockEngine holds a root task until its waitFor sleep fires", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "later", {
      conditions: {
        sleepConditions: [{
          base: {
            readableDataKey: "sleep:10s",
            action: Action.QUEUE,
            orGroupId: crypto.randomUUID(),
          },
          sleepFor: "10s",
        }],
      },
    })],
  });
  const worker = await startWorker(engine, c, "w", ["wf:later"]);
  const runId = await trigger(c, "wf");
  await engine.advance("9s");
  assert.deepEqual(engine.taskRuns(runId).map((t) => t.status), ["PENDING"]);
  assert.equal((await c.admin.getRunDetails({ externalId: runId })).status, RunStatus.QUEUED);
  await engine.advance("1s");
  const action = await worker.next();
  assert.deepEqual(JSON.parse(action.actionPayload).triggers, {
    filter_payload: null,
    "sleep:10s": { sleep_duration: "10s" },
  });
  await worker.complete(action);
  await worker.close();
});

Deno.test("MockEngine queues a child after its parent and a matching user event", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [
      task("wf", "parent"),
      task("wf", "child", {
        parents: ["parent"],
        conditions: {
          userEventConditions: [{
            base: {
              readableDataKey: "approval",
              action: Action.QUEUE,
              orGroupId: crypto.randomUUID(),
              expression: "input.approved == true",
            },
            userEventKey: "approval",
          }],
          sleepConditions: [{
            base: {
              readableDataKey: "timeout",
              action: Action.SKIP,
              orGroupId: crypto.randomUUID(),
            },
            sleepFor: "1h",
          }],
        },
      }),
    ],
  });
  const worker = await startWorker(engine, c, "w", ["wf:parent", "wf:child"]);
  const runId = await trigger(c, "wf");
  const parent = await worker.next();
  await c.events.push({ key: "approval", payload: '{"approved":true}' });
  await worker.complete(parent, { p: 1 });
  await engine.settle();
  assert.deepEqual(
    engine.taskRuns(runId).map((t) => t.status),
    ["COMPLETED", "PENDING"],
    "an event before the condition exists is not seen",
  );
  await c.events.push({ key: "approval", payload: '{"approved":false}' });
  await c.events.push({ key: "approval", payload: '{"approved":true,"by":"ann"}' });
  const child = await worker.next();
  const payload = JSON.parse(child.actionPayload);
  assert.deepEqual(payload.parents, { parent: { p: 1 } });
  assert.deepEqual(payload.triggers, {
    filter_payload: null,
    approval: { approved: true, by: "ann" },
  });
  await worker.complete(child);
  await worker.close();
});

Deno.test("MockEngine skips a task whose skipIf sleep fires before its waitFor event", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "gated", {
      conditions: {
        userEventConditions: [{
          base: { readableDataKey: "go", action: Action.QUEUE, orGroupId: crypto.randomUUID() },
          userEventKey: "go",
        }],
        sleepConditions: [{
          base: { readableDataKey: "give-up", action: Action.SKIP, orGroupId: crypto.randomUUID() },
          sleepFor: "30m",
        }],
      },
    })],
  });
  const runId = await trigger(c, "wf");
  await engine.advance("30m");
  assert.deepEqual(engine.taskRuns(runId).map((t) => t.status), ["SKIPPED"]);
  const details = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(details.status, RunStatus.COMPLETED);
  assert.deepEqual(json(details.taskRuns.gated.output!), { skipped: true });
});

Deno.test("MockEngine runs the on-failure task with step_run_errors after a task fails", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "a"), task("wf", "b", { parents: ["a"] })],
    onFailureTask: task("wf", "on_failure"),
  });
  const worker = await startWorker(engine, c, "w", ["wf:a", "wf:b", "wf:on_failure"]);
  const runId = await trigger(c, "wf", { i: 1 });
  const a = await worker.next();
  await worker.fail(a, "a broke");
  const onFailure = await worker.next();
  assert.equal(onFailure.taskName, "on_failure");
  const payload = JSON.parse(onFailure.actionPayload);
  assert.deepEqual(payload.step_run_errors, { a: "a broke" });
  assert.deepEqual(payload.input, { i: 1 });
  await worker.complete(onFailure, { handled: true });
  assert.deepEqual(engine.taskRuns(runId).map((t) => [t.taskName, t.status]), [
    ["a", "FAILED"],
    ["b", "CANCELLED"],
    ["on_failure", "COMPLETED"],
  ]);
  const details = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(details.status, RunStatus.FAILED);
  assert.equal(details.done, true);
  await worker.close();
});

Deno.test("MockEngine skips the on-failure task when every task completes", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "a")],
    onFailureTask: task("wf", "on_failure"),
  });
  const worker = await startWorker(engine, c, "w", ["wf:a", "wf:on_failure"]);
  const runId = await trigger(c, "wf");
  await worker.complete(await worker.next(), { ok: true });
  assert.deepEqual(engine.taskRuns(runId).map((t) => [t.taskName, t.status]), [
    ["a", "COMPLETED"],
    ["on_failure", "SKIPPED"],
  ]);
  assert.equal((await c.admin.getRunDetails({ externalId: runId })).status, RunStatus.COMPLETED);
  await worker.close();
});

Deno.test("MockEngine starts a run for a pushed event that matches an event trigger", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "on-signup",
    eventTriggers: ["user:created"],
    tasks: [task("on-signup", "welcome")],
  });
  const worker = await startWorker(engine, c, "w", ["on-signup:welcome"]);
  await c.events.push({ key: "other", payload: "{}" });
  const event = await c.events.push({
    key: "user:created",
    payload: '{"email":"a@b.c"}',
    additionalMetadata: '{"source":"test","hatchet__spoof":1}',
    priority: 3,
  });
  const action = await worker.next();
  assert.equal(action.triggeringEventExternalId, event.eventId);
  assert.equal(action.triggeringEventKey, "user:created");
  assert.equal(action.priority, 3);
  const { traceparent, ...meta } = JSON.parse(action.additionalMetadata!);
  assert.deepEqual(meta, {
    hatchet__event_id: event.eventId,
    hatchet__event_key: "user:created",
    source: "test",
  });
  assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.deepEqual(JSON.parse(action.actionPayload).input, { email: "a@b.c" });
  assert.equal(engine.workflowRuns().length, 1);
  await worker.complete(action);
  await worker.close();
});

Deno.test("MockEngine cancels a task nobody picks up within its schedule timeout", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({ name: "wf", tasks: [task("wf", "t", { scheduleTimeout: "2m" })] });
  const runId = await trigger(c, "wf");
  await engine.advance("119s");
  assert.equal(engine.taskRuns(runId)[0].status, "QUEUED");
  await engine.advance("1s");
  assert.equal(engine.taskRuns(runId)[0].status, "CANCELLED");
  assert.match(engine.engineLog().join("\n"), /SCHEDULING_TIMED_OUT/);
});

Deno.test("MockEngine cancels every task of a workflow run by its run id", async () => {
  await using engine = new MockEngine();
  const c = clientsOf(engine.transport());
  await c.admin.putWorkflow({
    name: "wf",
    tasks: [task("wf", "a"), task("wf", "b"), task("wf", "c", { parents: ["a", "b"] })],
  });
  const worker = await startWorker(engine, c, "w", ["wf:a", "wf:b", "wf:c"]);
  const runId = await trigger(c, "wf");
  const first = await worker.next();
  const second = await worker.next();
  await worker.complete(first);
  await c.admin.cancelTasks({ externalIds: [runId] });
  const cancel = await worker.next();
  assert.equal(cancel.actionType, ActionType.CANCEL_STEP_RUN);
  assert.equal(cancel.taskRunExternalId, second.taskRunExternalId);
  assert.deepEqual(engine.taskRuns(runId).map((t) => t.status).sort(), [
    "CANCELLED",
    "CANCELLED",
    "COMPLETED",
  ]);
  await worker.close();
});
