// Matches: owns the open matches, each a task run waiting on conditions: a DAG task on its
// parents' outcomes (TRIGGER), a durable wait on sleeps and user events (SIGNAL). Builds the
// conditions (default DAG rules, on-failure rules, a task's own sleeps and user events), arms
// sleep timers, evaluates CEL on user events and parent outcomes, and when a match fires hands
// the task run to the attempts room or the signal result to the durable room.

import type { JsonObject, JsonValue } from "../../transport/types.ts";
import { evalCel } from "../_cel.ts";
import { isObject, parseSleepDuration } from "../_validate.ts";
import type { Attempts } from "./attempts.ts";
import type { Durable } from "./durable.ts";
import type { Records } from "./records.ts";
import type {
  ConditionAction,
  EngineState,
  Match,
  MatchCondition,
  ParentData,
  StepCondition,
  TaskDef,
  TaskRun,
  WorkflowRun,
} from "./types.ts";

/** What the matches room uses of the other rooms. */
export interface MatchesLinks {
  readonly attempts: Pick<Attempts, "create">;
  readonly durable: Pick<Durable, "completeSignal">;
  readonly records: Pick<Records, "note">;
  /** Watches task outcomes for the children of durable tasks. */
  readonly durableTask: { taskEvent(task: TaskRun): void };
}

/** Open matches and their conditions. */
export class Matches {
  #state: EngineState;
  #links: MatchesLinks;
  /** Open matches, in creation order (a Set: a resolved one leaves in O(1)). */
  #matches = new Set<Match>();

  constructor(state: EngineState, links: MatchesLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** Opens a durable wait: `conditions` complete `signalKey` of `task` when they fire. */
  addSignalMatch(
    task: TaskRun,
    signalKey: string,
    conditions: MatchCondition[],
    onComplete?: (result: JsonObject) => void,
  ): Match {
    const match: Match = {
      kind: "SIGNAL",
      task,
      signalKey,
      conditions,
      parentData: {},
      triggerData: {},
      removed: false,
      onComplete,
    };
    for (const c of conditions) {
      if (c.timer === undefined && c.eventType === "SLEEP") this.#armSleep(match, c);
    }
    this.#matches.add(match);
    return match;
  }

  /** Offers one past event to one match only (a durable wait's lookback). */
  offerUserEvent(match: Match, key: string, payload: JsonObject, scope: string | undefined): void {
    if (match.removed) return;
    if (this.#offer(match, key, payload, scope)) this.#resolve(match);
  }

  #offer(match: Match, key: string, payload: JsonObject, scope: string | undefined): boolean {
    let changed = false;
    for (const c of match.conditions) {
      if (c.satisfied || c.eventType !== "USER" || c.eventKey !== key) continue;
      if (c.scope !== undefined && c.scope !== scope) continue;
      if (this.#evaluate(c, payload, {}, match)) {
        c.satisfied = true;
        c.data = structuredClone(payload);
        changed = true;
      }
    }
    return changed;
  }

  /** Drops the matches that would create `task` (it was cancelled while pending). */
  dropTriggerMatches(task: TaskRun): void {
    for (const m of this.#matches) {
      if (m.task === task && m.kind === "TRIGGER") {
        m.removed = true;
        for (const c of m.conditions) this.#state.clock.cancel(c.timer);
        this.#matches.delete(m);
      }
    }
  }

  #internal(
    orGroupId: string,
    eventKey: ParentData["kind"],
    parent: TaskRun,
    expression: string,
    action: ConditionAction,
  ): MatchCondition {
    return {
      orGroupId,
      action,
      eventType: "INTERNAL",
      eventKey,
      hint: parent.id,
      expression,
      readableDataKey: parent.def.readableId,
      satisfied: false,
    };
  }

  // The default DAG rules (engine: getParentInDAGGroupMatch): a child is queued when all its
  // parents completed, skipped when all were skipped, cancelled when any failed or was cancelled;
  // parent conditions replace the matching default.
  parentConditions(run: WorkflowRun, def: TaskDef): MatchCondition[] {
    const hasOwn = def.conditions.some((c) => c.kind !== "PARENT");
    const anySkipOverride = def.conditions.some((c) => c.kind === "PARENT" && c.action === "SKIP");
    const completeAction: ConditionAction = hasOwn ? "CREATE_MATCH" : "QUEUE";
    const cancelGroup = crypto.randomUUID();
    const out: MatchCondition[] = [];
    for (const parentName of def.parents) {
      const parent = run.tasks.get(parentName)!;
      const overrides = def.conditions.filter((c) =>
        c.kind === "PARENT" && c.parentReadableId === parentName
      );
      const queue = overrides.filter((c) => c.action === "QUEUE");
      if (queue.length > 0) {
        for (const o of queue) {
          out.push(this.#internal(o.orGroupId, "COMPLETED", parent, o.expression, completeAction));
        }
      } else {
        out.push(this.#internal(crypto.randomUUID(), "COMPLETED", parent, "true", completeAction));
      }
      const skip = overrides.filter((c) => c.action === "SKIP");
      if (skip.length > 0) {
        for (const o of skip) {
          out.push(this.#internal(o.orGroupId, "COMPLETED", parent, o.expression, "SKIP"));
        }
      } else if (!anySkipOverride) {
        out.push(
          this.#internal(
            crypto.randomUUID(),
            "COMPLETED",
            parent,
            "has(output.skipped) && output.skipped",
            "SKIP",
          ),
        );
      }
      const cancel = overrides.filter((c) => c.action === "CANCEL");
      if (cancel.length > 0) {
        for (const o of cancel) {
          out.push(
            this.#internal(o.orGroupId, "COMPLETED", parent, o.expression, "CANCEL"),
            this.#internal(o.orGroupId, "FAILED", parent, "true", "CANCEL"),
            this.#internal(o.orGroupId, "CANCELLED", parent, "true", "CANCEL"),
          );
        }
      } else {
        out.push(
          this.#internal(cancelGroup, "FAILED", parent, "true", "CANCEL"),
          this.#internal(cancelGroup, "CANCELLED", parent, "true", "CANCEL"),
        );
      }
    }
    return out;
  }

  // The on-failure task (engine: getParentOnFailureGroupMatches) is queued as soon as any task
  // fails, and skipped once every task completed or was cancelled.
  onFailureConditions(run: WorkflowRun): MatchCondition[] {
    const createGroup = crypto.randomUUID();
    const out: MatchCondition[] = [];
    for (const def of run.version.tasks) {
      const task = run.tasks.get(def.readableId)!;
      const skipGroup = crypto.randomUUID();
      out.push(
        this.#internal(createGroup, "FAILED", task, "true", "QUEUE"),
        this.#internal(skipGroup, "COMPLETED", task, "true", "SKIP"),
        this.#internal(skipGroup, "CANCELLED", task, "true", "SKIP"),
      );
    }
    return out;
  }

  /** A task's own sleep or user-event condition, as a match condition. */
  ownCondition(c: StepCondition): MatchCondition {
    if (c.kind === "SLEEP") {
      return this.sleepCondition({
        orGroupId: c.orGroupId,
        action: c.action,
        readableDataKey: c.readableDataKey,
        sleepFor: c.sleepFor ?? "",
      });
    }
    return {
      orGroupId: c.orGroupId,
      action: c.action,
      eventType: "USER",
      eventKey: c.eventKey ?? "",
      expression: c.expression,
      readableDataKey: c.readableDataKey,
      satisfied: false,
    };
  }

  /** A sleep condition; its timer is armed when its match opens. */
  sleepCondition(
    c: { orGroupId: string; action: ConditionAction; readableDataKey: string; sleepFor: string },
  ): MatchCondition {
    return {
      orGroupId: c.orGroupId,
      action: c.action,
      eventType: "SLEEP",
      eventKey: "",
      expression: "true",
      readableDataKey: c.readableDataKey,
      sleepFor: c.sleepFor,
      satisfied: false,
    };
  }

  /** Opens a match that creates `task` when its conditions fire. */
  addMatch(task: TaskRun, conditions: MatchCondition[], carried?: Match): void {
    const match: Match = {
      kind: "TRIGGER",
      task,
      conditions,
      parentData: carried ? { ...carried.parentData } : {},
      triggerData: carried ? { ...carried.triggerData } : {},
      removed: false,
    };
    this.#matches.add(match);
    for (const c of conditions) if (c.eventType === "SLEEP") this.#armSleep(match, c);
  }

  #armSleep(match: Match, c: MatchCondition): void {
    const at = this.#state.clock.now() + parseSleepDuration(c.sleepFor ?? "");
    c.timer = this.#state.clock.at(at, () => {
      if (match.removed || c.satisfied) return;
      c.satisfied = true;
      c.data = { sleep_duration: c.sleepFor ?? "" };
      this.#resolve(match);
    });
  }

  /** Offers a pushed event to the user-event conditions of every open match. */
  userEvent(key: string, payload: JsonObject, scope?: string): void {
    for (const match of [...this.#matches]) {
      if (match.removed) continue;
      if (this.#offer(match, key, payload, scope)) this.#resolve(match);
    }
  }

  /** Offers a task run's outcome to the parent conditions listening to it. */
  taskEvent(task: TaskRun, kind: ParentData["kind"]): void {
    const output = task.status === "SKIPPED" ? { skipped: true } : task.output ?? {};
    // CEL sees `output` as a map: an output that is not an object (null, a string) is an empty one.
    const celOutput = isObject(output) ? output : {};
    for (const match of [...this.#matches]) {
      if (match.removed) continue;
      let changed = false;
      for (const c of match.conditions) {
        if (
          c.satisfied || c.eventType !== "INTERNAL" || c.eventKey !== kind || c.hint !== task.id
        ) {
          continue;
        }
        if (this.#evaluate(c, {}, kind === "COMPLETED" ? celOutput : {}, match)) {
          c.satisfied = true;
          const data: ParentData = { kind };
          if (kind === "COMPLETED") data.output = output;
          if (kind === "FAILED") data.error = task.error ?? "";
          c.data = data as unknown as JsonValue;
          changed = true;
        }
      }
      if (changed) this.#resolve(match);
    }
    this.#links.durableTask.taskEvent(task);
  }

  #evaluate(c: MatchCondition, input: JsonObject, output: JsonObject, match: Match): boolean {
    const result = evalCel(c.expression, input, output);
    if (result.error !== undefined) {
      this.#links.records.note(
        `CEL expression ${JSON.stringify(c.expression)} of a condition on task ${match.task.id} ` +
          `(${match.task.def.readableId}) failed: ${result.error}`,
      );
    }
    return result.matched;
  }

  // A match fires when every or-group of some action has a satisfied member; the precedence
  // when several actions are satisfied at once is the engine's: SKIP, CANCEL, CREATE, QUEUE.
  #resolve(match: Match): void {
    const order: ConditionAction[] = ["SKIP", "CANCEL", "CREATE", "QUEUE", "CREATE_MATCH"];
    let chosen: ConditionAction | undefined;
    for (const action of order) {
      const groups = new Set<string>();
      const satisfied = new Set<string>();
      for (const c of match.conditions) {
        if (c.action !== action) continue;
        groups.add(c.orGroupId);
        if (c.satisfied) satisfied.add(c.orGroupId);
      }
      if (groups.size > 0 && groups.size === satisfied.size) {
        chosen = action;
        break;
      }
    }
    if (!chosen) return;
    match.removed = true;
    this.#matches.delete(match);
    for (const c of match.conditions) this.#state.clock.cancel(c.timer);
    const parentData = { ...match.parentData };
    const triggerData: Record<string, JsonValue[]> = {};
    for (const [k, v] of Object.entries(match.triggerData)) triggerData[k] = [...v];
    const aggregated: Record<string, JsonValue[]> = {};
    for (const c of match.conditions) {
      if (!c.satisfied || c.action !== chosen) continue;
      (aggregated[c.readableDataKey] ??= []).push(c.data ?? null);
      if (c.eventType === "INTERNAL") {
        parentData[c.readableDataKey] ??= c.data as unknown as ParentData;
      } else (triggerData[c.readableDataKey] ??= []).push(c.data ?? null);
    }
    this.#state.activity++;
    if (match.kind === "SIGNAL") {
      if (match.onComplete) match.onComplete({ [chosen]: aggregated });
      else {this.#links.durable.completeSignal(match.task, match.signalKey!, {
          [chosen]: aggregated,
        });}
      return;
    }
    const task = match.task;
    if (task.status !== "PENDING") return;
    if (chosen === "CREATE_MATCH") {
      const own = task.def.conditions.filter((c) => c.kind !== "PARENT").map((c) =>
        this.ownCondition(c)
      );
      this.addMatch(task, own, { ...match, parentData, triggerData });
      return;
    }
    this.#links.attempts.create(task, chosen, parentData, triggerData);
  }
}
