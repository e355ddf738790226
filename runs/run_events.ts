// Reading one run's `SubscribeToWorkflowEvents` stream: its task events and stream chunks. The
// engine attaches a subscriber only once the run is in its OLAP store (it retries each second
// for ten seconds, then answers NOT_FOUND), publishes chunks without storing them, and ends the
// stream after the run's own COMPLETED/FAILED/CANCELLED event (marked `hangup`), or at once,
// empty, when the run had already finished. So this reader re-subscribes after NOT_FOUND (a run
// triggered a moment ago) and after a lost connection, and takes a clean end as the run's end.

import type { SubscriptionsPort, WorkflowEventData } from "../transport/ports.ts";
import { isTransient, RpcError } from "../transport/rpc_error.ts";
import { backoffDelay, sleep } from "../transport/retry.ts";
import type { RunEvent, StreamChunk } from "./types.ts";

/** Options of {@link runEvents}. */
export interface RunEventsOptions {
  /** Ends the iteration (it returns quietly). */
  signal?: AbortSignal;
  /** Subscriptions answered NOT_FOUND before giving up; default 6 (about a minute on an engine). */
  notFoundAttempts?: number;
  /** Lost connections in a row before giving up; default 5. */
  maxAttempts?: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Yields the engine's events for one run until it ends, re-subscribing as the module comment
 * says. Events repeat only if the engine repeats them; {@link runStream} drops repeated chunks.
 *
 * @param port The subscription RPCs.
 * @param runId The workflow run id.
 * @param options Abort signal and retry limits.
 * @returns An async generator of run events.
 * @throws {RpcError} When the run stays unknown, or the stream fails for good.
 */
export async function* runEvents(
  port: SubscriptionsPort,
  runId: string,
  options: RunEventsOptions = {},
): AsyncGenerator<RunEvent, void, undefined> {
  const notFoundAttempts = options.notFoundAttempts ?? 6;
  const maxAttempts = options.maxAttempts ?? 5;
  const signal = options.signal;
  let notFound = 0;
  let failures = 0;
  while (!signal?.aborted) {
    try {
      for await (
        const event of port.subscribeToWorkflowEvents({ workflowRunId: runId }, { signal })
      ) {
        failures = 0;
        notFound = 0;
        const out = toRunEvent(event);
        if (out !== undefined) yield out;
        if (event.hangup) return;
      }
      return;
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof RpcError && err.code === "not_found") {
        if (++notFound >= notFoundAttempts) throw err;
        await sleep(backoffDelay(notFound, 500, 5_000), signal).catch(() => {});
        continue;
      }
      if (!isTransient(err) || ++failures >= maxAttempts) throw err;
      await sleep(backoffDelay(failures, 100, 5_000), signal).catch(() => {});
    }
  }
}

function toRunEvent(e: WorkflowEventData): RunEvent | undefined {
  if (e.eventType === "UNKNOWN") return undefined;
  const scope = e.resourceType === "WORKFLOW_RUN" ? "run" : "task";
  return {
    scope,
    type: e.eventType,
    taskRunId: scope === "task" ? e.resourceId : undefined,
    payload: e.eventPayload,
    retryCount: e.retryCount,
    index: e.eventIndex,
    at: e.eventTimestamp,
  };
}

interface TaskChunks {
  /** The index expected next; undefined until the first chunk. */
  next: number | undefined;
  /** Chunks that arrived ahead of a gap, by index. */
  ahead: Map<number, StreamChunk>;
}

/**
 * Yields a run's stream chunks in `event_index` order per task, dropping repeats. A chunk that
 * arrives ahead of a gap waits for the gap to fill, or for its task (or the run) to end.
 *
 * @param events The run's events (from {@link runEvents}).
 * @returns An async generator of chunks.
 */
export async function* runStream(
  events: AsyncIterable<RunEvent>,
): AsyncGenerator<StreamChunk, void, undefined> {
  const tasks = new Map<string, TaskChunks>();
  function* flush(state: TaskChunks): Generator<StreamChunk> {
    for (const index of [...state.ahead.keys()].sort((a, b) => a - b)) {
      yield state.ahead.get(index)!;
      state.next = index + 1;
    }
    state.ahead.clear();
  }
  for await (const event of events) {
    if (event.scope === "run") break;
    const taskRunId = event.taskRunId ?? "";
    if (event.type !== "STREAM") {
      // The attempt ended (or a new one began): its chunks are all in, and a retry counts its
      // chunks from 0 again under the same task run id.
      const state = tasks.get(taskRunId);
      if (state) yield* flush(state);
      tasks.delete(taskRunId);
      continue;
    }
    const chunk = toChunk(taskRunId, event);
    if (chunk.index === undefined) {
      yield chunk;
      continue;
    }
    let state = tasks.get(taskRunId);
    if (state === undefined) {
      state = { next: undefined, ahead: new Map() };
      tasks.set(taskRunId, state);
    }
    // The first chunk seen starts the count: a consumer that attached late never sees the
    // earlier ones (the engine does not keep them), and waiting for them would block forever.
    state.next ??= chunk.index;
    if (chunk.index < state.next || state.ahead.has(chunk.index)) continue;
    if (chunk.index > state.next) {
      state.ahead.set(chunk.index, chunk);
      continue;
    }
    yield chunk;
    state.next++;
    while (state.ahead.has(state.next)) {
      const ready = state.ahead.get(state.next)!;
      state.ahead.delete(state.next);
      yield ready;
      state.next++;
    }
  }
  for (const state of tasks.values()) yield* flush(state);
}

function toChunk(taskRunId: string, event: RunEvent): StreamChunk {
  const data = encoder.encode(event.payload);
  return {
    taskRunId,
    index: event.index,
    data,
    text: () => decoder.decode(data),
  };
}
