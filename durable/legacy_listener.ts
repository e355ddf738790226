import type { DurableConditionsInput, DurableEventData, DurablePort } from "../transport/ports.ts";
import { isTransient } from "../transport/rpc_error.ts";
import type { JsonValue } from "../transport/types.ts";
import { describeValue } from "../transport/describe.ts";
import { backoffDelay, sleep } from "../transport/retry.ts";
import { createSharedStream, nonNegativeOption } from "../transport/_shared_stream.ts";
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
  const decoder = new TextDecoder();

  const entries = new Map<string, Entry>();
  let subscriberCount = 0;
  let closed = false;

  const stream = createSharedStream<{ taskId: string; signalKey: string }, DurableEventData>({
    name: "Durable event stream",
    open: (requests, signal) => port.listenForDurableEvent(requests, { signal }),
    wanted: () => subscriberCount > 0,
    // Re-send every pending key first: a new stream knows nothing of the old one's keys.
    preamble(push) {
      for (const entry of entries.values()) {
        if (entry.requested) push({ taskId: entry.taskId, signalKey: entry.signalKey });
      }
    },
    onMessage: dispatch,
    onGiveUp: failAll,
    idleTimeoutMs: nonNegativeOption(options.idleTimeoutMs, "idleTimeoutMs", 30_000),
    initialMs: nonNegativeOption(options.backoff?.initialMs, "backoff.initialMs", 100),
    maxMs: nonNegativeOption(options.backoff?.maxMs, "backoff.maxMs", 5_000),
    maxAttempts: nonNegativeOption(options.maxAttempts, "maxAttempts", 5),
  });

  function add(taskId: string, signalKey: string, subscriber: Subscriber): void {
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
      stream.push({ taskId, signalKey });
    }
    stream.start();
  }

  function remove(taskId: string, signalKey: string, subscriber: Subscriber): void {
    const key = entryKey(taskId, signalKey);
    const entry = entries.get(key);
    if (entry === undefined || !entry.subscribers.delete(subscriber)) return;
    subscriberCount--;
    if (entry.subscribers.size === 0) entries.delete(key);
    if (subscriberCount === 0) stream.idle();
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
    const ended = stream.close();
    if (!closed) {
      closed = true;
      failAll(new Error("Durable event listener is closed"));
    }
    await ended;
  }

  return {
    subscribe,
    get subscriptions(): number {
      return subscriberCount;
    },
    get connected(): boolean {
      return stream.connected;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function entryKey(taskId: string, signalKey: string): string {
  // Task run ids are UUIDs (no colon), so the first colon separates the two parts.
  return `${taskId}:${signalKey}`;
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
