import type { DurableConditionsInput, DurableEventData, DurablePort } from "../transport/ports.ts";
import { isTransient } from "../transport/rpc_error.ts";
import type { JsonValue } from "../transport/types.ts";
import { describeValue } from "../transport/describe.ts";
import { backoffDelay, sleep } from "../transport/retry.ts";
import { createRequestQueue, type RequestQueue } from "../transport/_request_queue.ts";
import type {
  DurableChildHandle,
  DurablePath,
  DurableRun,
  DurableRunOptions,
} from "./durable_path.ts";

/** Options of {@link createDurableListener}. */
export interface DurableListenerOptions {
  /** Close the stream once no wait has been pending for this long; default 30 000 ms. */
  idleTimeoutMs?: number;
  /** Reconnect delays: the first (default 100 ms) doubles per failure up to the cap (default 5 000 ms). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Consecutive non-transient stream failures after which pending waits fail; default 5. */
  maxAttempts?: number;
}

/** Options of {@link DurableListener.subscribe}. */
export interface SubscribeOptions {
  /** Ends the subscription: the generator throws the signal's reason and unsubscribes. */
  signal?: AbortSignal;
}

/**
 * A worker's one `ListenForDurableEvent` stream, shared by all its durable tasks and
 * multiplexed by task run and signal key.
 */
export interface DurableListener extends AsyncDisposable {
  /**
   * Subscribes to the durable events of `(taskRunId, signalKey)`, yielding each event's parsed
   * JSON. The engine delivers one event per subscription, so callers usually take the first.
   * Leaving the loop (break, return, throw, abort) removes the subscription.
   *
   * @param taskRunId The task run's external id.
   * @param signalKey The wait's signal key.
   * @param options `signal` ends the subscription with its reason.
   * @returns An async generator of event data.
   * @throws {TypeError} When an id or key is empty.
   * @throws {Error} When the listener is closed, or the stream failed for good.
   */
  subscribe(
    taskRunId: string,
    signalKey: string,
    options?: SubscribeOptions,
  ): AsyncGenerator<JsonValue, void, undefined>;
  /** The number of live subscriptions. */
  readonly subscriptions: number;
  /** Whether a stream is currently open (or being opened). */
  readonly connected: boolean;
  /** Ends the stream, fails live subscriptions, and stops reconnecting. */
  close(): Promise<void>;
}

// How long a stream must have lived for its loss not to count towards `maxAttempts`.
const HEALTHY_STREAM_MS = 10_000;

type Delivery = { value: JsonValue } | { error: unknown };

interface Subscriber {
  queue: Delivery[];
  wake: (() => void) | undefined;
}

interface Entry {
  taskId: string;
  signalKey: string;
  subscribers: Set<Subscriber>;
  /** Sent on the current stream (or to be re-sent on the next) and not answered yet. */
  requested: boolean;
}

interface OpenStream {
  queue: RequestQueue<{ taskId: string; signalKey: string }>;
  controller: AbortController;
}

/**
 * Creates the listener a worker shares among its durable tasks. The stream opens on the first
 * subscription; on loss it reconnects with capped backoff and re-sends every pending
 * subscription first; after `idleTimeoutMs` with nothing pending it closes, and reopens on
 * demand. Non-transient failures (`RpcError.transient` false) fail the pending waits after
 * `maxAttempts` consecutive tries.
 *
 * @param port The durable RPCs.
 * @param options Idle timeout, backoff, attempt limit.
 * @returns The listener; close it (or `await using`) when the worker stops.
 * @throws {RangeError} When an option is negative or not a number.
 * @example
 * ```ts
 * import { createDurableListener } from "./legacy_listener.ts";
 * import type { DurablePort } from "../transport/ports.ts";
 * import assert from "node:assert/strict";
 * const port: DurablePort = {
 *   registerDurableEvent: () => Promise.resolve(),
 *   async *listenForDurableEvent(requests) {
 *     for await (const { taskId, signalKey } of requests) {
 *       yield { taskId, signalKey, data: new TextEncoder().encode('{"CREATE":{}}') };
 *     }
 *   },
 * };
 * await using listener = createDurableListener(port);
 * for await (const event of listener.subscribe("run-1", "approval")) {
 *   assert.deepEqual(event, { CREATE: {} });
 *   break;
 * }
 * assert.equal(listener.subscriptions, 0);
 * ```
 */
export function createDurableListener(
  port: DurablePort,
  options: DurableListenerOptions = {},
): DurableListener {
  const idleTimeoutMs = nonNegative(options.idleTimeoutMs, "idleTimeoutMs", 30_000);
  const initialMs = nonNegative(options.backoff?.initialMs, "backoff.initialMs", 100);
  const maxMs = nonNegative(options.backoff?.maxMs, "backoff.maxMs", 5_000);
  const maxAttempts = nonNegative(options.maxAttempts, "maxAttempts", 5);
  const decoder = new TextDecoder();

  const entries = new Map<string, Entry>();
  let subscriberCount = 0;
  let closed = false;
  let running = false;
  let loopDone: Promise<void> = Promise.resolve();
  let stream: OpenStream | undefined;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const lifetime = new AbortController();

  // Abort and half-close: a port that does not watch its signal still sees its requests end.
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
      if (subscriberCount === 0) endStream();
    }, idleTimeoutMs);
  }

  function add(taskId: string, signalKey: string, subscriber: Subscriber): void {
    clearIdle();
    const key = entryKey(taskId, signalKey);
    let entry = entries.get(key);
    if (entry === undefined) {
      entry = { taskId, signalKey, subscribers: new Set(), requested: false };
      entries.set(key, entry);
    }
    entry.subscribers.add(subscriber);
    subscriberCount++;
    // One request per key: the engine answers it to the stream, and every local subscriber of
    // the key gets the answer. A key answered before is asked again (a retried attempt replays).
    if (!entry.requested) {
      entry.requested = true;
      stream?.queue.push({ taskId, signalKey });
    }
    if (!running) {
      running = true;
      loopDone = run();
    }
  }

  function remove(taskId: string, signalKey: string, subscriber: Subscriber): void {
    const key = entryKey(taskId, signalKey);
    const entry = entries.get(key);
    if (entry === undefined || !entry.subscribers.delete(subscriber)) return;
    subscriberCount--;
    if (entry.subscribers.size === 0) entries.delete(key);
    if (subscriberCount === 0) armIdle();
  }

  function deliver(subscriber: Subscriber, delivery: Delivery): void {
    subscriber.queue.push(delivery);
    const wake = subscriber.wake;
    subscriber.wake = undefined;
    wake?.();
  }

  function dispatch(event: DurableEventData): void {
    const entry = entries.get(entryKey(event.taskId, event.signalKey));
    if (entry === undefined) return;
    entry.requested = false;
    let delivery: Delivery;
    try {
      delivery = { value: JSON.parse(decoder.decode(event.data)) as JsonValue };
    } catch (err) {
      delivery = {
        error: new SyntaxError(
          `Invalid durable event for task run ${JSON.stringify(event.taskId)} and signal key ${
            JSON.stringify(event.signalKey)
          }: data is not JSON: ${(err as Error).message}`,
        ),
      };
    }
    for (const subscriber of entry.subscribers) deliver(subscriber, delivery);
  }

  function failAll(error: unknown): void {
    const all = [...entries.values()];
    entries.clear();
    subscriberCount = 0;
    for (const entry of all) {
      for (const subscriber of entry.subscribers) deliver(subscriber, { error });
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!closed && subscriberCount > 0) {
      const controller = new AbortController();
      const queue = createRequestQueue<{ taskId: string; signalKey: string }>();
      // Re-send every pending key first: a new stream knows nothing of the old one's keys.
      for (const entry of entries.values()) {
        if (entry.requested) queue.push({ taskId: entry.taskId, signalKey: entry.signalKey });
      }
      const current: OpenStream = { queue, controller };
      stream = current;
      const openedAt = Date.now();
      let error: unknown;
      try {
        const events = port.listenForDurableEvent(queue, { signal: controller.signal });
        for await (const event of events) {
          failures = 0;
          dispatch(event);
        }
      } catch (err) {
        error = err;
      } finally {
        queue.end();
        if (stream === current) stream = undefined;
      }
      if (closed || subscriberCount === 0) break;
      // Closed for being idle while a subscription arrived: reopen at once.
      if (controller.signal.aborted) continue;
      // A stream that stayed up a while was healthy; its loss starts a fresh count.
      if (Date.now() - openedAt >= HEALTHY_STREAM_MS) failures = 0;
      failures++;
      if (error !== undefined && !isTransient(error) && failures >= maxAttempts) {
        failAll(
          new Error(
            `Durable event stream failed ${failures} times in a row: ${errorText(error)}`,
            { cause: error },
          ),
        );
        break;
      }
      // A clean end is what a server restart or a proxy's max age looks like: reconnect at once.
      const wait = error === undefined && failures === 1
        ? 0
        : backoffDelay(failures, initialMs, maxMs);
      // Aborted means closing: the loop condition sees it.
      await sleep(wait, lifetime.signal).catch(() => {});
    }
    running = false;
    if (subscriberCount === 0) clearIdle();
  }

  // One abort listener per signal, however many subscriptions share it: every wait of a task
  // run passes the same ctx.signal, and Deno's addEventListener scans a signal's listeners, so
  // one listener per wait made thousands of waits in one attempt quadratic.
  const watched = new WeakMap<AbortSignal, { subscribers: Set<Subscriber>; onAbort: () => void }>();

  function watch(signal: AbortSignal, subscriber: Subscriber): void {
    let watch = watched.get(signal);
    if (!watch) {
      const subscribers = new Set<Subscriber>();
      const onAbort = (): void => {
        for (const s of subscribers) {
          const wake = s.wake;
          s.wake = undefined;
          wake?.();
        }
      };
      watch = { subscribers, onAbort };
      watched.set(signal, watch);
      signal.addEventListener("abort", onAbort, { once: true });
    }
    watch.subscribers.add(subscriber);
  }

  function unwatch(signal: AbortSignal, subscriber: Subscriber): void {
    const watch = watched.get(signal);
    if (!watch) return;
    watch.subscribers.delete(subscriber);
    if (watch.subscribers.size === 0) {
      signal.removeEventListener("abort", watch.onAbort);
      watched.delete(signal);
    }
  }

  async function* subscribe(
    taskRunId: string,
    signalKey: string,
    subscribeOptions: SubscribeOptions = {},
  ): AsyncGenerator<JsonValue, void, undefined> {
    if (typeof taskRunId !== "string" || taskRunId === "") {
      throw new TypeError(
        `Invalid task run id: expected a non-empty string, received ${describeValue(taskRunId)}`,
      );
    }
    if (typeof signalKey !== "string" || signalKey === "") {
      throw new TypeError(
        `Invalid signal key: expected a non-empty string, received ${describeValue(signalKey)}`,
      );
    }
    if (closed) {
      throw new Error(
        `Durable event listener is closed: cannot wait for signal key ${JSON.stringify(signalKey)}`,
      );
    }
    const signal = subscribeOptions.signal;
    signal?.throwIfAborted();
    const subscriber: Subscriber = { queue: [], wake: undefined };
    if (signal) watch(signal, subscriber);
    add(taskRunId, signalKey, subscriber);
    try {
      while (true) {
        signal?.throwIfAborted();
        const next = subscriber.queue.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => subscriber.wake = resolve);
        } else if ("error" in next) {
          throw next.error;
        } else {
          yield next.value;
        }
      }
    } finally {
      if (signal) unwatch(signal, subscriber);
      remove(taskRunId, signalKey, subscriber);
    }
  }

  async function close(): Promise<void> {
    if (!closed) {
      closed = true;
      clearIdle();
      lifetime.abort();
      endStream();
      failAll(new Error("Durable event listener is closed"));
    }
    await loopDone;
  }

  return {
    subscribe,
    get subscriptions(): number {
      return subscriberCount;
    },
    get connected(): boolean {
      return stream !== undefined;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function entryKey(taskId: string, signalKey: string): string {
  // Task run ids are UUIDs (no colon), so the first colon separates the two parts.
  return `${taskId}:${signalKey}`;
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

/** Retries of a transient `RegisterDurableEvent` failure. */
export interface LegacyRetryOptions {
  /** Attempts in all; default 5. */
  attempts?: number;
  /** First delay, doubling; default 200 ms. */
  initialMs?: number;
  /** Delay cap; default 5 000 ms. */
  maxMs?: number;
}

const REGISTER_TIMEOUT_MS = 5_000;

/**
 * Binds one attempt to the legacy path (engines before v0.80.0): a wait registers with
 * `RegisterDurableEvent` (transient failures retried) and takes the first event of its
 * subscription on the shared `ListenForDurableEvent` stream. The legacy path has no event
 * log: `memo` runs its function every time, children and eviction are not available.
 *
 * @param listener The worker's shared legacy listener.
 * @param port The legacy durable RPCs.
 * @param options The attempt and the registration retries.
 * @returns The attempt's durable operations.
 * @example
 * ```ts
 * import { createDurableListener, createLegacyRun } from "./legacy_listener.ts";
 * import type { DurablePort } from "../transport/ports.ts";
 * import assert from "node:assert/strict";
 * const port: DurablePort = {
 *   registerDurableEvent: () => Promise.resolve(),
 *   async *listenForDurableEvent(requests) {
 *     for await (const { taskId, signalKey } of requests) {
 *       yield { taskId, signalKey, data: new TextEncoder().encode('{"CREATE":{}}') };
 *     }
 *   },
 * };
 * await using listener = createDurableListener(port);
 * const run = createLegacyRun(listener, port, {
 *   taskRunId: "run-1",
 *   invocationCount: 1,
 *   signal: new AbortController().signal,
 * });
 * const none = { sleepConditions: [], userEventConditions: [] };
 * assert.deepEqual(await run.wait("k", none, { description: "k" }), { CREATE: {} });
 * ```
 */
export function createLegacyRun(
  listener: DurableListener,
  port: DurablePort,
  options: DurableRunOptions & { retry?: LegacyRetryOptions },
): DurableRun {
  const { taskRunId, invocationCount, signal, onWaiting } = options;
  const attempts = options.retry?.attempts ?? 5;
  const initialMs = options.retry?.initialMs ?? 200;
  const maxMs = options.retry?.maxMs ?? 5_000;

  async function register(signalKey: string, conditions: DurableConditionsInput): Promise<void> {
    const input = { taskId: taskRunId, signalKey, conditions };
    for (let attempt = 1;; attempt++) {
      try {
        await port.registerDurableEvent(input, { signal, timeoutMs: REGISTER_TIMEOUT_MS });
        return;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (!isTransient(err) || attempt >= attempts) throw err;
        await sleep(backoffDelay(attempt, initialMs, maxMs), signal);
      }
    }
  }

  return {
    path: "legacy",
    invocationCount,
    async wait(signalKey, conditions, waitOptions): Promise<JsonValue> {
      // Register first, then subscribe: the engine answers a subscription with a completion
      // that happened before it (hatchet-protocol.md §6.3), so nothing can be missed, and a
      // failed registration leaves no subscription to undo. No per-wait AbortController either
      // (about 1 KB), which matters to a worker holding thousands of waits.
      await register(signalKey, conditions);
      const events = listener.subscribe(taskRunId, signalKey, { signal });
      onWaiting?.(true, waitOptions.description);
      try {
        const result = await events.next();
        if (result.done) {
          throw new Error(
            `Durable wait for signal key ${JSON.stringify(signalKey)} ended without a result`,
          );
        }
        return result.value;
      } finally {
        onWaiting?.(false, waitOptions.description);
        await events.return();
      }
    },
    async memo(_key, compute): Promise<JsonValue> {
      signal.throwIfAborted();
      return await compute();
    },
    spawn(): Promise<DurableChildHandle[]> {
      return Promise.reject(
        new Error(
          "Durable children need the durable event log (engine v0.80.0 or newer); this engine only offers the legacy RegisterDurableEvent path",
        ),
      );
    },
    evict(): Promise<void> {
      return Promise.reject(
        new Error("Eviction needs the durable event log (engine v0.80.0 or newer)"),
      );
    },
    close(): void {},
  };
}

/**
 * The legacy path as a {@link DurablePath}: one lazily opened {@link DurableListener} shared
 * by the attempts it binds.
 *
 * @param port The legacy durable RPCs.
 * @param options Listener options and registration retries.
 * @returns The path; close it when the worker stops.
 * @example
 * ```ts
 * import { createLegacyPath } from "./legacy_listener.ts";
 * import type { DurablePort } from "../transport/ports.ts";
 * import assert from "node:assert/strict";
 * const port: DurablePort = {
 *   registerDurableEvent: () => Promise.resolve(),
 *   async *listenForDurableEvent() {},
 * };
 * await using path = createLegacyPath(port);
 * assert.equal(path.kind, "legacy");
 * ```
 */
export function createLegacyPath(
  port: DurablePort,
  options: DurableListenerOptions & { retry?: LegacyRetryOptions } = {},
): DurablePath {
  let listener: DurableListener | undefined;
  let closed = false;
  async function close(): Promise<void> {
    closed = true;
    const l = listener;
    listener = undefined;
    await l?.close();
  }
  return {
    kind: "legacy",
    open(runOptions) {
      if (closed) throw new Error("Durable event listener is closed");
      listener ??= createDurableListener(port, options);
      return createLegacyRun(listener, port, { ...runOptions, retry: options.retry });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
