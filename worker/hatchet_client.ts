// The client's public shapes, apart from the code that builds a client: the push handler needs
// the type without loading the gRPC transports (and their node: imports) that client.ts pulls in.

import type { ClientConfig } from "../transport/config.ts";
import type { JsonObject } from "../transport/types.ts";
import type { RunsClient } from "../runs/types.ts";

export type {
  BulkTriggerItem,
  RunEvent,
  RunFilter,
  RunRef,
  RunResult,
  RunsClient,
  ScheduledRun,
  StreamChunk,
  TriggerOptions,
  WorkflowRef,
} from "../runs/types.ts";

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
  /**
   * Pushes many events through `BulkPush`, in batches of at most 1,000. Keys are namespaced.
   *
   * @param events Each event's key, payload and options.
   * @returns The engine's event ids, in `events` order.
   * @throws {TypeError} When a key is empty or a payload is not a JSON object.
   */
  bulkPush(events: BulkPushItem[]): Promise<{ eventId: string }[]>;
}

/**
 * One event of {@link EventsClient.bulkPush}.
 *
 * @example
 * ```ts
 * import { type BulkPushItem, createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const onPaid = workflow({ name: "on-paid", onEvents: ["order:paid"] });
 * onPaid.task({ name: "record", fn: (input) => ({ orderId: input.orderId ?? null }) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [onPaid] });
 * await worker.start();
 * const events: BulkPushItem[] = [
 *   { key: "order:paid", payload: { orderId: "o-1" } },
 *   { key: "order:paid", payload: { orderId: "o-2" }, options: { priority: 3 } },
 * ];
 * const ids = await engine.client.events.bulkPush(events);
 * assert.equal(ids.length, 2);
 * await engine.settle();
 * assert.deepEqual(engine.taskRuns().map((t) => t.output).sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1), [
 *   { orderId: "o-1" },
 *   { orderId: "o-2" },
 * ]);
 * ```
 */
export interface BulkPushItem {
  /** The event key, e.g. `"order:approved"`. */
  key: string;
  /** The event payload (a JSON object). */
  payload: JsonObject;
  /** Metadata, priority and scope. */
  options?: PushOptions;
}

/**
 * A connection to a Hatchet engine: configuration, events and runs. Close it when done.
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
  /** Closes the client's HTTP/2 sessions. */
  close(): Promise<void>;
}
