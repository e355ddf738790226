import assert from "node:assert/strict";
import { ParentCondition, SleepCondition, UserEventCondition } from "../../durable/mod.ts";
import { definitionOf, workflow } from "../../worker/workflow.ts";
import { actionIdOf, putWorkflowInput } from "../../worker/_registration.ts";

const noop = () => {};

Deno.test("workflow().task() returns references and records defaults", () => {
  const wf = workflow<{ n: number }>({ name: "Orders", onEvents: ["order:created"] });
  const a = wf.task({ name: "validate", fn: () => ({ ok: true }) });
  const b = wf.durableTask({
    name: "charge",
    parents: [a],
    retries: 3,
    backoff: { factor: 2, maxSeconds: 60 },
    executionTimeout: 90_000,
    scheduleTimeout: "1h",
    fn: noop,
  });
  assert.deepEqual(a, { name: "validate", workflow: "Orders" });
  assert.deepEqual(b, { name: "charge", workflow: "Orders" });
  const def = definitionOf(wf);
  assert.equal(def.tasks[0].executionTimeout, "60s");
  assert.equal(def.tasks[0].scheduleTimeout, "5m");
  assert.equal(def.tasks[0].durable, false);
  assert.equal(def.tasks[1].executionTimeout, "90s");
  assert.equal(def.tasks[1].scheduleTimeout, "1h");
  assert.deepEqual(def.tasks[1].parents, ["validate"]);
  assert.equal(def.tasks[1].durable, true);
});

Deno.test("putWorkflowInput() builds namespaced names, action ids, parents, slots and conditions", () => {
  const wf = workflow({ name: "Orders", onEvents: ["order:created"], description: "d" });
  const a = wf.task({ name: "validate", fn: noop });
  wf.task({
    name: "refund",
    parents: [a],
    skipIf: [new ParentCondition(a, "output.ok == true")],
    waitFor: [new SleepCondition("10s"), new UserEventCondition("refund:approved")],
    fn: noop,
  });
  wf.durableTask({ name: "Ship", retries: 2, backoff: { factor: 1.5, maxSeconds: 30 }, fn: noop });
  wf.onFailure({ fn: noop });
  const req = putWorkflowInput(definitionOf(wf), "dev_");
  assert.equal(req.name, "dev_Orders");
  assert.equal(req.description, "d");
  assert.deepEqual(req.eventTriggers, ["dev_order:created"]);
  assert.deepEqual(req.tasks.map((t) => t.action), [
    "dev_orders:validate",
    "dev_orders:refund",
    "dev_orders:ship",
  ]);
  assert.deepEqual(req.tasks[0], {
    readableId: "validate",
    action: "dev_orders:validate",
    timeout: "60s",
    inputs: "{}",
    parents: [],
    retries: 0,
    scheduleTimeout: "5m",
    isDurable: false,
    slotRequests: { default: 1 },
  });
  const refund = req.tasks[1];
  assert.deepEqual(refund.parents, ["validate"]);
  assert.equal(refund.conditions?.parentOverrideConditions[0].base.action, "SKIP");
  assert.equal(refund.conditions?.parentOverrideConditions[0].parentReadableId, "validate");
  assert.equal(refund.conditions?.sleepConditions[0].base.action, "QUEUE");
  assert.equal(refund.conditions?.userEventConditions[0].userEventKey, "dev_refund:approved");
  const ship = req.tasks[2];
  assert.equal(ship.isDurable, true);
  assert.deepEqual(ship.slotRequests, { durable: 1 });
  assert.equal(ship.retries, 2);
  assert.equal(ship.backoffFactor, 1.5);
  assert.equal(ship.backoffMaxSeconds, 30);
  assert.equal(req.onFailureTask?.readableId, "on-failure-task");
  assert.equal(req.onFailureTask?.action, "dev_orders:on-failure-task");
  assert.equal(actionIdOf("dev_", "dev_Orders", "x"), "dev_orders:x");
});

Deno.test("workflow() throws a TypeError for an empty name or bad onEvents", () => {
  assert.throws(() => workflow({ name: "" }), {
    name: "TypeError",
    message: 'Workflow name must be a non-empty string, received ""',
  });
  assert.throws(() => workflow({ name: "w", onEvents: "e" as unknown as string[] }), {
    name: "TypeError",
    message: 'Workflow "w": onEvents must be an array of event keys, received "e"',
  });
  assert.throws(() => workflow({ name: "w", onEvents: [""] }), {
    name: "TypeError",
    message: 'Workflow "w": every onEvents key must be a non-empty string, received ""',
  });
});

Deno.test("Workflow.task() throws a TypeError for a duplicate or empty task name", () => {
  const wf = workflow({ name: "w" });
  wf.task({ name: "a", fn: noop });
  assert.throws(() => wf.task({ name: "a", fn: noop }), {
    name: "TypeError",
    message: 'Task "a" in workflow "w": the name is already used by another task of this workflow',
  });
  assert.throws(() => wf.task({ name: " ", fn: noop }), {
    name: "TypeError",
    message: 'Workflow "w": task name must be a non-empty string, received " "',
  });
  assert.throws(() => wf.task({ name: "b", fn: "x" as unknown as () => void }), {
    name: "TypeError",
    message: 'Task "b" in workflow "w": fn must be a function, received "x"',
  });
});

Deno.test("Workflow.task() throws a TypeError for a parent from another workflow", () => {
  const other = workflow({ name: "other" });
  const foreign = other.task({ name: "x", fn: noop });
  const wf = workflow({ name: "w" });
  assert.throws(() => wf.task({ name: "b", parents: [foreign], fn: noop }), {
    name: "TypeError",
    message:
      'Task "b" in workflow "w": parent "x" belongs to workflow "other"; parents must be tasks of the same workflow',
  });
});

Deno.test("Workflow.task() throws a TypeError for a cycle or an undeclared parent", () => {
  const wf = workflow({ name: "w" });
  wf.task({ name: "a", fn: noop });
  assert.throws(() => wf.task({ name: "b", parents: [{ name: "b", workflow: "w" }], fn: noop }), {
    name: "TypeError",
    message: 'Task "b" in workflow "w": a task cannot be its own parent (that would be a cycle)',
  });
  // A forged reference to a task declared later is the only way to write a cycle.
  assert.throws(() => wf.task({ name: "c", parents: [{ name: "d", workflow: "w" }], fn: noop }), {
    name: "TypeError",
    message:
      'Task "c" in workflow "w": parent "d" is not a task declared earlier in this workflow; declare parents before their children (cycles cannot be declared)',
  });
});

Deno.test("Workflow.task() throws a RangeError for bad retries, backoff and durations", () => {
  const wf = workflow({ name: "w" });
  assert.throws(() => wf.task({ name: "a", retries: -1, fn: noop }), {
    name: "RangeError",
    message: 'Task "a" in workflow "w": retries must be a non-negative integer, received -1',
  });
  assert.throws(() => wf.task({ name: "a", backoff: { factor: 0, maxSeconds: 5 }, fn: noop }), {
    name: "RangeError",
    message: 'Task "a" in workflow "w": backoff.factor must be a positive number, received 0',
  });
  assert.throws(() => wf.task({ name: "a", executionTimeout: "5x", fn: noop }), {
    name: "RangeError",
    message:
      'Task "a" in workflow "w": executionTimeout: Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received "5x"',
  });
  assert.throws(() => wf.task({ name: "a", scheduleTimeout: 0, fn: noop }), {
    name: "RangeError",
    message: 'Task "a" in workflow "w": scheduleTimeout must be positive, received 0',
  });
});

Deno.test("Workflow.task() throws a TypeError for a bad condition", () => {
  const wf = workflow({ name: "w" });
  const a = wf.task({ name: "a", fn: noop });
  assert.throws(
    () => wf.task({ name: "b", skipIf: [new ParentCondition(a, "true")], fn: noop }),
    {
      name: "TypeError",
      message:
        'Task "b" in workflow "w": a ParentCondition names "a", which is not among this task\'s parents',
    },
  );
  assert.throws(
    () => wf.task({ name: "b", waitFor: [{} as SleepCondition], fn: noop }),
    (err) =>
      err instanceof TypeError && err.message.startsWith('Task "b" in workflow "w": Invalid'),
  );
});

Deno.test("Workflow.onFailure() allows one on-failure task without parents", () => {
  const wf = workflow({ name: "w" });
  const ref = wf.onFailure({ fn: noop });
  assert.deepEqual(ref, { name: "on-failure-task", workflow: "w" });
  assert.throws(() => wf.onFailure({ name: "again", fn: noop }), {
    name: "TypeError",
    message: 'Workflow "w" already has an on-failure task ("on-failure-task")',
  });
  const wf2 = workflow({ name: "w2" });
  assert.throws(
    () =>
      wf2.onFailure({ fn: noop, parents: [] } as unknown as Parameters<typeof wf2.onFailure>[0]),
    {
      name: "TypeError",
      message:
        'Workflow "w2": the on-failure task cannot have parents; it runs after any task fails',
    },
  );
});

Deno.test("definitionOf() throws a TypeError for an object not made by workflow()", () => {
  assert.throws(() => definitionOf({ name: "fake" } as never), {
    name: "TypeError",
    message: 'Expected a workflow made by workflow(), received an object named "fake"',
  });
});
