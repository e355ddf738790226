// Workflows: owns the registered workflow versions, by name. Serves PutWorkflow: validates the
// tasks (names, parents, conditions, cycles, durations, priority) and turns them into task
// definitions with their defaults (timeouts, slot requests), parsing the flow-control
// declarations (concurrency, rate limits, desired labels, sticky) the flow-control room enforces,
// checks its crons and cron input, and tells the schedules room so the new version's crons
// replace the old ones.

import { create } from "@bufbuild/protobuf";
import {
  Action,
  type Concurrency,
  ConcurrencyLimitStrategy,
  type CreateTaskOpts,
  type CreateWorkflowVersionRequest,
  type CreateWorkflowVersionResponse,
  CreateWorkflowVersionResponseSchema,
  type DesiredWorkerLabels,
  StickyStrategy,
  type TaskConditions,
  WorkerLabelComparator,
} from "../../transport/services.ts";
import type { JsonObject } from "../../transport/types.ts";
import { parseCron } from "../../runs/cron.ts";
import { isUuid, parseGoDuration, parseObject } from "../_validate.ts";
import { internal, invalid } from "./errors.ts";
import { type FlowControl, WINDOW_MS } from "./flow_control.ts";
import type { Records } from "./records.ts";
import type { Schedules } from "./schedules.ts";
import type {
  ConcurrencySpec,
  ConditionAction,
  DesiredLabel,
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
  readonly flowControl: Pick<FlowControl, "hasRateLimit">;
  readonly records: Pick<Records, "note">;
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
    // A task's static rate limit references the limit's row: a key nobody put fails the insert,
    // and the engine answers INTERNAL.
    for (const t of onFailure ? [...tasks, onFailure] : tasks) {
      for (const rl of t.rateLimits) {
        if (rl.keyExpr || rl.limitExpr || rl.unitsExpr) continue;
        if (this.#links.flowControl.hasRateLimit(rl.key)) continue;
        this.#links.records.note(
          `PutWorkflow "${req.name}": task "${t.readableId}" names rate limit "${rl.key}", ` +
            `which was never put (PutRateLimit): INTERNAL`,
        );
        throw internal();
      }
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
      concurrency: concurrencySpecs(
        `workflow "${req.name}"`,
        req.concurrencyArr.length > 0
          ? req.concurrencyArr
          : req.concurrency
          ? [req.concurrency]
          : [],
      ),
      sticky: req.sticky === undefined
        ? undefined
        : req.sticky === StickyStrategy.HARD
        ? "HARD"
        : "SOFT",
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
      concurrency: concurrencySpecs(where, t.concurrency),
      rateLimits: t.rateLimits.map((r) => {
        if (r.key === "" && !r.keyExpr) throw invalid(`${where}: a rate limit has no key`);
        const units = r.units ?? 1;
        if (units <= 0 && !r.unitsExpr) {
          throw invalid(`${where}: rate limit "${r.key}" units must be positive, got ${units}`);
        }
        return {
          key: r.key,
          keyExpr: r.keyExpr,
          units,
          unitsExpr: r.unitsExpr,
          limitExpr: r.limitValuesExpr,
          windowMs: WINDOW_MS[r.duration ?? 1] ?? WINDOW_MS[1],
        };
      }),
      desiredLabels: desiredLabels(t.workerLabels),
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

function concurrencySpecs(where: string, list: Concurrency[]): ConcurrencySpec[] {
  return list.map((c, i) => {
    if (c.expression === "") throw invalid(`${where}: concurrency expression is required`);
    const strategy = c.limitStrategy ?? ConcurrencyLimitStrategy.CANCEL_IN_PROGRESS;
    const name = strategy === ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN
      ? "GROUP_ROUND_ROBIN"
      : strategy === ConcurrencyLimitStrategy.CANCEL_NEWEST
      ? "CANCEL_NEWEST"
      : strategy === ConcurrencyLimitStrategy.CANCEL_IN_PROGRESS
      ? "CANCEL_IN_PROGRESS"
      : undefined;
    if (!name) {
      throw invalid(
        `${where}: concurrency strategy ${
          ConcurrencyLimitStrategy[strategy]
        } is no longer supported`,
      );
    }
    return {
      id: `${where}#${i}`,
      expression: c.expression,
      maxRuns: c.maxRuns ?? 1,
      strategy: name,
    };
  });
}

/** Desired labels (of a task, or of a trigger) with the engine's defaults applied. */
export function desiredLabels(labels: { [key: string]: DesiredWorkerLabels }): DesiredLabel[] {
  return Object.entries(labels).map(([key, l]) => ({
    key,
    strValue: l.strValue,
    intValue: l.intValue,
    required: l.required ?? false,
    comparator: WorkerLabelComparator[l.comparator ?? WorkerLabelComparator.EQUAL],
    weight: l.weight ?? 100,
  }));
}
