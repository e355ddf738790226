/**
 * A Deno-first SDK for the [Hatchet](https://hatchet.run) workflow engine: declare workflows and
 * tasks, run them on a worker, and use the task context of Hatchet's Python SDK (logs, streams,
 * timeouts, slots, cancellation, parent outputs) plus durable waits (`ctx.waitFor`,
 * `ctx.sleepFor`) that survive retries. It speaks Hatchet's gRPC protocol over Connect, on
 * Deno's own HTTP/2 stack by default. Test it all without an engine with `MockEngine` from
 * `@hatchet-deno/sdk/testing`.
 *
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const hello = workflow<{ name: string }>({ name: "hello" });
 * hello.task({ name: "greet", fn: (input) => ({ message: `Hello, ${input.name}!` }) });
 *
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [hello] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(hello, { name: "Ada" });
 * const result = await run.result();
 * assert.deepEqual(result.outputs.greet, { message: "Hello, Ada!" });
 * ```
 *
 * @module
 */

export {
  type BulkPushItem,
  type BulkTriggerItem,
  createClient,
  type EventsClient,
  type HatchetClient,
  type PushOptions,
  type RateLimitsClient,
  type RunEvent,
  type RunFilter,
  type RunRef,
  type RunResult,
  type RunsClient,
  type ScheduledRun,
  type StreamChunk,
  type TriggerOptions,
  type WorkflowRef,
} from "./worker/client.ts";
export { type ChildOptions, type ChildSpawn, type CronSchedule, parseCron } from "./runs/mod.ts";
export {
  type ClientConfig,
  type ClientOptions,
  ConfigError,
  type HttpStack,
  type TlsConfig,
  type TlsStrategy,
} from "./transport/config.ts";
export {
  type BackoffOptions,
  type ConcurrencyOptions,
  type ConcurrencyStrategy,
  createPushHandler,
  createWorker,
  type DesiredWorkerLabel,
  type DurableStandaloneOptions,
  type DurableTaskOptions,
  type LabelComparator,
  type OnFailureOptions,
  type OnSuccessOptions,
  type PushHandler,
  type PushHandlerOptions,
  type PushPaths,
  type RateLimitDuration,
  type Standalone,
  type StandaloneOptions,
  type StandaloneRunOptions,
  type StickyStrategy,
  task,
  type TaskDefaults,
  type TaskOptions,
  type TaskRateLimit,
  type Worker,
  type WorkerLogger,
  type WorkerOptions,
  type WorkerState,
  type Workflow,
  workflow,
  type WorkflowOptions,
} from "./worker/mod.ts";
export {
  type Context,
  type LogOptions,
  NonRetryableError,
  TaskCancelledError,
  TaskOutputMissingError,
  type TaskRef,
  TaskSkippedError,
} from "./context/mod.ts";
export {
  type DurableContext,
  type DurableWaitResult,
  type EvictionPolicy,
  NonDeterminismError,
  or,
  type OrGroup,
  ParentCondition,
  SleepCondition,
  type TaskCondition,
  UserEventCondition,
  type WaitCondition,
  type WaitForEventOptions,
} from "./durable/mod.ts";
export { type HealthcheckOptions } from "./observability/mod.ts";
export { formatDuration, parseDuration } from "./transport/duration.ts";
export { RpcError } from "./transport/rpc_error.ts";
export type { RpcCode } from "./transport/ports.ts";
export type { DurationInput, JsonObject, JsonValue } from "./transport/types.ts";
