// One sender per worker ships every attempt's log lines and stream chunks. Tasks never wait on
// an RPC: they enqueue and carry on. Each attempt has one queue per kind with exactly one request
// in flight, because the engine stamps a log row with the time it inserts it (the request's
// created_at is not stored) and serves concurrent unary calls in parallel, so lines stay in order
// only when each request waits for the previous answer. Queues of different attempts run side by
// side.
//
// One round trip per line caps a task that logs in a loop at a few hundred lines a second, and
// its result waits for the last line. So log lines (never stream chunks: their boundaries are
// the user's data) are merged under backpressure. The rule, applied each time a request is about
// to go out:
// - An idle queue sends a new line at once, alone.
// - When the previous request is answered and MORE than MERGE_BACKLOG lines wait, the next request
//   carries the longest run of waiting lines from the head that share level, task run, retry
//   count and metadata, joined with "\n", as long as the joined message stays within
//   MAX_LOG_LENGTH. Otherwise the head line goes alone.
// - Structured lines (`ctx.log(object)`, one JSON document per row) and empty lines (which the
//   engine rejects; merging would make their fate depend on timing) are never merged.
// A line is never split or altered. A synchronous burst of up to MERGE_BACKLOG + 1 lines thus
// gives one row per line (the first leaves at once, the rest wait for it); a flood gives a few
// long rows. A merged request is retried whole, and every line in it settles with it.

import type { EventsPort, PutLogInput, PutStreamEventInput } from "../transport/ports.ts";
import { retryTransient } from "../transport/retry.ts";
import { MAX_LOG_LENGTH } from "./create_context.ts";

// More waiting lines than this and the next request merges; at most this many a task logs at
// once still gives one row each.
const MERGE_BACKLOG = 16;

/**
 * Delivers log lines and stream chunks in order per attempt.
 *
 * @example
 * ```ts
 * import { createLogSender, type LogSender } from "./log_sender.ts";
 * import assert from "node:assert/strict";
 * const rows: string[] = [];
 * const sender: LogSender = createLogSender({
 *   push: () => Promise.resolve({ eventId: "e" }),
 *   bulkPush: () => Promise.resolve([]),
 *   putLog: (input) => {
 *     rows.push(input.message);
 *     return Promise.resolve();
 *   },
 *   putStreamEvent: () => Promise.resolve(),
 * });
 * const line = (message: string) => ({ taskRunExternalId: "run", createdAt: new Date(), message });
 * for (let i = 0; i < 3; i++) sender.putLog("run/0", line(`line ${i}`));
 * await sender.flush("run/0");
 * assert.deepEqual(rows, ["line 0", "line 1", "line 2"]);
 * await sender.close();
 * ```
 */
export interface LogSender {
  /**
   * Queues a log line behind the earlier ones of the same attempt. An idle attempt sends it at
   * once; otherwise it goes out after the request in flight is answered. If more than 16 lines
   * are waiting then, that request carries the longest run of waiting lines from the head with
   * the same level, task run, retry count and metadata, joined with `"\n"` while the message stays
   * within `MAX_LOG_LENGTH` characters; otherwise the head line goes alone. Structured and empty
   * lines are always sent alone, and a line is never split or altered.
   *
   * @param key The attempt (`<task run id>/<retry count>`).
   * @param input The request.
   * @param options `structured: true` for a line that is one JSON document: never merged.
   * @returns Settles once the request carrying the line was delivered; rejects with the last error
   *   when it failed for good.
   * @example
   * ```ts
   * import { createLogSender } from "./log_sender.ts";
   * import assert from "node:assert/strict";
   * const rows: string[] = [];
   * const sender = createLogSender({
   *   push: () => Promise.resolve({ eventId: "e" }),
   *   bulkPush: () => Promise.resolve([]),
   *   putLog: (input) => {
   *     rows.push(input.message);
   *     return Promise.resolve();
   *   },
   *   putStreamEvent: () => Promise.resolve(),
   * });
   * const line = (message: string) => ({ taskRunExternalId: "run", createdAt: new Date(), message });
   * for (let i = 0; i < 20; i++) sender.putLog("run/0", line(`${i}`));
   * sender.putLog("run/0", line('{"i":20}'), { structured: true });
   * await sender.flush("run/0");
   * // The first line left at once; the 19 that waited behind it share a row; JSON stays alone.
   * assert.deepEqual(rows.length, 3);
   * assert.equal(rows[1].split("\n").length, 19);
   * assert.equal(rows[2], '{"i":20}');
   * await sender.close();
   * ```
   */
  putLog(key: string, input: PutLogInput, options?: { structured?: boolean }): Promise<void>;
  /**
   * Queues a stream chunk behind the earlier ones of the same attempt; chunks are never merged.
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
   * @returns Settles (never rejects) once those lines and chunks settled.
   */
  flush(key: string): Promise<void>;
  /**
   * Waits until every queue is empty.
   *
   * @returns Settles (never rejects) once nothing is queued.
   */
  close(): Promise<void>;
}

/**
 * Options of {@link createLogSender}.
 *
 * @example
 * ```ts
 * import { createLogSender, type LogSenderOptions } from "./log_sender.ts";
 * const options: LogSenderOptions = { attempts: 3, baseDelayMs: 50, timeoutMs: 5_000 };
 * const sender = createLogSender({
 *   push: () => Promise.resolve({ eventId: "e" }),
 *   bulkPush: () => Promise.resolve([]),
 *   putLog: () => Promise.resolve(),
 *   putStreamEvent: () => Promise.resolve(),
 * }, options);
 * await sender.close();
 * ```
 */
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

interface QueuedLine {
  input: PutLogInput;
  /** Structured or empty: always its own request. */
  alone: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

interface LogQueue {
  lines: QueuedLine[];
  /** Index of the first waiting line in `lines` (the array is compacted now and then). */
  head: number;
  busy: boolean;
  /** Settles (never rejects) when the last queued line settled. */
  last: Promise<void>;
}

/**
 * Creates the per-worker sender of logs and stream events.
 *
 * @param events The events port.
 * @param options Retry settings.
 * @returns The sender.
 * @example
 * ```ts
 * import { createLogSender } from "./log_sender.ts";
 * import assert from "node:assert/strict";
 * const chunks: string[] = [];
 * const sender = createLogSender({
 *   push: () => Promise.resolve({ eventId: "e" }),
 *   bulkPush: () => Promise.resolve([]),
 *   putLog: () => Promise.resolve(),
 *   putStreamEvent: (input) => {
 *     chunks.push(new TextDecoder().decode(input.message));
 *     return Promise.resolve();
 *   },
 * });
 * const chunk = (text: string, eventIndex: number) => ({
 *   taskRunExternalId: "run", createdAt: new Date(), message: new TextEncoder().encode(text),
 *   eventIndex,
 * });
 * sender.putStream("run/0", chunk("a", 0));
 * await sender.putStream("run/0", chunk("b", 1));
 * assert.deepEqual(chunks, ["a", "b"]);
 * await sender.close();
 * ```
 */
export function createLogSender(events: EventsPort, options: LogSenderOptions = {}): LogSender {
  const logQueues = new Map<string, LogQueue>();
  const streamTails = new Map<string, Promise<void>>();
  const retry = {
    attempts: options.attempts ?? 6,
    baseMs: options.baseDelayMs ?? 100,
    maxMs: options.maxDelayMs ?? 2_000,
    signal: options.signal,
  };
  const timeoutMs = options.timeoutMs ?? 10_000;

  function sendNextLog(key: string, queue: LogQueue): void {
    const batch = takeBatch(queue);
    if (batch.length === 0) {
      queue.busy = false;
      logQueues.delete(key);
      return;
    }
    queue.busy = true;
    const input = batch.length === 1
      ? batch[0].input
      : { ...batch[0].input, message: batch.map((line) => line.input.message).join("\n") };
    retryTransient(() => events.putLog(input, { timeoutMs }), retry).then(
      () => {
        for (const line of batch) line.resolve();
        sendNextLog(key, queue);
      },
      (err) => {
        for (const line of batch) line.reject(err);
        sendNextLog(key, queue);
      },
    );
  }

  return {
    putLog(key, input, lineOptions) {
      let queue = logQueues.get(key);
      if (queue === undefined) {
        queue = { lines: [], head: 0, busy: false, last: Promise.resolve() };
        logQueues.set(key, queue);
      }
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      const alone = lineOptions?.structured === true || input.message === "";
      queue.lines.push({ input, alone, resolve, reject });
      queue.last = promise.then(noop, noop);
      if (!queue.busy) sendNextLog(key, queue);
      return promise;
    },
    putStream(key, input) {
      const previous = streamTails.get(key) ?? Promise.resolve();
      const delivered = previous.then(() =>
        retryTransient(() => events.putStreamEvent(input, { timeoutMs }), retry)
      );
      const settled = delivered.then(noop, noop);
      streamTails.set(key, settled);
      settled.then(() => {
        if (streamTails.get(key) === settled) streamTails.delete(key);
      });
      return delivered;
    },
    async flush(key) {
      await Promise.all([logQueues.get(key)?.last, streamTails.get(key)]);
    },
    async close() {
      while (logQueues.size > 0 || streamTails.size > 0) {
        await Promise.all([
          ...[...logQueues.values()].map((queue) => queue.last),
          ...streamTails.values(),
        ]);
      }
    },
  };
}

/** Removes and returns the lines of the next request, per the rule in the module comment. */
function takeBatch(queue: LogQueue): QueuedLine[] {
  const { lines, head } = queue;
  const waiting = lines.length - head;
  if (waiting === 0) return [];
  const first = lines[head];
  let end = head + 1;
  if (waiting > MERGE_BACKLOG && !first.alone) {
    let length = first.input.message.length;
    while (end < lines.length) {
      const next = lines[end];
      length += 1 + next.input.message.length;
      if (next.alone || length > MAX_LOG_LENGTH || !sameRow(first.input, next.input)) break;
      end++;
    }
  }
  const batch = lines.slice(head, end);
  queue.head = end;
  // Drop sent lines once they are most of the array, so a long queue costs O(1) per line.
  if (queue.head > 1_024 && queue.head * 2 > lines.length) {
    queue.lines = lines.slice(queue.head);
    queue.head = 0;
  } else if (queue.head === lines.length) {
    queue.lines = [];
    queue.head = 0;
  }
  return batch;
}

function sameRow(a: PutLogInput, b: PutLogInput): boolean {
  return (a.level ?? "INFO") === (b.level ?? "INFO") &&
    a.taskRunExternalId === b.taskRunExternalId &&
    a.taskRetryCount === b.taskRetryCount &&
    (a.metadata ?? "") === (b.metadata ?? "");
}

function noop(): void {}
