// Children: serves WorkflowService's TriggerWorkflow and BulkTriggerWorkflow, the trigger path a
// task's children take (a request without a parent makes a plain run). Owns the index from
// (parent task run, child key or index) to the child's run id that makes a spawn idempotent, as
// the engine's child key is. A child inherits its parent's metadata and gains the
// `hatchet__parent_*` keys.

import type {
  BulkTriggerWorkflowRequest,
  TriggerWorkflowRequest,
} from "../../transport/services.ts";
import type { JsonObject } from "../../transport/types.ts";
import { isUuid, jsonbError, parseObject } from "../_validate.ts";
import { invalid } from "./errors.ts";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Runs } from "./runs.ts";
import type { EngineState, RunParent, WorkflowVersion } from "./types.ts";
import type { Workflows } from "./workflows.ts";

/** What the children room uses of the other rooms. */
export interface ChildrenLinks {
  readonly workflows: Pick<Workflows, "get">;
  readonly runs: Pick<Runs, "task" | "ingest">;
}

interface Prepared {
  version: WorkflowVersion;
  input: JsonObject;
  meta: JsonObject | undefined;
  priority: number | undefined;
  parent: RunParent | undefined;
}

/** Runs triggered through WorkflowService, children among them. */
export class Children {
  #state: EngineState;
  #links: ChildrenLinks;
  /** `parentTaskRunId.childKey-or-index` to the child's run id. */
  #children = new Map<string, string>();

  constructor(state: EngineState, links: ChildrenLinks) {
    this.#state = state;
    this.#links = links;
  }

  /** `TriggerWorkflow`: a run, or a child of a task (the same run again for the same key). */
  triggerWorkflow(req: TriggerWorkflowRequest): string {
    return this.#spawn(this.#prepare(req));
  }

  /** `BulkTriggerWorkflow`: every request is checked before any run is created. */
  bulkTriggerWorkflow(req: BulkTriggerWorkflowRequest): string[] {
    const prepared = req.workflows.map((w) => this.#prepare(w));
    return prepared.map((p) => this.#spawn(p));
  }

  #prepare(req: TriggerWorkflowRequest): Prepared {
    const version = this.#links.workflows.get(req.name);
    if (!version) throw invalid(`workflow names not found: ${req.name}`);
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
    if (req.parentTaskRunExternalId !== undefined) {
      if (!isUuid(req.parentTaskRunExternalId)) {
        throw invalid(`parentStepRunId must be a valid UUID: ${req.parentTaskRunExternalId}`);
      }
      const parentTask = this.#links.runs.task(req.parentTaskRunExternalId);
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
    return { version, input, meta, priority: req.priority, parent };
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
    const id = this.#links.runs.ingest(p.version, {
      input: p.input,
      additionalMetadata: p.meta,
      priority: p.priority,
      triggeredBy: p.parent ? "child" : "manual",
      parent: p.parent,
    });
    if (key !== undefined) this.#children.set(key, id);
    this.#state.activity++;
    return id;
  }
}
