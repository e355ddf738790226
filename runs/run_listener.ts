// One `SubscribeToWorkflowRuns` stream per client, shared by every `RunRef.result()` waiting on
// it: each waiting run id is written once to the stream, and the engine answers each with one
// event when the run finishes (it acknowledges per id, so a second request after an answer is
// answered again). The engine never rejects an id it does not know yet: it keeps polling, so a
// run triggered a moment ago (not visible while the engine's optimistic scheduler is busy) is
// simply waited for.

import type { SubscriptionsPort, WorkflowRunEventData } from "../transport/ports.ts";
import { RpcError } from "../transport/rpc_error.ts";
import { describeValue } from "../transport/describe.ts";
import { createSharedStream, nonNegativeOption } from "../transport/_shared_stream.ts";

/** Options of {@link createRunListener}. */
export interface RunListenerOptions {
  /** Close the stream once nothing has waited for this long; default 10 000 ms. */
  idleTimeoutMs?: number;
  /** Reconnect delays: the first (default 100 ms) doubles per failure up to the cap (default 5 000 ms). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Consecutive non-transient stream failures after which pending waits fail; default 5. */
  maxAttempts?: number;
}

/** A client's shared run-finished subscription. Internal to the SDK. */
export interface RunListener extends AsyncDisposable {
  /**
   * Waits until the engine reports the run finished.
   *
   * @param runId The workflow run id.
   * @param options `signal` stops waiting (the promise rejects with its reason).
   * @returns The engine's run-finished event, with each task's result.
   */
  wait(runId: string, options?: { signal?: AbortSignal }): Promise<WorkflowRunEventData>;
  /** Run ids being waited for. */
  readonly pending: number;
  /** Whether a stream is open (or being opened). */
  readonly connected: boolean;
  /** Ends the stream and fails every pending wait. */
  close(): Promise<void>;
}

interface Waiter {
  resolve: (event: WorkflowRunEventData) => void;
  reject: (error: unknown) => void;
}

/**
 * Creates the listener behind `RunRef.result()`. The stream opens on the first wait; on loss it
 * reconnects with capped backoff and re-sends every pending run id first; after
 * `idleTimeoutMs` with nothing pending it closes, and reopens on demand.
 *
 * @param port The subscription RPCs.
 * @param options Idle timeout, backoff, attempt limit.
 * @returns The listener; close it with its client.
 * @throws {RangeError} When an option is negative or not a number.
 * @example
 * ```ts
 * import { createRunListener } from "./run_listener.ts";
 * import type { SubscriptionsPort } from "../transport/ports.ts";
 * import assert from "node:assert/strict";
 * const port: SubscriptionsPort = {
 *   async *subscribeToWorkflowRuns(ids) {
 *     for await (const id of ids) yield { workflowRunId: id, eventTimestamp: undefined, results: [] };
 *   },
 *   subscribeToWorkflowEvents: () => (async function* () {})(),
 * };
 * await using listener = createRunListener(port);
 * const event = await listener.wait("run-1");
 * assert.equal(event.workflowRunId, "run-1");
 * assert.equal(listener.pending, 0);
 * ```
 */
export function createRunListener(
  port: SubscriptionsPort,
  options: RunListenerOptions = {},
): RunListener {
  const waiting = new Map<string, Set<Waiter>>();

  function failAll(error: unknown): void {
    const all = [...waiting.values()];
    waiting.clear();
    for (const set of all) for (const waiter of set) waiter.reject(error);
  }

  const stream = createSharedStream<string, WorkflowRunEventData>({
    name: "Run subscription stream",
    open: (ids, signal) => port.subscribeToWorkflowRuns(ids, { signal }),
    wanted: () => waiting.size > 0,
    // A new stream knows nothing of the old one's ids: send every pending one first.
    preamble(push) {
      for (const runId of waiting.keys()) push(runId);
    },
    onMessage(event) {
      const set = waiting.get(event.workflowRunId);
      if (set === undefined) return;
      waiting.delete(event.workflowRunId);
      for (const waiter of set) waiter.resolve(event);
      if (waiting.size === 0) stream.idle();
    },
    onGiveUp: failAll,
    // An engine without the RPC will not grow one: callers fall back to polling at once.
    fatal: (error) => error instanceof RpcError && error.code === "unimplemented",
    idleTimeoutMs: nonNegativeOption(options.idleTimeoutMs, "idleTimeoutMs", 10_000),
    initialMs: nonNegativeOption(options.backoff?.initialMs, "backoff.initialMs", 100),
    maxMs: nonNegativeOption(options.backoff?.maxMs, "backoff.maxMs", 5_000),
    maxAttempts: nonNegativeOption(options.maxAttempts, "maxAttempts", 5),
  });
  let closed = false;

  function add(runId: string, waiter: Waiter): void {
    let set = waiting.get(runId);
    if (set === undefined) {
      set = new Set();
      waiting.set(runId, set);
      stream.push(runId);
    }
    set.add(waiter);
    stream.start();
  }

  function remove(runId: string, waiter: Waiter): void {
    const set = waiting.get(runId);
    if (set === undefined || !set.delete(waiter)) return;
    if (set.size === 0) waiting.delete(runId);
    if (waiting.size === 0) stream.idle();
  }

  function wait(
    runId: string,
    waitOptions: { signal?: AbortSignal } = {},
  ): Promise<WorkflowRunEventData> {
    if (typeof runId !== "string" || runId === "") {
      return Promise.reject(
        new TypeError(
          `Invalid run id: expected a non-empty string, received ${describeValue(runId)}`,
        ),
      );
    }
    if (closed) {
      return Promise.reject(
        new Error(`Run listener is closed: cannot wait for run ${JSON.stringify(runId)}`),
      );
    }
    const signal = waitOptions.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<WorkflowRunEventData>((resolve, reject) => {
      const onAbort = (): void => {
        remove(runId, waiter);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        resolve(event) {
          signal?.removeEventListener("abort", onAbort);
          resolve(event);
        },
        reject(error) {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      add(runId, waiter);
    });
  }

  async function close(): Promise<void> {
    const ended = stream.close();
    if (!closed) {
      closed = true;
      failAll(new Error("Run listener is closed"));
    }
    await ended;
  }

  return {
    wait,
    get pending(): number {
      return waiting.size;
    },
    get connected(): boolean {
      return stream.connected;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
