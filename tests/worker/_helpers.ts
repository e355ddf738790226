// Test helpers: promises a test can await instead of sleeping, and a logger that records.

import type { Transport } from "@connectrpc/connect";
import type { MockEngine } from "../../testing/mod.ts";
import { createClientFromTransport, type HatchetClient } from "../../worker/client.ts";
import type { WorkerLogger } from "../../worker/create_worker.ts";

/** A promise with its resolve and reject functions. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A logger that records lines and lets a test await one matching a pattern. */
export interface RecordingLogger {
  logger: WorkerLogger;
  warnings: string[];
  errors: string[];
  /** Resolves with the first line (warning or error, past or future) matching `pattern`. */
  waitFor(pattern: RegExp): Promise<string>;
}

/** Creates a {@link RecordingLogger}. */
export function recordingLogger(): RecordingLogger {
  const warnings: string[] = [];
  const errors: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const seen = (line: string) => {
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  return {
    warnings,
    errors,
    logger: {
      warn(message) {
        warnings.push(message);
        seen(message);
      },
      error(message) {
        errors.push(message);
        seen(message);
      },
    },
    waitFor(pattern) {
      const past = [...warnings, ...errors].find((line) => pattern.test(line));
      if (past !== undefined) return Promise.resolve(past);
      return new Promise((resolve) => waiters.push({ pattern, resolve }));
    },
  };
}

/** Resolves once `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/** The fields of an `AssignedAction` a test may rewrite on its way to the worker. */
export interface ActionFields {
  actionId: string;
  actionPayload: string;
  taskName: string;
}

/**
 * A client of `engine` whose action stream passes every assignment through `rewrite` first:
 * a transport-level fault (what a buggy or newer engine might send), over the real mock engine.
 */
export function rewritingClient(
  engine: MockEngine,
  rewrite: (action: ActionFields) => void,
): HatchetClient {
  const inner = engine.transport();
  const transport: Transport = {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      inner.unary(method, signal, timeoutMs, header, input, contextValues),
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const res = await inner.stream(method, signal, timeoutMs, header, input, contextValues);
      if (method.name !== "ListenV2" && method.name !== "Listen") return res;
      const source = res.message;
      return {
        ...res,
        message: (async function* () {
          for await (const message of source) {
            rewrite(message as unknown as ActionFields);
            yield message;
          }
        })(),
      };
    },
  };
  return createClientFromTransport(engine.client.config, transport);
}
