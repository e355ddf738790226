import assert from "node:assert/strict";
import {
  or,
  ParentCondition,
  SleepCondition,
  UserEventCondition,
  type WaitCondition,
} from "../../durable/conditions.ts";
import { toDurableConditions, toTaskConditions } from "../../durable/to_conditions.ts";

const charge = { name: "charge", workflow: "orders" };

Deno.test("toDurableConditions() builds CREATE conditions in call order with their own groups", () => {
  const sleep = new SleepCondition("24h");
  const paid = new UserEventCondition("order:paid", { expression: "input.amount > 5" });
  const shipped = new UserEventCondition("order:shipped", { readableDataKey: "ship", scope: "s" });
  assert.deepEqual(toDurableConditions([paid, sleep, shipped], "ns_"), {
    sleepConditions: [{
      base: {
        readableDataKey: "sleep:24h",
        action: "CREATE",
        orGroupId: sleep.orGroupId,
        expression: "",
      },
      sleepFor: "24h",
    }],
    userEventConditions: [
      {
        base: {
          readableDataKey: "order:paid",
          action: "CREATE",
          orGroupId: paid.orGroupId,
          expression: "input.amount > 5",
        },
        userEventKey: "ns_order:paid",
      },
      {
        base: {
          readableDataKey: "ship",
          action: "CREATE",
          orGroupId: shipped.orGroupId,
          expression: "",
        },
        userEventKey: "ns_order:shipped",
        eventScope: "s",
      },
    ],
  });
});

Deno.test("toDurableConditions() gives or() members the group's UUID", () => {
  const group = or(new UserEventCondition("approved"), new SleepCondition("1m"));
  const alone = new SleepCondition("10s");
  const wire = toDurableConditions([group, alone], "");
  assert.deepEqual(wire.sleepConditions.map((c) => c.base.orGroupId), [
    group.orGroupId,
    alone.orGroupId,
  ]);
  assert.deepEqual(wire.userEventConditions.map((c) => [c.base.orGroupId, c.userEventKey]), [
    [group.orGroupId, "approved"],
  ]);
});

Deno.test("toDurableConditions() does not namespace a key twice", () => {
  const wire = toDurableConditions([new UserEventCondition("ns_approved")], "ns_");
  assert.equal(wire.userEventConditions[0].userEventKey, "ns_approved");
  assert.equal(wire.userEventConditions[0].base.readableDataKey, "ns_approved");
});

Deno.test("toDurableConditions() throws TypeError for a ParentCondition, alone or in or()", () => {
  const expected = new TypeError(
    'Invalid wait condition: a ParentCondition only applies to a DAG task\'s skipIf or waitFor, received one for parent "charge"',
  );
  const parent = new ParentCondition(charge, "true");
  assert.throws(
    () => toDurableConditions([parent as unknown as WaitCondition], ""),
    expected,
  );
  assert.throws(
    () => toDurableConditions([or(parent) as unknown as WaitCondition], ""),
    expected,
  );
});

Deno.test("toDurableConditions() throws TypeError for a value that is not a condition", () => {
  assert.throws(
    () => toDurableConditions([new SleepCondition("1s"), "10s" as unknown as WaitCondition], ""),
    new TypeError(
      'Invalid wait condition at position 1: expected a SleepCondition, UserEventCondition, ParentCondition or or() group, received "10s"',
    ),
  );
});

Deno.test("WaitCondition rejects a ParentCondition and an or() holding one at compile time", () => {
  const accept = (_c: WaitCondition): void => {};
  const parent = new ParentCondition(charge, "true");
  // @ts-expect-error ParentCondition is DAG only
  assert.throws(() => toDurableConditions([parent], ""), TypeError);
  // @ts-expect-error an or() group holding a ParentCondition is DAG only
  accept(or(parent, new SleepCondition("1s")));
  accept(or(new UserEventCondition("a"), new SleepCondition("1s")));
});

Deno.test("toTaskConditions() maps skipIf to SKIP, waitFor to QUEUE, parents to overrides", () => {
  const big = new ParentCondition(charge, "output.amount > 100");
  const sleep = new SleepCondition("10s");
  const event = new UserEventCondition("go", { expression: "input.ok" });
  const group = or(new ParentCondition(charge, "output.amount < 1"), event);
  assert.deepEqual(toTaskConditions({ skipIf: [big], waitFor: [sleep, group] }, "ns_"), {
    parentOverrideConditions: [
      {
        base: {
          readableDataKey: "charge",
          action: "SKIP",
          orGroupId: big.orGroupId,
          expression: "output.amount > 100",
        },
        parentReadableId: "charge",
      },
      {
        base: {
          readableDataKey: "charge",
          action: "QUEUE",
          orGroupId: group.orGroupId,
          expression: "output.amount < 1",
        },
        parentReadableId: "charge",
      },
    ],
    sleepConditions: [{
      base: {
        readableDataKey: "sleep:10s",
        action: "QUEUE",
        orGroupId: sleep.orGroupId,
        expression: "",
      },
      sleepFor: "10s",
    }],
    userEventConditions: [{
      base: {
        readableDataKey: "go",
        action: "QUEUE",
        orGroupId: group.orGroupId,
        expression: "input.ok",
      },
      userEventKey: "ns_go",
    }],
  });
});

Deno.test("toTaskConditions() returns undefined when the task has no conditions", () => {
  assert.equal(toTaskConditions({}, ""), undefined);
  assert.equal(toTaskConditions({ skipIf: [], waitFor: [] }, "ns_"), undefined);
});

Deno.test("toTaskConditions() throws TypeError for a list that is not an array", () => {
  assert.throws(
    () => toTaskConditions({ skipIf: new SleepCondition("1s") as unknown as [] }, ""),
    new TypeError("Invalid skipIf conditions: expected an array, received a SleepCondition"),
  );
  assert.throws(
    () => toTaskConditions({ waitFor: [42 as unknown as SleepCondition] }, ""),
    new TypeError(
      "Invalid waitFor condition at position 0: expected a SleepCondition, UserEventCondition, ParentCondition or or() group, received 42",
    ),
  );
});
