// Flow-control scenarios (issue 17): concurrency, worker labels, rate limits, sticky runs,
// onSuccess and standalone tasks, each checked by what the engine did (which runs were cancelled,
// which worker ran what, when a task started). Appended to the registry in scenarios.ts.

import assert from "node:assert/strict";
import { type HatchetClient, task, workflow } from "../../mod.ts";
import { deferred, delay, type Scenario, type ScenarioContext, within } from "./harness.ts";

async function resultOf(
  client: HatchetClient,
  ctx: ScenarioContext,
  wf: Parameters<HatchetClient["runs"]["trigger"]>[0],
  input: Record<string, string | number | boolean>,
) {
  const run = await client.runs.trigger(wf, input);
  return { run, result: await run.result({ signal: ctx.signal }) };
}

const concurrencyCancelNewest: Scenario = {
  name: "concurrency CANCEL_NEWEST",
  async run(client, ctx) {
    const started = deferred<void>();
    const release = deferred<void>();
    const wf = workflow<{ key: string }>({
      name: ctx.name("conc-newest"),
      concurrency: { expression: "input.key", maxRuns: 1, strategy: "CANCEL_NEWEST" },
    });
    wf.task({
      name: "hold",
      fn: async (input) => {
        if (input.key === "a") {
          started.resolve();
          await release.promise;
        }
        return { key: input.key };
      },
    });
    await ctx.startWorker([wf]);
    const first = await client.runs.trigger(wf, { key: "a" });
    await within(started.promise, ctx.signal, "the first run to start");
    const second = await client.runs.trigger(wf, { key: "a" });
    const cancelled = await ctx.measure(
      "second run→cancelled",
      () => second.result({ signal: ctx.signal }),
    );
    assert.equal(cancelled.status, "CANCELLED");
    // Another key is not held back by the first run.
    const other = await resultOf(client, ctx, wf, { key: "b" });
    assert.equal(other.result.status, "COMPLETED");
    release.resolve();
    const done = await first.result({ signal: ctx.signal });
    assert.equal(done.status, "COMPLETED");
    assert.deepEqual(done.outputs.hold, { key: "a" });
  },
};

const concurrencyQueueAndCancel: Scenario = {
  name: "concurrency ROUND_ROBIN + CANCEL_IN_PROGRESS",
  async run(client, ctx) {
    const started: string[] = [];
    const gates = new Map<string, PromiseWithResolvers<void>>();
    const gate = (id: string) => {
      if (!gates.has(id)) gates.set(id, deferred<void>());
      return gates.get(id)!;
    };
    const declare = (base: string, strategy: "GROUP_ROUND_ROBIN" | "CANCEL_IN_PROGRESS") => {
      const wf = workflow<{ id: string }>({
        name: ctx.name(base),
        concurrency: { expression: "'one'", maxRuns: 1, strategy },
      });
      wf.task({
        name: "hold",
        fn: async (input, t) => {
          started.push(input.id);
          const aborted = new Promise<void>((resolve) =>
            t.signal.addEventListener("abort", () => resolve(), { once: true })
          );
          await Promise.race([gate(input.id).promise, aborted]);
          return { id: input.id };
        },
      });
      return wf;
    };
    const queued = declare("conc-rr", "GROUP_ROUND_ROBIN");
    const cancelling = declare("conc-cip", "CANCEL_IN_PROGRESS");
    await ctx.startWorker([queued, cancelling]);
    const waitStarted = async (id: string) => {
      while (!started.includes(id)) await delay(50, ctx.signal);
    };

    // GROUP_ROUND_ROBIN: the second run waits for the first, then runs.
    const r1 = await client.runs.trigger(queued, { id: "r1" });
    await waitStarted("r1");
    const r2 = await client.runs.trigger(queued, { id: "r2" });
    await delay(3_000, ctx.signal);
    assert.ok(!started.includes("r2"), "the second run started while the first held the key");
    gate("r1").resolve();
    gate("r2").resolve();
    assert.equal((await r1.result({ signal: ctx.signal })).status, "COMPLETED");
    const second = await ctx.measure("queued run→done", () => r2.result({ signal: ctx.signal }));
    assert.equal(second.status, "COMPLETED");

    // CANCEL_IN_PROGRESS: the newcomer cancels the running one.
    const c1 = await client.runs.trigger(cancelling, { id: "c1" });
    await waitStarted("c1");
    const c2 = await client.runs.trigger(cancelling, { id: "c2" });
    assert.equal((await c1.result({ signal: ctx.signal })).status, "CANCELLED");
    await waitStarted("c2");
    gate("c2").resolve();
    assert.deepEqual((await c2.result({ signal: ctx.signal })).outputs.hold, { id: "c2" });
  },
};

const triggerLabelsSlotCost: Scenario = {
  name: "trigger labels + slotCost",
  async run(client, ctx) {
    const started: number[] = [];
    const gates = [deferred<void>(), deferred<void>()];
    const plain = workflow({ name: ctx.name("trigger-labels") });
    plain.task({ name: "t", fn: (_input, t) => ({ workerId: t.workerId }) });
    const heavy = workflow<{ n: number }>({ name: ctx.name("slot-cost") });
    heavy.task({
      name: "t",
      slotCost: 2,
      fn: async (input) => {
        started.push(input.n);
        await gates[input.n].promise;
        return {};
      },
    });
    const worker = await ctx.startWorker([plain, heavy], { slots: 2, labels: { zone: "a" } });

    // The trigger's labels replace the task's (none): zone=b is required, the worker has zone=a.
    let ran = false;
    const labelled = await client.runs.trigger(plain, {}, {
      desiredWorkerLabels: { zone: { value: "b", required: true } },
    });
    const done = labelled.result({ signal: ctx.signal }).then((r) => (ran = true, r));
    await delay(4_000, ctx.signal);
    assert.equal(ran, false, "a run whose trigger requires zone=b ran on a zone=a worker");
    await worker.upsertLabels({ zone: "b" });
    assert.deepEqual((await done).outputs.t, { workerId: worker.id });

    // slotCost 2 on a worker with 2 slots: one run at a time.
    const a = await client.runs.trigger(heavy, { n: 0 });
    const b = await client.runs.trigger(heavy, { n: 1 });
    while (started.length === 0) await delay(50, ctx.signal);
    await delay(3_000, ctx.signal);
    assert.equal(started.length, 1, "two runs of slotCost 2 ran at once on 2 slots");
    gates[0].resolve();
    gates[1].resolve();
    assert.equal((await a.result({ signal: ctx.signal })).status, "COMPLETED");
    assert.equal((await b.result({ signal: ctx.signal })).status, "COMPLETED");
  },
};

const requiredLabel: Scenario = {
  name: "required worker label",
  async run(client, ctx) {
    let ran = 0;
    const wf = workflow({ name: ctx.name("label") });
    wf.task({
      name: "gpu",
      desiredWorkerLabels: { accelerator: { value: "gpu", required: true } },
      fn: (_input, t) => {
        ran++;
        return { workerId: t.workerId };
      },
    });
    const worker = await ctx.startWorker([wf], { labels: { accelerator: "cpu" } });
    const run = await client.runs.trigger(wf, {});
    // No worker has accelerator=gpu: the task must not start.
    await delay(6_000, ctx.signal);
    assert.equal(ran, 0, "the task ran on a worker without the required label");
    const result = await ctx.measure("upsertLabels→done", async () => {
      await worker.upsertLabels({ accelerator: "gpu" });
      return await run.result({ signal: ctx.signal });
    });
    assert.equal(result.status, "COMPLETED");
    assert.deepEqual(result.outputs.gpu, { workerId: worker.id });
  },
};

const staticRateLimit: Scenario = {
  name: "static rate limit",
  async run(client, ctx) {
    const key = ctx.name("rl");
    await client.rateLimits.put(key, 1, "minute");
    let started = 0;
    const wf = workflow({ name: ctx.name("rate-limited") });
    wf.task({
      name: "call",
      rateLimits: [{ key }],
      fn: () => {
        started++;
        return {};
      },
    });
    await ctx.startWorker([wf]);
    const a = await client.runs.trigger(wf, {});
    const b = await client.runs.trigger(wf, {});
    const first = await ctx.measure("first run", () => a.result({ signal: ctx.signal }));
    assert.equal(first.status, "COMPLETED");
    // One unit per minute: the second run waits for the window to refill (on v0.104.7 that took
    // 94 s once; the suite does not wait that long: it checks that the run is held, then cancels).
    await delay(5_000, ctx.signal);
    assert.equal(started, 1, "the second run started before the limit refilled");
    await client.runs.cancel([b.id]);
    assert.equal((await b.result({ signal: ctx.signal })).status, "CANCELLED");
    assert.equal(started, 1);
  },
};

const stickyHard: Scenario = {
  name: "sticky hard",
  async run(client, ctx) {
    const wf = workflow({ name: ctx.name("sticky"), sticky: "hard" });
    // Each first task holds its worker's one slot a moment, so concurrent runs spread over both
    // workers, and a second task that went to the other worker would be seen.
    const first = wf.task({
      name: "first",
      fn: async (_input, t) => (await delay(200), { on: t.workerId }),
    });
    wf.task({ name: "second", parents: [first], fn: (_input, t) => ({ on: t.workerId }) });
    const a = await ctx.startWorker([wf], { slots: 1 });
    const b = await ctx.startWorker([wf], { slots: 1, warmUp: false });
    // The engine looks for new workers every 5 s.
    await delay(5_500, ctx.signal);
    const runs = await ctx.measure(
      "8 sticky runs",
      () => Promise.all(Array.from({ length: 8 }, () => resultOf(client, ctx, wf, {}))),
    );
    const seen = new Set<string>();
    for (const { run, result } of runs) {
      assert.equal(result.status, "COMPLETED");
      const outputs = result.outputs as Record<string, { on: string }>;
      assert.ok([a.id, b.id].includes(outputs.first.on));
      assert.equal(outputs.second.on, outputs.first.on, `run ${run.id} moved between workers`);
      seen.add(outputs.first.on);
    }
    assert.equal(seen.size, 2, "every run started on the same worker: stickiness not exercised");
  },
};

const onSuccessStandalone: Scenario = {
  name: "onSuccess + standalone task",
  async run(client, ctx) {
    const wf = workflow<{ fail: boolean }>({ name: ctx.name("on-success") });
    const a = wf.task({ name: "a", fn: () => ({ a: 1 }) });
    wf.task({
      name: "b",
      parents: [a],
      retries: 0,
      fn: (input, t) => {
        if (input.fail) throw new Error("b failed on purpose");
        return { b: t.taskOutput(a).a + 1 };
      },
    });
    wf.onSuccess({ name: "done", fn: (_input, t) => ({ b: t.taskOutput<{ b: number }>("b").b }) });
    const double = task({
      name: ctx.name("double"),
      fn: (input: { n: number }) => ({ doubled: input.n * 2 }),
    });
    await ctx.startWorker([wf, double]);
    const ok = await ctx.measure(
      "run with onSuccess",
      () => resultOf(client, ctx, wf, { fail: false }),
    );
    assert.equal(ok.result.status, "COMPLETED");
    assert.deepEqual(ok.result.outputs.done, { b: 2 });
    const bad = await resultOf(client, ctx, wf, { fail: true });
    assert.equal(bad.result.status, "FAILED");
    assert.equal(bad.result.outputs.done, undefined);
    assert.deepEqual(await double.run(client, { n: 21 }, { signal: ctx.signal }), { doubled: 42 });
  },
};

/** The flow-control scenarios, in table order. */
export const flowScenarios: readonly Scenario[] = [
  concurrencyCancelNewest,
  concurrencyQueueAndCancel,
  triggerLabelsSlotCost,
  requiredLabel,
  staticRateLimit,
  stickyHard,
  onSuccessStandalone,
];
