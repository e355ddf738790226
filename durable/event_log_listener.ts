import type {
  DurableTaskPort,
  DurableTaskRequestData,
  DurableTaskResponseData,
  DurableTriggerInput,
  EntryRefData,
} from "../transport/ports.ts";
import type { JsonValue } from "../transport/types.ts";
import { describeValue } from "../transport/describe.ts";
import { createSharedStream, nonNegativeOption } from "../transport/_shared_stream.ts";
import type {
  DurableChildHandle,
  DurablePath,
  DurableRun,
  DurableRunOptions,
} from "./durable_path.ts";
import { NonDeterminismError } from "./non_determinism_error.ts";

/** Options of {@link createEventLogListener}. */
export interface EventLogListenerOptions {
  /** The worker's id (`register_worker`, `worker_status`); read when a stream opens. */
  workerId: () => string | undefined;
  /**
   * How long a `memo` / `wait_for` / `trigger_runs` waits for its ack; default 60 000 ms. The
   * engine answers most failures with nothing at all, so this is what ends such a call.
   */
  ackTimeoutMs?: number;
  /** How long an `evict_invocation` waits for its ack; default 30 000 ms. */
  evictionAckTimeoutMs?: number;
  /** Period of `worker_status` polls while results are pending; default 5 000 ms. */
  statusIntervalMs?: number;
  /** Reconnect delays: the first (default 100 ms) doubles per failure up to the cap (5 000 ms). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Called when the engine tells the worker to stop an invocation (`server_evict`). */
  onServerEvict?: (taskRunId: string, invocationCount: number, reason: string) => void;
}

/** Thrown into an invocation's pending calls once it is evicted (by the worker or the engine). */
export class InvocationEvictedError extends Error {
  /**
   * @param taskRunId The task run.
   * @param invocationCount Its invocation.
   * @param reason Why.
   */
  constructor(taskRunId: string, invocationCount: number, reason: string) {
    super(
      `Durable task run ${
        JSON.stringify(taskRunId)
      } invocation ${invocationCount} was evicted: ${reason}`,
    );
    this.name = "InvocationEvictedError";
  }
}

type AckKind = "memoAck" | "waitForAck" | "triggerRunsAck";
type Completed = Extract<DurableTaskResponseData, { kind: "entryCompleted" }>;

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Waiter {
  resolve: (value: Completed) => void;
  reject: (error: unknown) => void;
}

interface Invocation {
  taskId: string;
  count: number;
  signal: AbortSignal;
  onAbort: () => void;
  /** Tail of the per-invocation send lock: one request awaiting its ack at a time. */
  lock: Promise<void>;
  ack: (Pending<DurableTaskResponseData> & { kind: AckKind; what: string }) | undefined;
  eviction: Pending<void> | undefined;
  /** Completions not yet handed out, in arrival order (the engine's satisfied order). */
  queue: Completed[];
  queued: Set<string>;
  delivered: Set<string>;
  waiters: Map<string, Waiter>;
  /** Memo nodes: their completion repeats the ack and is dropped. */
  memoNodes: Set<string>;
  closed: boolean;
}

const nodeKey = (branchId: number, nodeId: number): string => `${branchId}:${nodeId}`;
const invKey = (taskId: string, count: number): string => `${taskId}/${count}`;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const STATUS_BATCH = 10_000;

/**
 * Creates a worker's listener for the durable event-log path: one `DurableTask` stream,
 * opened on the first durable call and shared by every durable task of the worker. Requests of
 * one invocation go one at a time (the engine matches acks by task and invocation only);
 * completions are handed out in arrival order, buffered until their waiter exists; a lost
 * stream fails the calls still awaiting an ack, keeps the waits, and reconnects with
 * `register_worker` then `worker_status` for the waits.
 *
 * @param port The `DurableTask` RPC.
 * @param options The worker id source, timeouts and the server-eviction callback.
 * @returns The listener; close it when the worker stops.
 * @throws {RangeError} When a timeout is negative or not a number.
 * @example
 * ```ts
 * import { createEventLogListener } from "./event_log_listener.ts";
 * import type { DurableTaskPort } from "../transport/ports.ts";
 * import assert from "node:assert/strict";
 * const port: DurableTaskPort = {
 *   async *durableTask(requests) {
 *     for await (const r of requests) {
 *       if (r.kind !== "waitFor") continue;
 *       const ref = { taskId: r.taskId, invocationCount: r.invocationCount, branchId: 1, nodeId: 1 };
 *       yield { kind: "waitForAck", ref };
 *       const payload = new TextEncoder().encode('{"CREATE":{"ok":[1]}}');
 *       yield { kind: "entryCompleted", ref, payload, isFailure: false };
 *     }
 *   },
 * };
 * await using listener = createEventLogListener(port, { workerId: () => "w-1" });
 * const run = listener.open({ taskRunId: "t-1", invocationCount: 1, signal: new AbortController().signal });
 * const conditions = { sleepConditions: [], userEventConditions: [] };
 * assert.deepEqual(await run.wait("ok", conditions, { description: "ok" }), { CREATE: { ok: [1] } });
 * run.close();
 * ```
 */
export function createEventLogListener(
  port: DurableTaskPort,
  options: EventLogListenerOptions,
): DurablePath {
  const ackTimeoutMs = nonNegativeOption(options.ackTimeoutMs, "ackTimeoutMs", 60_000);
  const evictionAckTimeoutMs = nonNegativeOption(
    options.evictionAckTimeoutMs,
    "evictionAckTimeoutMs",
    30_000,
  );
  const statusIntervalMs = nonNegativeOption(options.statusIntervalMs, "statusIntervalMs", 5_000);

  const invocations = new Map<string, Invocation>();
  let closed = false;
  let statusTimer: ReturnType<typeof setTimeout> | undefined;
  let waiterCount = 0;
  let backlog: DurableTaskRequestData[] = [];

  // Opened by the first request, never idle-closed, reconnected until the worker stops.
  const stream = createSharedStream<DurableTaskRequestData, DurableTaskResponseData>({
    name: "Durable task stream",
    open: (requests, signal) => port.durableTask(requests, { signal }),
    wanted: () => true,
    preamble(push) {
      const workerId = options.workerId();
      if (workerId !== undefined) push({ kind: "registerWorker", workerId });
      sendStatus(push);
      const carried = backlog;
      backlog = [];
      for (const request of carried) push(request);
    },
    onMessage: handle,
    // The engine may or may not have seen a request still awaiting its ack: fail those calls
    // (the attempt fails and is retried); waits already acknowledged survive the reconnect.
    onLost(error) {
      const lost = new Error(
        `Durable task stream ended before the engine acknowledged the request${
          error === undefined ? "" : `: ${error instanceof Error ? error.message : String(error)}`
        }`,
        { cause: error },
      );
      for (const inv of invocations.values()) {
        if (inv.ack) settleAck(inv, undefined, lost);
        if (inv.eviction) settleEviction(inv, lost);
      }
    },
    onGiveUp: () => {},
    idleTimeoutMs: Infinity,
    initialMs: nonNegativeOption(options.backoff?.initialMs, "backoff.initialMs", 100),
    maxMs: nonNegativeOption(options.backoff?.maxMs, "backoff.maxMs", 5_000),
    maxAttempts: Infinity,
  });

  function send(request: DurableTaskRequestData): void {
    if (closed) return;
    stream.start();
    // Without a stream the request waits for the next one (sent after its worker_status).
    if (!stream.push(request)) backlog.push(request);
  }

  function waitingEntries(): {
    taskId: string;
    invocationCount: number;
    branchId: number;
    nodeId: number;
  }[] {
    const out = [];
    for (const inv of invocations.values()) {
      for (const key of inv.waiters.keys()) {
        if (inv.memoNodes.has(key)) continue;
        const [branchId, nodeId] = key.split(":").map(Number);
        out.push({ taskId: inv.taskId, invocationCount: inv.count, branchId, nodeId });
      }
    }
    return out;
  }

  function sendStatus(push: (request: DurableTaskRequestData) => void): void {
    const workerId = options.workerId() ?? "";
    const waiting = waitingEntries();
    for (let i = 0; i < waiting.length; i += STATUS_BATCH) {
      push({
        kind: "workerStatus",
        workerId,
        waiting: waiting.slice(i, i + STATUS_BATCH),
      });
    }
  }

  function armStatus(): void {
    if (statusTimer !== undefined || closed || waiterCount === 0 || statusIntervalMs === 0) return;
    statusTimer = setTimeout(() => {
      statusTimer = undefined;
      if (stream.connected) sendStatus(stream.push);
      armStatus();
    }, statusIntervalMs);
  }

  function disarmStatus(): void {
    if (statusTimer !== undefined) clearTimeout(statusTimer);
    statusTimer = undefined;
  }

  function settleAck(
    inv: Invocation,
    response: DurableTaskResponseData | undefined,
    error?: unknown,
  ): void {
    const ack = inv.ack;
    if (!ack) return;
    inv.ack = undefined;
    if (ack.timer !== undefined) clearTimeout(ack.timer);
    if (error !== undefined) ack.reject(error);
    else ack.resolve(response!);
  }

  function settleEviction(inv: Invocation, error?: unknown): void {
    const eviction = inv.eviction;
    if (!eviction) return;
    inv.eviction = undefined;
    if (eviction.timer !== undefined) clearTimeout(eviction.timer);
    if (error !== undefined) eviction.reject(error);
    else eviction.resolve();
  }

  function handle(response: DurableTaskResponseData): void {
    switch (response.kind) {
      case "registerWorker":
        return;
      case "memoAck":
      case "waitForAck": {
        const inv = invocations.get(invKey(response.ref.taskId, response.ref.invocationCount));
        if (inv?.ack?.kind === response.kind) settleAck(inv, response);
        return;
      }
      case "triggerRunsAck": {
        const inv = invocations.get(invKey(response.taskId, response.invocationCount));
        if (inv?.ack?.kind === "triggerRunsAck") settleAck(inv, response);
        return;
      }
      case "entryCompleted": {
        const inv = invocations.get(invKey(response.ref.taskId, response.ref.invocationCount));
        if (inv) complete(inv, response);
        return;
      }
      case "error": {
        const inv = invocations.get(invKey(response.ref.taskId, response.ref.invocationCount));
        if (!inv) return;
        if (response.nondeterminism) {
          const expected = /expected: ([^\n]*)/.exec(response.message)?.[1];
          const received = /received: ([^\n]*)/.exec(response.message)?.[1];
          const what = inv.ack?.what ?? "a durable call";
          const err = new NonDeterminismError(
            inv.taskId,
            response.ref.nodeId,
            response.ref.branchId,
            expected !== undefined
              ? { expected, received: `${what}${received ? ` (engine: ${received})` : ""}` }
              : { engineMessage: response.message },
          );
          settleAck(inv, undefined, err);
          const waiter = inv.waiters.get(nodeKey(response.ref.branchId, response.ref.nodeId));
          waiter?.reject(err);
          return;
        }
        const err = new Error(
          `The engine rejected a durable request of task run ${
            JSON.stringify(inv.taskId)
          }: ${response.message}`,
        );
        if (inv.eviction) settleEviction(inv, err);
        else settleAck(inv, undefined, err);
        return;
      }
      case "evictionAck": {
        const inv = invocations.get(invKey(response.taskId, response.invocationCount));
        if (inv) settleEviction(inv);
        return;
      }
      case "serverEvict": {
        const inv = invocations.get(invKey(response.taskId, response.invocationCount));
        if (inv) {
          drop(inv, new InvocationEvictedError(inv.taskId, inv.count, response.reason));
        }
        options.onServerEvict?.(response.taskId, response.invocationCount, response.reason);
        return;
      }
    }
  }

  function complete(inv: Invocation, completed: Completed): void {
    const key = nodeKey(completed.ref.branchId, completed.ref.nodeId);
    if (inv.memoNodes.has(key)) return;
    if (inv.delivered.has(key)) return;
    if (inv.queued.has(key)) return;
    inv.queue.push(completed);
    inv.queued.add(key);
    drain(inv);
  }

  // The head is released only to its waiter: on replay the coroutines then resume in the order
  // the engine satisfied their entries, so they re-issue their next calls in the recorded order.
  function drain(inv: Invocation): void {
    while (inv.queue.length > 0) {
      const head = inv.queue[0];
      const key = nodeKey(head.ref.branchId, head.ref.nodeId);
      const waiter = inv.waiters.get(key);
      if (!waiter) return;
      inv.queue.shift();
      inv.queued.delete(key);
      inv.delivered.add(key);
      inv.waiters.delete(key);
      waiterCount--;
      waiter.resolve(head);
    }
  }

  function drop(inv: Invocation, reason: unknown): void {
    if (inv.closed) return;
    inv.closed = true;
    invocations.delete(invKey(inv.taskId, inv.count));
    inv.signal.removeEventListener("abort", inv.onAbort);
    settleAck(inv, undefined, reason);
    settleEviction(inv, reason);
    const waiters = [...inv.waiters.values()];
    waiterCount -= inv.waiters.size;
    inv.waiters.clear();
    inv.queue = [];
    inv.queued.clear();
    for (const w of waiters) w.reject(reason);
    if (waiterCount === 0) disarmStatus();
  }

  function open(runOptions: DurableRunOptions): DurableRun {
    const { taskRunId, invocationCount, signal, onWaiting } = runOptions;
    if (typeof taskRunId !== "string" || taskRunId === "") {
      throw new TypeError(
        `Invalid task run id: expected a non-empty string, received ${describeValue(taskRunId)}`,
      );
    }
    if (closed) throw new Error("Durable task listener is closed");
    const key = invKey(taskRunId, invocationCount);
    // A stale state of the same invocation (a repeated assignment) gives way to the new one;
    // so do older invocations of the task, which the engine superseded.
    for (let count = invocationCount; count >= 1; count--) {
      const other = invocations.get(invKey(taskRunId, count));
      if (other) {
        drop(
          other,
          new InvocationEvictedError(taskRunId, other.count, "superseded by a newer invocation"),
        );
      }
    }
    const inv: Invocation = {
      taskId: taskRunId,
      count: invocationCount,
      signal,
      onAbort: () => drop(inv, signal.reason),
      lock: Promise.resolve(),
      ack: undefined,
      eviction: undefined,
      queue: [],
      queued: new Set(),
      delivered: new Set(),
      waiters: new Map(),
      memoNodes: new Set(),
      closed: false,
    };
    invocations.set(key, inv);
    signal.addEventListener("abort", inv.onAbort, { once: true });

    function ensureOpen(): void {
      if (signal.aborted) throw signal.reason;
      if (inv.closed) {
        throw new Error(
          `Durable task run ${JSON.stringify(taskRunId)} invocation ${invocationCount} is closed`,
        );
      }
    }

    // Sends `request` once every earlier request of the invocation was acknowledged, and
    // resolves with its ack.
    function request<K extends AckKind>(
      kind: K,
      what: string,
      body: DurableTaskRequestData,
    ): Promise<Extract<DurableTaskResponseData, { kind: K }>> {
      const result = inv.lock.then(() => {
        ensureOpen();
        return new Promise<DurableTaskResponseData>((resolve, reject) => {
          const timer = ackTimeoutMs === Infinity ? undefined : setTimeout(() => {
            settleAck(
              inv,
              undefined,
              new Error(
                `The engine did not acknowledge ${what} of durable task run ${
                  JSON.stringify(taskRunId)
                } within ${ackTimeoutMs} ms`,
              ),
            );
          }, ackTimeoutMs);
          inv.ack = { kind, what, resolve, reject, timer };
          send(body);
        });
      });
      inv.lock = result.then(() => {}, () => {});
      return result as Promise<Extract<DurableTaskResponseData, { kind: K }>>;
    }

    function waitFor(branchId: number, nodeId: number): Promise<Completed> {
      ensureOpen();
      const key = nodeKey(branchId, nodeId);
      const promise = new Promise<Completed>((resolve, reject) => {
        inv.waiters.set(key, { resolve, reject });
      });
      waiterCount++;
      drain(inv);
      if (inv.waiters.has(key)) armStatus();
      return promise;
    }

    async function blockOn<T>(what: string, promise: Promise<T>): Promise<T> {
      onWaiting?.(true, what);
      try {
        return await promise;
      } finally {
        onWaiting?.(false, what);
      }
    }

    const run: DurableRun = {
      path: "event-log",
      invocationCount,
      async wait(_signalKey, conditions, waitOptions) {
        const ack = await request("waitForAck", waitOptions.description, {
          kind: "waitFor",
          taskId: taskRunId,
          invocationCount,
          conditions,
          label: waitOptions.label,
        });
        const completion = waitFor(ack.ref.branchId, ack.ref.nodeId);
        const done = await blockOn(waitOptions.description, completion);
        return parsePayload(done.payload, taskRunId, done.ref);
      },
      async memo(memoKey, compute, memoOptions) {
        const key = await sha256(`${taskRunId}${memoKey}`);
        const ack = await request("memoAck", memoOptions.description, {
          kind: "memo",
          taskId: taskRunId,
          invocationCount,
          key,
        });
        inv.memoNodes.add(nodeKey(ack.ref.branchId, ack.ref.nodeId));
        if (ack.alreadyExisted && ack.result !== undefined && ack.result.length > 0) {
          return parsePayload(ack.result, taskRunId, ack.ref);
        }
        const value = await compute();
        ensureOpen();
        const text = JSON.stringify(value);
        if (text === undefined) {
          throw new TypeError(
            `Invalid memo result for key ${
              JSON.stringify(memoKey)
            }: expected a JSON value, received ${describeValue(value)}`,
          );
        }
        send({
          kind: "completeMemo",
          ref: ack.ref,
          payload: encoder.encode(text),
          memoKey: key,
        });
        return JSON.parse(text) as JsonValue;
      },
      async spawn(triggers: DurableTriggerInput[]): Promise<DurableChildHandle[]> {
        const names = triggers.map((t) => t.name).join(", ");
        const ack = await request("triggerRunsAck", `run(${names})`, {
          kind: "triggerRuns",
          taskId: taskRunId,
          invocationCount,
          triggers,
        });
        if (ack.entries.length !== triggers.length) {
          throw new Error(
            `The engine acknowledged ${ack.entries.length} child runs for ${triggers.length} spawned by durable task run ${
              JSON.stringify(taskRunId)
            }`,
          );
        }
        return ack.entries.map((entry, i) => {
          // The waiter exists from the ack on, so the child's completion never blocks the queue.
          const completion = waitFor(entry.branchId, entry.nodeId);
          completion.catch(() => {});
          let result: Promise<JsonValue> | undefined;
          return {
            workflowRunId: entry.workflowRunId,
            result(): Promise<JsonValue> {
              result ??= blockOn(`child ${triggers[i].name}`, completion).then((done) => {
                if (done.isFailure) {
                  throw new Error(
                    done.errorMessage ?? `Child run ${entry.workflowRunId} failed`,
                  );
                }
                return parsePayload(done.payload, taskRunId, done.ref);
              });
              return result;
            },
          };
        });
      },
      async evict(reason) {
        ensureOpen();
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            settleEviction(
              inv,
              new Error(
                `The engine did not acknowledge the eviction of durable task run ${
                  JSON.stringify(taskRunId)
                } within ${evictionAckTimeoutMs} ms`,
              ),
            );
          }, evictionAckTimeoutMs);
          inv.eviction = { resolve, reject, timer };
          send({ kind: "evictInvocation", taskId: taskRunId, invocationCount, reason });
        });
        drop(inv, new InvocationEvictedError(taskRunId, invocationCount, reason));
      },
      close() {
        drop(
          inv,
          new Error(
            `Durable task run ${JSON.stringify(taskRunId)} invocation ${invocationCount} is closed`,
          ),
        );
      },
    };
    return run;
  }

  async function close(): Promise<void> {
    const ended = stream.close();
    if (!closed) {
      closed = true;
      disarmStatus();
      for (const inv of [...invocations.values()]) {
        drop(inv, new Error("Durable task listener is closed"));
      }
    }
    await ended;
  }

  return {
    kind: "event-log",
    open,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function parsePayload(bytes: Uint8Array, taskId: string, ref: EntryRefData): JsonValue {
  if (bytes.length === 0) return {};
  try {
    return JSON.parse(decoder.decode(bytes)) as JsonValue;
  } catch (err) {
    throw new SyntaxError(
      `Invalid durable result for task run ${
        JSON.stringify(taskId)
      } at node ${ref.nodeId}:${ref.branchId}: not JSON: ${(err as Error).message}`,
    );
  }
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}
