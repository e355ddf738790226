// Runs: owns the workflow runs and the task runs, by id. Triggers runs (TriggerWorkflowRun and
// event triggers): creates every task run and queues the roots or opens their DAG matches.
// Serves GetRunDetails (derived run status) and CancelTasks, builds the START_STEP_RUN payload
// (input, parent outputs, trigger data, errors) and answers what MockEngine reads of runs. For
// the REST API: a run's view, replay, and runs scheduled for a later time.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type CancelTasksRequest,
  type CancelTasksResponse,
  CancelTasksResponseSchema,
  type GetRunDetailsResponse,
  GetRunDetailsResponseSchema,
  RunStatus,
  TaskRunDetailSchema,
  type TriggerWorkflowRunRequest,
} from "../../transport/services.ts";
import type { JsonObject, JsonValue } from "../../transport/types.ts";
import { goJson, isObject, isUuid, jsonbError, parseObject } from "../_validate.ts";
import type { Attempts } from "./attempts.ts";
import { invalid, notFound } from "./errors.ts";
import type { Matches } from "./matches.ts";
import type { Queue } from "./queue.ts";
import type {
  EngineState,
  TaskRun,
  TaskRunInfo,
  TaskStatus,
  WorkflowRun,
  WorkflowVersion,
} from "./types.ts";
import type { Workflows } from "./workflows.ts";
import type { RestRunView, RestScheduleView, RestTaskView } from "../_rest.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** What the runs room uses of the other rooms. */
export interface RunsLinks {
  readonly workflows: Pick<Workflows, "get" | "all">;
  readonly matches: Pick<
    Matches,
    "addMatch" | "parentConditions" | "onFailureConditions" | "ownCondition"
  >;
  readonly attempts: Pick<Attempts, "create" | "cancel">;
  readonly queue: Pick<Queue, "flush">;
}

/** Workflow runs and their task runs. */
export class Runs {
  #state: EngineState;
  #links: RunsLinks;
  #runs = new Map<string, WorkflowRun>();
  #tasks = new Map<string, TaskRun>();
  #numbers = new Map<TaskRun, number>();

  constructor(state: EngineState, links: RunsLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** The task run with id `taskRunId`, in any state. */
  task(taskRunId: string): TaskRun | undefined {
    return this.#tasks.get(taskRunId);
  }

  taskRuns(workflowRunId?: string): TaskRunInfo[] {
    const out: TaskRunInfo[] = [];
    // A run keeps its own tasks (inserted with #tasks, so in the same order): asking about one
    // run must not walk every task the engine ever created.
    const tasks = workflowRunId === undefined
      ? this.#tasks.values()
      : this.#runs.get(workflowRunId)?.tasks.values() ?? [];
    for (const t of tasks) {
      const info: TaskRunInfo = {
        id: t.id,
        workflowRunId: t.run.id,
        taskName: t.def.readableId,
        status: t.status,
        retryCount: t.retryCount,
      };
      if (t.workerId !== undefined) info.workerId = t.workerId;
      if (t.output !== undefined) info.output = structuredClone(t.output);
      if (t.error !== undefined) info.error = t.error;
      out.push(info);
    }
    return out;
  }

  workflowRunIds(): string[] {
    return [...this.#runs.keys()];
  }

  /** The task's name, for RPC log summaries. */
  taskName(taskRunId: string): string | undefined {
    return this.#tasks.get(taskRunId)?.def.readableId;
  }

  // SendStepActionEvent answers INVALID_ARGUMENT for an unknown task (the engine wraps the
  // lookup error); PutLog and PutStreamEvent answer NOT_FOUND.
  taskForRpc(id: string, unknownIsInvalid = false): TaskRun {
    if (!isUuid(id)) throw invalid(`invalid task external run id ${id}: not a UUID`);
    const task = this.#tasks.get(id);
    if (!task || task.status === "PENDING") {
      throw unknownIsInvalid
        ? invalid(`invalid task external run id ${id}: task not found`)
        : notFound(`task not found: ${id}`);
    }
    return task;
  }

  triggerWorkflowRun(req: TriggerWorkflowRunRequest): string {
    const version = this.#links.workflows.get(req.workflowName);
    if (!version) throw invalid(`workflow names not found: ${req.workflowName}`);
    const inputText = decoder.decode(req.input);
    const inputError = jsonbError(inputText, "payload");
    if (inputError) throw invalid(inputError);
    const input = inputText === "" ? {} : parseObject(inputText);
    if (!input) throw invalid(`input must be a JSON object, received ${inputText.slice(0, 100)}`);
    const metaText = decoder.decode(req.additionalMetadata);
    const metaError = jsonbError(metaText, "additionalMetadata");
    if (metaError) throw invalid(metaError);
    const meta = metaText === "" ? undefined : parseObject(metaText);
    if (metaText !== "" && !meta) {
      throw invalid(
        `additional_metadata must be a JSON object, received ${metaText.slice(0, 100)}`,
      );
    }
    if (req.priority !== undefined && (req.priority < 1 || req.priority > 3)) {
      throw invalid(`priority must be between 1 and 3, got ${req.priority}`);
    }
    const id = crypto.randomUUID();
    const ingest = () => {
      this.trigger(version, input, meta, req.priority, undefined, id);
      this.#links.queue.flush();
    };
    // The engine answers with the id before the run exists whenever its optimistic scheduler
    // does not take the request: the run then appears only after the message queue hop.
    const delay = this.#state.triggerDelayMs;
    if (delay > 0) this.#state.clock.at(this.#state.clock.now() + delay, ingest);
    else ingest();
    return id;
  }

  getRunDetails(id: string): GetRunDetailsResponse {
    if (!isUuid(id)) throw invalid("invalid external id");
    const run = this.#runs.get(id);
    if (!run) throw notFound("workflow run not found");
    const statuses: RunStatus[] = [];
    const taskRuns: GetRunDetailsResponse["taskRuns"] = {};
    // Until the whole run has finished the engine reads task states from its running-tasks table
    // alone: a task it created is RUNNING while on a worker and QUEUED otherwise (finished ones
    // included), with no output or error; a task not created yet is not listed.
    const finished = [...run.tasks.values()].every((t) => FINAL.has(t.status));
    for (const t of run.tasks.values()) {
      if (t.status === "PENDING") {
        statuses.push(RunStatus.QUEUED);
        continue;
      }
      if (!finished) {
        const status = t.status === "RUNNING" ? RunStatus.RUNNING : RunStatus.QUEUED;
        statuses.push(status);
        taskRuns[t.def.readableId] = create(TaskRunDetailSchema, {
          externalId: t.id,
          status,
          readableId: t.def.readableId,
        });
        continue;
      }
      const status = wireStatus(t.status);
      statuses.push(status);
      const output = t.status === "SKIPPED" ? { skipped: true } : t.output;
      taskRuns[t.def.readableId] = create(TaskRunDetailSchema, {
        externalId: t.id,
        status,
        error: t.status === "FAILED" ? t.error : undefined,
        output: output === undefined ? undefined : encoder.encode(goJson(output)),
        readableId: t.def.readableId,
      });
    }
    const done = statuses.every((s) => s !== RunStatus.QUEUED && s !== RunStatus.RUNNING);
    return create(GetRunDetailsResponseSchema, {
      input: encoder.encode(goJson(run.input)),
      status: deriveRunStatus(statuses),
      taskRuns,
      done,
      additionalMetadata: run.additionalMetadata
        ? encoder.encode(goJson(run.additionalMetadata))
        : new Uint8Array(),
    });
  }

  cancelTasks(req: CancelTasksRequest): CancelTasksResponse {
    for (const id of req.externalIds) if (!isUuid(id)) throw invalid("invalid external id");
    if (req.externalIds.length > 0 && req.filter) {
      throw invalid("cannot provide both external ids and filter");
    }
    if (req.filter) {
      throw new ConnectError(
        "task filters are not supported by the mock engine",
        Code.Unimplemented,
      );
    }
    const cancelled: string[] = [];
    for (const id of req.externalIds) {
      const run = this.#runs.get(id);
      const targets = run ? [...run.tasks.values()] : [this.#tasks.get(id)].filter((t) => !!t);
      for (const task of targets) {
        if (task.status === "PENDING" && !run) continue;
        if (this.#links.attempts.cancel(task)) cancelled.push(task.id);
      }
    }
    this.#links.queue.flush();
    return create(CancelTasksResponseSchema, { cancelledTasks: cancelled });
  }

  /** A small integer standing for the task run, as the engine's task ids are (REST `taskId`). */
  #number(task: TaskRun): number {
    let n = this.#numbers.get(task);
    if (n === undefined) this.#numbers.set(task, n = this.#numbers.size + 1);
    return n;
  }

  /** A run as the REST API reports it; undefined when there is no such run. */
  restRun(id: string): RestRunView | undefined {
    const run = this.#runs.get(id);
    if (!run) return undefined;
    const version = run.version;
    const defs = version.onFailure ? [...version.tasks, version.onFailure] : version.tasks;
    const tasks: RestTaskView[] = [];
    const output: JsonObject = {};
    let open = false;
    let started = false;
    let failed = false;
    let cancelled = false;
    let error: string | undefined;
    for (const def of defs) {
      const t = run.tasks.get(def.readableId)!;
      if (t.status === "PENDING" || t.status === "QUEUED" || t.status === "RUNNING") open = true;
      if (t.status !== "PENDING" && t.status !== "QUEUED") started = true;
      if (t.status === "FAILED") {
        failed = true;
        error ??= t.error;
      }
      if (t.status === "CANCELLED") cancelled = true;
      if (t.status === "COMPLETED" || t.status === "SKIPPED") {
        output[def.readableId] = (t.output ?? null) as JsonValue;
      }
      // The engine lists task runs it created; one still waiting for its parents is not yet.
      if (t.status === "PENDING") continue;
      tasks.push({
        id: t.id,
        seq: this.#number(t),
        stepId: def.stepId,
        name: def.readableId,
        actionId: def.action,
        status: t.status === "SKIPPED" ? "COMPLETED" : t.status,
        retryCount: t.retryCount,
        isDurable: def.isDurable,
        input: run.input,
        output: t.status === "SKIPPED" ? { skipped: true } : t.output as JsonValue | undefined,
        error: t.error,
        createdAt: run.createdAt,
        startedAt: undefined,
        finishedAt: undefined,
      });
    }
    return {
      id: run.id,
      workflowId: version.workflowId,
      workflowVersionId: version.versionId,
      workflowName: version.name,
      isDag: defs.length > 1,
      status: open
        ? (started ? "RUNNING" : "QUEUED")
        : failed
        ? "FAILED"
        : cancelled
        ? "CANCELLED"
        : "COMPLETED",
      input: run.input,
      additionalMetadata: run.additionalMetadata ?? {},
      output,
      error: open ? undefined : error,
      createdAt: run.createdAt,
      startedAt: undefined,
      finishedAt: undefined,
      parentTaskExternalId: undefined,
      tasks,
      shape: version.tasks.map((def) => ({
        taskExternalId: run.tasks.get(def.readableId)!.id,
        stepId: def.stepId,
        childrenStepIds: version.tasks.filter((d) => d.parents.includes(def.readableId))
          .map((d) => d.stepId),
        taskName: def.readableId,
      })),
    };
  }

  /**
   * Replays runs (every task) or task runs (the task and what depends on it in its DAG, plus the
   * on-failure task), as the engine's ReplayTasks does: each finished one runs again with its
   * retry count plus one; one still open is left alone. Returns the ids replayed.
   */
  replay(externalIds: string[]): string[] {
    const targets = new Set<TaskRun>();
    for (const id of externalIds) {
      const run = this.#runs.get(id);
      if (run) {
        for (const t of run.tasks.values()) targets.add(t);
        continue;
      }
      const stack = [this.#tasks.get(id)].filter((t) => t !== undefined);
      while (stack.length > 0) {
        const t = stack.pop()!;
        if (targets.has(t)) continue;
        targets.add(t);
        for (const d of t.run.version.tasks) {
          if (d.parents.includes(t.def.readableId)) stack.push(t.run.tasks.get(d.readableId)!);
        }
        const onFailure = t.run.version.onFailure;
        if (onFailure) targets.add(t.run.tasks.get(onFailure.readableId)!);
      }
    }
    const tasks = [...targets].filter((t) =>
      t.status !== "PENDING" && t.status !== "QUEUED" && t.status !== "RUNNING"
    );
    const again = new Set(tasks);
    for (const task of tasks) {
      for (const timer of Object.values(task.timers)) this.#state.clock.cancel(timer);
      task.timers = {};
      task.status = "PENDING";
      task.retryCount++;
      task.appRetryCount = 0;
      task.output = undefined;
      task.error = undefined;
      task.stepRunErrors = {};
      task.workerId = undefined;
    }
    const matches = this.#links.matches;
    for (const task of tasks) {
      const { run, def } = task;
      if (def.isOnFailure) {
        matches.addMatch(task, matches.onFailureConditions(run));
      } else if (def.parents.some((p) => again.has(run.tasks.get(p)!))) {
        matches.addMatch(task, matches.parentConditions(run, def));
      } else {
        this.#links.attempts.create(task, "QUEUE", {}, {});
      }
    }
    this.#state.activity++;
    this.#links.queue.flush();
    return tasks.map((t) => t.id);
  }

  /** Triggers a run of `workflowName` (any case) at engine time `triggerAt`. */
  scheduleRun(workflowName: string, request: {
    input: JsonObject;
    additionalMetadata: JsonObject;
    triggerAt: number;
    priority: number | undefined;
  }): RestScheduleView {
    const name = workflowName.toLowerCase();
    const version = [...this.#links.workflows.all()].find((v) => v.name.toLowerCase() === name);
    if (!version) throw notFound(`workflow not found: ${workflowName}`);
    const clock = this.#state.clock;
    clock.at(Math.max(request.triggerAt, clock.now()), () => {
      if (this.#state.closed) return;
      const current = this.#links.workflows.get(version.name) ?? version;
      this.trigger(current, request.input, request.additionalMetadata, request.priority, undefined);
      this.#links.queue.flush();
    });
    this.#state.activity++;
    return {
      id: crypto.randomUUID(),
      workflowId: version.workflowId,
      workflowVersionId: version.versionId,
      workflowName: version.name,
      triggerAt: request.triggerAt,
      input: request.input,
      additionalMetadata: request.additionalMetadata,
      priority: request.priority,
      createdAt: clock.now(),
    };
  }

  /** Starts a run of `version`: creates its task runs, queues the roots, opens the other matches. */
  trigger(
    version: WorkflowVersion,
    input: JsonObject,
    additionalMetadata: JsonObject | undefined,
    priority: number | undefined,
    triggeringEvent: { id: string; key: string } | undefined,
    id: string = crypto.randomUUID(),
  ): WorkflowRun {
    const run: WorkflowRun = {
      id,
      version,
      input,
      additionalMetadata: withTraceparent(additionalMetadata, id),
      priority: priority ?? version.defaultPriority ?? 1,
      triggeringEvent,
      tasks: new Map(),
      createdAt: this.#state.clock.now(),
    };
    this.#runs.set(run.id, run);
    const defs = version.onFailure ? [...version.tasks, version.onFailure] : version.tasks;
    for (const def of defs) {
      const task: TaskRun = {
        id: crypto.randomUUID(),
        run,
        def,
        status: "PENDING",
        retryCount: 0,
        appRetryCount: 0,
        workerId: undefined,
        slotWorkerId: undefined,
        output: undefined,
        error: undefined,
        timeoutAt: undefined,
        timers: {},
        enqueueSeq: -1,
        triggerData: {},
        stepRunErrors: {},
      };
      run.tasks.set(def.readableId, task);
      this.#tasks.set(task.id, task);
    }
    for (const def of version.tasks) {
      const task = run.tasks.get(def.readableId)!;
      if (def.parents.length > 0) {
        this.#links.matches.addMatch(task, this.#links.matches.parentConditions(run, def));
        continue;
      }
      const own = def.conditions.filter((c) => c.kind !== "PARENT");
      if (own.length === 0) this.#links.attempts.create(task, "QUEUE", {}, {});
      else this.#links.matches.addMatch(task, own.map((c) => this.#links.matches.ownCondition(c)));
    }
    if (version.onFailure) {
      this.#links.matches.addMatch(
        run.tasks.get(version.onFailure.readableId)!,
        this.#links.matches.onFailureConditions(run),
      );
    }
    this.#state.activity++;
    return run;
  }

  /** The START_STEP_RUN payload, encoded as the engine encodes it. */
  payload(task: TaskRun): string {
    // Not only the declared parents: the engine (ListTaskParentOutputs) hands every task the
    // output of each completed task of its run, so a grandchild reads its grandparent and an
    // on-failure task reads what completed.
    const parents: Record<string, JsonValue> = {};
    for (const other of task.run.tasks.values()) {
      if (other === task) continue;
      if (other.status === "SKIPPED") parents[other.def.readableId] = { skipped: true };
      else if (other.status === "COMPLETED") {
        parents[other.def.readableId] = other.output === undefined ? {} : other.output;
      }
    }
    const triggers: Record<string, JsonValue> = { filter_payload: null };
    for (const [key, values] of Object.entries(task.triggerData)) {
      const first = values.find(isObject);
      if (first) triggers[key] = first;
    }
    const data: JsonObject = {
      input: task.run.input,
      triggered_by: "manual",
      parents,
      triggers,
      user_data: null,
      overrides: null,
    };
    if (Object.keys(task.stepRunErrors).length > 0) data.step_run_errors = task.stepRunErrors;
    // Go writes struct fields in declaration order and map keys sorted.
    const head = Object.entries(data).map(([k, v]) => `${JSON.stringify(k)}:${goJson(v)}`);
    return `{${head.join(",")}}`;
  }
}

const FINAL = new Set<TaskStatus>(["COMPLETED", "FAILED", "CANCELLED", "SKIPPED"]);

function wireStatus(status: TaskStatus): RunStatus {
  switch (status) {
    case "RUNNING":
      return RunStatus.RUNNING;
    case "COMPLETED":
    case "SKIPPED":
      return RunStatus.COMPLETED;
    case "FAILED":
      return RunStatus.FAILED;
    case "CANCELLED":
      return RunStatus.CANCELLED;
    default:
      return RunStatus.QUEUED;
  }
}

// The engine's DeriveWorkflowRunStatus: one status if all agree, else FAILED wins, then
// RUNNING (anything unfinished), then CANCELLED.
function deriveRunStatus(statuses: RunStatus[]): RunStatus {
  const unique = new Set(statuses);
  if (unique.size === 1) return [...unique][0];
  if (unique.has(RunStatus.FAILED)) return RunStatus.FAILED;
  if (unique.has(RunStatus.RUNNING) || unique.has(RunStatus.QUEUED)) return RunStatus.RUNNING;
  return RunStatus.CANCELLED;
}

/**
 * The run's metadata with a W3C `traceparent`, as the engine's trigger adds one: a valid one the
 * caller sent is kept; otherwise the trace is the parent run's (for a child) or the run's own,
 * and the span id stands for the run. Derived from the ids, so it is stable for a run.
 */
function withTraceparent(meta: JsonObject | undefined, runId: string): JsonObject {
  const out: JsonObject = { ...meta };
  const existing = out["traceparent"];
  if (
    typeof existing === "string" &&
    /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(existing)
  ) {
    return out;
  }
  const parent = out["hatchet__parent_workflow_run_id"];
  const owner = typeof parent === "string" && isUuid(parent) ? parent : runId;
  const traceId = owner.replaceAll("-", "");
  const spanId = runId.replaceAll("-", "").slice(16);
  out["traceparent"] = `00-${traceId}-${spanId}-01`;
  return out;
}
