import type { DurationInput, JsonObject } from "../transport/types.ts";
import type { ChildOptions, ChildSpawn, RunRef, RunResult, WorkflowRef } from "../runs/types.ts";

/**
 * A reference to a declared task, returned by `workflow.task(...)`. The output type `O` lets
 * `ctx.taskOutput(ref)` return the parent's output type.
 *
 * @example
 * ```ts
 * import { createWorker, type TaskRef, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "checkout" });
 * const price: TaskRef<{ cents: number }> = wf.task({
 *   name: "price",
 *   fn: () => ({ cents: 1250 }),
 * });
 * assert.deepEqual([price.name, price.workflow], ["price", "checkout"]);
 * wf.task({
 *   name: "invoice",
 *   parents: [price],
 *   fn: (_input, ctx) => ({ total: ctx.taskOutput(price).cents / 100 }), // typed by the ref
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * assert.deepEqual((await run.result()).outputs.invoice, { total: 12.5 });
 * ```
 */
export interface TaskRef<O = unknown> {
  /** The task's name (its readable id in the engine). */
  readonly name: string;
  /** The name of the workflow that declares it. */
  readonly workflow: string;
  /** Phantom field carrying the output type; never set at run time. */
  readonly __output?: O;
}

/**
 * Options of {@link Context.log}.
 *
 * @example
 * ```ts
 * import { createWorker, type LogOptions, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "noisy" });
 * wf.task({
 *   name: "t",
 *   fn: async (_input, ctx) => {
 *     const options: LogOptions = { level: "debug", raiseOnError: true };
 *     await ctx.log("cache miss", options); // rejects if the line cannot be delivered
 *     return {};
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * await (await engine.client.runs.trigger(wf, {})).result();
 * assert.deepEqual(engine.logs().map((l) => [l.level, l.message]), [["DEBUG", "cache miss"]]);
 * ```
 */
export interface LogOptions {
  /** The level the engine records; default `"info"`. */
  level?: "debug" | "info" | "warn" | "error";
  /** Reject the returned promise when the line cannot be delivered; default false. */
  raiseOnError?: boolean;
}

/**
 * What a task receives besides its input: the run's data and the helpers that talk to the
 * engine on its behalf. Built per attempt by the worker; holds the task-run data and a narrow
 * port, never the worker or the client.
 *
 * @example
 * ```ts
 * import { type Context, createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * type Input = { user: string };
 * const wf = workflow<Input>({ name: "who" });
 * wf.task({
 *   name: "describe",
 *   fn: (input: Input, ctx: Context<Input>) => ({
 *     user: input.user,
 *     task: ctx.taskName,
 *     attempt: ctx.attemptNumber,
 *     byEvent: ctx.wasTriggeredByEvent,
 *     traceId: ctx.additionalMetadata?.traceId ?? null,
 *     aborted: ctx.signal.aborted,
 *     runId: ctx.workflowRunId,
 *   }),
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, { user: "ada" }, {
 *   additionalMetadata: { traceId: "t-1" },
 * });
 * assert.deepEqual((await run.result()).outputs.describe, {
 *   user: "ada",
 *   task: "describe",
 *   attempt: 1,
 *   byEvent: false,
 *   traceId: "t-1",
 *   aborted: false,
 *   runId: run.id,
 * });
 * ```
 */
export interface Context<I = JsonObject, L = unknown> {
  /** The task's input (the workflow run's input). */
  readonly input: I;
  /** The run's input (seed: `workflow_input`). */
  readonly workflowInput: JsonObject;
  /** The workflow run id. */
  readonly workflowRunId: string;
  /** This task run's external id. */
  readonly taskRunId: string;
  /** This task's name. */
  readonly taskName: string;
  /** The engine id of the worker running this attempt. */
  readonly workerId: string;
  /** How many times this task run was retried before this attempt (0 on the first). */
  readonly retryCount: number;
  /** `retryCount + 1`. */
  readonly attemptNumber: number;
  /** The run's additional metadata; `undefined` when unset. */
  readonly additionalMetadata: JsonObject | undefined;
  /** For child runs, the parent task run's id; `undefined` otherwise. */
  readonly parentWorkflowRunId: string | undefined;
  /** The run's priority, 1 (low) to 3 (high); `undefined` when the engine did not send one. */
  readonly priority: number | undefined;
  /** The workflow id; `undefined` on engines that do not send it. */
  readonly workflowId: string | undefined;
  /** The workflow version id; `undefined` on engines that do not send it. */
  readonly workflowVersionId: string | undefined;
  /** True iff an event created this run (the assignment carries a triggering event id). */
  readonly wasTriggeredByEvent: boolean;
  /** Upstream failures, task name to error text (set for on-failure tasks). */
  readonly taskRunErrors: Record<string, string>;
  /** The value the worker's lifespan generator yielded. */
  readonly lifespan: L;
  /** Aborts, with a `TaskCancelledError` reason, when this attempt is cancelled by anyone. */
  readonly signal: AbortSignal;
  /** Whether the engine skipped `task` (a parent of this one). */
  wasSkipped(task: TaskRef<unknown> | string): boolean;
  /** A parent's output. Throws `TaskSkippedError` if it was skipped, `TaskOutputMissingError` if absent. */
  taskOutput<O>(task: TaskRef<O> | string): O;
  /** The error text of a failed upstream task, if any. */
  fetchTaskRunError(task: TaskRef<unknown> | string): string | undefined;
  /** Cancels this task run in the engine, then aborts `signal`. */
  cancel(): Promise<void>;
  /** True once this attempt is cancelled. */
  done(): boolean;
  /** Sends a log line; returns at once, settles when delivered (rejects only with `raiseOnError`). */
  log(line: string | JsonObject, options?: LogOptions): Promise<void>;
  /** Sends a stream chunk, ordered per attempt; settles when delivered. */
  putStream(data: string | Uint8Array): Promise<void>;
  /** Extends this run's execution deadline by `incrementBy`. */
  refreshTimeout(incrementBy: DurationInput): Promise<void>;
  /** Frees this run's worker slot while it keeps running. */
  releaseSlot(): Promise<void>;
  /**
   * Triggers a child run of this task (`WorkflowService.TriggerWorkflow` with this task as its
   * parent). Children are counted per attempt: a retried attempt that spawns the same children
   * in the same order (or with the same `key`) gets the runs spawned the first time.
   *
   * @param workflow The child workflow, or its name.
   * @param input The child's input.
   * @param options Key, metadata, priority, desired worker.
   * @returns A reference to the child run.
   */
  spawnChild<CI extends JsonObject>(
    workflow: WorkflowRef<CI> | string,
    input: CI,
    options?: ChildOptions,
  ): Promise<RunRef>;
  /**
   * Spawns a child run and waits for its outcome (the wait ends with `ctx.signal`).
   *
   * @param workflow The child workflow, or its name.
   * @param input The child's input.
   * @param options Key, metadata, priority, desired worker.
   * @returns The child's result.
   */
  runChild<CI extends JsonObject>(
    workflow: WorkflowRef<CI> | string,
    input: CI,
    options?: ChildOptions,
  ): Promise<RunResult>;
  /**
   * Spawns several children in one `BulkTriggerWorkflow` call, indexed in `items` order.
   *
   * @param items Each child's workflow, input and options.
   * @returns References to the children, in `items` order.
   */
  spawnChildren<CI extends JsonObject>(items: ChildSpawn<CI>[]): Promise<RunRef[]>;
  /**
   * Spawns several children and waits for all their outcomes.
   *
   * @param items Each child's workflow, input and options.
   * @returns The children's results, in `items` order.
   */
  runChildren<CI extends JsonObject>(items: ChildSpawn<CI>[]): Promise<RunResult[]>;
}
