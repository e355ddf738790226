// Queue: owns the queue of tasks waiting for a worker (by priority, then arrival), the
// "schedule needed" flag and the assignments not yet acknowledged. Picks a worker with free slot
// units, assigns and sends START_STEP_RUN/CANCEL_STEP_RUN, holds and frees slot units, arms the
// schedule and execution timeouts, and serves RefreshTimeout and ReleaseSlot.

import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ActionType,
  AssignedActionSchema,
  type RefreshTimeoutResponse,
  RefreshTimeoutResponseSchema,
} from "../../transport/services.ts";
import { goJson, isUuid, parseGoDuration } from "../_validate.ts";
import type { Attempts } from "./attempts.ts";
import { invalid, notFound } from "./errors.ts";
import type { FlowControl } from "./flow_control.ts";
import type { Records } from "./records.ts";
import type { Runs } from "./runs.ts";
import type { EngineState, TaskDef, TaskRun, WorkerState } from "./types.ts";
import { openStream, type Workers } from "./workers.ts";

/** What the queue uses of the other rooms. */
export interface QueueLinks {
  readonly workers: Pick<Workers, "all" | "get" | "isLive">;
  readonly runs: Pick<Runs, "task" | "payload" | "checkFinished">;
  readonly attempts: Pick<Attempts, "fail" | "cancel">;
  readonly records: Pick<Records, "note">;
  readonly flowControl: Pick<FlowControl, "admit" | "take" | "rank" | "ownAffinity" | "assigned">;
  /** The durable event log: bumps a durable task's invocation count on every assignment. */
  readonly durableTask: { assign(taskRunId: string): number | undefined };
}

/** The queue, slots and assignments. */
export class Queue {
  #state: EngineState;
  #links: QueueLinks;
  /** Tasks waiting for a worker, by priority then arrival; may hold ones that left the queue. */
  #queue: TaskRun[] = [];
  #needsSchedule = false;
  /** Task runs sent a START_STEP_RUN whose worker has not yet sent an RPC about them. */
  #awaitingAck = new Set<string>();

  constructor(state: EngineState, links: QueueLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** START_STEP_RUN assignments no RPC has mentioned yet (the worker may still be reacting). */
  awaitingAck(): number {
    return this.#awaitingAck.size;
  }

  /** Stops waiting for acknowledgements (for workers that never send any). */
  forgetAwaitingAck(): void {
    this.#awaitingAck.clear();
  }

  /** Counts a task run handed to an HTTP endpoint as not yet acknowledged until it answers. */
  awaitAck(taskRunId: string): void {
    if (!this.#links.runs.task(taskRunId)) return;
    this.#awaitingAck.add(taskRunId);
    this.#state.activity++;
  }

  /** Notes that the worker reacted to the task run's assignment. */
  ack(taskRunId: string): void {
    this.#awaitingAck.delete(taskRunId);
  }

  /** Asks for a scheduler pass at the next flush. */
  requestSchedule(): void {
    this.#needsSchedule = true;
  }

  /** Queues a task run (again), in priority then arrival order, with its schedule timeout. */
  enqueue(task: TaskRun): void {
    const queue = this.#queue;
    // A task queued before (a retry, a requeue) leaves its old place first.
    if (task.enqueueSeq >= 0) {
      const old = queue.indexOf(task);
      if (old >= 0) queue.splice(old, 1);
    }
    task.status = "QUEUED";
    task.enqueueSeq = this.#state.seq++;
    this.#armScheduleTimeout(task);
    if (this.#links.flowControl.admit(task)) this.push(task);
  }

  /** Puts a queued task in its place in the queue (flow control admitted it). */
  push(task: TaskRun): void {
    if (task.status !== "QUEUED") return;
    const queue = this.#queue;
    // The queue stays ordered by priority, then arrival: the newest task goes after every task of
    // its priority or higher. (Sorting on each enqueue cost a burst of n triggers n sorts.)
    const priority = task.run.priority;
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (queue[mid].run.priority >= priority) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, task);
    this.#needsSchedule = true;
  }

  #armScheduleTimeout(task: TaskRun): void {
    const seq = task.enqueueSeq;
    this.#state.clock.cancel(task.timers.schedule);
    task.timers.schedule = this.#state.clock.at(
      this.#state.clock.now() + task.def.scheduleTimeoutMs,
      () => {
        if (task.status !== "QUEUED" || task.enqueueSeq !== seq) return;
        this.#links.records.note(
          `task ${task.id} (${task.def.readableId}) was not assigned in time: SCHEDULING_TIMED_OUT`,
        );
        this.#links.attempts.cancel(task);
      },
    );
  }

  /**
   * Runs the scheduler if anything changed, then lets the runs room notice finished runs. Called
   * at the end of every operation.
   */
  flush(): void {
    this.#state.activity++;
    if (this.#state.closed) return;
    while (this.#needsSchedule) {
      this.#needsSchedule = false;
      this.#schedule();
    }
    this.#links.runs.checkFinished();
  }

  #schedule(): void {
    // The scheduler runs after every operation, so a pass must not cost more than the queue
    // changed: once a task found no worker, skip the later tasks of its definition (a pass only
    // uses capacity up, so they would find none either). Without this, each RPC matched every
    // queued task against every worker.
    // A busy queue is mostly tasks waiting for a slot: once no live worker has a free unit of
    // any slot type, nothing later in the queue can be assigned either, so the pass stops.
    // Tasks whose run carries its own affinity (trigger labels, a sticky worker) do not block
    // their definition: another run's task of the same definition may fit.
    const blocked = new Set<TaskDef>();
    const queue = this.#queue;
    for (const task of queue) {
      if (task.status !== "QUEUED" || blocked.has(task.def)) continue;
      const worker = this.#pickWorker(task);
      if (worker) {
        if (!this.#links.flowControl.take(task)) continue;
        this.#assign(task, worker);
      } else {
        if (!this.#links.flowControl.ownAffinity(task)) blocked.add(task.def);
        if (!this.#anyFreeSlot()) break;
      }
    }
    // Assigned tasks sit at the front of a first-in, first-out queue: drop that prefix. Others
    // that left the queue are skipped above and dropped at the next sort.
    let done = 0;
    while (done < queue.length && queue[done].status !== "QUEUED") done++;
    if (done > 0) queue.splice(0, done);
  }

  #anyFreeSlot(): boolean {
    for (const w of this.#links.workers.all()) {
      if (!this.#links.workers.isLive(w)) continue;
      for (const [type, units] of Object.entries(w.slotConfig)) {
        if (units - (w.used[type] ?? 0) > 0) return true;
      }
    }
    return false;
  }

  // The best rank (flow control: labels, sticky; -1 excludes) with free slot units wins; ties go
  // to the worker with most units left.
  #pickWorker(task: TaskRun): WorkerState | undefined {
    let best: WorkerState | undefined;
    let bestRank = -1;
    let bestFree = -1;
    for (const w of this.#links.workers.all()) {
      if (!w.actions.has(task.def.action) || w.paused || !this.#links.workers.isLive(w)) continue;
      const rank = this.#links.flowControl.rank(task, w);
      if (rank < 0) continue;
      let free = Infinity;
      for (const [type, units] of Object.entries(task.def.slotRequests)) {
        free = Math.min(free, (w.slotConfig[type] ?? 0) - (w.used[type] ?? 0) - units);
      }
      if (free < 0) continue;
      if (rank > bestRank || (rank === bestRank && free > bestFree)) {
        best = w;
        bestRank = rank;
        bestFree = free;
      }
    }
    return best;
  }

  #assign(task: TaskRun, worker: WorkerState): void {
    this.#state.clock.cancel(task.timers.schedule);
    this.#links.flowControl.assigned(task, worker);
    task.status = "RUNNING";
    task.workerId = worker.id;
    task.slotWorkerId = worker.id;
    task.evicted = false;
    if (task.def.isDurable) {
      task.invocationCount = this.#links.durableTask.assign(task.id) ?? task.invocationCount;
    }
    for (const [type, units] of Object.entries(task.def.slotRequests)) {
      worker.used[type] = (worker.used[type] ?? 0) + units;
    }
    task.timeoutAt = this.#state.clock.now() + task.def.timeoutMs;
    this.#armTimeout(task);
    this.send(worker, task, ActionType.START_STEP_RUN);
  }

  #armTimeout(task: TaskRun): void {
    this.#state.clock.cancel(task.timers.timeout);
    const retryCount = task.retryCount;
    task.timers.timeout = this.#state.clock.at(task.timeoutAt!, () => {
      if (task.status !== "RUNNING" || task.retryCount !== retryCount) return;
      this.#links.attempts.fail(task, `Task exceeded timeout of ${task.def.timeout}`, false, true);
    });
  }

  /** Gives the slot units a task run holds back to its worker. */
  freeSlot(task: TaskRun): void {
    const worker = task.slotWorkerId ? this.#links.workers.get(task.slotWorkerId) : undefined;
    task.slotWorkerId = undefined;
    if (!worker) return;
    for (const [type, units] of Object.entries(task.def.slotRequests)) {
      worker.used[type] = Math.max(0, (worker.used[type] ?? 0) - units);
    }
    this.#needsSchedule = true;
  }

  /** Sends an assignment or a cancellation to the worker's open listen stream. */
  send(worker: WorkerState, task: TaskRun, type: ActionType): void {
    const stream = openStream(worker);
    if (!stream) {
      if (type === ActionType.START_STEP_RUN) {
        this.requeue(task, `worker ${worker.id} has no open stream`);
      } else {
        this.#links.records.note(
          `dropped ${ActionType[type]} for task ${task.id}: worker ${worker.id} has no stream`,
        );
      }
      return;
    }
    const run = task.run;
    const action = create(AssignedActionSchema, {
      tenantId: this.#state.tenantId,
      workflowRunId: run.id,
      getGroupKeyRunId: "",
      jobId: task.def.stepId,
      jobName: task.def.readableId,
      jobRunId: task.id,
      taskId: task.def.stepId,
      taskRunExternalId: task.id,
      actionId: task.def.action,
      actionType: type,
      actionPayload: type === ActionType.START_STEP_RUN ? this.#links.runs.payload(task) : "",
      taskName: task.def.readableId,
      retryCount: task.retryCount,
      additionalMetadata: run.additionalMetadata ? goJson(run.additionalMetadata) : undefined,
      priority: run.priority,
      workflowId: run.version.workflowId,
      workflowVersionId: run.version.versionId,
      durableTaskInvocationCount: task.def.isDurable && task.invocationCount > 0
        ? task.invocationCount
        : undefined,
      triggeringEventExternalId: run.triggeringEvent?.id,
      triggeringEventKey: run.triggeringEvent?.key,
      // A child's assignment names its parent *task* run, as the engine's does.
      parentWorkflowRunId: run.parent?.taskRunId,
      childWorkflowIndex: run.parent?.childIndex,
      childWorkflowKey: run.parent?.childKey,
    });
    stream.queue.push(action);
    if (type === ActionType.START_STEP_RUN) this.#awaitingAck.add(task.id);
    this.#state.activity++;
  }

  /** Puts a task that never reached its worker back in the queue, as the engine does. */
  requeue(task: TaskRun, why: string): void {
    this.#links.records.note(
      `task ${task.id} (${task.def.readableId}) goes back to the queue: ${why}`,
    );
    this.#state.clock.cancel(task.timers.timeout);
    this.freeSlot(task);
    task.workerId = undefined;
    this.enqueue(task);
  }

  refreshTimeout(taskRunId: string, incrementBy: string): RefreshTimeoutResponse {
    if (!isUuid(taskRunId)) throw invalid(`invalid task external run id ${taskRunId}`);
    this.ack(taskRunId);
    const increment = parseGoDuration(incrementBy);
    if (increment === undefined) {
      throw invalid(
        `invalid increment_timeout_by: expected a duration like "30s", "5m" or "1h30m", ` +
          `received ${JSON.stringify(incrementBy)}`,
      );
    }
    const task = this.#links.runs.task(taskRunId);
    if (!task || task.status !== "RUNNING" || task.timeoutAt === undefined) {
      throw notFound(`task run ${taskRunId} has no runtime: it is not running`);
    }
    task.timeoutAt += increment;
    this.#armTimeout(task);
    this.#state.activity++;
    return create(RefreshTimeoutResponseSchema, { timeoutAt: timestampFromMs(task.timeoutAt) });
  }

  releaseSlot(taskRunId: string): void {
    if (!isUuid(taskRunId)) throw invalid(`invalid task external run id ${taskRunId}`);
    this.ack(taskRunId);
    const task = this.#links.runs.task(taskRunId);
    if (!task || task.status !== "RUNNING") {
      throw notFound(`task run ${taskRunId} has no runtime: it is not running`);
    }
    this.freeSlot(task);
    task.workerId = undefined;
    this.#needsSchedule = true;
    this.flush();
  }
}
