// The runs room of the mock engine: what a client does with runs besides triggering one. It owns
// child runs (WorkflowService.TriggerWorkflow / BulkTriggerWorkflow with parent links and the
// engine's idempotent child key), schedules (ScheduleWorkflow) and crons firing on the engine
// clock, run filters (CancelTasks / ReplayTasks), and the two Dispatcher subscriptions:
// SubscribeToWorkflowRuns (one run-finished event per requested run, with each task's result)
// and SubscribeToWorkflowEvents (task events, stream chunks with their event_index, then the
// run's own end marked `hangup`). Stream chunks are published, never stored, as in the engine.
// The core (`_engine.ts`) calls in when tasks change and runs finish.

import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type BulkTriggerWorkflowRequest,
  type PutStreamEventRequest,
  ResourceEventType,
  ResourceType,
  RunStatus,
  type ScheduleWorkflowRequest,
  type TasksFilter,
  type TriggerWorkflowRequest,
  type WorkflowEvent,
  WorkflowEventSchema,
  type WorkflowRunEvent,
  WorkflowRunEventSchema,
  WorkflowRunEventType,
  type WorkflowVersion as WorkflowVersionMessage,
  WorkflowVersionSchema,
} from "../transport/services.ts";
import type { JsonObject } from "../transport/types.ts";
import { parseCron } from "../runs/cron.ts";
import type { EngineTimer } from "./_clock.ts";
import type {
  EngineCore,
  RunParent,
  RunTrigger,
  TaskRun,
  WorkflowRun,
  WorkflowVersion,
} from "./_engine.ts";
import { StreamQueue } from "./_stream_queue.ts";
import { goJson, isUuid, jsonbError, parseObject } from "./_validate.ts";

/**
 * A workflow run as {@link MockEngine.runs} reports it, with its parent link.
 *
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type RunInfo } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const child = workflow({ name: "child" });
 * child.task({ name: "c", fn: () => ({}) });
 * const parent = workflow({ name: "parent" });
 * parent.task({ name: "p", fn: async (_input, ctx) => (await ctx.runChild(child, {})).outputs.c });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [parent, child] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(parent, {});
 * await run.result();
 * const [p, c]: RunInfo[] = engine.runs();
 * assert.deepEqual([p.workflowName, p.triggeredBy, p.status], ["parent", "manual", "COMPLETED"]);
 * assert.deepEqual([c.workflowName, c.triggeredBy, c.parentWorkflowRunId, c.childIndex], [
 *   "child",
 *   "child",
 *   run.id,
 *   0,
 * ]);
 * assert.equal(c.parentTaskRunId, engine.taskRuns(run.id)[0].id);
 * ```
 */
export interface RunInfo {
  /** The workflow run id. */
  id: string;
  /** The workflow's (namespaced) name. */
  workflowName: string;
  /** `QUEUED`, `RUNNING`, `COMPLETED`, `FAILED` or `CANCELLED`, derived from its tasks. */
  status: "QUEUED" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED";
  /** What created it. */
  triggeredBy: RunTrigger;
  /** The run's input. */
  input: JsonObject;
  /** Its additional metadata (children carry `hatchet__parent_*` keys). */
  additionalMetadata?: JsonObject;
  /** For child runs: the parent's workflow run. */
  parentWorkflowRunId?: string;
  /** For child runs: the parent task run. */
  parentTaskRunId?: string;
  /** For child runs: the spawn index. */
  childIndex?: number;
  /** For child runs: the spawn key. */
  childKey?: string;
  /** When it was created, on the engine clock. */
  createdAt: Date;
  /** When it finished, on the engine clock. */
  finishedAt?: Date;
}

/** One open SubscribeToWorkflowRuns stream: the run ids it waits for. */
export interface RunsStream {
  queue: StreamQueue<WorkflowRunEvent>;
  waiting: Set<string>;
}

interface Prepared {
  name: string;
  input: JsonObject;
  meta: JsonObject | undefined;
  priority: number | undefined;
  parent: RunParent | undefined;
}

interface Schedule {
  id: string;
  workflowName: string;
  triggerAt: number;
  timer: EngineTimer;
}

const RUN_EVENT: Partial<Record<RunStatus, ResourceEventType>> = {
  [RunStatus.COMPLETED]: ResourceEventType.COMPLETED,
  [RunStatus.FAILED]: ResourceEventType.FAILED,
  [RunStatus.CANCELLED]: ResourceEventType.CANCELLED,
};

const STATUS_NAMES: Record<RunStatus, RunInfo["status"]> = {
  [RunStatus.QUEUED]: "QUEUED",
  [RunStatus.RUNNING]: "RUNNING",
  [RunStatus.COMPLETED]: "COMPLETED",
  [RunStatus.FAILED]: "FAILED",
  [RunStatus.CANCELLED]: "CANCELLED",
  [RunStatus.EVICTED]: "RUNNING",
};

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** The runs room; see the module comment. */
export class RunsRoom {
  readonly #core: EngineCore;
  #runStreams = new Set<RunsStream>();
  #eventStreams = new Map<string, Set<StreamQueue<WorkflowEvent>>>();
  /** `parentTaskRunId.childKey-or-index` to the child's run id. */
  #children = new Map<string, string>();
  #schedules: Schedule[] = [];
  #crons = new Map<string, EngineTimer[]>();

  constructor(core: EngineCore) {
    this.#core = core;
  }

  // ------------------------------------------------------------------ inspection

  /** Messages queued on subscription streams and not yet taken. */
  pending(): number {
    let n = 0;
    for (const s of this.#runStreams) n += s.queue.pending;
    for (const set of this.#eventStreams.values()) for (const q of set) n += q.pending;
    return n;
  }

  /** Ends every subscription stream (normally, or with `error`). */
  endStreams(error?: unknown): void {
    for (const s of this.#runStreams) s.queue.abort(error);
    for (const set of this.#eventStreams.values()) for (const q of set) q.abort(error);
  }

  runs(): RunInfo[] {
    const out: RunInfo[] = [];
    for (const run of this.#core.allRuns()) {
      const info: RunInfo = {
        id: run.id,
        workflowName: run.version.name,
        status: STATUS_NAMES[this.#core.runStatus(run)],
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

  /** Pending schedules, by trigger time. */
  schedules(): { id: string; workflowName: string; triggerAt: Date }[] {
    return this.#schedules
      .filter((s) => !s.timer.cancelled)
      .sort((a, b) => a.triggerAt - b.triggerAt)
      .map((s) => ({ id: s.id, workflowName: s.workflowName, triggerAt: new Date(s.triggerAt) }));
  }

  // ------------------------------------------------------------------ WorkflowService

  /** `TriggerWorkflow`: a run, or a child of a task (the same run again for the same key). */
  triggerWorkflow(req: TriggerWorkflowRequest): string {
    const prepared = this.#prepare(req);
    const id = this.#spawn(prepared);
    return id;
  }

  /** `BulkTriggerWorkflow`: every request is checked before any run is created. */
  bulkTriggerWorkflow(req: BulkTriggerWorkflowRequest): string[] {
    const prepared = req.workflows.map((w) => this.#prepare(w));
    return prepared.map((p) => this.#spawn(p));
  }

  #prepare(req: TriggerWorkflowRequest): Prepared {
    const core = this.#core;
    if (!core.workflow(req.name)) throw invalid(`workflow names not found: ${req.name}`);
    const inputError = jsonbError(req.input, "payload");
    if (inputError) throw invalid(`Invalid request: ${inputError}`);
    const input = req.input === "" ? {} : parseObject(req.input);
    if (!input) throw invalid(`Invalid request: input must be a JSON object`);
    let meta: JsonObject | undefined;
    if (req.additionalMetadata !== undefined && req.additionalMetadata !== "") {
      const metaError = jsonbError(req.additionalMetadata, "additionalMetadata");
      if (metaError) throw invalid(`Invalid request: ${metaError}`);
      meta = parseObject(req.additionalMetadata);
      if (!meta) throw invalid("Invalid request: additional_metadata must be a JSON object");
    }
    if (req.priority !== undefined && (req.priority < 1 || req.priority > 3)) {
      throw invalid(`Invalid request: priority must be between 1 and 3, got ${req.priority}`);
    }
    if (req.desiredWorkerId && !isUuid(req.desiredWorkerId)) {
      throw invalid(`Invalid request: desiredWorkerId must be a valid UUID`);
    }
    let parent: RunParent | undefined;
    let parentTask: TaskRun | undefined;
    if (req.parentTaskRunExternalId !== undefined) {
      if (!isUuid(req.parentTaskRunExternalId)) {
        throw invalid(`parentStepRunId must be a valid UUID: ${req.parentTaskRunExternalId}`);
      }
      parentTask = core.task(req.parentTaskRunExternalId);
      if (!parentTask) {
        throw new ConnectError(
          `could not create trigger opt: could not find parent task: ${req.parentTaskRunExternalId}`,
          Code.Unknown,
        );
      }
      parent = {
        workflowRunId: parentTask.run.id,
        taskRunId: parentTask.id,
        childIndex: req.childIndex,
        childKey: req.childKey,
      };
      // The engine's injectParentIDs: the parent's own metadata flows down, the child's wins.
      const merged: JsonObject = {};
      for (const [k, v] of Object.entries(parentTask.run.additionalMetadata ?? {})) {
        if (!k.startsWith("hatchet__")) merged[k] = v;
      }
      Object.assign(merged, meta ?? {});
      merged["hatchet__parent_workflow_run_id"] = parentTask.run.id;
      merged["hatchet__parent_step_run_id"] = parentTask.id;
      meta = merged;
    }
    return { name: req.name, input, meta, priority: req.priority, parent };
  }

  #spawn(p: Prepared): string {
    // The engine dedupes a child on (parent task, key), the key defaulting to the index; only
    // a request with an index takes part.
    const key = p.parent && p.parent.childIndex !== undefined
      ? `${p.parent.taskRunId}.${p.parent.childKey ?? String(p.parent.childIndex)}`
      : undefined;
    if (key !== undefined) {
      const existing = this.#children.get(key);
      if (existing !== undefined) return existing;
    }
    const run = this.#core.createRun({
      workflowName: p.name,
      input: p.input,
      additionalMetadata: p.meta,
      priority: p.priority,
      triggeredBy: p.parent ? "child" : "manual",
      parent: p.parent,
    });
    if (key !== undefined) this.#children.set(key, run.id);
    return run.id;
  }

  /** `ScheduleWorkflow`: one run per time, created when the engine clock reaches it. */
  scheduleWorkflow(req: ScheduleWorkflowRequest): WorkflowVersionMessage {
    const core = this.#core;
    const version = core.workflow(req.name);
    if (!version) throw new ConnectError("workflow not found", Code.NotFound);
    if (req.parentId !== undefined) {
      if (req.parentTaskRunExternalId === undefined) {
        throw invalid("parent task run id is required when parent id is provided");
      }
      if (req.childIndex === undefined) {
        throw invalid("child index is required when parent id is provided");
      }
    }
    const metaText = req.additionalMetadata ?? "";
    const metaError = jsonbError(metaText, "additionalMetadata");
    if (metaError) throw invalid(`Invalid request: ${metaError}`);
    const inputError = jsonbError(req.input, "payload");
    if (inputError) throw invalid(`Invalid request: ${inputError}`);
    if (req.priority !== undefined && (req.priority < 1 || req.priority > 3)) {
      throw invalid(`priority must be between 1 and 3, got ${req.priority}`);
    }
    const input = req.input === "" ? {} : parseObject(req.input) ?? {};
    const meta = metaText === "" || metaText === "null" ? undefined : parseObject(metaText);
    const scheduled = req.schedules.map((ts) => {
      const at = timestampDate(ts).getTime();
      const schedule: Schedule = {
        id: crypto.randomUUID(),
        workflowName: req.name,
        triggerAt: at,
        timer: core.clock.at(Math.max(at, core.clock.now()), () => {
          core.createRun({
            workflowName: req.name,
            input: structuredClone(input),
            additionalMetadata: meta && structuredClone(meta),
            priority: req.priority,
            triggeredBy: "schedule",
          });
        }),
      };
      this.#schedules.push(schedule);
      return { id: schedule.id, triggerAt: timestampFromMs(at) };
    });
    core.activity++;
    return create(WorkflowVersionSchema, {
      id: version.versionId,
      version: "",
      workflowId: version.workflowId,
      scheduledWorkflows: scheduled,
    });
  }

  /** A workflow version was put: its crons replace the previous version's. */
  workflowPut(version: WorkflowVersion): void {
    const core = this.#core;
    for (const t of this.#crons.get(version.name) ?? []) core.clock.cancel(t);
    const timers: EngineTimer[] = [];
    this.#crons.set(version.name, timers);
    version.cronTriggers.forEach((expression, i) => {
      const schedule = parseCron(expression);
      const arm = (after: number) => {
        const at = schedule.next(new Date(after)).getTime();
        timers[i] = core.clock.at(at, () => {
          arm(at);
          const current = core.workflow(version.name);
          core.createRun({
            workflowName: version.name,
            input: structuredClone(current?.cronInput ?? version.cronInput),
            triggeredBy: "cron",
          });
        });
      };
      arm(core.clock.now());
    });
  }

  // ------------------------------------------------------------------ filters

  /** The run ids a `TasksFilter` selects (the engine lists runs from its OLAP store). */
  selectRuns(filter: TasksFilter): string[] {
    const core = this.#core;
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
    for (const run of core.allRuns()) {
      if (run.createdAt < since) continue;
      if (until !== undefined && (run.finishedAt === undefined || run.finishedAt >= until)) {
        continue;
      }
      const status = STATUS_NAMES[core.runStatus(run)];
      if (filter.statuses.length > 0 && !filter.statuses.includes(status)) continue;
      if (filter.workflowIds.length > 0 && !filter.workflowIds.includes(run.version.workflowId)) {
        continue;
      }
      if (meta.some(([k, v]) => run.additionalMetadata?.[k] !== v)) continue;
      out.push(run.id);
    }
    return out;
  }

  // ------------------------------------------------------------------ subscriptions

  openRunsStream(): RunsStream {
    const stream: RunsStream = { queue: new StreamQueue(), waiting: new Set() };
    this.#runStreams.add(stream);
    this.#core.activity++;
    return stream;
  }

  /** Waits for a run on a stream; a run that already finished is answered at once. */
  subscribeRun(stream: RunsStream, runId: string): void {
    this.#core.activity++;
    // The engine skips ids it cannot parse and keeps waiting for unknown ones.
    if (!isUuid(runId)) return;
    const run = this.#core.run(runId);
    if (run && run.finishedAt !== undefined) stream.queue.push(this.#runFinishedEvent(run));
    else stream.waiting.add(runId);
  }

  closeRunsStream(stream: RunsStream): void {
    this.#runStreams.delete(stream);
    this.#core.activity++;
  }

  /**
   * Opens a SubscribeToWorkflowEvents stream for one run. A finished run ends it at once (the
   * engine returns without events); an unknown one is NOT_FOUND.
   */
  openEventStream(runId: string): StreamQueue<WorkflowEvent> {
    if (!isUuid(runId)) {
      throw invalid(`invalid workflow run id ${runId}`);
    }
    const run = this.#core.run(runId);
    if (!run) throw new ConnectError(`workflow run ${runId} not found`, Code.NotFound);
    const queue = new StreamQueue<WorkflowEvent>();
    if (run.finishedAt !== undefined) {
      queue.end();
      return queue;
    }
    let set = this.#eventStreams.get(runId);
    if (!set) this.#eventStreams.set(runId, set = new Set());
    set.add(queue);
    this.#core.activity++;
    return queue;
  }

  closeEventStream(runId: string, queue: StreamQueue<WorkflowEvent>): void {
    const set = this.#eventStreams.get(runId);
    if (!set) return;
    set.delete(queue);
    if (set.size === 0) this.#eventStreams.delete(runId);
    this.#core.activity++;
  }

  #publish(runId: string, event: WorkflowEvent): void {
    const set = this.#eventStreams.get(runId);
    if (!set) return;
    for (const q of set) q.push(event);
  }

  // ------------------------------------------------------------------ calls from the core

  /** A task was created (STARTED), or an attempt completed, failed or was cancelled. */
  taskEvent(
    task: TaskRun,
    kind: "STARTED" | "COMPLETED" | "FAILED" | "CANCELLED",
    error?: string,
  ): void {
    if (!this.#eventStreams.has(task.run.id)) return;
    let payload = "";
    if (kind === "COMPLETED") {
      payload = goJson(task.status === "SKIPPED" ? { skipped: true } : task.output ?? {});
    } else if (kind === "FAILED") payload = error ?? task.error ?? "";
    this.#publish(
      task.run.id,
      create(WorkflowEventSchema, {
        workflowRunId: task.run.id,
        resourceType: ResourceType.STEP_RUN,
        eventType: ResourceEventType[kind],
        resourceId: task.id,
        eventTimestamp: timestampFromMs(this.#core.clock.now()),
        eventPayload: payload,
        retryCount: task.retryCount,
      }),
    );
  }

  /** A task sent a stream chunk: published to the run's subscribers, kept nowhere. */
  streamEvent(task: TaskRun, req: PutStreamEventRequest): void {
    if (!this.#eventStreams.has(task.run.id)) return;
    this.#publish(
      task.run.id,
      create(WorkflowEventSchema, {
        workflowRunId: task.run.id,
        resourceType: ResourceType.STEP_RUN,
        eventType: ResourceEventType.STREAM,
        resourceId: task.id,
        eventTimestamp: req.createdAt ?? timestampFromMs(this.#core.clock.now()),
        eventPayload: new TextDecoder().decode(req.message),
        eventIndex: req.eventIndex,
      }),
    );
  }

  /** A run finished: its run subscribers get the results, its event subscribers the end. */
  runFinished(run: WorkflowRun): void {
    for (const stream of this.#runStreams) {
      if (stream.waiting.delete(run.id)) stream.queue.push(this.#runFinishedEvent(run));
    }
    const set = this.#eventStreams.get(run.id);
    if (set) {
      const status = this.#core.runStatus(run);
      const end = create(WorkflowEventSchema, {
        workflowRunId: run.id,
        resourceType: ResourceType.WORKFLOW_RUN,
        eventType: RUN_EVENT[status] ?? ResourceEventType.COMPLETED,
        resourceId: run.id,
        eventTimestamp: timestampFromMs(this.#core.clock.now()),
        hangup: true,
      });
      for (const q of set) {
        q.push(end);
        q.end();
      }
      this.#eventStreams.delete(run.id);
    }
  }

  #runFinishedEvent(run: WorkflowRun): WorkflowRunEvent {
    const results = [];
    for (const t of run.tasks.values()) {
      const base = { taskRunExternalId: t.id, taskName: t.def.readableId, jobRunId: t.id };
      if (t.status === "COMPLETED" || t.status === "SKIPPED") {
        results.push({
          ...base,
          output: goJson(t.status === "SKIPPED" ? { skipped: true } : t.output ?? {}),
        });
      } else if (t.status === "FAILED") results.push({ ...base, error: t.error ?? "" });
      else if (t.status === "CANCELLED") results.push({ ...base, error: t.error ?? "" });
    }
    return create(WorkflowRunEventSchema, {
      workflowRunId: run.id,
      eventType: WorkflowRunEventType.FINISHED,
      eventTimestamp: timestampFromMs(this.#core.clock.now()),
      results,
    });
  }
}
