// Attempts: the rules of a task run's life; owns no state. Creates a task run when its match
// fires (queue, skip or cancel), completes it, fails it (retries with backoff, or FAILED),
// cancels it, and serves SendStepActionEvent. Every outcome is reported to the matches room,
// which moves the run's DAG on, to the runs room (is the run finished?) and, with the task's
// creation and each failed attempt, to the run's event subscribers.

import { create } from "@bufbuild/protobuf";
import {
  type ActionEventResponse,
  ActionEventResponseSchema,
  ActionType,
  type StepActionEvent,
  StepActionEventType,
} from "../../transport/services.ts";
import type { JsonObject, JsonValue } from "../../transport/types.ts";
import { jsonbError, parseObject } from "../_validate.ts";
import type { Matches } from "./matches.ts";
import type { Queue } from "./queue.ts";
import type { Records } from "./records.ts";
import type { Runs } from "./runs.ts";
import type { Subscriptions } from "./subscriptions.ts";
import type { ConditionAction, EngineState, ParentData, TaskRun } from "./types.ts";
import type { Workers } from "./workers.ts";

/** What the attempts room uses of the other rooms. */
export interface AttemptsLinks {
  readonly runs: Pick<Runs, "taskForRpc" | "touch">;
  readonly queue: Pick<Queue, "ack" | "enqueue" | "flush" | "freeSlot" | "send">;
  readonly subscriptions: Pick<Subscriptions, "taskEvent">;
  readonly workers: Pick<Workers, "get">;
  readonly matches: Pick<Matches, "taskEvent" | "dropTriggerMatches">;
  readonly records: Pick<Records, "note">;
}

/** Task-run attempts: creation, completion, failure and retries, cancellation. */
export class Attempts {
  #state: EngineState;
  #links: AttemptsLinks;

  constructor(state: EngineState, links: AttemptsLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** Serves SendStepActionEvent: an attempt started, completed, failed or was cancelled. */
  sendStepActionEvent(req: StepActionEvent): ActionEventResponse {
    const task = this.#links.runs.taskForRpc(req.taskRunExternalId, true);
    this.#links.queue.ack(task.id);
    const response = create(ActionEventResponseSchema, {
      tenantId: this.#state.tenantId,
      workerId: req.workerId,
    });
    const retryCount = req.retryCount ?? task.retryCount;
    if (task.status !== "RUNNING" || retryCount !== task.retryCount) {
      if (req.eventType !== StepActionEventType.STEP_EVENT_TYPE_STARTED) {
        this.#links.records.note(
          `ignored ${
            StepActionEventType[req.eventType]
          } for task ${task.id} (${task.def.readableId}) ` +
            `retry_count ${retryCount}: task is ${task.status} at retry_count ${task.retryCount}`,
        );
      }
      return response;
    }
    let eventType = req.eventType;
    let payload = req.eventPayload;
    if (eventType === StepActionEventType.STEP_EVENT_TYPE_COMPLETED) {
      let error = jsonbError(payload, "taskOutput");
      if (error === undefined && payload !== "" && parseObject(payload) === undefined) {
        error = `task output must be a JSON object in field \`taskOutput\`, received ${
          payload.length > 100 ? payload.slice(0, 100) + "…" : payload
        }`;
      }
      if (error !== undefined) {
        eventType = StepActionEventType.STEP_EVENT_TYPE_FAILED;
        payload = error;
      }
    }
    switch (eventType) {
      case StepActionEventType.STEP_EVENT_TYPE_COMPLETED:
        this.#complete(task, payload === "" ? {} : parseObject(payload)!);
        break;
      case StepActionEventType.STEP_EVENT_TYPE_FAILED: {
        const nul = jsonbError(payload, "error");
        if (nul?.includes("null character")) {
          payload = "error message contains invalid null character \\u0000. you likely need to " +
            "either escape the character or strip it out of the error. this generally is the " +
            "result of an LLM producing this unicode sequence in its output.";
        }
        this.fail(task, payload, req.shouldNotRetry === true);
        break;
      }
      case StepActionEventType.STEP_EVENT_TYPE_CANCELLED:
        this.cancel(task);
        break;
      default:
        break;
    }
    this.#links.queue.flush();
    return response;
  }

  /** Creates a task run its match chose to create: queued, skipped or cancelled. */
  create(
    task: TaskRun,
    action: ConditionAction,
    parentData: Record<string, ParentData>,
    triggerData: Record<string, JsonValue[]>,
  ): void {
    if (task.status !== "PENDING") return;
    task.triggerData = triggerData;
    for (const [name, data] of Object.entries(parentData)) {
      if (data?.kind === "FAILED") task.stepRunErrors[name] = data.error ?? "";
    }
    this.#state.activity++;
    if (action === "SKIP") {
      task.status = "SKIPPED";
      task.output = { skipped: true };
      this.#outcome(task, "COMPLETED");
    } else if (action === "CANCEL") {
      task.status = "CANCELLED";
      this.#outcome(task, "CANCELLED");
    } else {
      this.#links.queue.enqueue(task);
      this.#links.subscriptions.taskEvent(task, "STARTED");
    }
  }

  /** A task run reached its final state (until a replay). */
  #outcome(task: TaskRun, kind: ParentData["kind"]): void {
    this.#links.runs.touch(task.run);
    this.#links.subscriptions.taskEvent(task, kind);
    this.#links.matches.taskEvent(task, kind);
  }

  #complete(task: TaskRun, output: JsonObject): void {
    this.#finishAttempt(task);
    task.status = "COMPLETED";
    task.output = output;
    this.#outcome(task, "COMPLETED");
  }

  #finishAttempt(task: TaskRun): void {
    this.#links.queue.freeSlot(task);
    this.#state.clock.cancel(task.timers.timeout);
    this.#state.clock.cancel(task.timers.schedule);
    this.#state.clock.cancel(task.timers.retry);
    task.timers = {};
    task.timeoutAt = undefined;
    task.workerId = undefined;
    this.#links.queue.ack(task.id);
    this.#state.activity++;
  }

  /** Fails an attempt: queued again (after backoff) while retries remain, else FAILED. */
  fail(task: TaskRun, error: string, shouldNotRetry: boolean, cancelOnWorker = false): void {
    if (cancelOnWorker && task.workerId) {
      const worker = this.#links.workers.get(task.workerId);
      if (worker) this.#links.queue.send(worker, task, ActionType.CANCEL_STEP_RUN);
    }
    this.#finishAttempt(task);
    if (!shouldNotRetry && task.def.retries > task.appRetryCount) {
      this.#links.subscriptions.taskEvent(task, "FAILED", error);
      task.retryCount++;
      task.appRetryCount++;
      task.error = error;
      task.status = "QUEUED";
      const factor = task.def.backoffFactor;
      if (factor === undefined) {
        this.#links.queue.enqueue(task);
        return;
      }
      const maxSeconds = task.def.backoffMaxSeconds ?? Infinity;
      const delayMs = 1000 * Math.min(maxSeconds, factor ** task.appRetryCount);
      const retryCount = task.retryCount;
      task.timers.retry = this.#state.clock.at(this.#state.clock.now() + delayMs, () => {
        if (task.status === "QUEUED" && task.retryCount === retryCount) {
          this.#links.queue.enqueue(task);
        }
      });
      return;
    }
    task.status = "FAILED";
    task.error = error;
    this.#outcome(task, "FAILED");
  }

  /** Cancels a task run; false when it had already finished. */
  cancel(task: TaskRun): boolean {
    if (task.status !== "PENDING" && task.status !== "QUEUED" && task.status !== "RUNNING") {
      return false;
    }
    if (task.status === "RUNNING" && task.workerId) {
      const worker = this.#links.workers.get(task.workerId);
      if (worker) this.#links.queue.send(worker, task, ActionType.CANCEL_STEP_RUN);
    }
    if (task.status === "PENDING") this.#links.matches.dropTriggerMatches(task);
    this.#finishAttempt(task);
    task.status = "CANCELLED";
    this.#outcome(task, "CANCELLED");
    return true;
  }
}
