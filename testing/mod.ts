/**
 * Testing utilities for `@hatchet-deno/sdk`: {@link MockEngine}, an in-memory Hatchet engine
 * with a virtual clock. Workers and clients run against it unchanged, in memory through
 * `engine.client` or over real gRPC through `engine.listen()`.
 *
 * @example
 * ```ts
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * await engine.advance("1h");
 * assert.equal(engine.now().toISOString(), "2026-01-01T01:00:00.000Z");
 * ```
 *
 * @module
 */
export { MockEngine } from "./mock_engine.ts";
export type {
  DurableLogEntry,
  DurableLogEntryKind,
  EngineFaults,
  EngineListener,
  ListenOptions,
  LogEntry,
  MockEngineOptions,
  PushDelivery,
  PushEndpoint,
  PushEndpointOptions,
  RpcLogEntry,
  RpcLogOptions,
  TaskRunInfo,
  TaskStatus,
  WorkerInfo,
} from "./mock_engine.ts";
export type { RunInfo, RunTrigger } from "./mock_engine.ts";
