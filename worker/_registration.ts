// Turns declarations into the engine's PutWorkflow and Register requests. The action id built
// here is the one both requests carry: the engine routes a task to a worker by string equality.

import { toTaskConditions } from "../durable/mod.ts";
import type { CreateTaskInput, PutWorkflowInput, RegisterWorkerInput } from "../transport/ports.ts";
import type { TaskDefinition, WorkflowDefinition } from "./workflow.ts";

/** Prefixes `namespace` unless `name` already starts with it (hatchet-protocol.md §1.6). */
export function withNamespace(namespace: string, name: string): string {
  return namespace === "" || name.startsWith(namespace) ? name : namespace + name;
}

/** `<namespace><workflow name lower-cased>:<task name>`. */
export function actionIdOf(namespace: string, workflowName: string, taskName: string): string {
  return `${withNamespace(namespace, workflowName.toLowerCase())}:${taskName}`;
}

function taskInput(
  namespace: string,
  workflowName: string,
  task: TaskDefinition,
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
    slotRequests: task.durable ? { durable: 1 } : { default: 1 },
  };
  if (task.backoff) {
    input.backoffFactor = task.backoff.factor;
    input.backoffMaxSeconds = task.backoff.maxSeconds;
  }
  const conditions = toTaskConditions({ skipIf: task.skipIf, waitFor: task.waitFor }, namespace);
  if (conditions) input.conditions = conditions;
  return input;
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
    version: "",
    eventTriggers: def.onEvents.map((key) => withNamespace(namespace, key)),
    tasks: def.tasks.map((task) => taskInput(namespace, def.name, task)),
  };
  if (def.onFailure) out.onFailureTask = taskInput(namespace, def.name, def.onFailure);
  return out;
}

/** The first engine version that takes `slot_config` (hatchet-protocol.md §0). */
export const SLOT_CONFIG_VERSION: readonly [number, number, number] = [0, 78, 23];

/**
 * Whether an engine version string is at least `min`. An unknown version (`GetVersion` missing)
 * is older than everything; an unparsable one is treated as recent.
 */
export function versionAtLeast(
  version: string | undefined,
  min: readonly [number, number, number],
): boolean {
  if (version === undefined || version === "") return false;
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!match) return true;
  const parts = [Number(match[1]), Number(match[2]), Number(match[3])];
  for (let i = 0; i < 3; i++) {
    if (parts[i] !== min[i]) return parts[i] > min[i];
  }
  return true;
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
 * The `WorkerRegisterRequest`: `slot_config` on engines from v0.78.23, else the legacy `slots`.
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
  if (versionAtLeast(s.engineVersion, SLOT_CONFIG_VERSION)) {
    const slotConfig: Record<string, number> = {};
    if (s.hasDefault || !s.hasDurable) slotConfig.default = s.slots;
    if (s.hasDurable) slotConfig.durable = s.durableSlots;
    input.slotConfig = slotConfig;
  } else {
    input.slots = s.slots + (s.hasDurable ? s.durableSlots : 0);
  }
  return input;
}
