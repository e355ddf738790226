// Runs: owns the workflow runs and the task runs, by id, and the runs whose tasks changed since
// the last "finished?" check. Triggers runs (TriggerWorkflowRun, event triggers, and for the
// children, schedules and crons rooms): creates every task run (with the trigger's desired
// labels), puts a run under workflow-level concurrency in line, and queues the roots or opens
// their DAG matches. Notices when a run finishes (no task pending, queued or running) and tells
// the subscriptions room. Serves GetRunDetails (derived run status), CancelTasks and ReplayTasks
// (by ids or by a runs filter), builds the START_STEP_RUN payload (input, parent outputs, trigger
// data, errors) and answers what MockEngine reads of runs.

import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type CancelTasksRequest,
  type CancelTasksResponse,
  CancelTasksResponseSchema,
  type GetRunDetailsResponse,
  GetRunDetailsResponseSchema,
  type ReplayTasksRequest,
  type ReplayTasksResponse,
  ReplayTasksResponseSchema,
  RunStatus,
  TaskRunDetailSchema,
  type TasksFilter,
  type TriggerWorkflowRunRequest,
} from "../../transport/services.ts";
import type { JsonObject, JsonValue } from "../../transport/types.ts";
import { goJson, isObject, isUuid, jsonbError, parseObject } from "../_validate.ts";
import type { Attempts } from "./attempts.ts";
import { invalid, notFound } from "./errors.ts";
import type { FlowControl } from "./flow_control.ts";
import type { Matches } from "./matches.ts";
import type { Queue } from "./queue.ts";
import type { Records } from "./records.ts";
import type { Subscriptions } from "./subscriptions.ts";
import type {
  EngineState,
  RunInfo,
  TaskRun,
  TaskRunInfo,
  TaskStatus,
  TriggerOptions,
  WorkflowRun,
  WorkflowVersion,
} from "./types.ts";
import { desiredLabels, type Workflows } from "./workflows.ts";
import type { RestRunView, RestTaskView } from "../_rest.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** What the runs room uses of the other rooms. */
export interface RunsLinks {
  readonly workflows: Pick<Workflows, "get">;
  readonly matches: Pick<
    Matches,
    "addMatch" | "parentConditions" | "onFailureConditions" | "ownCondition"
  >;
  readonly attempts: Pick<Attempts, "create" | "cancel">;
  readonly queue: Pick<Queue, "flush">;
  readonly subscriptions: Pick<Subscriptions, "runCreated" | "runFinished">;
  readonly records: Pick<Records, "note">;
  readonly flowControl: Pick<FlowControl, "enterRun">;
}

const STATUS_NAMES: Record<RunStatus, RunInfo["status"]> = {
  [RunStatus.QUEUED]: "QUEUED",
  [RunStatus.RUNNING]: "RUNNING",
  [RunStatus.COMPLETED]: "COMPLETED",
  [RunStatus.FAILED]: "FAILED",
  [RunStatus.CANCELLED]: "CANCELLED",
  [RunStatus.EVICTED]: "RUNNING",
};

/** Workflow runs and their task runs. */
export class Runs {
  #state: EngineState;
  #links: RunsLinks;
  #runs = new Map<string, WorkflowRun>();
  #tasks = new Map<string, TaskRun>();
  #numbers = new Map<TaskRun, number>();
  /** Runs whose tasks changed since the last finished check. */
  #touched = new Set<WorkflowRun>();

  constructor(state: EngineState, links: RunsLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** The workflow run with id `id`, once it exists. */
  run(id: string): WorkflowRun | undefined {
    return this.#runs.get(id);
  }

  /** Every run, in creation order. */
  all(): Iterable<WorkflowRun> {
    return this.#runs.values();
  }

  runs(): RunInfo[] {
    const out: RunInfo[] = [];
    for (const run of this.#runs.values()) {
      const info: RunInfo = {
        id: run.id,
        workflowName: run.version.name,
        status: STATUS_NAMES[this.runStatus(run)],
        triggeredBy: run.triggeredBy,
        input: structuredClone(run.input),
        createdAt: new Date(run.createdAt),
      };
      if (run.additionalMetadata) info.additionalMetadata = structuredClone(run.additionalMetadata);
      if (run.parent) {
        info.parentWorkflowRunId = run.parent.workflowRunId;
        info.parentTaskRunId = run.parent.taskRunId;
        if (run.parent.childIndex !== undefined) info.childIndex = run.parent.childIndex;
        if (run.parent.childKey !== undefined) info.childKey = run.parent.childKey;
      }
      if (run.finishedAt !== undefined) info.finishedAt = new Date(run.finishedAt);
      out.push(info);
    }
    return out;
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
      if (t.evicted) info.evicted = true;
      if (t.def.isDurable && t.invocationCount > 0) info.invocationCount = t.invocationCount;
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
    const labelOverrides = Object.keys(req.desiredWorkerLabels).length > 0
      ? desiredLabels(req.desiredWorkerLabels)
      : undefined;
    return this.ingest(version, {
      input,
      additionalMetadata: meta,
      priority: req.priority,
      labelOverrides,
    });
  }

  /**
   * Creates a run the way a trigger RPC does (TriggerWorkflowRun, WorkflowService's
   * TriggerWorkflow and BulkTriggerWorkflow): at once, or after the engine's trigger delay.
   * Returns the run id either way.
   */
  ingest(version: WorkflowVersion, options: TriggerOptions): string {
    const id = options.id ?? crypto.randomUUID();
    const ingest = () => {
      this.trigger(version, { ...options, id });
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
    const ids = req.filter ? this.selectRuns(req.filter) : req.externalIds;
    const cancelled: string[] = [];
    for (const id of ids) {
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

  /** Starts a run of `version`: creates its task runs, queues the roots, opens the other matches. */
  trigger(version: WorkflowVersion, options: TriggerOptions): WorkflowRun {
    const id = options.id ?? crypto.randomUUID();
    const run: WorkflowRun = {
      id,
      version,
      input: options.input,
      additionalMetadata: withTraceparent(options.additionalMetadata, id),
      priority: options.priority ?? version.defaultPriority ?? 1,
      triggeringEvent: options.triggeringEvent,
      tasks: new Map(),
      triggeredBy: options.triggeredBy ?? (options.triggeringEvent ? "event" : "manual"),
      parent: options.parent,
      createdAt: this.#state.clock.now(),
      finishedAt: undefined,
      labelOverrides: options.labelOverrides,
      desiredWorkerId: undefined,
      gate: undefined,
    };
    this.#runs.set(run.id, run);
    this.#touched.add(run);
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
        gate: undefined,
        rateUnits: undefined,
        invocationCount: 0,
        evicted: false,
      };
      run.tasks.set(def.readableId, task);
      this.#tasks.set(task.id, task);
    }
    this.#links.flowControl.enterRun(run);
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
    // Event subscribers that came early attach now, after the root tasks were created: the
    // engine's see a run once it is in its OLAP store, and not its first tasks' creation either.
    this.#links.subscriptions.runCreated(run);
    this.#state.activity++;
    return run;
  }

  /** Notes that a task of `run` changed, for the next finished check. */
  touch(run: WorkflowRun): void {
    this.#touched.add(run);
  }

  /**
   * Marks the touched runs that have no task pending, queued or running as finished, and tells
   * the subscriptions room; a replayed run becomes unfinished again. Called at every flush.
   */
  checkFinished(): void {
    if (this.#touched.size === 0) return;
    const touched = [...this.#touched];
    this.#touched.clear();
    for (const run of touched) {
      const done = [...run.tasks.values()].every((t) => !isUnfinished(t));
      if (done && run.finishedAt === undefined) {
        run.finishedAt = this.#state.clock.now();
        this.#links.subscriptions.runFinished(run);
      } else if (!done) run.finishedAt = undefined;
    }
  }

  /** The run's status as the engine derives it from its tasks. */
  runStatus(run: WorkflowRun): RunStatus {
    const statuses: RunStatus[] = [];
    for (const t of run.tasks.values()) {
      statuses.push(t.status === "PENDING" ? RunStatus.QUEUED : wireStatus(t.status));
    }
    return deriveRunStatus(statuses);
  }

  /** The run ids a `TasksFilter` selects (the engine lists runs from its OLAP store). */
  selectRuns(filter: TasksFilter): string[] {
    const since = filter.since ? timestampDate(filter.since).getTime() : 0;
    const until = filter.until ? timestampDate(filter.until).getTime() : undefined;
    const meta: [string, string][] = [];
    for (const pair of filter.additionalMetadata) {
      const at = pair.indexOf(":");
      if (at < 0) throw invalid(`invalid additional metadata filter: ${pair}`);
      meta.push([pair.slice(0, at), pair.slice(at + 1)]);
    }
    for (const id of filter.workflowIds) if (!isUuid(id)) throw invalid("invalid workflow id");
    const out: string[] = [];
    for (const run of this.#runs.values()) {
      if (run.createdAt < since) continue;
      if (until !== undefined && (run.finishedAt === undefined || run.finishedAt >= until)) {
        continue;
      }
      const status = STATUS_NAMES[this.runStatus(run)];
      if (filter.statuses.length > 0 && !filter.statuses.includes(status)) continue;
      if (filter.workflowIds.length > 0 && !filter.workflowIds.includes(run.version.workflowId)) {
        continue;
      }
      if (meta.some(([k, v]) => run.additionalMetadata?.[k] !== v)) continue;
      out.push(run.id);
    }
    return out;
  }

  /**
   * `ReplayTasks`: each selected task (a run id selects all its tasks) and its DAG descendants
   * start over as a new attempt. Runs with unfinished tasks are left alone, as the engine's
   * preflight check does.
   */
  replayTasks(req: ReplayTasksRequest): ReplayTasksResponse {
    for (const id of req.externalIds) if (!isUuid(id)) throw invalid("invalid external id");
    if (req.externalIds.length > 0 && req.filter) {
      throw invalid("cannot provide both external ids and filter");
    }
    const ids = req.filter ? this.selectRuns(req.filter) : req.externalIds;
    const selected = new Map<WorkflowRun, Set<TaskRun>>();
    for (const id of ids) {
      const run = this.#runs.get(id);
      const tasks = run ? [...run.tasks.values()] : [this.#tasks.get(id)].filter((t) => !!t);
      for (const t of tasks) {
        let set = selected.get(t.run);
        if (!set) selected.set(t.run, set = new Set());
        set.add(t);
      }
    }
    const replayed: string[] = [];
    for (const [run, set] of selected) {
      if ([...run.tasks.values()].some(isUnfinished)) {
        this.#links.records.note(`replay of run ${run.id} skipped: it has unfinished tasks`);
        continue;
      }
      replayed.push(...this.#replay(run, set));
    }
    this.#links.queue.flush();
    return create(ReplayTasksResponseSchema, { replayedTasks: replayed });
  }

  #replay(run: WorkflowRun, set: Set<TaskRun>): string[] {
    const { matches, attempts } = this.#links;
    // Descendants re-run too: they wait for their replayed parents again.
    let grew = true;
    while (grew) {
      grew = false;
      for (const t of run.tasks.values()) {
        if (set.has(t)) continue;
        if (t.def.parents.some((p) => set.has(run.tasks.get(p)!))) {
          set.add(t);
          grew = true;
        }
      }
    }
    const onFailure = run.version.onFailure && run.tasks.get(run.version.onFailure.readableId);
    if (onFailure && set.size > (set.has(onFailure) ? 1 : 0)) set.add(onFailure);
    const replayed: string[] = [];
    for (const t of set) {
      t.retryCount++;
      t.appRetryCount = 0;
      t.output = undefined;
      t.error = undefined;
      t.stepRunErrors = {};
      t.status = "PENDING";
      replayed.push(t.id);
    }
    for (const t of set) {
      if (t === onFailure) {
        if (set.size === 1) attempts.create(t, "QUEUE", {}, {});
        else matches.addMatch(t, matches.onFailureConditions(run));
      } else if (t.def.parents.length > 0) {
        matches.addMatch(t, matches.parentConditions(run, t.def));
      } else {
        const own = t.def.conditions.filter((c) => c.kind !== "PARENT");
        if (own.length === 0) attempts.create(t, "QUEUE", {}, {});
        else matches.addMatch(t, own.map((c) => matches.ownCondition(c)));
      }
    }
    this.#touched.add(run);
    this.#state.activity++;
    return replayed;
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
function isUnfinished(t: TaskRun): boolean {
  return t.status === "PENDING" || t.status === "QUEUED" || t.status === "RUNNING";
}

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
