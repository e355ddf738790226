// The public shapes of runs: references to runs and their outcomes, stream chunks, run events,
// trigger and child options, filters, and the runs client itself. They name workflows through
// `WorkflowRef`, which every `Workflow` satisfies, so runs/ needs nothing of worker/.

import type { JsonObject } from "../transport/types.ts";

/**
 * Anything naming a workflow: a `Workflow` from `workflow()`, or an object with its name. The
 * phantom `__input` carries the run's input type for `trigger()` and `ctx.spawnChild()`.
 *
 * @typeParam I The run's input type.
 * @example
 * ```ts
 * import { createWorker, workflow, type WorkflowRef } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow<{ n: number }>({ name: "double" });
 * wf.task({ name: "twice", fn: (input) => ({ n: input.n * 2 }) });
 * const ref: WorkflowRef<{ n: number }> = wf;
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(ref, { n: 21 });
 * assert.deepEqual((await run.result()).outputs.twice, { n: 42 });
 * ```
 */
export interface WorkflowRef<I extends JsonObject = JsonObject> {
  /** The workflow's name, as declared (the client adds its namespace). */
  readonly name: string;
  /** Phantom field carrying the input type; never set at run time. */
  readonly __input?: I;
}

/**
 * Options of {@link RunsClient.trigger}, {@link RunsClient.bulkTrigger} and
 * {@link RunsClient.schedule}.
 *
 * @example
 * ```ts
 * import { createWorker, type TriggerOptions, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "meta" });
 * wf.task({
 *   name: "read",
 *   fn: (_input, ctx) => ({
 *     tenant: ctx.additionalMetadata?.tenant ?? null,
 *     priority: ctx.priority ?? null,
 *   }),
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const options: TriggerOptions = { additionalMetadata: { tenant: "acme" }, priority: 3 };
 * const run = await engine.client.runs.trigger(wf, {}, options);
 * assert.deepEqual((await run.result()).outputs.read, { tenant: "acme", priority: 3 });
 * ```
 */
export interface TriggerOptions {
  /** Metadata attached to the run (`ctx.additionalMetadata`). */
  additionalMetadata?: JsonObject;
  /** 1 (low) to 3 (high). */
  priority?: number;
}

/**
 * The outcome of a finished workflow run.
 *
 * @example
 * ```ts
 * import { createWorker, type RunResult, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "half-broken" });
 * wf.task({ name: "ok", fn: () => ({ fine: true }) });
 * wf.task({
 *   name: "broken",
 *   fn: () => {
 *     throw new Error("out of paper");
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, {
 *   name: "w",
 *   workflows: [wf],
 *   logger: { warn() {}, error() {} },
 * });
 * await worker.start();
 * const result: RunResult = await (await engine.client.runs.trigger(wf, {})).result();
 * assert.equal(result.status, "FAILED");
 * assert.deepEqual(result.outputs, { ok: { fine: true } });
 * assert.match(result.errors.broken, /out of paper/);
 * ```
 */
export interface RunResult {
  /** How the run ended. */
  status: "COMPLETED" | "FAILED" | "CANCELLED";
  /** Task name to output, for each completed task. */
  outputs: Record<string, JsonObject>;
  /** Task name to error text, for each failed task. */
  errors: Record<string, string>;
}

/**
 * One chunk a task sent with `ctx.putStream()`, as a stream consumer receives it.
 *
 * @example
 * ```ts
 * import { createWorker, type StreamChunk, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "talk" });
 * wf.task({
 *   name: "say",
 *   fn: async (_input, ctx) => {
 *     await ctx.putStream("hel");
 *     await ctx.putStream("lo");
 *     return {};
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * await worker.stop(); // registered; runs wait in the queue until a worker listens
 * const ref = await engine.client.runs.trigger(wf, {});
 * const chunks: StreamChunk[] = [];
 * const reading = (async () => {
 *   for await (const chunk of ref.stream()) chunks.push(chunk);
 * })();
 * await engine.settle(); // the consumer is subscribed before any chunk is sent
 * await using again = createWorker(engine.client, { name: "w2", workflows: [wf] });
 * await again.start();
 * await reading;
 * assert.deepEqual(chunks.map((c) => [c.index, c.text()]), [[0, "hel"], [1, "lo"]]);
 * ```
 */
export interface StreamChunk {
  /** The task run that sent it. */
  readonly taskRunId: string;
  /** Its `event_index`: 0, 1, 2, ... per task attempt; `undefined` if the sender gave none. */
  readonly index: number | undefined;
  /** The chunk's bytes (the engine carries stream data as text, so they are UTF-8). */
  readonly data: Uint8Array;
  /** The chunk as text. */
  text(): string;
}

/**
 * One event of a run, from {@link RunRef.events}: a task started (was created), completed,
 * failed, was cancelled or timed out, or sent a stream chunk; or the run itself finished.
 *
 * @example
 * ```ts
 * import { createWorker, type RunEvent, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "evented" });
 * wf.task({ name: "only", fn: () => ({ done: true }) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * await worker.stop(); // runs stay queued until a worker listens
 * const run = await engine.client.runs.trigger(wf, {});
 * const seen: RunEvent[] = [];
 * const reading = (async () => {
 *   for await (const event of run.events()) seen.push(event);
 * })();
 * await engine.settle();
 * await using again = createWorker(engine.client, { name: "w2", workflows: [wf] });
 * await again.start();
 * await reading;
 * assert.deepEqual(seen.map((e) => [e.scope, e.type]), [["task", "COMPLETED"], ["run", "COMPLETED"]]);
 * assert.equal(seen[0].payload, '{"done":true}');
 * ```
 */
export interface RunEvent {
  /** `"task"` for task events, `"run"` for the run's own end. */
  scope: "task" | "run";
  /** What happened. */
  type: "STARTED" | "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT" | "STREAM";
  /** The task run, for task events. */
  taskRunId: string | undefined;
  /** Output JSON text (COMPLETED), error text (FAILED), chunk text (STREAM), else `""`. */
  payload: string;
  /** The task attempt the event belongs to, when the engine says. */
  retryCount: number | undefined;
  /** A stream chunk's index. */
  index: number | undefined;
  /** When the engine recorded it. */
  at: Date | undefined;
}

/**
 * A workflow run: wait for its outcome, read its stream chunks, follow its events.
 *
 * @example
 * ```ts
 * import { createWorker, type RunRef, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow<{ n: number }>({ name: "square" });
 * wf.task({ name: "sq", fn: (input) => ({ sq: input.n * input.n }) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run: RunRef = await engine.client.runs.trigger(wf, { n: 7 });
 * assert.deepEqual(engine.workflowRuns(), [run.id]);
 * const result = await run.result();
 * assert.equal(result.status, "COMPLETED");
 * assert.deepEqual(result.outputs.sq, { sq: 49 });
 * ```
 */
export interface RunRef {
  /** The workflow run id. */
  readonly id: string;
  /**
   * Waits until the run is done and returns its outcome. Waits on the client's one shared
   * `SubscribeToWorkflowRuns` stream (no polling); a run the engine cannot see yet (it answers a
   * trigger before the run exists when busy) is simply waited for.
   *
   * @param options `signal` stops waiting.
   * @returns The run's status, task outputs and task errors.
   */
  result(options?: { signal?: AbortSignal }): Promise<RunResult>;
  /**
   * Reads the run's stream chunks (`ctx.putStream()`) as they arrive, in index order per task
   * with repeats dropped, until the run ends. The engine does not store chunks: only those sent
   * after the subscription took hold arrive (see the README's "Stream consumers").
   *
   * @param options `signal` ends the iteration.
   * @returns An async iterable of chunks.
   */
  stream(options?: { signal?: AbortSignal }): AsyncIterable<StreamChunk>;
  /**
   * Follows the run's task events (started, completed, failed, cancelled, stream) until the run
   * ends; the last event is the run's own (`scope: "run"`).
   *
   * @param options `signal` ends the iteration.
   * @returns An async iterable of events.
   */
  events(options?: { signal?: AbortSignal }): AsyncIterable<RunEvent>;
}

/**
 * Options of a child run spawned from a task (`ctx.spawnChild()` and friends).
 *
 * @example
 * ```ts
 * import { type ChildOptions, createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const child = workflow<{ n: number }>({ name: "child" });
 * child.task({ name: "inc", fn: (input, ctx) => ({ n: input.n + 1, tag: ctx.additionalMetadata?.tag ?? null }) });
 * const parent = workflow({ name: "parent" });
 * parent.task({
 *   name: "spawn",
 *   fn: async (_input, ctx) => {
 *     const options: ChildOptions = { key: "only-once", additionalMetadata: { tag: "t" } };
 *     const result = await ctx.runChild(child, { n: 1 }, options);
 *     return result.outputs.inc;
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [parent, child] });
 * await worker.start();
 * const result = await (await engine.client.runs.trigger(parent, {})).result();
 * assert.deepEqual(result.outputs.spawn, { n: 2, tag: "t" });
 * ```
 */
export interface ChildOptions {
  /**
   * The child's key under its parent task: spawning the same key again (a retried attempt, say)
   * returns the run spawned first instead of a new one. Without a key, the spawn's position in
   * the attempt (0, 1, 2, ...) plays that part.
   */
  key?: string;
  /** Metadata for the child; the engine adds the parent's own metadata under it. */
  additionalMetadata?: JsonObject;
  /** 1 (low) to 3 (high). */
  priority?: number;
  /** Ask the engine to run the child on this worker (needs a sticky workflow). */
  desiredWorkerId?: string;
}

/**
 * One child of a bulk spawn (`ctx.spawnChildren()`, `ctx.runChildren()`).
 *
 * @typeParam I The child's input type.
 * @example
 * ```ts
 * import { type ChildSpawn, createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const square = workflow<{ n: number }>({ name: "square" });
 * square.task({ name: "sq", fn: (input) => ({ sq: input.n * input.n }) });
 * const fanOut = workflow({ name: "fan-out" });
 * fanOut.task({
 *   name: "spawn",
 *   fn: async (_input, ctx) => {
 *     const items: ChildSpawn<{ n: number }>[] = [1, 2, 3].map((n) => ({ workflow: square, input: { n } }));
 *     const results = await ctx.runChildren(items);
 *     return { squares: results.map((r) => r.outputs.sq.sq) };
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [fanOut, square] });
 * await worker.start();
 * const result = await (await engine.client.runs.trigger(fanOut, {})).result();
 * assert.deepEqual(result.outputs.spawn, { squares: [1, 4, 9] });
 * ```
 */
export interface ChildSpawn<I extends JsonObject = JsonObject> {
  /** The child workflow, or its name. */
  workflow: WorkflowRef<I> | string;
  /** The child's input. */
  input: I;
  /** Key, metadata, priority, desired worker. */
  options?: ChildOptions;
}

/**
 * One run of {@link RunsClient.bulkTrigger}.
 *
 * @typeParam I The run's input type.
 * @example
 * ```ts
 * import { type BulkTriggerItem, createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow<{ n: number }>({ name: "sq" });
 * wf.task({ name: "sq", fn: (input) => ({ sq: input.n * input.n }) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const items: BulkTriggerItem<{ n: number }>[] = [{ input: { n: 2 } }, { input: { n: 3 }, options: { priority: 3 } }];
 * const runs = await engine.client.runs.bulkTrigger(wf, items);
 * const results = await Promise.all(runs.map((r) => r.result()));
 * assert.deepEqual(results.map((r) => r.outputs.sq.sq), [4, 9]);
 * ```
 */
export interface BulkTriggerItem<I extends JsonObject = JsonObject> {
  /** The run's input. */
  input: I;
  /** Metadata and priority. */
  options?: TriggerOptions;
}

/**
 * Which runs a filtered {@link RunsClient.cancel} or {@link RunsClient.replay} acts on: runs
 * created since `since` (and finished before `until`), narrowed by status, workflow id and
 * metadata.
 *
 * @example
 * ```ts
 * import { createWorker, type RunFilter, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "slow" });
 * wf.task({ name: "wait", fn: (_input, ctx) => new Promise<{ [key: string]: never }>((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const batch = await engine.client.runs.trigger(wf, {}, { additionalMetadata: { batch: "7" } });
 * const other = await engine.client.runs.trigger(wf, {}, { additionalMetadata: { batch: "8" } });
 * const filter: RunFilter = { since: new Date(0), additionalMetadata: { batch: "7" } };
 * await engine.client.runs.cancel({ filter });
 * assert.equal((await batch.result()).status, "CANCELLED");
 * await engine.client.runs.cancel([other.id]);
 * assert.equal((await other.result()).status, "CANCELLED");
 * ```
 */
export interface RunFilter {
  /** Runs created at or after this time. */
  since: Date;
  /** Runs finished before this time. */
  until?: Date;
  /** Run statuses; all when absent. */
  statuses?: ("QUEUED" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED")[];
  /** Engine workflow ids (`ctx.workflowId`). */
  workflowIds?: string[];
  /** Metadata pairs a run must carry. */
  additionalMetadata?: Record<string, string>;
}

/**
 * A run scheduled for later by {@link RunsClient.schedule}.
 *
 * @example
 * ```ts
 * import { createWorker, type ScheduledRun, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "later" });
 * wf.task({ name: "go", fn: () => ({}) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const at = new Date(engine.now().getTime() + 60_000);
 * const scheduled: ScheduledRun = await engine.client.runs.schedule(wf, at, {});
 * assert.equal(scheduled.triggerAt.getTime(), at.getTime());
 * assert.equal(engine.workflowRuns().length, 0);
 * await engine.advance("1m");
 * assert.equal(engine.workflowRuns().length, 1);
 * ```
 */
export interface ScheduledRun {
  /** The schedule's id (not a run id: the run exists once the schedule fires). */
  id: string;
  /** When it fires. */
  triggerAt: Date;
}

/**
 * Starts, finds, schedules, replays and cancels workflow runs.
 *
 * @example
 * ```ts
 * import { createWorker, type RunsClient, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "report" });
 * wf.task({ name: "build", fn: () => ({ pages: 3 }) });
 * await using engine = new MockEngine();
 * const runs: RunsClient = engine.client.runs;
 * // A worker registers the workflow, then leaves: the next run waits in the queue.
 * const worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * await worker.stop();
 * const run = await runs.trigger("report", {});
 * await engine.settle();
 * const [task] = engine.taskRuns(run.id);
 * assert.equal(task.status, "QUEUED");
 * await runs.cancel([task.id]);
 * assert.equal((await runs.get(run.id).result()).status, "CANCELLED");
 * ```
 */
export interface RunsClient {
  /**
   * Triggers a run of a workflow (namespaced by the client).
   *
   * @param workflow The workflow, or its name.
   * @param input The run's input.
   * @param options Metadata and priority.
   * @returns A reference to the run.
   */
  trigger<I extends JsonObject>(
    workflow: WorkflowRef<I> | string,
    input: I,
    options?: TriggerOptions,
  ): Promise<RunRef>;
  /**
   * A reference to an existing run, by id (no call is made).
   *
   * @param runId The workflow run id.
   * @returns A reference to the run.
   * @throws {TypeError} When `runId` is not a non-empty string.
   */
  get(runId: string): RunRef;
  /**
   * Triggers many runs of one workflow through `BulkTriggerWorkflow`, in batches of at most
   * 1,000 runs and 4 MiB.
   *
   * @param workflow The workflow, or its name.
   * @param items Each run's input and options.
   * @returns References to the runs, in `items` order.
   */
  bulkTrigger<I extends JsonObject>(
    workflow: WorkflowRef<I> | string,
    items: BulkTriggerItem<I>[],
  ): Promise<RunRef[]>;
  /**
   * Schedules a run for a later time (`ScheduleWorkflow`).
   *
   * @param workflow The workflow, or its name.
   * @param at When to run it.
   * @param input The run's input.
   * @param options Metadata and priority.
   * @returns The schedule.
   * @throws {TypeError} When `at` is not a valid Date.
   */
  schedule<I extends JsonObject>(
    workflow: WorkflowRef<I> | string,
    at: Date,
    input: I,
    options?: TriggerOptions,
  ): Promise<ScheduledRun>;
  /**
   * Replays finished runs or tasks (`ReplayTasks`): each task starts again as a new attempt,
   * and the tasks after it in its DAG run again. Runs with unfinished tasks are left alone.
   *
   * @param target Run ids or task run ids, or `{ filter }`.
   * @returns The ids of the task runs replayed.
   */
  replay(target: string[] | { filter: RunFilter }): Promise<string[]>;
  /**
   * Cancels runs or task runs by id, or every run a filter selects.
   *
   * @param target Run ids or task run ids, or `{ filter }`.
   */
  cancel(target: string[] | { filter: RunFilter }): Promise<void>;
}
