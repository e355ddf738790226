// Workflows: owns the registered workflow versions, by name. Serves PutWorkflow: validates the
// tasks (names, parents, conditions, cycles, durations, priority) and turns them into task
// definitions with their defaults (timeouts, slot requests), checks its crons and cron input,
// and tells the schedules room so the new version's crons replace the old ones.

import { create } from "@bufbuild/protobuf";
import {
  Action,
  type CreateTaskOpts,
  type CreateWorkflowVersionRequest,
  type CreateWorkflowVersionResponse,
  CreateWorkflowVersionResponseSchema,
  type TaskConditions,
} from "../../transport/services.ts";
import type { JsonObject } from "../../transport/types.ts";
import { parseCron } from "../../runs/cron.ts";
import { isUuid, parseGoDuration, parseObject } from "../_validate.ts";
import { invalid } from "./errors.ts";
import type { Schedules } from "./schedules.ts";
import type {
  ConditionAction,
  EngineState,
  StepCondition,
  TaskDef,
  WorkflowVersion,
} from "./types.ts";

const DEFAULT_TIMEOUT = "5m";
const DEFAULT_SCHEDULE_TIMEOUT = "5m";

/** What the workflows room uses of the other rooms. */
export interface WorkflowsLinks {
  readonly schedules: Pick<Schedules, "workflowPut">;
}

/** Registered workflow versions. */
export class Workflows {
  #state: EngineState;
  #links: WorkflowsLinks;
  #workflows = new Map<string, WorkflowVersion>();

  constructor(state: EngineState, links: WorkflowsLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** The newest version of the workflow named `name`. */
  get(name: string): WorkflowVersion | undefined {
    return this.#workflows.get(name);
  }

  /** The newest version of every workflow. */
  all(): Iterable<WorkflowVersion> {
    return this.#workflows.values();
  }

  putWorkflow(req: CreateWorkflowVersionRequest): CreateWorkflowVersionResponse {
    if (req.name === "") throw invalid("workflow name is required");
    if (req.tasks.length === 0) throw invalid(`workflow "${req.name}" has no tasks`);
    const tasks = req.tasks.map((t) => this.#taskDef(req.name, t, false));
    const names = new Set<string>();
    for (const t of tasks) {
      if (names.has(t.readableId)) {
        throw invalid(`workflow "${req.name}": duplicate task "${t.readableId}"`);
      }
      names.add(t.readableId);
    }
    for (const t of tasks) {
      for (const p of t.parents) {
        if (!names.has(p)) {
          throw invalid(`parent step '${p}' not found for step '${t.readableId}'`);
        }
      }
      for (const c of t.conditions) {
        if (c.kind === "PARENT" && !t.parents.includes(c.parentReadableId!)) {
          throw invalid(
            `task "${t.readableId}": parent condition on "${c.parentReadableId}", which is not a parent`,
          );
        }
      }
    }
    this.#checkAcyclic(req.name, tasks);
    const onFailure = req.onFailureTask
      ? this.#taskDef(req.name, req.onFailureTask, true)
      : undefined;
    if (onFailure && names.has(onFailure.readableId)) {
      throw invalid(`workflow "${req.name}": duplicate task "${onFailure.readableId}"`);
    }
    if (
      req.defaultPriority !== undefined && (req.defaultPriority < 1 || req.defaultPriority > 3)
    ) {
      throw invalid(`default_priority must be between 1 and 3, got ${req.defaultPriority}`);
    }
    for (const cron of req.cronTriggers) {
      try {
        parseCron(cron);
      } catch (err) {
        throw invalid(`workflow "${req.name}": ${(err as Error).message}`);
      }
    }
    let cronInput: JsonObject = {};
    if (req.cronInput !== undefined && req.cronInput !== "") {
      const parsed = parseObject(req.cronInput);
      if (!parsed) throw invalid(`workflow "${req.name}": cron_input must be a JSON object`);
      cronInput = parsed;
    }
    const previous = this.#workflows.get(req.name);
    const version: WorkflowVersion = {
      workflowId: previous?.workflowId ?? crypto.randomUUID(),
      versionId: crypto.randomUUID(),
      name: req.name,
      eventTriggers: [...req.eventTriggers],
      cronTriggers: [...req.cronTriggers],
      cronInput,
      tasks,
      onFailure,
      defaultPriority: req.defaultPriority,
    };
    this.#workflows.set(req.name, version);
    this.#links.schedules.workflowPut(version);
    this.#state.activity++;
    return create(CreateWorkflowVersionResponseSchema, {
      id: version.versionId,
      workflowId: version.workflowId,
    });
  }

  #taskDef(workflow: string, t: CreateTaskOpts, isOnFailure: boolean): TaskDef {
    const where = `workflow "${workflow}", task "${t.readableId}"`;
    if (t.readableId === "") throw invalid(`workflow "${workflow}": a task has no readable_id`);
    if (t.action === "") throw invalid(`${where}: action is required`);
    const timeout = t.timeout === "" ? DEFAULT_TIMEOUT : t.timeout;
    const timeoutMs = parseGoDuration(timeout);
    if (timeoutMs === undefined) {
      throw invalid(`${where}: invalid timeout ${JSON.stringify(t.timeout)}`);
    }
    const scheduleTimeout = t.scheduleTimeout || DEFAULT_SCHEDULE_TIMEOUT;
    const scheduleTimeoutMs = parseGoDuration(scheduleTimeout);
    if (scheduleTimeoutMs === undefined) {
      throw invalid(`${where}: invalid schedule_timeout ${JSON.stringify(t.scheduleTimeout)}`);
    }
    if (t.retries < 0) throw invalid(`${where}: retries must be >= 0, received ${t.retries}`);
    const slotRequests: Record<string, number> = Object.keys(t.slotRequests).length > 0
      ? { ...t.slotRequests }
      : t.isDurable
      ? { durable: 1 }
      : { default: 1 };
    return {
      stepId: crypto.randomUUID(),
      readableId: t.readableId,
      action: t.action.toLowerCase(),
      timeout,
      timeoutMs,
      scheduleTimeoutMs,
      parents: isOnFailure ? [] : [...t.parents],
      retries: t.retries,
      backoffFactor: t.backoffFactor,
      backoffMaxSeconds: t.backoffMaxSeconds,
      conditions: this.#stepConditions(where, t.conditions),
      isDurable: t.isDurable,
      slotRequests,
      isOnFailure,
    };
  }

  #stepConditions(where: string, c: TaskConditions | undefined): StepCondition[] {
    if (!c) return [];
    const out: StepCondition[] = [];
    const base = (b: { orGroupId: string; action: Action; expression: string } | undefined) => {
      if (!b) throw invalid(`${where}: a condition has no base`);
      if (!isUuid(b.orGroupId)) {
        throw invalid(
          `${where}: or_group_id must be a UUID, received ${JSON.stringify(b.orGroupId)}`,
        );
      }
      return {
        orGroupId: b.orGroupId.toLowerCase(),
        action: actionName(b.action),
        expression: b.expression,
      };
    };
    for (const p of c.parentOverrideConditions) {
      out.push({
        kind: "PARENT",
        ...base(p.base),
        readableDataKey: p.base?.readableDataKey || p.parentReadableId,
        parentReadableId: p.parentReadableId,
      });
    }
    for (const s of c.sleepConditions) {
      out.push({
        kind: "SLEEP",
        ...base(s.base),
        readableDataKey: s.base?.readableDataKey ?? "",
        sleepFor: s.sleepFor,
      });
    }
    for (const u of c.userEventConditions) {
      out.push({
        kind: "USER_EVENT",
        ...base(u.base),
        readableDataKey: u.base?.readableDataKey ?? "",
        eventKey: u.userEventKey,
      });
    }
    return out;
  }

  #checkAcyclic(workflow: string, tasks: TaskDef[]): void {
    const byName = new Map(tasks.map((t) => [t.readableId, t]));
    const state = new Map<string, "visiting" | "done">();
    const visit = (name: string, path: string[]) => {
      if (state.get(name) === "done") return;
      if (state.get(name) === "visiting") {
        throw invalid(
          `workflow "${workflow}": tasks form a cycle: ${[...path, name].join(" -> ")}`,
        );
      }
      state.set(name, "visiting");
      for (const p of byName.get(name)!.parents) visit(p, [...path, name]);
      state.set(name, "done");
    };
    for (const t of tasks) visit(t.readableId, []);
  }
}

function actionName(action: Action): ConditionAction {
  switch (action) {
    case Action.QUEUE:
      return "QUEUE";
    case Action.CANCEL:
      return "CANCEL";
    case Action.SKIP:
      return "SKIP";
    default:
      return "CREATE";
  }
}
