import type { TaskRef } from "../context/context.ts";
import { formatDuration } from "../transport/duration.ts";
import type { DurationInput } from "../transport/types.ts";
import { describeValue } from "../transport/describe.ts";

/**
 * Satisfied once `duration` has passed since the wait (or the task's queueing) was registered.
 * The engine reports it as `{ sleep_duration: "<duration>" }` under its readable data key.
 *
 * @example
 * ```ts
 * import { SleepCondition } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 * const sleep = new SleepCondition("90m");
 * assert.equal(sleep.sleepFor, "90m");
 * assert.equal(sleep.readableDataKey, "sleep:90m");
 * ```
 */
export class SleepCondition {
  /** Discriminates the condition kinds. */
  readonly kind: "sleep" = "sleep";
  /** The duration in the engine's form (`"90s"`, `"5m"`, `"24h"`, `"1500ms"`). */
  readonly sleepFor: string;
  /** The key the satisfying data appears under in the result; default `sleep:<sleepFor>`. */
  readonly readableDataKey: string;
  /** The UUID of the or-group this condition belongs to (its own unless built by `or()`). */
  readonly orGroupId: string;

  /**
   * Creates a sleep condition.
   *
   * @param duration How long to sleep: `"90s"`, `"5m"`, `"1h30m"`, `"500ms"` or milliseconds.
   * @param options `readableDataKey`: the key of the result entry; default `sleep:<duration>`.
   * @throws {RangeError} When `duration` does not parse.
   * @throws {TypeError} When `readableDataKey` is given but is not a non-empty string.
   */
  constructor(duration: DurationInput, options?: { readableDataKey?: string }) {
    this.sleepFor = formatDuration(duration);
    this.readableDataKey = optionalKey(options?.readableDataKey, "readableDataKey") ??
      `sleep:${this.sleepFor}`;
    this.orGroupId = crypto.randomUUID();
  }
}

/**
 * Satisfied by a user event pushed with `eventKey` whose payload passes the CEL `expression`
 * (variable `input` is the payload, e.g. `input.status == "approved"`). The event's payload is
 * the data reported under the readable data key.
 *
 * @example
 * ```ts
 * import { UserEventCondition } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 * const approved = new UserEventCondition("order:approved", { expression: "input.ok == true" });
 * assert.equal(approved.readableDataKey, "order:approved");
 * assert.equal(approved.expression, "input.ok == true");
 * ```
 */
export class UserEventCondition {
  /** Discriminates the condition kinds. */
  readonly kind: "user_event" = "user_event";
  /** The event key as given (the client's namespace is prefixed when it is sent). */
  readonly eventKey: string;
  /** The CEL filter over the payload (`input`); `""` accepts every event. */
  readonly expression: string;
  /** The key the event payload appears under in the result; default the raw event key. */
  readonly readableDataKey: string;
  /** The event scope; engines that use the legacy durable path ignore it. */
  readonly scope: string | undefined;
  /** The UUID of the or-group this condition belongs to (its own unless built by `or()`). */
  readonly orGroupId: string;

  /**
   * Creates a user-event condition.
   *
   * @param eventKey The key events are pushed with (without the namespace).
   * @param options `expression` (CEL over `input`), `readableDataKey`, `scope`.
   * @throws {TypeError} When `eventKey` is empty or not a string, or an option has the wrong type.
   */
  constructor(
    eventKey: string,
    options?: { expression?: string; readableDataKey?: string; scope?: string },
  ) {
    if (typeof eventKey !== "string" || eventKey === "") {
      throw new TypeError(
        `Invalid event key: expected a non-empty string, received ${describeValue(eventKey)}`,
      );
    }
    this.eventKey = eventKey;
    this.expression = optionalString(options?.expression, "expression") ?? "";
    this.readableDataKey = optionalKey(options?.readableDataKey, "readableDataKey") ?? eventKey;
    this.scope = optionalString(options?.scope, "scope");
    this.orGroupId = crypto.randomUUID();
  }
}

/**
 * A DAG-only condition on a parent task's output: the CEL `expression` sees the parent's output
 * as `output` (e.g. `output.amount > 100`). Use it in a task's `skipIf` or `waitFor`; durable
 * `ctx.waitFor()` rejects it.
 *
 * @example
 * ```ts
 * import { ParentCondition } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 * const parent = { name: "charge", workflow: "orders" };
 * const big = new ParentCondition(parent, "output.amount > 100");
 * assert.equal(big.readableDataKey, "charge");
 * ```
 */
export class ParentCondition {
  /** Discriminates the condition kinds. */
  readonly kind: "parent" = "parent";
  /** The parent task. */
  readonly parent: TaskRef<unknown>;
  /** The CEL expression over the parent's `output`. */
  readonly expression: string;
  /** The key of the result entry; default the parent's name. */
  readonly readableDataKey: string;
  /** The UUID of the or-group this condition belongs to (its own unless built by `or()`). */
  readonly orGroupId: string;

  /**
   * Creates a parent-output condition.
   *
   * @param parent The parent task (a `TaskRef` from `workflow.task()`).
   * @param expression CEL over the parent's `output`.
   * @param options `readableDataKey`: the key of the result entry; default the parent's name.
   * @throws {TypeError} When `parent` is not a task reference or `expression` is not a string.
   */
  constructor(
    parent: TaskRef<unknown>,
    expression: string,
    options?: { readableDataKey?: string },
  ) {
    if (
      typeof parent !== "object" || parent === null || typeof parent.name !== "string" ||
      parent.name === ""
    ) {
      throw new TypeError(
        `Invalid parent: expected a task reference with a name, received ${describeValue(parent)}`,
      );
    }
    if (typeof expression !== "string") {
      throw new TypeError(
        `Invalid expression: expected a CEL string, received ${describeValue(expression)}`,
      );
    }
    this.parent = parent;
    this.expression = expression;
    this.readableDataKey = optionalKey(options?.readableDataKey, "readableDataKey") ??
      parent.name;
    this.orGroupId = crypto.randomUUID();
  }
}

/** One condition of any kind, as `or()` accepts it. */
export type SingleCondition = SleepCondition | UserEventCondition | ParentCondition;

/**
 * Alternatives: satisfied as soon as any member is. Built by {@link or}; its members carry the
 * group's UUID as their `orGroupId`.
 *
 * @example
 * ```ts
 * import {
 *   createWorker,
 *   or,
 *   type OrGroup,
 *   SleepCondition,
 *   UserEventCondition,
 *   workflow,
 * } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "approve-or-expire" });
 * wf.durableTask({
 *   name: "wait",
 *   executionTimeout: "48h",
 *   fn: async (_input, ctx) => {
 *     const group: OrGroup<SleepCondition | UserEventCondition> = or(
 *       new UserEventCondition("order:approved"),
 *       new SleepCondition("24h"),
 *     );
 *     const result = await ctx.waitFor("approval", group);
 *     return { approved: "order:approved" in result.CREATE };
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * await engine.advance("24h"); // nobody approved: the sleep wins
 * assert.deepEqual((await run.result()).outputs.wait, { approved: false });
 * ```
 */
export interface OrGroup<
  C extends SleepCondition | UserEventCondition | ParentCondition =
    | SleepCondition
    | UserEventCondition
    | ParentCondition,
> {
  /** Discriminates the condition kinds. */
  readonly kind: "or";
  /** The UUID every member shares. */
  readonly orGroupId: string;
  /** The members, copies of the conditions given to `or()` carrying `orGroupId`. */
  readonly conditions: readonly C[];
}

/**
 * What a durable `ctx.waitFor()` accepts. Separate conditions are all required (AND).
 *
 * @example
 * ```ts
 * import { createWorker, SleepCondition, type WaitCondition, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "both" });
 * wf.durableTask({
 *   name: "wait",
 *   executionTimeout: "3h",
 *   fn: async (_input, ctx) => {
 *     // Separate conditions are all required: this wait ends after the longer one.
 *     const conditions: WaitCondition[] = [new SleepCondition("1h"), new SleepCondition("2h")];
 *     const result = await ctx.waitFor("both", ...conditions);
 *     return { keys: Object.keys(result.CREATE).sort() };
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * await engine.advance("2h");
 * assert.deepEqual((await run.result()).outputs.wait, { keys: ["sleep:1h", "sleep:2h"] });
 * ```
 */
export type WaitCondition =
  | SleepCondition
  | UserEventCondition
  | OrGroup<SleepCondition | UserEventCondition>;

/**
 * What a DAG task's `skipIf` and `waitFor` accept.
 *
 * @example
 * ```ts
 * import { createWorker, ParentCondition, type TaskCondition, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow<{ amount: number }>({ name: "order" });
 * const check = wf.task({ name: "check", fn: (input) => ({ amount: input.amount }) });
 * const skipSmall: TaskCondition[] = [new ParentCondition(check, "output.amount < 100")];
 * wf.task({ name: "review", parents: [check], skipIf: skipSmall, fn: () => ({ reviewed: true }) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, { amount: 50 });
 * await run.result();
 * assert.deepEqual(engine.taskRuns(run.id).map((t) => [t.taskName, t.status]), [
 *   ["check", "COMPLETED"],
 *   ["review", "SKIPPED"],
 * ]);
 * ```
 */
export type TaskCondition = WaitCondition | ParentCondition | OrGroup;

/**
 * Groups conditions as alternatives: the group is satisfied when any member is. Separate
 * conditions (and separate groups) are all required.
 *
 * @param conditions The alternatives; at least one, none of them a group.
 * @returns A group whose members are copies of `conditions` sharing one new or-group UUID.
 * @throws {TypeError} When no condition is given, or one is a group or not a condition.
 * @example
 * ```ts
 * import { or, SleepCondition, UserEventCondition } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 * const group = or(new UserEventCondition("approved"), new SleepCondition("24h"));
 * assert.equal(group.conditions.length, 2);
 * assert.ok(group.conditions.every((c) => c.orGroupId === group.orGroupId));
 * ```
 */
export function or<T extends (SleepCondition | UserEventCondition | ParentCondition)[]>(
  ...conditions: T
): OrGroup<T[number]> {
  if (conditions.length === 0) {
    throw new TypeError("Invalid or() group: expected at least one condition, received none");
  }
  const orGroupId = crypto.randomUUID();
  const members = conditions.map((condition, index) => {
    if (isOrGroup(condition)) {
      throw new TypeError(
        `Invalid or() group: groups cannot be nested, received an or() group at position ${index}`,
      );
    }
    if (!isSingleCondition(condition)) {
      throw new TypeError(
        `Invalid or() group: expected a SleepCondition, UserEventCondition or ParentCondition at position ${index}, received ${
          describeValue(condition)
        }`,
      );
    }
    // Copies keep the caller's condition valid on its own (with its own or-group) elsewhere.
    const copy: T[number] = Object.create(Object.getPrototypeOf(condition));
    return Object.assign(copy, condition, { orGroupId });
  });
  return Object.freeze({ kind: "or", orGroupId, conditions: Object.freeze(members) });
}

/** Whether `value` is a group built by {@link or}. */
export function isOrGroup(value: unknown): value is OrGroup {
  return typeof value === "object" && value !== null &&
    (value as { kind?: unknown }).kind === "or" &&
    Array.isArray((value as { conditions?: unknown }).conditions);
}

function isSingleCondition(value: unknown): value is SingleCondition {
  return value instanceof SleepCondition || value instanceof UserEventCondition ||
    value instanceof ParentCondition;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new TypeError(`Invalid ${name}: expected a string, received ${describeValue(value)}`);
  }
  return value;
}

function optionalKey(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new TypeError(
      `Invalid ${name}: expected a non-empty string, received ${describeValue(value)}`,
    );
  }
  return value;
}
