// A worker's counters, gauges and RPC latency histogram, rendered in Prometheus' text exposition
// format (version 0.0.4). Counting is a few integer increments; nothing is rendered until
// `/metrics` is scraped.

import type { EnginePorts } from "../transport/ports.ts";

/** Upper bounds of the RPC latency buckets, in seconds. */
export const RPC_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** What a scrape reads at the moment it happens. */
export interface MetricGauges {
  slotsInUse: { default: number; durable: number };
  slots: { default: number; durable: number };
  actionStreamUp: boolean;
}

/** A worker's metrics. */
export interface WorkerMetrics {
  tasksStarted: number;
  tasksCompleted: number;
  tasksFailed: number;
  durableWaitsPending: number;
  evictions: number;
  reconnects: number;
  logLinesDropped: number;
  /** Records one RPC's latency. */
  observeRpc(method: string, seconds: number): void;
  /** The Prometheus text of every metric. */
  render(gauges: MetricGauges): string;
}

/** Creates a worker's metrics, all zero. */
export function createWorkerMetrics(): WorkerMetrics {
  const rpc = new Map<string, Histogram>();
  const metrics: WorkerMetrics = {
    tasksStarted: 0,
    tasksCompleted: 0,
    tasksFailed: 0,
    durableWaitsPending: 0,
    evictions: 0,
    reconnects: 0,
    logLinesDropped: 0,
    observeRpc(method, seconds) {
      let h = rpc.get(method);
      if (h === undefined) {
        h = { counts: RPC_BUCKETS.map(() => 0), sum: 0, count: 0 };
        rpc.set(method, h);
      }
      for (let i = 0; i < RPC_BUCKETS.length; i++) if (seconds <= RPC_BUCKETS[i]) h.counts[i]++;
      h.sum += seconds;
      h.count++;
    },
    render(gauges) {
      const out: string[] = [];
      const family = (name: string, type: string, help: string, samples: string[]) => {
        out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
      };
      family("hatchet_worker_slots", "gauge", "Slots the worker registered, by kind.", [
        `hatchet_worker_slots{kind="default"} ${gauges.slots.default}`,
        `hatchet_worker_slots{kind="durable"} ${gauges.slots.durable}`,
      ]);
      family("hatchet_worker_slots_in_use", "gauge", "Slots held by running tasks, by kind.", [
        `hatchet_worker_slots_in_use{kind="default"} ${gauges.slotsInUse.default}`,
        `hatchet_worker_slots_in_use{kind="durable"} ${gauges.slotsInUse.durable}`,
      ]);
      family(
        "hatchet_worker_action_stream_up",
        "gauge",
        "1 while the action stream is connected, else 0.",
        [`hatchet_worker_action_stream_up ${gauges.actionStreamUp ? 1 : 0}`],
      );
      const counter = (name: string, help: string, value: number) =>
        family(name, "counter", help, [`${name} ${value}`]);
      counter("hatchet_worker_tasks_started_total", "Task attempts started.", metrics.tasksStarted);
      counter(
        "hatchet_worker_tasks_completed_total",
        "Task attempts that completed.",
        metrics.tasksCompleted,
      );
      counter(
        "hatchet_worker_tasks_failed_total",
        "Task attempts that failed.",
        metrics.tasksFailed,
      );
      family(
        "hatchet_worker_durable_waits_pending",
        "gauge",
        "Durable waits registered and not yet satisfied.",
        [`hatchet_worker_durable_waits_pending ${metrics.durableWaitsPending}`],
      );
      counter(
        "hatchet_worker_durable_evictions_total",
        "Durable task attempts evicted from the worker.",
        metrics.evictions,
      );
      counter(
        "hatchet_worker_action_stream_reconnects_total",
        "Times the action stream was opened again after it failed or ended.",
        metrics.reconnects,
      );
      counter(
        "hatchet_worker_log_lines_dropped_total",
        "Log lines that could not be delivered to the engine.",
        metrics.logLinesDropped,
      );
      const samples: string[] = [];
      for (const [method, h] of [...rpc].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
        const label = `method="${method}"`;
        RPC_BUCKETS.forEach((le, i) =>
          samples.push(
            `hatchet_worker_rpc_duration_seconds_bucket{${label},le="${le}"} ${h.counts[i]}`,
          )
        );
        samples.push(
          `hatchet_worker_rpc_duration_seconds_bucket{${label},le="+Inf"} ${h.count}`,
          `hatchet_worker_rpc_duration_seconds_sum{${label}} ${h.sum}`,
          `hatchet_worker_rpc_duration_seconds_count{${label}} ${h.count}`,
        );
      }
      family(
        "hatchet_worker_rpc_duration_seconds",
        "histogram",
        "Latency of the worker's unary engine calls, by method.",
        samples,
      );
      return out.join("\n") + "\n";
    },
  };
  return metrics;
}

/**
 * Wraps the engine ports so each unary call's latency lands in `metrics`. Streams pass through.
 *
 * @param ports The client's ports.
 * @param metrics Where latencies go.
 * @returns Ports with the same behaviour.
 */
export function timedPorts(ports: EnginePorts, metrics: WorkerMetrics): EnginePorts {
  const wrap = <P extends object>(service: string, port: P): P => {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(port)) {
      const value = (port as Record<string, unknown>)[key];
      if (typeof value !== "function") {
        out[key] = value;
        continue;
      }
      out[key] = (...args: unknown[]) => {
        const started = performance.now();
        const result = value.apply(port, args);
        if (result instanceof Promise) {
          const done = () =>
            metrics.observeRpc(`${service}.${key}`, (performance.now() - started) / 1000);
          result.then(done, done);
        }
        return result;
      };
    }
    return out as P;
  };
  return {
    ...ports,
    dispatcher: wrap("Dispatcher", ports.dispatcher),
    admin: wrap("Admin", ports.admin),
    events: wrap("Events", ports.events),
    durable: wrap("Durable", ports.durable),
  };
}
