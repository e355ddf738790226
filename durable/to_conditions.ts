import { applyNamespace } from "../transport/config.ts";
import type {
  BaseMatchInput,
  DurableConditionsInput,
  MatchAction,
  ParentOverrideMatchInput,
  SleepMatchInput,
  TaskConditionsInput,
  UserEventMatchInput,
} from "../transport/ports.ts";
import { describeValue } from "../transport/describe.ts";
import {
  isOrGroup,
  ParentCondition,
  type SingleCondition,
  SleepCondition,
  type TaskCondition,
  UserEventCondition,
  type WaitCondition,
} from "./conditions.ts";

/**
 * Builds the `DurableEventListenerConditions` of a durable wait: sleeps and user events in call
 * order, every `or()` member carrying its group's UUID, event keys namespaced, action `CREATE`.
 *
 * @param conditions The conditions given to `ctx.waitFor()`.
 * @param namespace The client's namespace (`""` for none), prefixed to event keys.
 * @returns The wire-shaped conditions.
 * @throws {TypeError} When a condition is a `ParentCondition` (DAG only) or not a condition.
 * @example
 * ```ts
 * import { toDurableConditions } from "./to_conditions.ts";
 * import { UserEventCondition } from "./conditions.ts";
 * import assert from "node:assert/strict";
 * const event = new UserEventCondition("approved");
 * const wire = toDurableConditions([event], "staging_");
 * assert.equal(wire.userEventConditions[0].userEventKey, "staging_approved");
 * assert.equal(wire.userEventConditions[0].base.readableDataKey, "approved");
 * ```
 */
export function toDurableConditions(
  conditions: WaitCondition[],
  namespace: string,
): DurableConditionsInput {
  const out: DurableConditionsInput = { sleepConditions: [], userEventConditions: [] };
  for (const [condition, orGroupId] of flatten(conditions, "wait condition")) {
    if (condition instanceof ParentCondition) {
      throw new TypeError(
        `Invalid wait condition: a ParentCondition only applies to a DAG task's skipIf or waitFor, received one for parent ${
          JSON.stringify(condition.parent.name)
        }`,
      );
    }
    addCondition(out, condition, orGroupId, "CREATE", namespace);
  }
  return out;
}

/**
 * Builds a DAG task's `TaskConditions`: `skipIf` conditions with action `SKIP`, `waitFor`
 * conditions with action `QUEUE`, parent conditions as parent overrides naming the parent task.
 *
 * @param options The task's `skipIf` and `waitFor` lists.
 * @param namespace The client's namespace (`""` for none), prefixed to event keys.
 * @returns The wire-shaped conditions, or `undefined` when the task has none.
 * @throws {TypeError} When an entry is not a condition.
 * @example
 * ```ts
 * import { toTaskConditions } from "./to_conditions.ts";
 * import { SleepCondition } from "./conditions.ts";
 * import assert from "node:assert/strict";
 * const wire = toTaskConditions({ waitFor: [new SleepCondition("10s")] }, "");
 * assert.equal(wire?.sleepConditions[0].base.action, "QUEUE");
 * assert.equal(toTaskConditions({}, ""), undefined);
 * ```
 */
export function toTaskConditions(
  options: { skipIf?: TaskCondition[]; waitFor?: TaskCondition[] },
  namespace: string,
): TaskConditionsInput | undefined {
  const out: TaskConditionsInput = {
    parentOverrideConditions: [],
    sleepConditions: [],
    userEventConditions: [],
  };
  let any = false;
  const lists: [TaskCondition[] | undefined, MatchAction, string][] = [
    [options.skipIf, "SKIP", "skipIf condition"],
    [options.waitFor, "QUEUE", "waitFor condition"],
  ];
  for (const [list, action, label] of lists) {
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      throw new TypeError(`Invalid ${label}s: expected an array, received ${describeValue(list)}`);
    }
    for (const [condition, orGroupId] of flatten(list, label)) {
      addCondition(out, condition, orGroupId, action, namespace);
      any = true;
    }
  }
  return any ? out : undefined;
}

function* flatten(
  conditions: readonly unknown[],
  label: string,
): Generator<[SingleCondition, string]> {
  for (const [index, condition] of conditions.entries()) {
    if (isOrGroup(condition)) {
      for (const member of condition.conditions) yield [member, condition.orGroupId];
    } else if (
      condition instanceof SleepCondition || condition instanceof UserEventCondition ||
      condition instanceof ParentCondition
    ) {
      yield [condition, condition.orGroupId];
    } else {
      throw new TypeError(
        `Invalid ${label} at position ${index}: expected a SleepCondition, UserEventCondition, ParentCondition or or() group, received ${
          describeValue(condition)
        }`,
      );
    }
  }
}

function addCondition(
  out: DurableConditionsInput & { parentOverrideConditions?: ParentOverrideMatchInput[] },
  condition: SingleCondition,
  orGroupId: string,
  action: MatchAction,
  namespace: string,
): void {
  if (condition instanceof SleepCondition) {
    const sleep: SleepMatchInput = {
      base: base(condition.readableDataKey, action, orGroupId, ""),
      sleepFor: condition.sleepFor,
    };
    out.sleepConditions.push(sleep);
  } else if (condition instanceof UserEventCondition) {
    const event: UserEventMatchInput = {
      base: base(condition.readableDataKey, action, orGroupId, condition.expression),
      userEventKey: applyNamespace(namespace, condition.eventKey),
    };
    if (condition.scope !== undefined) event.eventScope = condition.scope;
    out.userEventConditions.push(event);
  } else {
    out.parentOverrideConditions?.push({
      base: base(condition.readableDataKey, action, orGroupId, condition.expression),
      parentReadableId: condition.parent.name,
    });
  }
}

function base(
  readableDataKey: string,
  action: MatchAction,
  orGroupId: string,
  expression: string,
): BaseMatchInput {
  return { readableDataKey, action, orGroupId, expression };
}
