import assert from "node:assert/strict";
import {
  or,
  ParentCondition,
  SleepCondition,
  UserEventCondition,
} from "../../durable/conditions.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const charge = { name: "charge", workflow: "orders" };

Deno.test("SleepCondition() formats the duration and defaults the readable key to sleep:<d>", () => {
  const sleep = new SleepCondition("1h30m");
  assert.equal(sleep.kind, "sleep");
  assert.equal(sleep.sleepFor, "90m");
  assert.equal(sleep.readableDataKey, "sleep:90m");
  assert.match(sleep.orGroupId, UUID);
  assert.equal(new SleepCondition(86_400_000).sleepFor, "24h");
  assert.equal(new SleepCondition("1500ms").readableDataKey, "sleep:1500ms");
});

Deno.test("SleepCondition() keeps an explicit readableDataKey", () => {
  assert.equal(new SleepCondition("10s", { readableDataKey: "nap" }).readableDataKey, "nap");
});

Deno.test("SleepCondition() throws RangeError when the duration does not parse", () => {
  assert.throws(
    () => new SleepCondition("5x"),
    new RangeError(
      'Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received "5x"',
    ),
  );
  assert.throws(
    () => new SleepCondition(-1),
    new RangeError(
      "Cannot parse duration: expected a non-negative number of milliseconds, received -1",
    ),
  );
});

Deno.test("SleepCondition() throws TypeError when readableDataKey is empty", () => {
  assert.throws(
    () => new SleepCondition("10s", { readableDataKey: "" }),
    new TypeError('Invalid readableDataKey: expected a non-empty string, received ""'),
  );
});

Deno.test("UserEventCondition() defaults the readable key to the raw event key", () => {
  const event = new UserEventCondition("order:paid");
  assert.equal(event.kind, "user_event");
  assert.equal(event.eventKey, "order:paid");
  assert.equal(event.readableDataKey, "order:paid");
  assert.equal(event.expression, "");
  assert.equal(event.scope, undefined);
  assert.match(event.orGroupId, UUID);
});

Deno.test("UserEventCondition() keeps expression, readableDataKey and scope", () => {
  const event = new UserEventCondition("order:paid", {
    expression: "input.amount > 5",
    readableDataKey: "paid",
    scope: "tenant-a",
  });
  assert.deepEqual(
    [event.expression, event.readableDataKey, event.scope],
    ["input.amount > 5", "paid", "tenant-a"],
  );
});

Deno.test("UserEventCondition() throws TypeError when the event key is empty or not a string", () => {
  assert.throws(
    () => new UserEventCondition(""),
    new TypeError('Invalid event key: expected a non-empty string, received ""'),
  );
  assert.throws(
    () => new UserEventCondition(undefined as unknown as string),
    new TypeError("Invalid event key: expected a non-empty string, received undefined"),
  );
  assert.throws(
    () => new UserEventCondition("k", { expression: 1 as unknown as string }),
    new TypeError("Invalid expression: expected a string, received 1"),
  );
});

Deno.test("ParentCondition() defaults the readable key to the parent's name", () => {
  const parent = new ParentCondition(charge, "output.amount > 100");
  assert.equal(parent.kind, "parent");
  assert.equal(parent.parent, charge);
  assert.equal(parent.expression, "output.amount > 100");
  assert.equal(parent.readableDataKey, "charge");
  assert.equal(new ParentCondition(charge, "", { readableDataKey: "c" }).readableDataKey, "c");
});

Deno.test("ParentCondition() throws TypeError when the parent or expression is invalid", () => {
  assert.throws(
    () => new ParentCondition("charge" as unknown as typeof charge, "true"),
    new TypeError('Invalid parent: expected a task reference with a name, received "charge"'),
  );
  assert.throws(
    () => new ParentCondition(charge, undefined as unknown as string),
    new TypeError("Invalid expression: expected a CEL string, received undefined"),
  );
});

Deno.test("conditions get distinct or-group UUIDs at construction", () => {
  const ids = new Set([
    new SleepCondition("1s").orGroupId,
    new SleepCondition("1s").orGroupId,
    new UserEventCondition("a").orGroupId,
    new ParentCondition(charge, "true").orGroupId,
  ]);
  assert.equal(ids.size, 4);
});

Deno.test("or() shares one new UUID across copies of its members", () => {
  const sleep = new SleepCondition("1m");
  const event = new UserEventCondition("order:paid");
  const group = or(event, sleep);
  assert.equal(group.kind, "or");
  assert.match(group.orGroupId, UUID);
  assert.notEqual(group.orGroupId, sleep.orGroupId);
  assert.notEqual(group.orGroupId, event.orGroupId);
  assert.deepEqual(group.conditions.map((c) => c.orGroupId), [group.orGroupId, group.orGroupId]);
  assert.ok(group.conditions[0] instanceof UserEventCondition);
  assert.ok(group.conditions[1] instanceof SleepCondition);
  assert.equal((group.conditions[1] as SleepCondition).sleepFor, "1m");
  // The originals keep their own groups, so they can still be used on their own.
  assert.notEqual(sleep.orGroupId, event.orGroupId);
  assert.notEqual(or(sleep).orGroupId, group.orGroupId);
});

Deno.test("or() throws TypeError when given nothing, a nested group or a non-condition", () => {
  assert.throws(
    () => or(),
    new TypeError("Invalid or() group: expected at least one condition, received none"),
  );
  const inner = or(new SleepCondition("1s"));
  assert.throws(
    () => or(new SleepCondition("1s"), inner as unknown as SleepCondition),
    new TypeError(
      "Invalid or() group: groups cannot be nested, received an or() group at position 1",
    ),
  );
  assert.throws(
    () => or({ sleepFor: "1s" } as unknown as SleepCondition),
    new TypeError(
      'Invalid or() group: expected a SleepCondition, UserEventCondition or ParentCondition at position 0, received {"sleepFor":"1s"}',
    ),
  );
});
