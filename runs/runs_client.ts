// What a client does with runs: trigger, look up, bulk-trigger, schedule, replay, cancel, and
// spawn children for a task. One `RunsRuntime` per client holds the shared run subscription.

import type { EnginePorts, TasksFilterInput, TriggerWorkflowInput } from "../transport/ports.ts";
import { describeValue } from "../transport/describe.ts";
import type { JsonObject } from "../transport/types.ts";
import { createRunListener, type RunListener, type RunListenerOptions } from "./run_listener.ts";
import { createRunRef, type RunRefDeps } from "./run_ref.ts";
import type {
  BulkTriggerItem,
  ChildOptions,
  ChildSpawn,
  RunFilter,
  RunRef,
  RunsClient,
  TriggerOptions,
  WorkflowRef,
} from "./types.ts";

/** The most runs one `BulkTriggerWorkflow` call carries (the official SDKs' batch size). */
export const MAX_BULK_TRIGGER = 1_000;
/** Stay under the engine's 4 MiB message limit, with room for the framing. */
const MAX_BULK_BYTES = 4 * 1024 * 1024 - 64 * 1024;

/** The task a child is spawned from. */
export interface ChildParent {
  workflowRunId: string;
  taskRunId: string;
}

/** One child to spawn, its index already counted by the parent's context. */
export interface ChildTrigger {
  workflow: string;
  input: JsonObject;
  /** Position among the children spawned by this attempt: 0, 1, 2, ... */
  index: number;
  options?: ChildOptions;
}

/** A client's runs: the public `RunsClient` and what the worker needs for children. */
export interface RunsRuntime {
  readonly client: RunsClient;
  /** A reference to run `id`. */
  runRef(id: string): RunRef;
  /**
   * Spawns children of `parent` (one `TriggerWorkflow`, or `BulkTriggerWorkflow` for several).
   * Every child spawn of the SDK goes through here.
   */
  spawnChildren(parent: ChildParent, children: ChildTrigger[]): Promise<RunRef[]>;
  /** Closes the shared run subscription. */
  close(): Promise<void>;
}

/** A producer span around a call that starts runs (see `observability/_tracing.ts`). */
export interface RunSpan {
  /** The metadata to send: the caller's, with the span's `traceparent` while tracing. */
  readonly metadata: JsonObject | undefined;
  /** Runs the call with the span active. */
  run<T>(fn: () => T): T;
  /** Records the id the engine answered with. */
  setId(key: string, id: string): void;
  /** Ends the span, failed when given an error. */
  end(error?: unknown): void;
}

/** Starts a {@link RunSpan}. */
export type StartRunSpan = (
  name: string,
  metadata: JsonObject | undefined,
  attributes: Record<string, string | number>,
) => RunSpan;

// Without a tracer the runtime sends the caller's metadata as given. The client passes the real
// one, so this folder (which the task context imports) loads no tracing module itself.
const noSpan: StartRunSpan = (_name, metadata) => ({
  metadata,
  run: (fn) => fn(),
  setId() {},
  end() {},
});

/** Options of {@link createRunsRuntime}. */
export interface RunsRuntimeOptions {
  /** Adds the client's namespace to a workflow name. */
  applyNamespace(name: string): string;
  /** Options of the shared run subscription. */
  listener?: RunListenerOptions;
  /** Starts the producer span of a trigger or a child spawn; default: none. */
  startSpan?: StartRunSpan;
}

function workflowName(workflow: WorkflowRef<JsonObject> | string, where: string): string {
  const name = typeof workflow === "string"
    ? workflow
    : workflow !== null && typeof workflow === "object"
    ? workflow.name
    : undefined;
  if (typeof name !== "string" || name === "") {
    throw new TypeError(
      `${where}: expected a workflow or a workflow name, received ${describeValue(workflow)}`,
    );
  }
  return name;
}

function checkInput(input: unknown, where: string): JsonObject {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new TypeError(`${where}: input must be a JSON object, received ${describeValue(input)}`);
  }
  return input as JsonObject;
}

function checkPriority(priority: unknown, where: string): number | undefined {
  if (priority === undefined) return undefined;
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 1 || priority > 3) {
    throw new RangeError(
      `${where}: priority must be 1, 2 or 3, received ${describeValue(priority)}`,
    );
  }
  return priority;
}

function toFilter(filter: RunFilter, where: string): TasksFilterInput {
  if (filter === null || typeof filter !== "object") {
    throw new TypeError(`${where}: filter must be an object, received ${describeValue(filter)}`);
  }
  if (!(filter.since instanceof Date) || Number.isNaN(filter.since.getTime())) {
    throw new TypeError(
      `${where}: filter.since must be a valid Date, received ${describeValue(filter.since)}`,
    );
  }
  if (
    filter.until !== undefined &&
    (!(filter.until instanceof Date) || Number.isNaN(filter.until.getTime()))
  ) {
    throw new TypeError(
      `${where}: filter.until must be a valid Date, received ${describeValue(filter.until)}`,
    );
  }
  return {
    statuses: [...(filter.statuses ?? [])],
    since: filter.since,
    until: filter.until,
    workflowIds: [...(filter.workflowIds ?? [])],
    additionalMetadata: Object.entries(filter.additionalMetadata ?? {}).map(([k, v]) =>
      `${k}:${v}`
    ),
  };
}

function checkIds(ids: unknown, where: string): string[] {
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string" || id === "")) {
    throw new TypeError(
      `${where}: expected an array of run or task run ids, received ${describeValue(ids)}`,
    );
  }
  return ids;
}

/** Splits trigger requests into batches the engine accepts. */
function batches(requests: TriggerWorkflowInput[]): TriggerWorkflowInput[][] {
  const out: TriggerWorkflowInput[][] = [];
  let current: TriggerWorkflowInput[] = [];
  let bytes = 0;
  for (const r of requests) {
    const size = JSON.stringify(r.input).length +
      JSON.stringify(r.additionalMetadata ?? {}).length +
      r.name.length + 64;
    if (
      current.length > 0 && (current.length >= MAX_BULK_TRIGGER || bytes + size > MAX_BULK_BYTES)
    ) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Creates a client's runs runtime.
 *
 * @param ports The engine ports.
 * @param options Namespacing and listener options.
 * @returns The runtime; close it with the client.
 */
export function createRunsRuntime(ports: EnginePorts, options: RunsRuntimeOptions): RunsRuntime {
  const listener: RunListener = createRunListener(ports.subscriptions, options.listener);
  const deps: RunRefDeps = { admin: ports.admin, subscriptions: ports.subscriptions, listener };
  const runRef = (id: string): RunRef => createRunRef(deps, id);
  const ns = (name: string) => options.applyNamespace(name);
  const startOutgoingSpan = options.startSpan ?? noSpan;

  async function triggerMany(requests: TriggerWorkflowInput[]): Promise<RunRef[]> {
    if (requests.length === 1) {
      const { workflowRunId } = await ports.workflows.triggerWorkflow(requests[0]);
      return [runRef(workflowRunId)];
    }
    const ids: string[] = [];
    for (const batch of batches(requests)) {
      ids.push(...await ports.workflows.bulkTriggerWorkflow(batch));
    }
    return ids.map(runRef);
  }

  const client: RunsClient = {
    async trigger<I extends JsonObject>(
      workflow: WorkflowRef<I> | string,
      input: I,
      triggerOptions?: TriggerOptions,
    ): Promise<RunRef> {
      const where = "runs.trigger()";
      const name = ns(workflowName(workflow, where));
      const request = {
        workflowName: name,
        input: checkInput(input, where),
        priority: checkPriority(triggerOptions?.priority, where),
      };
      const span = startOutgoingSpan(`runs.trigger ${name}`, triggerOptions?.additionalMetadata, {
        "hatchet.workflow_name": name,
      });
      try {
        const { workflowRunId } = await span.run(() =>
          ports.admin.triggerWorkflowRun({ ...request, additionalMetadata: span.metadata })
        );
        span.setId("hatchet.workflow_run_id", workflowRunId);
        span.end();
        return runRef(workflowRunId);
      } catch (err) {
        span.end(err);
        throw err;
      }
    },

    get(runId: string): RunRef {
      if (typeof runId !== "string" || runId === "") {
        throw new TypeError(
          `runs.get(): expected a run id, received ${describeValue(runId)}`,
        );
      }
      return runRef(runId);
    },

    async bulkTrigger<I extends JsonObject>(
      workflow: WorkflowRef<I> | string,
      items: BulkTriggerItem<I>[],
    ): Promise<RunRef[]> {
      const where = "runs.bulkTrigger()";
      const name = ns(workflowName(workflow, where));
      if (!Array.isArray(items)) {
        throw new TypeError(`${where}: items must be an array, received ${describeValue(items)}`);
      }
      if (items.length === 0) return [];
      const requests = items.map((item, i): TriggerWorkflowInput => {
        if (item === null || typeof item !== "object") {
          throw new TypeError(
            `${where}: items[${i}] must be { input, options? }, received ${describeValue(item)}`,
          );
        }
        return {
          name,
          input: checkInput(item.input, `${where} items[${i}]`),
          additionalMetadata: item.options?.additionalMetadata,
          priority: checkPriority(item.options?.priority, `${where} items[${i}]`),
        };
      });
      const ids: string[] = [];
      for (const batch of batches(requests)) {
        ids.push(...await ports.workflows.bulkTriggerWorkflow(batch));
      }
      return ids.map(runRef);
    },

    async schedule<I extends JsonObject>(
      workflow: WorkflowRef<I> | string,
      at: Date,
      input: I,
      scheduleOptions?: TriggerOptions,
    ) {
      const where = "runs.schedule()";
      const name = workflowName(workflow, where);
      if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
        throw new TypeError(`${where}: at must be a valid Date, received ${describeValue(at)}`);
      }
      const [scheduled] = await ports.workflows.scheduleWorkflow({
        name: ns(name),
        schedules: [at],
        input: checkInput(input, where),
        additionalMetadata: scheduleOptions?.additionalMetadata,
        priority: checkPriority(scheduleOptions?.priority, where),
      });
      if (scheduled === undefined) {
        throw new Error(`${where}: the engine did not return the schedule of "${name}"`);
      }
      return scheduled;
    },

    async replay(target: string[] | { filter: RunFilter }): Promise<string[]> {
      const where = "runs.replay()";
      if (Array.isArray(target)) {
        const ids = checkIds(target, where);
        if (ids.length === 0) return [];
        return await ports.admin.replayTasks({ externalIds: ids });
      }
      return await ports.admin.replayTasks({ filter: toFilter(target?.filter, where) });
    },

    async cancel(target: string[] | { filter: RunFilter }): Promise<void> {
      const where = "runs.cancel()";
      if (Array.isArray(target)) {
        const ids = checkIds(target, where);
        if (ids.length > 0) await ports.admin.cancelTasks(ids);
        return;
      }
      await ports.admin.cancelTasksByFilter(toFilter(target?.filter, where));
    },
  };

  return {
    client,
    runRef,
    async spawnChildren(parent: ChildParent, children: ChildTrigger[]): Promise<RunRef[]> {
      // One producer span per child, below the spawning task's span while tracing: its
      // traceparent in the child's metadata wins over the one the engine copies from the parent.
      const spans = children.map((child) =>
        startOutgoingSpan(`spawn ${ns(child.workflow)}`, child.options?.additionalMetadata, {
          "hatchet.workflow_name": ns(child.workflow),
          "hatchet.parent_task_run_id": parent.taskRunId,
        })
      );
      const requests = children.map((child, i): TriggerWorkflowInput => ({
        name: ns(child.workflow),
        input: child.input,
        parentId: parent.workflowRunId,
        parentTaskRunExternalId: parent.taskRunId,
        childIndex: child.index,
        childKey: child.options?.key,
        additionalMetadata: spans[i].metadata,
        priority: child.options?.priority,
        desiredWorkerId: child.options?.desiredWorkerId,
      }));
      try {
        const refs = await triggerMany(requests);
        refs.forEach((ref, i) => {
          spans[i].setId("hatchet.workflow_run_id", ref.id);
          spans[i].end();
        });
        return refs;
      } catch (err) {
        for (const span of spans) span.end(err);
        throw err;
      }
    },
    close: () => listener.close(),
  };
}

/**
 * Checks one child of a spawn and names it for the engine. Used by the task context.
 *
 * @param item The child as the task gave it.
 * @param where The calling method, for error messages.
 * @returns Workflow name, input and options.
 * @throws {TypeError} When the workflow, input or key is invalid.
 * @throws {RangeError} When the priority is out of range.
 */
export function checkChildSpawn(
  item: ChildSpawn<JsonObject>,
  where: string,
): { workflow: string; input: JsonObject; options?: ChildOptions } {
  if (item === null || typeof item !== "object") {
    throw new TypeError(
      `${where}: expected { workflow, input, options? }, received ${describeValue(item)}`,
    );
  }
  const workflow = workflowName(item.workflow, where);
  const input = checkInput(item.input, where);
  const options = item.options;
  if (options !== undefined) {
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `${where}: options must be an object, received ${describeValue(options)}`,
      );
    }
    if (options.key !== undefined && (typeof options.key !== "string" || options.key === "")) {
      throw new TypeError(
        `${where}: options.key must be a non-empty string, received ${describeValue(options.key)}`,
      );
    }
    checkPriority(options.priority, where);
  }
  return options === undefined ? { workflow, input } : { workflow, input, options };
}
