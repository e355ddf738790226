// An engine-like DurablePort for unit tests: first completion per (task, key) wins and is kept,
// each stream answers a subscription once (at once if already completed), and the test can end
// streams cleanly or with an error and make the next listen calls fail.

import type {
  DurableConditionsInput,
  DurableEventData,
  DurablePort,
} from "../../transport/ports.ts";
import type { JsonValue } from "../../transport/types.ts";

type Item = { event: DurableEventData } | { end: true } | { error: unknown };

export interface FakeStream {
  /** Requests received on this stream, in order, as `task|key`. */
  readonly requests: string[];
  readonly subscribed: Set<string>;
  open: boolean;
  /** Settles when the stream has ended for any reason. */
  readonly closed: Promise<void>;
  push(item: Item): void;
}

export interface RegisterCall {
  taskId: string;
  signalKey: string;
  conditions: DurableConditionsInput;
  timeoutMs: number | undefined;
}

export interface FakeDurablePort extends DurablePort {
  readonly streams: FakeStream[];
  readonly registers: RegisterCall[];
  /** Errors the next listen calls throw before yielding anything, in order. */
  readonly listenFailures: unknown[];
  /** Errors the next register calls throw, in order (`undefined` = succeed). */
  readonly registerFailures: unknown[];
  /** Hangs register calls until their signal aborts. */
  hangRegister: boolean;
  complete(taskId: string, signalKey: string, data: JsonValue): void;
  completeRaw(taskId: string, signalKey: string, data: Uint8Array): void;
  /** Ends every open stream: cleanly, or by throwing `error`. */
  cut(error?: unknown): void;
  /** Resolves once `count` streams have been opened. */
  streamOpened(count: number): Promise<FakeStream>;
  /** Resolves once `count` requests arrived on stream `index`. */
  requested(index: number, count: number): Promise<void>;
}

export function createFakeDurablePort(): FakeDurablePort {
  const completions = new Map<string, Uint8Array>();
  const streams: FakeStream[] = [];
  const waiters: (() => void)[] = [];
  const notify = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  const until = async (ready: () => boolean): Promise<void> => {
    while (!ready()) await new Promise<void>((resolve) => waiters.push(resolve));
  };

  function offer(stream: FakeStream, key: string): void {
    const data = completions.get(key);
    if (data === undefined || !stream.subscribed.has(key)) return;
    stream.subscribed.delete(key);
    const [taskId, signalKey] = key.split("|");
    stream.push({ event: { taskId, signalKey, data } });
  }

  const port: FakeDurablePort = {
    streams,
    registers: [],
    listenFailures: [],
    registerFailures: [],
    hangRegister: false,
    async registerDurableEvent(input, options) {
      port.registers.push({ ...input, timeoutMs: options?.timeoutMs });
      notify();
      if (port.hangRegister) {
        await new Promise((_, reject) => {
          options?.signal?.addEventListener("abort", () => reject(options.signal?.reason));
        });
      }
      const failure = port.registerFailures.shift();
      if (failure !== undefined) throw failure;
    },
    async *listenForDurableEvent(requests, options) {
      const items: Item[] = [];
      let wake: (() => void) | undefined;
      let markClosed!: () => void;
      const stream: FakeStream = {
        requests: [],
        subscribed: new Set(),
        open: true,
        closed: new Promise((resolve) => markClosed = resolve),
        push(item) {
          items.push(item);
          wake?.();
        },
      };
      streams.push(stream);
      notify();
      try {
        if (port.listenFailures.length > 0) throw port.listenFailures.shift();
        const onAbort = (): void => stream.push({ error: options?.signal?.reason });
        options?.signal?.addEventListener("abort", onAbort, { once: true });
        (async () => {
          for await (const { taskId, signalKey } of requests) {
            const key = `${taskId}|${signalKey}`;
            stream.requests.push(key);
            stream.subscribed.add(key);
            offer(stream, key);
            notify();
          }
        })();
        try {
          while (true) {
            const item = items.shift();
            if (item === undefined) {
              await new Promise<void>((resolve) => wake = resolve);
              wake = undefined;
            } else if ("end" in item) {
              return;
            } else if ("error" in item) {
              throw item.error;
            } else {
              yield item.event;
            }
          }
        } finally {
          options?.signal?.removeEventListener("abort", onAbort);
        }
      } finally {
        stream.open = false;
        markClosed();
        notify();
      }
    },
    complete(taskId, signalKey, data) {
      port.completeRaw(taskId, signalKey, new TextEncoder().encode(JSON.stringify(data)));
    },
    completeRaw(taskId, signalKey, data) {
      const key = `${taskId}|${signalKey}`;
      if (!completions.has(key)) completions.set(key, data);
      for (const stream of streams) if (stream.open) offer(stream, key);
    },
    cut(error) {
      for (const stream of streams) {
        if (stream.open) stream.push(error === undefined ? { end: true } : { error });
      }
    },
    async streamOpened(count) {
      await until(() => streams.length >= count);
      return streams[count - 1];
    },
    async requested(index, count) {
      await until(() => streams[index] !== undefined && streams[index].requests.length >= count);
    },
  };
  return port;
}
