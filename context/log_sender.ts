// One sender per worker ships every attempt's log lines and stream chunks. Tasks never wait on
// an RPC: they enqueue and carry on. Each attempt has one queue per kind with exactly one request
// in flight, because the engine records log lines in the order they arrive and HTTP/2 gives no
// ordering between concurrent unary calls; queues of different attempts run side by side.

import type { EventsPort, PutLogInput, PutStreamEventInput } from "../transport/ports.ts";
import { retryTransient } from "../transport/retry.ts";

/** Delivers log lines and stream chunks in order per attempt. */
export interface LogSender {
  /**
   * Queues a log line behind the earlier ones of the same attempt.
   *
   * @param key The attempt (`<task run id>/<retry count>`).
   * @param input The request.
   * @returns Settles once delivered; rejects with the last error when delivery failed for good.
   */
  putLog(key: string, input: PutLogInput): Promise<void>;
  /**
   * Queues a stream chunk behind the earlier ones of the same attempt.
   *
   * @param key The attempt.
   * @param input The request.
   * @returns Settles once delivered; rejects when delivery failed for good.
   */
  putStream(key: string, input: PutStreamEventInput): Promise<void>;
  /**
   * Waits until everything queued so far for `key` was delivered or failed for good.
   *
   * @param key The attempt.
   */
  flush(key: string): Promise<void>;
  /** Waits until every queue is empty. */
  close(): Promise<void>;
}

/** Options of {@link createLogSender}. */
export interface LogSenderOptions {
  /** Attempts per request on transient errors; default 6. */
  attempts?: number;
  /** First retry delay in milliseconds; default 100. */
  baseDelayMs?: number;
  /** Longest retry delay in milliseconds; default 2000. */
  maxDelayMs?: number;
  /** Deadline of one request in milliseconds; default 10000. */
  timeoutMs?: number;
  /** Ends pending retries: a line or chunk still failing then is given up. */
  signal?: AbortSignal;
}

/**
 * Creates the per-worker sender of logs and stream events.
 *
 * @param events The events port.
 * @param options Retry settings.
 * @returns The sender.
 */
export function createLogSender(events: EventsPort, options: LogSenderOptions = {}): LogSender {
  const tails = new Map<string, Promise<void>>();
  const retry = {
    attempts: options.attempts ?? 6,
    baseMs: options.baseDelayMs ?? 100,
    maxMs: options.maxDelayMs ?? 2_000,
    signal: options.signal,
  };
  const timeoutMs = options.timeoutMs ?? 10_000;

  function enqueue(queue: string, send: () => Promise<void>): Promise<void> {
    const previous = tails.get(queue) ?? Promise.resolve();
    const delivered = previous.then(() => retryTransient(send, retry));
    const settled = delivered.then(noop, noop);
    tails.set(queue, settled);
    settled.then(() => {
      if (tails.get(queue) === settled) tails.delete(queue);
    });
    return delivered;
  }

  return {
    putLog(key, input) {
      return enqueue(`log:${key}`, () => events.putLog(input, { timeoutMs }));
    },
    putStream(key, input) {
      return enqueue(`stream:${key}`, () => events.putStreamEvent(input, { timeoutMs }));
    },
    async flush(key) {
      await Promise.all([tails.get(`log:${key}`), tails.get(`stream:${key}`)]);
    },
    async close() {
      while (tails.size > 0) await Promise.all(tails.values());
    },
  };
}

function noop(): void {}
