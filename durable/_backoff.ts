// Shared by the listener's reconnects and the register retries: capped exponential backoff with
// jitter, and a timer that an AbortSignal cuts short (so close() and cancellation never wait).

/** The delay before retry number `attempt` (from 1): `initialMs * 2^(attempt-1)`, capped, jittered to 50–100 %. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const capped = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return capped / 2 + Math.random() * (capped / 2);
}

/** Resolves `true` after `ms`, or `false` as soon as `signal` aborts; never leaves a timer behind. */
export function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const finish = (elapsed: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(elapsed);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
