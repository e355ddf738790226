// The engine-backed TaskRunPort, shared by the worker and the push handler: what a Context's
// log, stream, timeout, slot and cancel helpers do for one attempt.

import type { LogLevel, TaskRunPort } from "../context/create_context.ts";
import type { LogSender } from "../context/log_sender.ts";
import type { AssignedActionData, EnginePorts, PutLogInput } from "../transport/ports.ts";
import { retryTransient } from "../transport/retry.ts";
import type { ChildTrigger, RunsRuntime } from "../runs/runs_client.ts";
import type { RunRef } from "../runs/types.ts";

/** Deadline of one engine call made for a task run. */
export const CALL_TIMEOUT_MS = 30_000;

/** The text of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What {@link engineTaskRunPort} needs. */
export interface EngineTaskRunPortOptions {
  ports: EnginePorts;
  logSender: LogSender;
  /** The attempt's key in the log sender (its lines and chunks are ordered per key). */
  attemptKey: string;
  action: AssignedActionData;
  /** Ends pending retries (the worker or handler is stopping). */
  signal: AbortSignal;
  /** Reports a log line or chunk that could not be delivered. */
  warn: (message: string) => void;
  /** Called once the engine freed the slot. */
  onSlotReleased?: () => void;
  /** The client's runs, for children; without it the context cannot spawn any. */
  runs?: RunsRuntime;
  /** The metadata of each log line (the trace and span ids while tracing). */
  logMetadata?: () => string;
  /** Called for each log line that could not be delivered. */
  onLogDropped?: () => void;
}

/**
 * Builds the port one attempt's Context talks through. Log lines and chunks go through the
 * shared sender (ordered, retried); the other calls retry transient failures a few times.
 */
export function engineTaskRunPort(options: EngineTaskRunPortOptions): TaskRunPort {
  const { ports, logSender, attemptKey, action, signal, warn, runs } = options;
  const id = action.taskRunExternalId;
  let slotReleased = false;
  const warnLost = (what: string) => (err: unknown) =>
    warn(`a ${what} of task run ${id} was not delivered: ${messageOf(err)}`);
  const smallRetry = { attempts: 3, baseMs: 200, maxMs: 2_000, signal };
  const { logMetadata, onLogDropped } = options;
  const warnLine = warnLost("log line");
  const lostLine = (err: unknown) => {
    onLogDropped?.();
    warnLine(err);
  };
  return {
    putLog(
      message: string,
      level: LogLevel,
      lineOptions?: { structured?: boolean },
    ): Promise<void> {
      const input: PutLogInput = {
        taskRunExternalId: id,
        createdAt: new Date(),
        message,
        level,
        taskRetryCount: action.retryCount,
      };
      if (logMetadata !== undefined) input.metadata = logMetadata();
      const sent = logSender.putLog(attemptKey, input, lineOptions);
      sent.catch(lostLine);
      return sent;
    },
    putStream(data: Uint8Array, eventIndex: number): Promise<void> {
      const sent = logSender.putStream(attemptKey, {
        taskRunExternalId: id,
        createdAt: new Date(),
        message: data,
        eventIndex,
      });
      sent.catch(warnLost("stream chunk"));
      return sent;
    },
    async refreshTimeout(incrementBy: string): Promise<void> {
      await retryTransient(
        () => ports.dispatcher.refreshTimeout(id, incrementBy, { timeoutMs: CALL_TIMEOUT_MS }),
        smallRetry,
      );
    },
    async releaseSlot(): Promise<void> {
      if (slotReleased) return;
      await retryTransient(
        () => ports.dispatcher.releaseSlot(id, { timeoutMs: CALL_TIMEOUT_MS }),
        smallRetry,
      );
      slotReleased = true;
      options.onSlotReleased?.();
    },
    async cancel(): Promise<void> {
      await retryTransient(
        () => ports.admin.cancelTasks([id], { timeoutMs: CALL_TIMEOUT_MS }),
        smallRetry,
      );
    },
    ...(runs && {
      // A child is identified by its parent, index and key, so a retried trigger cannot spawn a
      // second run: the engine answers with the first one.
      spawnChildren: (children: ChildTrigger[]): Promise<RunRef[]> =>
        retryTransient(
          () =>
            runs.spawnChildren(
              { workflowRunId: action.workflowRunId, taskRunId: id },
              children,
            ),
          smallRetry,
        ),
    }),
  };
}
