// Real task runs for tests that drive the durable listener and DurableContext directly: a
// workflow with one durable task, a worker registered and listening through the raw dispatcher
// port, and task runs the engine assigned to it (RUNNING). Every call goes through
// createEnginePorts over MockEngine's in-memory transport (through a pass-through wire tap).

import assert from "node:assert/strict";
import type { MockEngine, RpcLogEntry } from "@hatchet-deno/sdk/testing";
import { UserEventCondition } from "../../durable/conditions.ts";
import { toDurableConditions } from "../../durable/to_conditions.ts";
import { createEnginePorts } from "../../transport/connection.ts";
import type { EnginePorts } from "../../transport/ports.ts";
import type { JsonObject, JsonValue } from "../../transport/types.ts";
import { type WireTap, wireTap } from "./_wire_tap.ts";

export interface DurableFixture extends AsyncDisposable {
  readonly engine: MockEngine;
  readonly ports: EnginePorts;
  readonly tap: WireTap;
  /** The RUNNING task runs, in trigger order. */
  readonly taskRunIds: string[];
  /** The raw worker's id. */
  readonly workerId: string;
}

/** Starts `runs` task runs of a one-durable-task workflow on a raw worker. */
export async function durableFixture(engine: MockEngine, runs = 1): Promise<DurableFixture> {
  const tap = wireTap(engine.transport());
  const ports = createEnginePorts(tap.transport);
  await ports.admin.putWorkflow({
    name: "durable",
    description: "",
    version: "",
    eventTriggers: [],
    tasks: [{
      readableId: "wait",
      action: "durable:wait",
      timeout: "48h",
      inputs: "{}",
      parents: [],
      retries: 0,
      isDurable: true,
      slotRequests: { durable: 1 },
    }],
  });
  const { workerId } = await ports.dispatcher.register({
    workerName: "raw",
    actions: ["durable:wait"],
    services: [],
    slotConfig: { durable: runs },
  });
  // The v1 Listen stream: v2 gives work only within 5 s of wall time of the last heartbeat,
  // and this worker sends none.
  const stop = new AbortController();
  const assigned: string[] = [];
  let onAssigned: (() => void) | undefined;
  const reading = (async () => {
    try {
      const actions = ports.dispatcher.listen(workerId, "v1", { signal: stop.signal });
      for await (const action of actions) {
        assigned.push(action.taskRunExternalId);
        onAssigned?.();
      }
    } catch {
      // Ended by dispose, engine.dropStreams() or the engine closing.
    }
  })();
  const taskRunIds: string[] = [];
  for (let i = 0; i < runs; i++) {
    const { workflowRunId } = await ports.admin.triggerWorkflowRun({
      workflowName: "durable",
      input: {},
    });
    taskRunIds.push(engine.taskRuns(workflowRunId)[0].id);
  }
  while (assigned.length < runs) {
    await new Promise<void>((resolve) => onAssigned = resolve);
  }
  onAssigned = undefined;
  assert.deepEqual(assigned, taskRunIds);
  return {
    engine,
    ports,
    tap,
    taskRunIds,
    workerId,
    async [Symbol.asyncDispose]() {
      stop.abort();
      await reading;
    },
  };
}

/**
 * Makes the engine complete `(taskRunId, signalKey)`: registers a wait on a user event of its
 * own and pushes that event with `payload`, so the result is `{ CREATE: { done: [payload] } }`.
 */
export async function complete(
  fx: DurableFixture,
  taskRunId: string,
  signalKey: string,
  payload: JsonObject,
): Promise<void> {
  const eventKey = `done/${taskRunId}/${signalKey}`;
  await fx.ports.durable.registerDurableEvent({
    taskId: taskRunId,
    signalKey,
    conditions: toDurableConditions(
      [new UserEventCondition(eventKey, { readableDataKey: "done" })],
      "",
    ),
  });
  await fx.engine.client.events.push(eventKey, payload);
}

/**
 * The ListenForDurableEvent entries of the RPC log, compact: `"open"` for a stream (with
 * `": <code>"` when the open failed), `"<run> <signalKey>"` for a subscription message, where
 * `<run>` is `A`, `B`, ... by the fixture's trigger order.
 */
export function durableLog(fx: DurableFixture): string[] {
  return fx.engine.rpcLog().filter((e) => e.method === "ListenForDurableEvent").map((e) =>
    e.summary === undefined ? (e.error ? `open: ${e.error}` : "open") : subscription(fx, e)
  );
}

function subscription(fx: DurableFixture, entry: RpcLogEntry): string {
  const index = fx.taskRunIds.indexOf(String(entry.summary?.taskRunId));
  const run = index < 0 ? String(entry.summary?.taskRunId) : String.fromCharCode(65 + index);
  return `${run} ${entry.summary?.signalKey}`;
}

/** The RegisterDurableEvent entries of the RPC log as `[signalKey, errorCode?]`. */
export function registerLog(engine: MockEngine): [string, string?][] {
  return engine.rpcLog().filter((e) => e.method === "RegisterDurableEvent").map((e) =>
    e.error ? [String(e.summary?.signalKey), e.error] : [String(e.summary?.signalKey)]
  );
}

/**
 * Settles the engine until `ready()` holds. For states reached after the listener's or the
 * register retries' own (real, 0 ms) backoff timers, which settle() alone does not wait for.
 */
export async function until(engine: MockEngine, ready: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (ready()) return;
    await engine.settle();
  }
  throw new Error(`Gave up waiting for ${what}; RPC log: ${JSON.stringify(engine.rpcLog())}`);
}

/** Takes the first value of a subscription. */
export async function first(gen: AsyncGenerator<JsonValue, void, undefined>): Promise<JsonValue> {
  for await (const value of gen) return value;
  throw new Error("generator ended without a value");
}
