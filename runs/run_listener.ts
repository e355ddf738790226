// One `SubscribeToWorkflowRuns` stream per client, shared by every `RunRef.result()` waiting on
// it: each waiting run id is written once to the stream, and the engine answers each with one
// event when the run finishes (it acknowledges per id, so a second request after an answer is
// answered again). The engine never rejects an id it does not know yet: it keeps polling, so a
// run triggered a moment ago (not visible while the engine's optimistic scheduler is busy) is
// simply waited for.

import type { SubscriptionsPort, WorkflowRunEventData } from "../transport/ports.ts";
import { isTransient, RpcError } from "../transport/rpc_error.ts";
import { backoffDelay, sleep } from "../transport/retry.ts";
import { describeValue } from "../transport/describe.ts";
import { createRequestQueue, type RequestQueue } from "../transport/_request_queue.ts";

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

// How long a stream must have lived for its loss not to count towards `maxAttempts`.
const HEALTHY_STREAM_MS = 10_000;

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
  const idleTimeoutMs = nonNegative(options.idleTimeoutMs, "idleTimeoutMs", 10_000);
  const initialMs = nonNegative(options.backoff?.initialMs, "backoff.initialMs", 100);
  const maxMs = nonNegative(options.backoff?.maxMs, "backoff.maxMs", 5_000);
  const maxAttempts = nonNegative(options.maxAttempts, "maxAttempts", 5);

  const waiting = new Map<string, Set<Waiter>>();
  let closed = false;
  let running = false;
  let loopDone: Promise<void> = Promise.resolve();
  let stream: { queue: RequestQueue<string>; controller: AbortController } | undefined;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const lifetime = new AbortController();

  function endStream(): void {
    stream?.controller.abort();
    stream?.queue.end();
  }

  function clearIdle(): void {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = undefined;
  }

  function armIdle(): void {
    clearIdle();
    if (!running) return;
    idleTimer = setTimeout(() => {
      idleTimer = undefined;
      if (waiting.size === 0) endStream();
    }, idleTimeoutMs);
  }

  function add(runId: string, waiter: Waiter): void {
    clearIdle();
    let set = waiting.get(runId);
    if (set === undefined) {
      set = new Set();
      waiting.set(runId, set);
      stream?.queue.push(runId);
    }
    set.add(waiter);
    if (!running) {
      running = true;
      loopDone = run();
    }
  }

  function remove(runId: string, waiter: Waiter): void {
    const set = waiting.get(runId);
    if (set === undefined || !set.delete(waiter)) return;
    if (set.size === 0) waiting.delete(runId);
    if (waiting.size === 0) armIdle();
  }

  function dispatch(event: WorkflowRunEventData): void {
    const set = waiting.get(event.workflowRunId);
    if (set === undefined) return;
    waiting.delete(event.workflowRunId);
    for (const waiter of set) waiter.resolve(event);
    if (waiting.size === 0) armIdle();
  }

  function failAll(error: unknown): void {
    const all = [...waiting.values()];
    waiting.clear();
    for (const set of all) for (const waiter of set) waiter.reject(error);
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!closed && waiting.size > 0) {
      const controller = new AbortController();
      const queue = createRequestQueue<string>();
      // A new stream knows nothing of the old one's ids: send every pending one first.
      for (const runId of waiting.keys()) queue.push(runId);
      const current = { queue, controller };
      stream = current;
      const openedAt = Date.now();
      let error: unknown;
      try {
        for await (
          const event of port.subscribeToWorkflowRuns(queue, { signal: controller.signal })
        ) {
          failures = 0;
          dispatch(event);
        }
      } catch (err) {
        error = err;
      } finally {
        queue.end();
        if (stream === current) stream = undefined;
      }
      if (closed || waiting.size === 0) break;
      // Closed for being idle just as a wait arrived: reopen at once.
      if (controller.signal.aborted) continue;
      if (Date.now() - openedAt >= HEALTHY_STREAM_MS) failures = 0;
      failures++;
      // An engine without the RPC will not grow one: callers fall back to polling at once.
      if (error instanceof RpcError && error.code === "unimplemented") {
        failAll(error);
        break;
      }
      if (error !== undefined && !isTransient(error) && failures >= maxAttempts) {
        failAll(
          new Error(
            `Run subscription stream failed ${failures} times in a row: ${errorText(error)}`,
            { cause: error },
          ),
        );
        break;
      }
      // A clean end is what an engine restart looks like: reconnect at once the first time.
      const wait = error === undefined && failures === 1
        ? 0
        : backoffDelay(failures, initialMs, maxMs);
      await sleep(wait, lifetime.signal).catch(() => {});
    }
    running = false;
    if (waiting.size === 0) clearIdle();
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
    if (!closed) {
      closed = true;
      clearIdle();
      lifetime.abort();
      endStream();
      failAll(new Error("Run listener is closed"));
    }
    await loopDone;
  }

  return {
    wait,
    get pending(): number {
      return waiting.size;
    },
    get connected(): boolean {
      return stream !== undefined;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function nonNegative(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0)) {
    throw new RangeError(
      `Invalid ${name}: expected a non-negative number, received ${describeValue(value)}`,
    );
  }
  return value;
}
