// Turns declarations into the engine's PutWorkflow and Register requests. The action id built
// here is the one both requests carry: the engine routes a task to a worker by string equality.

import { toTaskConditions } from "../durable/mod.ts";
import type { CreateTaskInput, PutWorkflowInput, RegisterWorkerInput } from "../transport/ports.ts";
import { RpcError } from "../transport/rpc_error.ts";
import type { TaskDefinition, WorkflowDefinition } from "./workflow.ts";

/** Prefixes `namespace` unless `name` already starts with it (hatchet-protocol.md §1.6). */
export function withNamespace(namespace: string, name: string): string {
  return namespace === "" || name.startsWith(namespace) ? name : namespace + name;
}

/**
 * `<namespace><workflow name>:<task name>`, all lower-cased: the engine stores action ids
 * lower-cased (`UpsertAction`) and assigns tasks under that form.
 */
export function actionIdOf(namespace: string, workflowName: string, taskName: string): string {
  return `${withNamespace(namespace, workflowName.toLowerCase())}:${taskName}`.toLowerCase();
}

function taskInput(
  namespace: string,
  workflowName: string,
  task: TaskDefinition,
  parents?: string[],
): CreateTaskInput {
  const input: CreateTaskInput = {
    readableId: task.name,
    action: actionIdOf(namespace, workflowName, task.name),
    timeout: task.executionTimeout,
    inputs: "{}",
    parents: [...task.parents],
    retries: task.retries,
    scheduleTimeout: task.scheduleTimeout,
    isDurable: task.durable,
    slotRequests: task.durable ? { durable: task.slotCost } : { default: task.slotCost },
  };
  if (parents !== undefined) input.parents = parents;
  if (task.backoff) {
    input.backoffFactor = task.backoff.factor;
    input.backoffMaxSeconds = task.backoff.maxSeconds;
  }
  const conditions = toTaskConditions({ skipIf: task.skipIf, waitFor: task.waitFor }, namespace);
  const cancel = toTaskConditions({ skipIf: task.cancelIf }, namespace);
  if (cancel) {
    // toTaskConditions knows skip and wait; a cancel condition is the same match with CANCEL.
    const merged = conditions ??
      { parentOverrideConditions: [], sleepConditions: [], userEventConditions: [] };
    for (
      const key of ["parentOverrideConditions", "sleepConditions", "userEventConditions"] as const
    ) {
      for (const c of cancel[key]) {
        c.base.action = "CANCEL";
        (merged[key] as typeof c[]).push(c);
      }
    }
    input.conditions = merged;
  } else if (conditions) input.conditions = conditions;
  if (task.concurrency.length > 0) input.concurrency = task.concurrency.map((c) => ({ ...c }));
  if (task.rateLimits.length > 0) input.rateLimits = task.rateLimits.map((r) => ({ ...r }));
  if (task.desiredLabels) input.workerLabels = structuredClone(task.desiredLabels);
  return input;
}

/** The tasks no other task names as a parent: an on-success task waits for all of them. */
function leafTasks(def: WorkflowDefinition): string[] {
  const parents = new Set(def.tasks.flatMap((t) => t.parents));
  return def.tasks.filter((t) => !parents.has(t.name)).map((t) => t.name);
}

/**
 * The `CreateWorkflowVersionRequest` of one workflow.
 *
 * @param def The workflow's definition.
 * @param namespace The client's namespace (`""` for none).
 * @returns The request.
 */
export function putWorkflowInput(def: WorkflowDefinition, namespace: string): PutWorkflowInput {
  const out: PutWorkflowInput = {
    name: withNamespace(namespace, def.name),
    description: def.description,
    version: def.version,
    eventTriggers: def.onEvents.map((key) => withNamespace(namespace, key)),
    cronTriggers: [...def.onCrons],
    cronInput: def.cronInput && JSON.stringify(def.cronInput),
    tasks: def.tasks.map((task) => taskInput(namespace, def.name, task)),
  };
  if (def.onSuccess) {
    out.tasks.push(taskInput(namespace, def.name, def.onSuccess, leafTasks(def)));
  }
  if (def.onFailure) out.onFailureTask = taskInput(namespace, def.name, def.onFailure);
  if (def.concurrency.length > 0) out.concurrencyArr = def.concurrency.map((c) => ({ ...c }));
  if (def.sticky) out.sticky = def.sticky === "hard" ? "HARD" : "SOFT";
  if (def.defaultPriority !== undefined) out.defaultPriority = def.defaultPriority;
  return out;
}

/** The static rate-limit keys a workflow's tasks name (a dynamic key needs no `put`). */
function staticRateLimitKeys(def: WorkflowDefinition): string[] {
  const tasks = [...def.tasks, def.onFailure, def.onSuccess].filter((t) => t !== undefined);
  return [
    ...new Set(tasks.flatMap((t) => t.rateLimits.filter((r) => !r.keyExpr).map((r) => r.key))),
  ];
}

/**
 * What a PutWorkflow failure means when it is INTERNAL and the workflow names static rate
 * limits: the engine refuses to store a task whose static key was never put.
 *
 * @param def The workflow's definition.
 * @param err The PutWorkflow failure.
 * @param times How many INTERNAL answers came, this one included.
 * @returns The error to report, or `undefined` when the failure is something else.
 */
export function missingRateLimitError(
  def: WorkflowDefinition,
  err: unknown,
  times: number,
): Error | undefined {
  if (!(err instanceof RpcError) || err.code !== "internal") return undefined;
  const keys = staticRateLimitKeys(def);
  if (keys.length === 0) return undefined;
  return new Error(
    `PutWorkflow ${JSON.stringify(def.name)} failed with internal ${times} times; ` +
      `its tasks name the static rate limit(s) ${
        keys.map((k) => JSON.stringify(k)).join(", ")
      }, and the engine fails PutWorkflow for a limit that was never put: create ` +
      `each first with client.rateLimits.put(key, limit, duration)`,
    { cause: err },
  );
}

/** The first engine version that takes `slot_config` (hatchet-protocol.md §0). */
export const SLOT_CONFIG_VERSION: readonly [number, number, number] = [0, 78, 23];

/**
 * The release `[major, minor, patch]` of an engine version string such as `"v0.104.7"`, or
 * `undefined` for anything that is not a plain release: a pre-release or source build
 * (`"v0.1.0-alpha.0"` is what hatchet-api reports when built without a version), an empty
 * string, or no version at all.
 */
export function releaseVersion(
  version: string | undefined,
): [number, number, number] | undefined {
  if (version === undefined) return undefined;
  const match = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/**
 * Whether an engine version is at least `min`: `true` or `false` for a release, `undefined` when
 * the string is not a release (see {@link releaseVersion}), so the caller decides what an
 * unknown engine gets.
 */
export function versionAtLeast(
  version: string | undefined,
  min: readonly [number, number, number],
): boolean | undefined {
  const parts = releaseVersion(version);
  if (parts === undefined) return undefined;
  for (let i = 0; i < 3; i++) {
    if (parts[i] !== min[i]) return parts[i] > min[i];
  }
  return true;
}

/**
 * Whether the engine takes `slot_config`. `GetVersion` itself came in v0.78.27, after
 * `slot_config` (v0.78.23), so an engine that answers it at all takes `slot_config`, whatever
 * its version string says; `undefined` (the RPC is unimplemented) means an older engine.
 */
export function supportsSlotConfig(version: string | undefined): boolean {
  return version !== undefined && versionAtLeast(version, SLOT_CONFIG_VERSION) !== false;
}

/** What {@link registerInput} needs. */
export interface RegisterSettings {
  workerName: string;
  actions: string[];
  slots: number;
  durableSlots: number;
  hasDurable: boolean;
  hasDefault: boolean;
  labels: Record<string, string | number> | undefined;
  engineVersion: string | undefined;
  sdkVersion: string;
}

/**
 * The `WorkerRegisterRequest`: `slot_config` on engines that answer `GetVersion`, else the legacy
 * `slots`.
 *
 * @param s The worker's settings and the engine version.
 * @returns The request.
 */
export function registerInput(s: RegisterSettings): RegisterWorkerInput {
  const deno = (globalThis as { Deno?: { version?: { deno?: string }; build?: { os?: string } } })
    .Deno;
  const input: RegisterWorkerInput = {
    workerName: s.workerName,
    actions: s.actions,
    services: ["default"],
    runtimeInfo: {
      sdkVersion: s.sdkVersion,
      language: "TYPESCRIPT",
      languageVersion: deno?.version?.deno ? `deno ${deno.version.deno}` : "unknown",
      os: deno?.build?.os ?? "unknown",
      extra: JSON.stringify({ sdk: "@hatchet-deno/sdk" }),
    },
  };
  if (s.labels && Object.keys(s.labels).length > 0) input.labels = { ...s.labels };
  if (supportsSlotConfig(s.engineVersion)) {
    const slotConfig: Record<string, number> = {};
    if (s.hasDefault || !s.hasDurable) slotConfig.default = s.slots;
    if (s.hasDurable) slotConfig.durable = s.durableSlots;
    input.slotConfig = slotConfig;
  } else {
    input.slots = s.slots + (s.hasDurable ? s.durableSlots : 0);
  }
  return input;
}
