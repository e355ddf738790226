// Retrying engine calls: transient RpcErrors are retried with capped exponential backoff and
// jitter; anything else (invalid_argument, not_found, unauthenticated, a bug) fails at once,
// because repeating the same request cannot change the answer.

import { isTransient } from "./rpc_error.ts";

/** How {@link retryTransient} retries. */
export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay before the first retry in milliseconds; doubles each time. */
  baseMs: number;
  /** Upper bound of one delay in milliseconds. */
  maxMs: number;
  /** Stops retrying (the pending delay rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Called before each retry, with the error and the 1-based retry number. */
  onRetry?: (err: unknown, retry: number) => void;
  /** Stop retrying once this returns false (checked before each retry). */
  shouldRetry?: (err: unknown) => boolean;
}

/** The delay before retry `retry` (1-based): `base * 2^(retry-1)` plus up to 50% jitter, capped. */
export function backoffDelay(retry: number, baseMs: number, maxMs: number): number {
  const exp = baseMs * 2 ** Math.min(retry - 1, 30);
  return Math.min(exp + Math.random() * exp * 0.5, maxMs);
}

/**
 * Runs `fn`, retrying transient `RpcError`s.
 *
 * @param fn The call.
 * @param options Attempts, delays and an abort signal.
 * @returns What `fn` returned.
 * @throws The last error, or the first non-transient one.
 */
export async function retryTransient<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retryable = isTransient(err) && (options.shouldRetry?.(err) ?? true);
      if (!retryable || attempt >= options.attempts || options.signal?.aborted) throw err;
      options.onRetry?.(err, attempt);
      await sleep(backoffDelay(attempt, options.baseMs, options.maxMs), options.signal);
    }
  }
}

/**
 * Resolves after `ms` milliseconds, or rejects with the signal's reason when it aborts first.
 * The timer is cleared either way, so nothing outlives the wait.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
