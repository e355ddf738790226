// Runs: owns the workflow runs and the task runs, by id. Triggers runs (TriggerWorkflowRun and
// event triggers): creates every task run and queues the roots or opens their DAG matches.
// Serves GetRunDetails (derived run status) and CancelTasks, builds the START_STEP_RUN payload
// (input, parent outputs, trigger data, errors) and answers what MockEngine reads of runs.

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
}

/** Workflow runs and their task runs. */
export class Runs {
  #state: EngineState;
  #links: RunsLinks;
  #runs = new Map<string, WorkflowRun>();
  #tasks = new Map<string, TaskRun>();

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
    const run = this.trigger(version, input, meta, req.priority, undefined);
    this.#links.queue.flush();
    return run.id;
  }

  getRunDetails(id: string): GetRunDetailsResponse {
    if (!isUuid(id)) throw invalid("invalid external id");
    const run = this.#runs.get(id);
    if (!run) throw notFound("workflow run not found");
    const statuses: RunStatus[] = [];
    const taskRuns: GetRunDetailsResponse["taskRuns"] = {};
    for (const t of run.tasks.values()) {
      if (t.status === "PENDING") {
        statuses.push(RunStatus.QUEUED);
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

  /** Starts a run of `version`: creates its task runs, queues the roots, opens the other matches. */
  trigger(
    version: WorkflowVersion,
    input: JsonObject,
    additionalMetadata: JsonObject | undefined,
    priority: number | undefined,
    triggeringEvent: { id: string; key: string } | undefined,
  ): WorkflowRun {
    const run: WorkflowRun = {
      id: crypto.randomUUID(),
      version,
      input,
      additionalMetadata,
      priority: priority ?? version.defaultPriority ?? 1,
      triggeringEvent,
      tasks: new Map(),
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
        invocationCount: 0,
        evicted: false,
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
    const parents: Record<string, JsonValue> = {};
    for (const name of task.def.parents) {
      const parent = task.run.tasks.get(name)!;
      if (parent.status === "SKIPPED") parents[name] = { skipped: true };
      else if (parent.status === "COMPLETED") parents[name] = parent.output ?? {};
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
