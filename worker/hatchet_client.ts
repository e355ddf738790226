// The client's public shapes, apart from the code that builds a client: the push handler needs
// the type without loading the gRPC transports (and their node: imports) that client.ts pulls in.

import type { ClientConfig } from "../transport/config.ts";
import type { JsonObject } from "../transport/types.ts";
import type { Workflow } from "./workflow.ts";

/** Options of {@link EventsClient.push}. */
export interface PushOptions {
  /** Metadata attached to the event and to the runs it triggers. */
  additionalMetadata?: JsonObject;
  /** 1 (low) to 3 (high). */
  priority?: number;
  /** The event's scope. */
  scope?: string;
}

/** Pushes user events: they trigger workflows (`onEvents`) and wake durable waits. */
export interface EventsClient {
  /**
   * Pushes one event. The key is namespaced.
   *
   * @param key The event key, e.g. `"order:approved"`.
   * @param payload The event payload (a JSON object).
   * @param options Metadata, priority and scope.
   * @returns The engine's event id.
   */
  push(key: string, payload: JsonObject, options?: PushOptions): Promise<{ eventId: string }>;
}

/** Options of {@link RunsClient.trigger}. */
export interface TriggerOptions {
  /** Metadata attached to the run (`ctx.additionalMetadata`). */
  additionalMetadata?: JsonObject;
  /** 1 (low) to 3 (high). */
  priority?: number;
}

/** The outcome of a finished workflow run. */
export interface RunResult {
  /** How the run ended. */
  status: "COMPLETED" | "FAILED" | "CANCELLED";
  /** Task name to output, for each completed task. */
  outputs: Record<string, JsonObject>;
  /** Task name to error text, for each failed task. */
  errors: Record<string, string>;
}

/** A triggered workflow run. */
export interface RunRef {
  /** The workflow run id. */
  readonly id: string;
  /**
   * Waits until the run is done and returns its outcome. Polls the engine with backoff.
   *
   * @param options `signal` stops waiting.
   * @returns The run's status, task outputs and task errors.
   */
  result(options?: { signal?: AbortSignal }): Promise<RunResult>;
}

/** Starts and cancels workflow runs. */
export interface RunsClient {
  /**
   * Triggers a run of a workflow (namespaced by the client).
   *
   * @param workflow The workflow, or its name.
   * @param input The run's input.
   * @param options Metadata and priority.
   * @returns A reference to the run.
   */
  trigger<I extends JsonObject>(
    workflow: Workflow<I> | string,
    input: I,
    options?: TriggerOptions,
  ): Promise<RunRef>;
  /**
   * Cancels task runs by their external ids.
   *
   * @param taskRunIds Task run ids to cancel.
   */
  cancel(taskRunIds: string[]): Promise<void>;
}

/** A connection to a Hatchet engine: configuration, events and runs. Close it when done. */
export interface HatchetClient extends AsyncDisposable {
  /** The resolved configuration; its string and JSON forms never show the token. */
  readonly config: ClientConfig;
  /** Pushes events. */
  readonly events: EventsClient;
  /** Triggers and cancels runs. */
  readonly runs: RunsClient;
  /** Closes the client's HTTP/2 sessions. */
  close(): Promise<void>;
}
