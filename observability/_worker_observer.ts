// Everything a worker reports about itself, behind a few calls the worker makes at fixed points:
// the attempt span and counters around each task attempt, durable-wait spans and the pending
// gauge, the action stream's health, and the `/health` + `/metrics` server.

import type { EnginePorts } from "../transport/ports.ts";
import { type HealthServer, startHealthServer } from "./_health_server.ts";
import { createWorkerMetrics, timedPorts, type WorkerMetrics } from "./_metrics.ts";
import {
  type AttemptInfo,
  type AttemptOutcome,
  type AttemptTrace,
  startAttemptSpan,
} from "./_tracing.ts";
import type { ResolvedHealthcheck } from "./healthcheck.ts";

/** One attempt as the observer sees it. */
export interface ObservedAttempt {
  /** Runs the task function (with the attempt span active while tracing). */
  run<T>(fn: () => T): T;
  /** The metadata of each log line, while tracing; `undefined` otherwise. */
  readonly logMetadata: (() => string) | undefined;
  /** Called when a durable wait starts; the returned function when it ends. */
  wait(signalKey: string): (error?: unknown) => void;
  /** The attempt ended. */
  end(outcome: AttemptOutcome, error?: string): void;
}

/** What the observer reads from the worker at scrape time. */
export interface WorkerGauges {
  state(): string;
  slotsInUse(): { default: number; durable: number };
  slots: { default: number; durable: number };
}

/** A worker's observer. */
export interface WorkerObserver {
  readonly metrics: WorkerMetrics;
  /** The bound port of the health server once started. */
  readonly port: number | undefined;
  /** The ports the worker should use (timed when metrics are served). */
  ports(ports: EnginePorts): EnginePorts;
  attempt(info: AttemptInfo): ObservedAttempt;
  /** A new action stream is being opened (`reconnect`: not the first one). */
  streamOpening(reconnect: boolean): void;
  /** The engine answered the action stream (headers or a message). */
  streamConnected(): void;
  /** A heartbeat succeeded: the engine sees the stream as active. */
  heartbeatOk(): void;
  /** The action stream failed or ended. */
  streamClosed(): void;
  /** Starts the health server, if one is configured. */
  start(): void;
  /** Stops the health server. */
  close(): Promise<void>;
}

const plainRun = <T>(fn: () => T): T => fn();

/** Creates the observer of one worker. */
export function createWorkerObserver(
  healthcheck: ResolvedHealthcheck | undefined,
  gauges: WorkerGauges,
): WorkerObserver {
  const metrics = createWorkerMetrics();
  let server: HealthServer | undefined;
  let port: number | undefined;
  let streamOpen = false;
  let streamUp = false;

  function waitHook(trace: AttemptTrace | undefined) {
    return (signalKey: string) => {
      metrics.durableWaitsPending++;
      const endSpan = trace?.wait(signalKey);
      return (error?: unknown) => {
        metrics.durableWaitsPending--;
        endSpan?.(error);
      };
    };
  }

  return {
    metrics,
    get port() {
      return port;
    },
    ports(ports) {
      return healthcheck === undefined ? ports : timedPorts(ports, metrics);
    },
    attempt(info) {
      metrics.tasksStarted++;
      const trace = startAttemptSpan(info);
      return {
        run: trace === undefined ? plainRun : trace.run,
        logMetadata: trace?.logMetadata,
        wait: waitHook(trace),
        end(outcome, error) {
          if (outcome === "completed") metrics.tasksCompleted++;
          else if (outcome === "failed") metrics.tasksFailed++;
          trace?.end(outcome, error);
        },
      };
    },
    streamOpening(reconnect) {
      if (reconnect) metrics.reconnects++;
      streamOpen = true;
      streamUp = false;
    },
    streamConnected() {
      if (streamOpen) streamUp = true;
    },
    heartbeatOk() {
      if (streamOpen) streamUp = true;
    },
    streamClosed() {
      streamOpen = false;
      streamUp = false;
    },
    start() {
      if (healthcheck === undefined || server !== undefined) return;
      server = startHealthServer(healthcheck.hostname, healthcheck.port, {
        healthy: () => streamUp && gauges.state() === "running",
        state: gauges.state,
        metrics: () =>
          metrics.render({
            slots: gauges.slots,
            slotsInUse: gauges.slotsInUse(),
            actionStreamUp: streamUp,
          }),
      });
      port = server.port;
    },
    async close() {
      const s = server;
      server = undefined;
      await s?.close();
    },
  };
}
