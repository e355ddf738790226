// The one interface DurableContext talks to, whichever engine path serves it: the event log
// (`DurableTask` stream, engines >= v0.80.0, event_log_listener.ts) or the legacy
// RegisterDurableEvent / ListenForDurableEvent pair (legacy_listener.ts).

import type { DurableConditionsInput, DurableTriggerInput } from "../transport/ports.ts";
import type { JsonValue } from "../transport/types.ts";

/** What a durable attempt is bound to. */
export interface DurableRunOptions {
  /** The task run's external id. */
  taskRunId: string;
  /** `AssignedAction.durable_task_invocation_count`, 1 when the engine sent none. */
  invocationCount: number;
  /** The attempt's signal: aborting it ends every pending call of the attempt. */
  signal: AbortSignal;
  /**
   * Called with `true` when the attempt starts blocking on an engine result (a wait, a child's
   * result) and `false` when it stops; `what` describes the wait (eviction reasons quote it).
   */
  onWaiting?: (waiting: boolean, what: string) => void;
}

/** A child run spawned by a durable task. */
export interface DurableChildHandle {
  /** The child workflow run's id. */
  readonly workflowRunId: string;
  /** The child's output (its task's output for a one-task workflow, else by task name). */
  result(): Promise<JsonValue>;
}

/** One attempt's durable operations on one engine path. */
export interface DurableRun {
  /** Which engine path serves the attempt. */
  readonly path: "event-log" | "legacy";
  /** The attempt's invocation count. */
  readonly invocationCount: number;
  /** Registers a wait and resolves with the `{ CREATE: {...} }` data that satisfied it. */
  wait(
    signalKey: string,
    conditions: DurableConditionsInput,
    options: { description: string; label?: string },
  ): Promise<JsonValue>;
  /** Runs `compute` once per task run and replays its JSON result (legacy: just runs it). */
  memo(
    key: string,
    compute: () => Promise<JsonValue>,
    options: { description: string },
  ): Promise<JsonValue>;
  /** Spawns children (event log only) so that a replay does not spawn them again. */
  spawn(triggers: DurableTriggerInput[]): Promise<DurableChildHandle[]>;
  /** Asks the engine to evict the attempt; resolves once it acknowledged. */
  evict(reason: string): Promise<void>;
  /** Drops the attempt's state (pending calls reject with the signal's reason or a closed error). */
  close(): void;
}

/** A worker's listener for one engine path. */
export interface DurablePath extends AsyncDisposable {
  /** `"event-log"` or `"legacy"`. */
  readonly kind: "event-log" | "legacy";
  /** Binds one attempt. */
  open(options: DurableRunOptions): DurableRun;
  /** Closes the stream; pending calls fail. */
  close(): Promise<void>;
}
