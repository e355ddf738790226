import type { AssignedActionData } from "../transport/ports.ts";
import type { JsonObject, JsonValue } from "../transport/types.ts";

/**
 * Everything a task attempt knows about itself: the assignment's fields plus its parsed
 * `action_payload` (hatchet-protocol.md §4). Optional fields are `undefined` when the engine left
 * them unset.
 */
export interface TaskRunData {
  /** The run's input (`action_payload.input`). */
  input: JsonObject;
  /** Parent task name to output; a skipped parent reads `{ skipped: true }`. */
  parents: Record<string, JsonObject>;
  /** Failed upstream task name to its error text (on-failure tasks). */
  stepRunErrors: Record<string, string>;
  /** `action_payload.triggers`: filter payload and DAG condition data. */
  triggers: JsonObject;
  /** The run's additional metadata, parsed. */
  additionalMetadata: JsonObject | undefined;
  /** The workflow run id. */
  workflowRunId: string;
  /** The task run's external id. */
  taskRunId: string;
  /** The task's readable id. */
  taskName: string;
  /** `<namespace><workflow>:<task>`. */
  actionId: string;
  /** 0-based attempt number. */
  retryCount: number;
  /** For child runs, the parent task run id. */
  parentWorkflowRunId: string | undefined;
  /** 1..3, `undefined` when the engine sent 0. */
  priority: number | undefined;
  /** The workflow id. */
  workflowId: string | undefined;
  /** The workflow version id. */
  workflowVersionId: string | undefined;
  /** The id of the event that created the run. */
  triggeringEventId: string | undefined;
  /** The key of the event that created the run. */
  triggeringEventKey: string | undefined;
  /** The child spawn index. */
  childIndex: number | undefined;
  /** The child spawn key. */
  childKey: string | undefined;
}

const PREVIEW = 120;

function preview(text: string): string {
  const shown = text.length > PREVIEW ? `${text.slice(0, PREVIEW)}...` : text;
  return JSON.stringify(shown);
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const t = typeof value;
  return t === "object" ? "an object" : `a ${t}`;
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function optional(text: string | undefined): string | undefined {
  return text === undefined || text === "" ? undefined : text;
}

/**
 * Parses an assignment's `action_payload` and optional fields into task-run data. Missing or
 * `null` `input`, `parents`, `triggers` and `step_run_errors` read as empty objects; unknown keys
 * are ignored. `additionalMetadata` is `undefined` when unset or empty.
 *
 * @param action The assignment as the dispatcher port delivers it.
 * @returns The attempt's data.
 * @throws {TypeError} When the payload is not a JSON object of the expected shape, or the
 *   additional metadata is not a JSON object; the message names the task run and the field.
 * @example
 * ```ts
 * import { parseAssignment } from "./parse_assignment.ts";
 * import assert from "node:assert/strict";
 * const data = parseAssignment({
 *   tenantId: "t", workflowRunId: "wr", jobId: "j", jobName: "greet", jobRunId: "tr",
 *   taskId: "j", taskRunExternalId: "tr", actionId: "hello:greet", actionType: "START_STEP_RUN",
 *   actionPayload: '{"input":{"name":"Ada"},"parents":{}}', taskName: "greet", retryCount: 0,
 *   additionalMetadata: undefined, childWorkflowIndex: undefined, childWorkflowKey: undefined,
 *   parentWorkflowRunId: undefined, priority: 1, workflowId: undefined,
 *   workflowVersionId: undefined, durableTaskInvocationCount: undefined,
 *   triggeringEventExternalId: undefined, triggeringEventKey: undefined,
 * });
 * assert.deepEqual(data.input, { name: "Ada" });
 * ```
 */
export function parseAssignment(action: AssignedActionData): TaskRunData {
  const where = `task run ${JSON.stringify(action.taskRunExternalId)}`;
  const fail = (detail: string): never => {
    throw new TypeError(`Malformed action payload for ${where}: ${detail}`);
  };

  if (typeof action.actionPayload !== "string" || action.actionPayload.trim() === "") {
    fail(`expected a JSON object, received ${preview(String(action.actionPayload ?? ""))}`);
  }
  let payload: unknown;
  try {
    payload = JSON.parse(action.actionPayload);
  } catch (err) {
    fail(
      `not valid JSON (${(err as Error).message}), received ${preview(action.actionPayload)}`,
    );
  }
  if (!isObject(payload)) fail(`expected a JSON object, received ${kindOf(payload)}`);
  const body = payload as JsonObject;

  const objectField = (key: string): JsonObject => {
    const value = body[key];
    if (value === undefined || value === null) return {};
    if (!isObject(value)) fail(`"${key}" must be a JSON object, received ${kindOf(value)}`);
    return value as JsonObject;
  };

  const input = objectField("input");
  const parentsRaw = objectField("parents");
  const parents: Record<string, JsonObject> = {};
  for (const [name, output] of Object.entries(parentsRaw)) {
    if (output === null) parents[name] = {};
    else if (isObject(output)) parents[name] = output;
    else fail(`"parents.${name}" must be a JSON object, received ${kindOf(output)}`);
  }
  const errorsRaw = objectField("step_run_errors");
  const stepRunErrors: Record<string, string> = {};
  for (const [name, text] of Object.entries(errorsRaw)) {
    if (typeof text !== "string") {
      fail(`"step_run_errors.${name}" must be a string, received ${kindOf(text)}`);
    }
    stepRunErrors[name] = text as string;
  }
  const triggers = objectField("triggers");

  let additionalMetadata: JsonObject | undefined;
  const metaText = optional(action.additionalMetadata);
  if (metaText !== undefined) {
    let meta: JsonValue;
    try {
      meta = JSON.parse(metaText);
    } catch {
      throw new TypeError(
        `Malformed additional metadata for ${where}: not valid JSON, received ${preview(metaText)}`,
      );
    }
    if (meta !== null) {
      if (!isObject(meta)) {
        throw new TypeError(
          `Malformed additional metadata for ${where}: expected a JSON object, received ${
            kindOf(meta)
          }`,
        );
      }
      additionalMetadata = meta;
    }
  }

  return {
    input,
    parents,
    stepRunErrors,
    triggers,
    additionalMetadata,
    workflowRunId: action.workflowRunId,
    taskRunId: action.taskRunExternalId,
    taskName: action.taskName || action.jobName,
    actionId: action.actionId,
    retryCount: action.retryCount,
    parentWorkflowRunId: optional(action.parentWorkflowRunId),
    priority: action.priority > 0 ? action.priority : undefined,
    workflowId: optional(action.workflowId),
    workflowVersionId: optional(action.workflowVersionId),
    triggeringEventId: optional(action.triggeringEventExternalId),
    triggeringEventKey: optional(action.triggeringEventKey),
    childIndex: action.childWorkflowIndex,
    childKey: optional(action.childWorkflowKey),
  };
}
