import { describeValue } from "../transport/describe.ts";
import { formatDuration, parseDuration } from "../transport/duration.ts";
import type { DurationInput, JsonObject } from "../transport/types.ts";
import type { Context, LogOptions, TaskRef } from "./context.ts";
import { TaskCancelledError, TaskOutputMissingError, TaskSkippedError } from "./errors.ts";
import type { TaskRunData } from "./parse_assignment.ts";
import type { ChildOptions, ChildSpawn, RunRef, RunResult, WorkflowRef } from "../runs/types.ts";
import { checkChildSpawn, type ChildTrigger } from "../runs/runs_client.ts";

/** The engine's log levels. */
export type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR";

/**
 * The narrow port a context talks through, bound to one attempt by the worker. The context never
 * sees the worker, the client or the transport.
 */
export interface TaskRunPort {
  /**
   * Queues a log line; settles when delivered, rejects when delivery failed for good. A
   * `structured` line (one JSON document, from `ctx.log(object)`) is never merged with others.
   */
  putLog(message: string, level: LogLevel, options?: { structured?: boolean }): Promise<void>;
  /** Queues a stream chunk with its per-attempt index; settles when delivered. */
  putStream(data: Uint8Array, eventIndex: number): Promise<void>;
  /** `RefreshTimeout` with a duration in the engine's form. */
  refreshTimeout(incrementBy: string): Promise<void>;
  /** `ReleaseSlot`, then frees the worker's local slot. */
  releaseSlot(): Promise<void>;
  /** `CancelTasks` for this task run. */
  cancel(): Promise<void>;
  /**
   * Triggers children of this task run (absent where no client is at hand, e.g. a push handler
   * made without one). The context has counted their indexes.
   */
  spawnChildren?(children: ChildTrigger[]): Promise<RunRef[]>;
}

/** What {@link createContext} needs besides the task-run data. */
export interface CreateContextOptions<L> {
  /** The port bound to this attempt. */
  port: TaskRunPort;
  /** The registered worker id. */
  workerId: string;
  /** The value the worker's lifespan generator yielded. */
  lifespan: L;
  /** This attempt's controller: its signal becomes `ctx.signal`; `ctx.cancel()` aborts it. */
  controller: AbortController;
}

/** The engine rejects log lines over 10,000 characters. */
export const MAX_LOG_LENGTH = 10_000;

const LEVELS: Record<string, LogLevel> = {
  debug: "DEBUG",
  info: "INFO",
  warn: "WARN",
  error: "ERROR",
};

const encoder = new TextEncoder();

/**
 * Shortens a log line to the engine's limit, ending it with a marker that says how long it was.
 * Never splits a surrogate pair.
 *
 * @param line The line.
 * @returns The line, or its truncated form.
 * @example
 * ```ts
 * import { truncateLogLine } from "./create_context.ts";
 * import assert from "node:assert/strict";
 * const out = truncateLogLine("x".repeat(20_000));
 * assert.equal(out.length <= 10_000, true);
 * assert.match(out, /\[truncated: 20000 characters in total\]$/);
 * ```
 */
export function truncateLogLine(line: string): string {
  if (line.length <= MAX_LOG_LENGTH) return line;
  const marker = `... [truncated: ${line.length} characters in total]`;
  let keep = MAX_LOG_LENGTH - marker.length;
  const last = line.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return line.slice(0, keep) + marker;
}

function taskNameOf(task: TaskRef<unknown> | string, method: string): string {
  if (typeof task === "string" && task !== "") return task;
  if (task !== null && typeof task === "object" && typeof task.name === "string") return task.name;
  throw new TypeError(
    `ctx.${method}(): expected a task reference or a task name, received ${describeValue(task)}`,
  );
}

function isPlainJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Builds the `Context` of one task attempt: a plain object of values and closures (no class, no
 * `this`), so a durable context can spread it and add methods.
 *
 * @param data The parsed assignment.
 * @param options The attempt's port, worker id, lifespan value and abort controller.
 * @returns The context handed to the task function.
 * @example
 * ```ts
 * import { createContext, parseAssignment, type TaskRunPort } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const data = parseAssignment({
 *   tenantId: "t", workflowRunId: "wr", jobId: "j", jobName: "b", jobRunId: "tr", taskId: "j",
 *   taskRunExternalId: "tr", actionId: "w:b", actionType: "START_STEP_RUN",
 *   actionPayload: '{"input":{},"parents":{"a":{"n":1}}}', taskName: "b", retryCount: 0,
 *   additionalMetadata: undefined, childWorkflowIndex: undefined, childWorkflowKey: undefined,
 *   parentWorkflowRunId: undefined, priority: 1, workflowId: undefined,
 *   workflowVersionId: undefined, durableTaskInvocationCount: undefined,
 *   triggeringEventExternalId: undefined, triggeringEventKey: undefined,
 * });
 * const port: TaskRunPort = {
 *   putLog: () => Promise.resolve(), putStream: () => Promise.resolve(),
 *   refreshTimeout: () => Promise.resolve(), releaseSlot: () => Promise.resolve(),
 *   cancel: () => Promise.resolve(),
 * };
 * const ctx = createContext(data, {
 *   port, workerId: "w1", lifespan: undefined, controller: new AbortController(),
 * });
 * assert.deepEqual(ctx.taskOutput<{ n: number }>("a"), { n: 1 });
 * assert.equal(ctx.attemptNumber, 1);
 * ```
 */
export function createContext<I = JsonObject, L = unknown>(
  data: TaskRunData,
  options: CreateContextOptions<L>,
): Context<I, L> {
  const { port, controller } = options;
  let streamIndex = 0;
  // Children are numbered per attempt, in call order, before any await: a retry that spawns the
  // same children in the same order gets the same indexes, so the engine returns the same runs.
  let childIndex = 0;

  function spawn(items: ChildSpawn<JsonObject>[], where: string): Promise<RunRef[]> {
    const children: ChildTrigger[] = items.map((item) => ({
      ...checkChildSpawn(item, where),
      index: 0,
    }));
    for (const child of children) child.index = childIndex++;
    if (port.spawnChildren === undefined) {
      return Promise.reject(
        new Error(`${where}: this task has no client to spawn children with`),
      );
    }
    return port.spawnChildren(children);
  }

  const wasSkipped = (task: TaskRef<unknown> | string): boolean =>
    data.parents[taskNameOf(task, "wasSkipped")]?.skipped === true;

  return {
    input: data.input as I,
    workflowInput: data.input,
    workflowRunId: data.workflowRunId,
    taskRunId: data.taskRunId,
    taskName: data.taskName,
    workerId: options.workerId,
    retryCount: data.retryCount,
    attemptNumber: data.retryCount + 1,
    additionalMetadata: data.additionalMetadata,
    parentWorkflowRunId: data.parentWorkflowRunId,
    priority: data.priority,
    workflowId: data.workflowId,
    workflowVersionId: data.workflowVersionId,
    wasTriggeredByEvent: data.triggeringEventId !== undefined,
    taskRunErrors: data.stepRunErrors,
    lifespan: options.lifespan,
    signal: controller.signal,

    wasSkipped,

    taskOutput<O>(task: TaskRef<O> | string): O {
      const name = taskNameOf(task, "taskOutput");
      if (wasSkipped(name)) throw new TaskSkippedError(name);
      if (!Object.hasOwn(data.parents, name)) {
        throw new TaskOutputMissingError(name, Object.keys(data.parents));
      }
      return data.parents[name] as O;
    },

    fetchTaskRunError(task: TaskRef<unknown> | string): string | undefined {
      const name = taskNameOf(task, "fetchTaskRunError");
      return Object.hasOwn(data.stepRunErrors, name) ? data.stepRunErrors[name] : undefined;
    },

    async cancel(): Promise<void> {
      await port.cancel();
      if (!controller.signal.aborted) {
        controller.abort(new TaskCancelledError("task", "ctx.cancel() was called"));
      }
    },

    done(): boolean {
      return controller.signal.aborted;
    },

    log(line: string | JsonObject, logOptions?: LogOptions): Promise<void> {
      let text: string;
      const structured = typeof line !== "string";
      if (typeof line === "string") text = line;
      else if (isPlainJsonObject(line)) {
        try {
          text = JSON.stringify(line);
        } catch (err) {
          throw new TypeError(
            `ctx.log(): the object cannot be written as JSON: ${(err as Error).message}`,
          );
        }
      } else {
        throw new TypeError(
          `ctx.log(): expected a string or a JSON object, received ${describeValue(line)}`,
        );
      }
      const levelName = logOptions?.level ?? "info";
      const level = LEVELS[levelName];
      if (level === undefined) {
        throw new TypeError(
          `ctx.log(): level must be "debug", "info", "warn" or "error", received ${
            JSON.stringify(levelName)
          }`,
        );
      }
      const sent = port.putLog(truncateLogLine(text), level, { structured });
      return logOptions?.raiseOnError ? sent : sent.catch(() => {});
    },

    putStream(data: string | Uint8Array): Promise<void> {
      let bytes: Uint8Array;
      if (typeof data === "string") bytes = encoder.encode(data);
      else if (data instanceof Uint8Array) bytes = data.slice();
      else {
        throw new TypeError(
          `ctx.putStream(): expected a string or a Uint8Array, received ${describeValue(data)}`,
        );
      }
      return port.putStream(bytes, streamIndex++).catch(() => {});
    },

    async refreshTimeout(incrementBy: DurationInput): Promise<void> {
      let ms: number;
      try {
        ms = parseDuration(incrementBy);
      } catch (err) {
        throw new RangeError(`ctx.refreshTimeout(): ${(err as Error).message}`);
      }
      if (ms <= 0) {
        throw new RangeError(
          `ctx.refreshTimeout(): incrementBy must be positive, received ${
            JSON.stringify(incrementBy)
          }`,
        );
      }
      await port.refreshTimeout(formatDuration(ms));
    },

    releaseSlot(): Promise<void> {
      return port.releaseSlot();
    },

    async spawnChild<CI extends JsonObject>(
      workflow: WorkflowRef<CI> | string,
      input: CI,
      childOptions?: ChildOptions,
    ): Promise<RunRef> {
      const [ref] = await spawn([{ workflow, input, options: childOptions }], "ctx.spawnChild()");
      return ref;
    },

    async runChild<CI extends JsonObject>(
      workflow: WorkflowRef<CI> | string,
      input: CI,
      childOptions?: ChildOptions,
    ): Promise<RunResult> {
      const [ref] = await spawn([{ workflow, input, options: childOptions }], "ctx.runChild()");
      return await ref.result({ signal: controller.signal });
    },

    async spawnChildren<CI extends JsonObject>(items: ChildSpawn<CI>[]): Promise<RunRef[]> {
      return await spawn(checkItems(items, "ctx.spawnChildren()"), "ctx.spawnChildren()");
    },

    async runChildren<CI extends JsonObject>(items: ChildSpawn<CI>[]): Promise<RunResult[]> {
      const refs = await spawn(checkItems(items, "ctx.runChildren()"), "ctx.runChildren()");
      return await Promise.all(refs.map((ref) => ref.result({ signal: controller.signal })));
    },
  };
}

function checkItems<CI extends JsonObject>(
  items: ChildSpawn<CI>[],
  where: string,
): ChildSpawn<JsonObject>[] {
  if (!Array.isArray(items)) {
    throw new TypeError(
      `${where}: expected an array of children, received ${describeValue(items)}`,
    );
  }
  return items as ChildSpawn<JsonObject>[];
}
