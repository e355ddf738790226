// Schedules: owns the scheduled runs (ScheduleWorkflow: one run per requested time, created when
// the engine clock reaches it) and each workflow's cron timers (re-armed for the next match each
// time one fires; a new version of the workflow replaces them). Both run the workflow's newest
// version when they fire; a cron run's input is that version's cron input.

import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type ScheduleWorkflowRequest,
  type WorkflowVersion as WorkflowVersionMessage,
  WorkflowVersionSchema,
} from "../../transport/services.ts";
import type { JsonObject } from "../../transport/types.ts";
import { parseCron } from "../../runs/cron.ts";
import type { EngineTimer } from "../_clock.ts";
import { jsonbError, parseObject } from "../_validate.ts";
import { invalid, notFound } from "./errors.ts";
import type { Queue } from "./queue.ts";
import type { Records } from "./records.ts";
import type { Runs } from "./runs.ts";
import type { EngineState, TriggerOptions, WorkflowVersion } from "./types.ts";
import type { Workflows } from "./workflows.ts";

/** What the schedules room uses of the other rooms. */
export interface SchedulesLinks {
  readonly workflows: Pick<Workflows, "get">;
  readonly runs: Pick<Runs, "trigger">;
  readonly queue: Pick<Queue, "flush">;
  readonly records: Pick<Records, "note">;
}

interface Schedule {
  id: string;
  workflowName: string;
  triggerAt: number;
  timer: EngineTimer;
}

/** A pending scheduled run, as `MockEngine.schedules()` reports it. */
export interface ScheduleInfo {
  id: string;
  workflowName: string;
  triggerAt: Date;
}

/** Scheduled runs and crons. */
export class Schedules {
  #state: EngineState;
  #links: SchedulesLinks;
  #schedules: Schedule[] = [];
  /** Workflow name to its cron timers, one per cron expression. */
  #crons = new Map<string, EngineTimer[]>();

  constructor(state: EngineState, links: SchedulesLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** Pending schedules, by trigger time. */
  schedules(): ScheduleInfo[] {
    return this.#schedules
      .filter((s) => !s.timer.cancelled)
      .sort((a, b) => a.triggerAt - b.triggerAt)
      .map((s) => ({ id: s.id, workflowName: s.workflowName, triggerAt: new Date(s.triggerAt) }));
  }

  /** `ScheduleWorkflow`: one run per time, created when the engine clock reaches it. */
  scheduleWorkflow(req: ScheduleWorkflowRequest): WorkflowVersionMessage {
    const clock = this.#state.clock;
    const version = this.#links.workflows.get(req.name);
    if (!version) throw notFound("workflow not found");
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
      const id = crypto.randomUUID();
      const schedule: Schedule = {
        id,
        workflowName: req.name,
        triggerAt: at,
        timer: clock.at(Math.max(at, clock.now()), () => {
          this.#schedules = this.#schedules.filter((s) => s.id !== id);
          this.#fire(req.name, {
            input: structuredClone(input),
            additionalMetadata: meta && structuredClone(meta),
            priority: req.priority,
            triggeredBy: "schedule",
          });
        }),
      };
      this.#schedules.push(schedule);
      return { id, triggerAt: timestampFromMs(at) };
    });
    this.#state.activity++;
    return create(WorkflowVersionSchema, {
      id: version.versionId,
      version: "",
      workflowId: version.workflowId,
      scheduledWorkflows: scheduled,
    });
  }

  /** A workflow version was put: its crons replace the previous version's. */
  workflowPut(version: WorkflowVersion): void {
    const clock = this.#state.clock;
    for (const t of this.#crons.get(version.name) ?? []) clock.cancel(t);
    const timers: EngineTimer[] = [];
    this.#crons.set(version.name, timers);
    version.cronTriggers.forEach((expression, i) => {
      const schedule = parseCron(expression);
      const arm = (after: number) => {
        const at = schedule.next(new Date(after)).getTime();
        timers[i] = clock.at(at, () => {
          arm(at);
          const current = this.#links.workflows.get(version.name) ?? version;
          this.#fire(version.name, {
            input: structuredClone(current.cronInput) as JsonObject,
            triggeredBy: "cron",
          });
        });
      };
      arm(clock.now());
    });
  }

  #fire(name: string, options: TriggerOptions): void {
    const version = this.#links.workflows.get(name);
    if (!version) {
      this.#links.records.note(`scheduled run of ${name} dropped: the workflow is gone`);
      return;
    }
    this.#links.runs.trigger(version, options);
    this.#links.queue.flush();
  }
}
