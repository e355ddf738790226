// The lifecycle of one long-lived bidi stream that many local waiters share: the worker's
// durable streams (`DurableTask`, `ListenForDurableEvent`) and a client's run subscription
// (`SubscribeToWorkflowRuns`). What is common to them lives here:
//
// - opened on demand (`start()`), with a preamble of requests each new stream sends first
//   (the subscriptions still pending, `register_worker`), since a new stream knows nothing of
//   the old one's;
// - on loss, reconnected: at once after a clean end (what an engine restart or a proxy's max
//   age looks like), otherwise after a capped, doubling backoff; a stream that lived a while was
//   healthy and its loss starts a fresh count;
// - given up after `maxAttempts` consecutive non-transient failures, or at once on a failure
//   the owner calls fatal (an engine without the RPC);
// - closed once nothing has needed it for `idleTimeoutMs`, and reopened on demand.
//
// What each stream means (its requests, its answers, who waits) stays with its owner.

import { isTransient } from "./rpc_error.ts";
import { backoffDelay, sleep } from "./retry.ts";
import { describeValue } from "./describe.ts";
import { createRequestQueue, type RequestQueue } from "./_request_queue.ts";

/** How a {@link SharedStream} opens its RPC and tells its owner what happens. */
export interface SharedStreamOptions<Req, Res> {
  /** Names the stream in the error that gives up, e.g. `"Run subscription stream"`. */
  name: string;
  /** Opens the RPC with these requests; its responses end when the stream does. */
  open(requests: AsyncIterable<Req>, signal: AbortSignal): AsyncIterable<Res>;
  /** Whether anything still needs a stream: while false the stream is not reopened. */
  wanted(): boolean;
  /** Pushes the requests a new stream sends before any other. */
  preamble(push: (request: Req) => void): void;
  /** Handles one response. */
  onMessage(response: Res): void;
  /** A stream ended (`error` undefined for a clean end) and another will be opened. */
  onLost?(error: unknown): void;
  /** The stream gives up (the loop stops until the next `start()`): fail whatever waits. */
  onGiveUp(error: unknown): void;
  /** A failure no retry will heal: give up at once with this error. */
  fatal?(error: unknown): boolean;
  /** Close after nothing has needed the stream for this long; `Infinity` never closes it. */
  idleTimeoutMs: number;
  /** The first reconnect delay, doubling per failure. */
  initialMs: number;
  /** The reconnect delay's cap. */
  maxMs: number;
  /** Consecutive non-transient failures before giving up; `Infinity` never gives up. */
  maxAttempts: number;
}

/** One shared stream; see the module comment. Internal to the SDK. */
export interface SharedStream<Req> {
  /** Opens the stream unless it runs; cancels a pending idle close. */
  start(): void;
  /**
   * Writes `request` to the open stream.
   *
   * @returns False when no stream is open: the next stream's preamble must carry it.
   */
  push(request: Req): boolean;
  /** Nothing waits any more: close the stream after the idle timeout unless `start()` comes first. */
  idle(): void;
  /** Whether a stream is open (or being opened). */
  readonly connected: boolean;
  /** Ends the stream for good and waits for its loop. */
  close(): Promise<void>;
}

// How long a stream must have lived for its loss not to count towards `maxAttempts`.
const HEALTHY_STREAM_MS = 10_000;

/**
 * Creates a shared stream (closed until the first `start()`).
 *
 * @param options The RPC, the owner's callbacks, the timings.
 * @returns The stream's handle.
 * @example
 * ```ts
 * import { createSharedStream } from "./_shared_stream.ts";
 * import assert from "node:assert/strict";
 * const answers: string[] = [];
 * const stream = createSharedStream<string, string>({
 *   name: "Echo stream",
 *   async *open(requests) {
 *     for await (const r of requests) yield r.toUpperCase();
 *   },
 *   wanted: () => answers.length < 2,
 *   preamble: (push) => push("hello"),
 *   onMessage: (answer) => answers.push(answer),
 *   onGiveUp: () => {},
 *   idleTimeoutMs: 0,
 *   initialMs: 100,
 *   maxMs: 1_000,
 *   maxAttempts: 3,
 * });
 * stream.start();
 * assert.equal(stream.push("world"), true);
 * while (answers.length < 2) await new Promise((r) => setTimeout(r, 1));
 * assert.deepEqual(answers, ["HELLO", "WORLD"]);
 * await stream.close();
 * assert.equal(stream.connected, false);
 * ```
 */
export function createSharedStream<Req, Res>(
  options: SharedStreamOptions<Req, Res>,
): SharedStream<Req> {
  let closed = false;
  let running = false;
  let loopDone: Promise<void> = Promise.resolve();
  let current: { queue: RequestQueue<Req>; controller: AbortController } | undefined;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const lifetime = new AbortController();

  // Abort and half-close: a port that does not watch its signal still sees its requests end.
  function end(): void {
    current?.controller.abort();
    current?.queue.end();
  }

  function clearIdle(): void {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = undefined;
  }

  async function loop(): Promise<void> {
    let failures = 0;
    while (!closed && options.wanted()) {
      const controller = new AbortController();
      const queue = createRequestQueue<Req>();
      options.preamble((request) => queue.push(request));
      const mine = { queue, controller };
      current = mine;
      const openedAt = Date.now();
      let error: unknown;
      try {
        for await (const response of options.open(queue, controller.signal)) {
          failures = 0;
          options.onMessage(response);
        }
      } catch (err) {
        error = err;
      } finally {
        queue.end();
        if (current === mine) current = undefined;
      }
      if (closed || !options.wanted()) break;
      // Closed for being idle just as something needed it: reopen at once.
      if (controller.signal.aborted) continue;
      if (Date.now() - openedAt >= HEALTHY_STREAM_MS) failures = 0;
      failures++;
      if (error !== undefined && options.fatal?.(error)) {
        options.onGiveUp(error);
        break;
      }
      if (error !== undefined && !isTransient(error) && failures >= options.maxAttempts) {
        options.onGiveUp(
          new Error(
            `${options.name} failed ${failures} times in a row: ${
              error instanceof Error ? error.message : String(error)
            }`,
            { cause: error },
          ),
        );
        break;
      }
      options.onLost?.(error);
      const wait = error === undefined && failures === 1
        ? 0
        : backoffDelay(failures, options.initialMs, options.maxMs);
      // Aborted means closing: the loop condition sees it.
      await sleep(wait, lifetime.signal).catch(() => {});
    }
    running = false;
    if (!options.wanted()) clearIdle();
  }

  async function close(): Promise<void> {
    if (!closed) {
      closed = true;
      clearIdle();
      lifetime.abort();
      end();
    }
    await loopDone;
  }

  return {
    start(): void {
      clearIdle();
      if (running || closed) return;
      running = true;
      loopDone = loop();
    },
    push(request: Req): boolean {
      if (current === undefined) return false;
      current.queue.push(request);
      return true;
    },
    idle(): void {
      clearIdle();
      if (!running || options.idleTimeoutMs === Infinity) return;
      idleTimer = setTimeout(() => {
        idleTimer = undefined;
        if (!options.wanted()) end();
      }, options.idleTimeoutMs);
    },
    get connected(): boolean {
      return current !== undefined;
    },
    close,
  };
}

/**
 * Reads a non-negative number option.
 *
 * @param value The option as given.
 * @param name Its name, for the error.
 * @param fallback The default.
 * @returns `value`, or `fallback` when undefined.
 * @throws {RangeError} When `value` is negative or not a number.
 * @example
 * ```ts
 * import { nonNegativeOption } from "./_shared_stream.ts";
 * import assert from "node:assert/strict";
 * assert.equal(nonNegativeOption(undefined, "idleTimeoutMs", 10), 10);
 * assert.throws(() => nonNegativeOption(-1, "idleTimeoutMs", 10), RangeError);
 * ```
 */
export function nonNegativeOption(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0)) {
    throw new RangeError(
      `Invalid ${name}: expected a non-negative number, received ${describeValue(value)}`,
    );
  }
  return value;
}
