// A reference to one workflow run: its outcome through the client's shared run subscription,
// its stream chunks and events through a subscription of its own.

import type {
  AdminPort,
  RunDetailsData,
  SubscriptionsPort,
  WorkflowRunEventData,
} from "../transport/ports.ts";
import { RpcError } from "../transport/rpc_error.ts";
import { sleep } from "../transport/retry.ts";
import type { JsonObject } from "../transport/types.ts";
import type { RunListener } from "./run_listener.ts";
import { runEvents, runStream } from "./run_events.ts";
import type { RunEvent, RunRef, RunResult, StreamChunk } from "./types.ts";

/** What a {@link RunRef} talks through. */
export interface RunRefDeps {
  admin: AdminPort;
  subscriptions: SubscriptionsPort;
  listener: RunListener;
}

const MAX_POLL_MS = 1_000;

/**
 * Builds the reference to run `id`.
 *
 * @param deps The ports and the client's run listener.
 * @param id The workflow run id.
 * @returns The reference.
 */
export function createRunRef(deps: RunRefDeps, id: string): RunRef {
  return {
    id,
    async result(options?: { signal?: AbortSignal }): Promise<RunResult> {
      const signal = options?.signal;
      let event: WorkflowRunEventData;
      try {
        event = await deps.listener.wait(id, { signal });
      } catch (err) {
        // An engine (or proxy) without the subscription RPC: fall back to polling.
        if (rootCode(err) === "unimplemented") return await poll(deps.admin, id, signal);
        throw err;
      }
      // The event says which tasks failed but not which were cancelled: the run's details do.
      try {
        const details = await deps.admin.getRunDetails(id, { signal });
        if (details.done) return fromDetails(details);
      } catch (err) {
        signal?.throwIfAborted();
        if (!(err instanceof RpcError)) throw err;
      }
      return fromEvent(event);
    },
    stream(options?: { signal?: AbortSignal }): AsyncIterable<StreamChunk> {
      return runStream(runEvents(deps.subscriptions, id, options));
    },
    events(options?: { signal?: AbortSignal }): AsyncIterable<RunEvent> {
      return runEvents(deps.subscriptions, id, options);
    },
  };
}

function rootCode(err: unknown): string | undefined {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof RpcError) return e.code;
    e = e.cause;
  }
  return undefined;
}

async function poll(admin: AdminPort, id: string, signal?: AbortSignal): Promise<RunResult> {
  let delay = 5;
  for (;;) {
    signal?.throwIfAborted();
    const details = await admin.getRunDetails(id, { signal }).catch((err) => {
      // The engine answers a trigger before the run exists when its optimistic scheduler is
      // busy: NOT_FOUND here means "not visible yet", never "no such run".
      if (err instanceof RpcError && err.code === "not_found") return undefined;
      throw err;
    });
    if (details?.done) return fromDetails(details);
    await sleep(delay, signal);
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }
}

/** A run's outcome from `GetRunDetails`. */
export function fromDetails(details: RunDetailsData): RunResult {
  const outputs: Record<string, JsonObject> = {};
  const errors: Record<string, string> = {};
  for (const task of Object.values(details.taskRuns)) {
    if (task.status === "COMPLETED") outputs[task.readableId] = task.output ?? {};
    if (task.status === "FAILED") errors[task.readableId] = task.error ?? "";
  }
  const status = details.status === "COMPLETED" || details.status === "FAILED"
    ? details.status
    : "CANCELLED";
  return { status, outputs, errors };
}

/** A run's outcome from its run-finished event alone (when the details are not available). */
export function fromEvent(event: WorkflowRunEventData): RunResult {
  const outputs: Record<string, JsonObject> = {};
  const errors: Record<string, string> = {};
  for (const r of event.results) {
    if (r.error !== undefined) errors[r.taskName] = r.error;
    else if (r.output !== undefined) outputs[r.taskName] = parseObject(r.output);
  }
  return { status: Object.keys(errors).length > 0 ? "FAILED" : "COMPLETED", outputs, errors };
}

function parseObject(text: string): JsonObject {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}
