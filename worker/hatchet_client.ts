// The client's public shapes, apart from the code that builds a client: the push handler needs
// the type without loading the gRPC transports (and their node: imports) that client.ts pulls in.

import type { ClientConfig } from "../transport/config.ts";
import type { JsonObject } from "../transport/types.ts";
import type { DesiredWorkerLabel, RateLimitDuration } from "./flow_control.ts";
import type { Workflow } from "./workflow.ts";

/**
 * Options of {@link EventsClient.push}.
 *
 * @example
 * ```ts
 * import { createWorker, type PushOptions, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const onSignup = workflow({ name: "on-signup", onEvents: ["user:signup"] });
 * onSignup.task({
 *   name: "source",
 *   fn: (_input, ctx) => ({ source: ctx.additionalMetadata?.source ?? null }),
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [onSignup] });
 * await worker.start();
 * const options: PushOptions = { additionalMetadata: { source: "web" }, priority: 3 };
 * await engine.client.events.push("user:signup", { userId: "u-1" }, options);
 * await engine.settle();
 * assert.deepEqual(engine.taskRuns().map((t) => t.output), [{ source: "web" }]);
 * ```
 */
export interface PushOptions {
  /** Metadata attached to the event and to the runs it triggers. */
  additionalMetadata?: JsonObject;
  /** 1 (low) to 3 (high). */
  priority?: number;
  /** The event's scope. */
  scope?: string;
}

/**
 * Pushes user events: they trigger workflows (`onEvents`) and wake durable waits.
 *
 * @example
 * ```ts
 * import type { EventsClient } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * const events: EventsClient = engine.client.events;
 * const { eventId } = await events.push("order:paid", { orderId: "o-1" });
 * assert.equal(typeof eventId, "string");
 * assert.deepEqual(engine.rpcLog().map((e) => [e.method, e.summary?.key]), [[
 *   "Push",
 *   "order:paid",
 * ]]);
 * ```
 */
export interface EventsClient {
  /**
   * Pushes one event. The key is namespaced.
   *
   * @param key The event key, e.g. `"order:approved"`.
   * @param payload The event payload (a JSON object).
   * @param options Metadata, priority and scope.
   * @returns The engine's event id.
   */
  push(key: string, payload: JsonObject, options?: PushOptions): Promise<{ eventId: string }>;
}

/**
 * Options of {@link RunsClient.trigger}.
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
  /** Worker labels this run's tasks want, on top of (and overriding) each task's own. */
  desiredWorkerLabels?: Record<string, DesiredWorkerLabel>;
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
 * A triggered workflow run.
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
   * Waits until the run is done and returns its outcome. Polls the engine with backoff.
   *
   * @param options `signal` stops waiting.
   * @returns The run's status, task outputs and task errors.
   */
  result(options?: { signal?: AbortSignal }): Promise<RunResult>;
}

/**
 * Starts and cancels workflow runs.
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
 * assert.equal((await run.result()).status, "CANCELLED");
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
    workflow: Workflow<I> | string,
    input: I,
    options?: TriggerOptions,
  ): Promise<RunRef>;
  /**
   * Cancels task runs by their external ids.
   *
   * @param taskRunIds Task run ids to cancel.
   */
  cancel(taskRunIds: string[]): Promise<void>;
}

/**
 * Creates and updates rate limits that tasks name by static `key`.
 *
 * @example
 * ```ts
 * import { createWorker, type RateLimitsClient, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * const rateLimits: RateLimitsClient = engine.client.rateLimits;
 * await rateLimits.put("openai", 1, "second");
 * const wf = workflow({ name: "ask" });
 * wf.task({ name: "call", rateLimits: [{ key: "openai" }], fn: () => ({}) });
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const a = await engine.client.runs.trigger(wf, {});
 * const b = await engine.client.runs.trigger(wf, {});
 * await a.result();
 * assert.equal(engine.taskRuns(b.id)[0].status, "QUEUED"); // one unit per second
 * await engine.advance("1s");
 * assert.equal((await b.result()).status, "COMPLETED");
 * ```
 */
export interface RateLimitsClient {
  /**
   * Creates or updates a rate limit (`PutRateLimit`). The key is not namespaced. Lowering the limit
   * below what is left takes effect at once; the rest refills at the next window.
   *
   * @param key The key tasks name in `rateLimits: [{ key }]`.
   * @param limit Units per window (a positive integer).
   * @param duration The window: `"second"`, `"minute"`, `"hour"`, `"day"`, `"week"`, `"month"` or
   *   `"year"`.
   * @throws {TypeError} When the key is empty.
   * @throws {RangeError} When the limit is not a positive integer or the duration unknown.
   */
  put(key: string, limit: number, duration: RateLimitDuration): Promise<void>;
}

/**
 * A connection to a Hatchet engine: configuration, events, runs and rate limits. Close it when
 * done.
 *
 * @example
 * ```ts
 * import type { HatchetClient } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine({ namespace: "staging" });
 * const client: HatchetClient = engine.client; // closed with the engine
 * assert.equal(client.config.tenantId, engine.tenantId);
 * assert.equal(client.config.namespace, "staging_");
 * await client.events.push("deploy:done", { version: "1.2.0" });
 * assert.equal(engine.rpcLog()[0].summary?.key, "staging_deploy:done");
 * ```
 */
export interface HatchetClient extends AsyncDisposable {
  /** The resolved configuration; its string and JSON forms never show the token. */
  readonly config: ClientConfig;
  /** Pushes events. */
  readonly events: EventsClient;
  /** Triggers and cancels runs. */
  readonly runs: RunsClient;
  /** Creates and updates rate limits. */
  readonly rateLimits: RateLimitsClient;
  /** Closes the client's HTTP/2 sessions. */
  close(): Promise<void>;
}
