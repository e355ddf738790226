// Scheduling throughput with a deep queue: `tasks` runs queued across `keys` concurrency keys
// (GROUP_ROUND_ROBIN, one run per key at a time) before a worker starts, then timed until every
// run completed. The mock's scheduler runs after every RPC, so its cost per pass must not grow
// with the queue behind the concurrency limits.

import { createWorker, workflow } from "../mod.ts";
import { MockEngine } from "../testing/mod.ts";

/** Tasks per second for `tasks` runs over `keys` keys, on the in-memory engine. */
export async function measureScheduleKeys(tasks: number, keys: number): Promise<number> {
  let ran = 0;
  const allRan = Promise.withResolvers<void>();
  const wf = workflow<{ key: string }>({
    name: "bench-keys",
    concurrency: { expression: "input.key", maxRuns: 1, strategy: "GROUP_ROUND_ROBIN" },
  });
  wf.task({
    name: "t",
    fn: () => {
      if (++ran === tasks) allRan.resolve();
      return {};
    },
  });
  await using engine = new MockEngine();
  // Registers the workflow; the worker that runs the tasks starts after the queue is full.
  await using first = createWorker(engine.client, { name: "bench-keys", workflows: [wf] });
  await first.start();
  await first.stop();
  const runs = [];
  for (let i = 0; i < tasks; i++) {
    runs.push(engine.client.runs.trigger(wf, { key: `k${i % keys}` }));
  }
  await Promise.all(runs);
  await using worker = createWorker(engine.client, {
    name: "bench-keys",
    workflows: [wf],
    slots: 100,
  });
  const t0 = performance.now();
  await worker.start();
  await allRan.promise;
  // The last completions are on their way to the engine: wait until it recorded every one.
  while (engine.taskRuns().some((t) => t.status !== "COMPLETED")) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return tasks / ((performance.now() - t0) / 1000);
}

if (import.meta.main) {
  const tasks = Number(Deno.args[0] ?? 10_000);
  const keys = Number(Deno.args[1] ?? 100);
  console.log(
    JSON.stringify({ schedule_10k_keys_tasks_per_s: await measureScheduleKeys(tasks, keys) }),
  );
}
