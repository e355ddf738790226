// Subscriptions: owns the open Dispatcher subscription streams. SubscribeToWorkflowRuns: each
// stream and the run ids it still waits for (one run-finished event per requested run, with each
// task's result; an id not known yet is waited for, as the engine does). SubscribeToWorkflowEvents:
// the streams per run, fed task events, stream chunks with their event_index, then the run's own
// end marked `hangup`. Stream chunks are published, never stored here, as in the engine.

import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type PutStreamEventRequest,
  ResourceEventType,
  ResourceType,
  RunStatus,
  type WorkflowEvent,
  WorkflowEventSchema,
  type WorkflowRunEvent,
  WorkflowRunEventSchema,
  WorkflowRunEventType,
} from "../../transport/services.ts";
import { StreamQueue } from "../_stream_queue.ts";
import { goJson, isUuid } from "../_validate.ts";
import { invalid, notFound } from "./errors.ts";
import type { Runs } from "./runs.ts";
import type { EngineState, TaskRun, WorkflowRun } from "./types.ts";

/** One open SubscribeToWorkflowRuns stream: the run ids it waits for. */
export interface RunsStream {
  queue: StreamQueue<WorkflowRunEvent>;
  waiting: Set<string>;
}

/** What the subscriptions room uses of the other rooms. */
export interface SubscriptionsLinks {
  readonly runs: Pick<Runs, "run" | "runStatus">;
}

const RUN_EVENT: Partial<Record<RunStatus, ResourceEventType>> = {
  [RunStatus.COMPLETED]: ResourceEventType.COMPLETED,
  [RunStatus.FAILED]: ResourceEventType.FAILED,
  [RunStatus.CANCELLED]: ResourceEventType.CANCELLED,
};

const decoder = new TextDecoder();

/** Run and run-event subscriptions. */
export class Subscriptions {
  #state: EngineState;
  #links: SubscriptionsLinks;
  #runStreams = new Set<RunsStream>();
  #eventStreams = new Map<string, Set<StreamQueue<WorkflowEvent>>>();

  constructor(state: EngineState, links: SubscriptionsLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** Messages queued on subscription streams and not yet taken. */
  pendingDeliveries(): number {
    let n = 0;
    for (const s of this.#runStreams) n += s.queue.pending;
    for (const set of this.#eventStreams.values()) for (const q of set) n += q.pending;
    return n;
  }

  /** Ends every subscription stream (normally, or with `error`). */
  abortStreams(error?: unknown): void {
    for (const s of this.#runStreams) s.queue.abort(error);
    for (const set of this.#eventStreams.values()) for (const q of set) q.abort(error);
  }

  openRunsStream(): RunsStream {
    const stream: RunsStream = { queue: new StreamQueue(), waiting: new Set() };
    this.#runStreams.add(stream);
    this.#state.activity++;
    return stream;
  }

  /** Waits for a run on a stream; a run that already finished is answered at once. */
  subscribeRun(stream: RunsStream, runId: string): void {
    this.#state.activity++;
    // The engine skips ids it cannot parse and keeps waiting for unknown ones.
    if (!isUuid(runId)) return;
    const run = this.#links.runs.run(runId);
    if (run && run.finishedAt !== undefined) stream.queue.push(this.#runFinishedEvent(run));
    else stream.waiting.add(runId);
  }

  closeRunsStream(stream: RunsStream): void {
    this.#runStreams.delete(stream);
    this.#state.activity++;
  }

  /**
   * Opens a SubscribeToWorkflowEvents stream for one run. A finished run ends it at once (the
   * engine returns without events); an unknown one is NOT_FOUND.
   */
  openEventStream(runId: string): StreamQueue<WorkflowEvent> {
    if (!isUuid(runId)) throw invalid(`invalid workflow run id ${runId}`);
    const run = this.#links.runs.run(runId);
    if (!run) throw notFound(`workflow run ${runId} not found`);
    const queue = new StreamQueue<WorkflowEvent>();
    if (run.finishedAt !== undefined) {
      queue.end();
      return queue;
    }
    let set = this.#eventStreams.get(runId);
    if (!set) this.#eventStreams.set(runId, set = new Set());
    set.add(queue);
    this.#state.activity++;
    return queue;
  }

  closeEventStream(runId: string, queue: StreamQueue<WorkflowEvent>): void {
    const set = this.#eventStreams.get(runId);
    if (!set) return;
    set.delete(queue);
    if (set.size === 0) this.#eventStreams.delete(runId);
    this.#state.activity++;
  }

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
        eventTimestamp: timestampFromMs(this.#state.clock.now()),
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
        eventTimestamp: req.createdAt ?? timestampFromMs(this.#state.clock.now()),
        eventPayload: decoder.decode(req.message),
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
    if (!set) return;
    const status = this.#links.runs.runStatus(run);
    const end = create(WorkflowEventSchema, {
      workflowRunId: run.id,
      resourceType: ResourceType.WORKFLOW_RUN,
      eventType: RUN_EVENT[status] ?? ResourceEventType.COMPLETED,
      resourceId: run.id,
      eventTimestamp: timestampFromMs(this.#state.clock.now()),
      hangup: true,
    });
    for (const q of set) {
      q.push(end);
      q.end();
    }
    this.#eventStreams.delete(run.id);
  }

  #publish(runId: string, event: WorkflowEvent): void {
    const set = this.#eventStreams.get(runId);
    if (!set) return;
    for (const q of set) q.push(event);
    this.#state.activity++;
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
      } else if (t.status === "FAILED" || t.status === "CANCELLED") {
        results.push({ ...base, error: t.error ?? "" });
      }
    }
    return create(WorkflowRunEventSchema, {
      workflowRunId: run.id,
      eventType: WorkflowRunEventType.FINISHED,
      eventTimestamp: timestampFromMs(this.#state.clock.now()),
      results,
    });
  }
}
