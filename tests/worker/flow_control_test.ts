import assert from "node:assert/strict";
import { createWorker, task, UserEventCondition, workflow } from "../../mod.ts";
import type { Context, JsonObject, RunRef, Worker, Workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { createClientFromTransport } from "../../worker/client.ts";
import { wireTap } from "../durable/_wire_tap.ts";

const quiet = { warn() {}, error() {} };

/** A task body that runs until the test releases it (or the run is cancelled). */
function gate() {
  const waiting: (() => void)[] = [];
  return {
    fn: (_input: JsonObject, ctx: Context) =>
      new Promise<JsonObject>((resolve) => {
        waiting.push(() => resolve({ worker: ctx.workerId }));
        ctx.signal.addEventListener("abort", () => resolve({ cancelled: true }));
      }),
    releaseAll() {
      for (const r of waiting.splice(0)) r();
    },
  };
}

async function start(
  engine: MockEngine,
  // deno-lint-ignore no-explicit-any
  workflows: Workflow<any>[],
  options: { name?: string; labels?: Record<string, string | number>; slots?: number } = {},
): Promise<Worker> {
  const worker = createWorker(engine.client, {
    name: options.name ?? "w",
    workflows,
    labels: options.labels,
    slots: options.slots,
    logger: quiet,
    handleSignals: false,
  });
  await worker.start();
  return worker;
}

// ---------------------------------------------------------------- declarations

Deno.test("workflow() rejects bad flow-control options, naming the value", () => {
  const bad: [() => unknown, ErrorConstructor, string][] = [
    [
      () =>
        workflow({
          name: "w",
          concurrency: { expression: "input.k", maxRuns: 0, strategy: "CANCEL_NEWEST" },
        }),
      RangeError,
      'Workflow "w": concurrency.maxRuns must be a positive integer, received 0',
    ],
    [
      () =>
        workflow({
          name: "w",
          concurrency: { expression: "input.k", maxRuns: 1, strategy: "DROP" as never },
        }),
      RangeError,
      'Workflow "w": concurrency.strategy must be one of GROUP_ROUND_ROBIN, CANCEL_IN_PROGRESS, CANCEL_NEWEST, received "DROP"',
    ],
    [
      () =>
        workflow({
          name: "w",
          concurrency: [{ expression: " ", maxRuns: 1, strategy: "CANCEL_NEWEST" }],
        }),
      TypeError,
      'Workflow "w": concurrency[0].expression must be a non-empty CEL expression, received " "',
    ],
    [
      () => workflow({ name: "w", sticky: "always" as never }),
      RangeError,
      'Workflow "w": sticky must be "soft" or "hard", received "always"',
    ],
    [
      () => workflow({ name: "w", defaultPriority: 5 }),
      RangeError,
      'Workflow "w": defaultPriority must be 1, 2 or 3, received 5',
    ],
    [
      () => workflow({ name: "w", taskDefaults: { retry: 3 } as never }),
      TypeError,
      'Workflow "w": taskDefaults: unknown option "retry"; expected one of retries, backoff, executionTimeout, scheduleTimeout',
    ],
  ];
  for (const [fn, cls, message] of bad) assert.throws(fn, { name: cls.name, message });
});

Deno.test("Workflow.task() rejects bad rate limits, labels and slotCost, naming the value", () => {
  const wf = workflow({ name: "w" });
  const fn = () => ({});
  const what = 'Task "t" in workflow "w"';
  assert.throws(
    () => wf.task({ name: "t", fn, rateLimits: [{ key: "a", dynamicKey: "input.k" }] }),
    {
      name: "TypeError",
      message:
        `${what}: rateLimits[0] needs exactly one of key and dynamicKey, received {"key":"a","dynamicKey":"input.k"}`,
    },
  );
  assert.throws(() => wf.task({ name: "t", fn, rateLimits: [{ dynamicKey: "input.k" }] }), {
    name: "TypeError",
    message:
      `${what}: rateLimits[0]: a dynamicKey needs a limit (a number or a CEL expression), received none`,
  });
  assert.throws(() => wf.task({ name: "t", fn, rateLimits: [{ key: "api", units: 1.5 }] }), {
    name: "RangeError",
    message: `${what}: rateLimits[0].units must be a positive integer, received 1.5`,
  });
  assert.throws(
    () =>
      wf.task({
        name: "t",
        fn,
        rateLimits: [{ key: "api", limit: 5, duration: "fortnight" as never }],
      }),
    {
      name: "RangeError",
      message:
        `${what}: rateLimits[0].duration must be one of "second", "minute", "hour", "day", "week", "month", "year", received "fortnight"`,
    },
  );
  assert.throws(() => wf.task({ name: "t", fn, rateLimits: [{ key: "api", limit: 5 }] }), {
    name: "TypeError",
    message:
      `${what}: rateLimits[0]: a static key takes its limit and duration from client.rateLimits.put("api", limit, duration), not from the task`,
  });
  assert.throws(
    () =>
      wf.task({
        name: "t",
        fn,
        desiredWorkerLabels: { gpu: { value: "a", comparator: "GREATER_THAN" } },
      }),
    {
      name: "RangeError",
      message:
        `${what}: desiredWorkerLabels.gpu: comparator GREATER_THAN compares integers, received the string value "a"`,
    },
  );
  assert.throws(() => wf.task({ name: "t", fn, desiredWorkerLabels: { mem: { value: 1.5 } } }), {
    name: "TypeError",
    message: `${what}: desiredWorkerLabels.mem.value must be a string or an integer, received 1.5`,
  });
  assert.throws(() => wf.task({ name: "t", fn, slotCost: 0 }), {
    name: "RangeError",
    message: `${what}: slotCost must be a positive integer, received 0`,
  });
});

Deno.test("client.rateLimits.put() rejects a bad limit or window", async () => {
  await using engine = new MockEngine();
  await assert.rejects(engine.client.rateLimits.put("api", 0, "second"), {
    name: "RangeError",
    message: 'Rate limit "api": limit must be a positive integer, received 0',
  });
  await assert.rejects(engine.client.rateLimits.put("api", 5, "fortnight" as never), {
    name: "RangeError",
    message:
      'Rate limit "api": duration must be one of "second", "minute", "hour", "day", "week", "month", "year", received "fortnight"',
  });
});

// ---------------------------------------------------------------- on the wire

Deno.test("PutWorkflow carries every flow-control declaration to the engine", async () => {
  await using engine = new MockEngine();
  const tap = wireTap(engine.transport());
  await using client = createClientFromTransport(engine.client.config, tap.transport);
  const wf = workflow({
    name: "flow",
    version: "v2",
    sticky: "hard",
    defaultPriority: 2,
    concurrency: { expression: "input.user", maxRuns: 2, strategy: "GROUP_ROUND_ROBIN" },
    taskDefaults: { retries: 3, executionTimeout: "5m" },
  });
  const first = wf.task({
    name: "first",
    fn: () => ({}),
    concurrency: [{ expression: "input.user", maxRuns: 1, strategy: "CANCEL_NEWEST" }],
    rateLimits: [
      { key: "api", units: 2 },
      { dynamicKey: "input.user", dynamicUnits: "input.cost", limit: 10, duration: "hour" },
    ],
    desiredWorkerLabels: {
      gpu: { value: "a100", required: true },
      mem: { value: 16, comparator: "GREATER_THAN_OR_EQUAL", weight: 5 },
    },
    cancelIf: [new UserEventCondition("stop")],
    slotCost: 3,
  });
  wf.task({ name: "second", parents: [first], retries: 0, fn: () => ({}) });
  wf.onSuccess({ name: "done", fn: () => ({}) });
  await client.rateLimits.put("api", 100, "minute");
  await using worker = createWorker(client, {
    name: "w",
    workflows: [wf],
    logger: quiet,
    handleSignals: false,
  });
  await worker.start();
  const put = tap.calls.find((c) => c.method === "PutWorkflow")!.body as Record<string, unknown>;
  assert.equal(put.version, "v2");
  assert.equal(put.sticky, "HARD");
  assert.equal(put.defaultPriority, 2);
  assert.deepEqual(put.concurrencyArr, [{
    expression: "input.user",
    maxRuns: 2,
    limitStrategy: "GROUP_ROUND_ROBIN",
  }]);
  const tasks = put.tasks as Record<string, unknown>[];
  assert.deepEqual(tasks.map((t) => [t.readableId, t.parents, t.retries, t.timeout]), [
    ["first", [], 3, "5m"],
    ["second", ["first"], 0, "5m"],
    ["done", ["second"], 3, "5m"],
  ]);
  assert.deepEqual(tasks[0].concurrency, [{
    expression: "input.user",
    maxRuns: 1,
    limitStrategy: "CANCEL_NEWEST",
  }]);
  assert.deepEqual(
    tasks[0].rateLimits,
    [
      { key: "api", units: 2 },
      {
        key: "input.user",
        units: 0,
        keyExpr: "input.user",
        unitsExpr: "input.cost",
        limitValuesExpr: "10",
        duration: "HOUR",
      },
    ].map((r) => (r.units === 0 ? (({ units: _u, ...rest }) => rest)(r) : r)),
  );
  assert.deepEqual(tasks[0].workerLabels, {
    gpu: { strValue: "a100", required: true },
    mem: { intValue: 16, comparator: "GREATER_THAN_OR_EQUAL", weight: 5 },
  });
  assert.deepEqual(tasks[0].slotRequests, { default: 3 });
  const cancel = (tasks[0].conditions as { userEventConditions: { base: { action: string } }[] })
    .userEventConditions.map((c) => c.base.action);
  assert.deepEqual(cancel, ["CANCEL"]);
  const putRateLimit = tap.calls.find((c) => c.method === "PutRateLimit")!.body;
  assert.deepEqual(putRateLimit, { key: "api", limit: 100, duration: "MINUTE" });
  assert.deepEqual(
    engine.rpcLog().filter((e) => e.method === "PutRateLimit").map((e) => e.summary),
    [{ key: "api", limit: 100 }],
  );
});

// ---------------------------------------------------------------- the mock enforces them

Deno.test("MockEngine: GROUP_ROUND_ROBIN holds runs beyond maxRuns per key and lets keys take turns", async () => {
  await using engine = new MockEngine();
  const body = gate();
  const wf = workflow<{ key: string }>({
    name: "grr",
    concurrency: { expression: "input.key", maxRuns: 1, strategy: "GROUP_ROUND_ROBIN" },
  });
  wf.task({ name: "t", fn: body.fn });
  await using _w = await start(engine, [wf]);
  const runs: RunRef[] = [];
  for (const key of ["a", "a", "b", "a", "b"]) {
    runs.push(await engine.client.runs.trigger(wf, { key }));
  }
  await engine.settle();
  const status = () => runs.map((r) => engine.taskRuns(r.id)[0].status);
  assert.deepEqual(status(), ["RUNNING", "QUEUED", "RUNNING", "QUEUED", "QUEUED"]);
  body.releaseAll();
  await engine.settle();
  assert.deepEqual(status(), ["COMPLETED", "RUNNING", "COMPLETED", "QUEUED", "RUNNING"]);
  body.releaseAll();
  await engine.settle();
  body.releaseAll();
  for (const r of runs) assert.equal((await r.result()).status, "COMPLETED");
});

Deno.test("MockEngine: CANCEL_NEWEST cancels a run beyond maxRuns and never a running one", async () => {
  await using engine = new MockEngine();
  const body = gate();
  const wf = task({
    name: "newest",
    fn: body.fn,
    concurrency: { expression: "input.key", maxRuns: 1, strategy: "CANCEL_NEWEST" },
  });
  await using _w = await start(engine, [wf]);
  const first = await engine.client.runs.trigger(wf, { key: "a" });
  const second = await engine.client.runs.trigger(wf, { key: "a" });
  const other = await engine.client.runs.trigger(wf, { key: "b" });
  assert.equal((await second.result()).status, "CANCELLED");
  await engine.settle();
  assert.deepEqual([first, other].map((r) => engine.taskRuns(r.id)[0].status), [
    "RUNNING",
    "RUNNING",
  ]);
  body.releaseAll();
  assert.equal((await first.result()).status, "COMPLETED");
  assert.equal((await other.result()).status, "COMPLETED");
});

Deno.test("MockEngine: CANCEL_IN_PROGRESS cancels the running run when a newer one arrives", async () => {
  await using engine = new MockEngine();
  const body = gate();
  const wf = workflow<{ key: string }>({
    name: "latest",
    concurrency: { expression: "input.key", maxRuns: 1, strategy: "CANCEL_IN_PROGRESS" },
  });
  wf.task({ name: "t", fn: body.fn });
  await using _w = await start(engine, [wf]);
  const first = await engine.client.runs.trigger(wf, { key: "a" });
  await engine.settle();
  const second = await engine.client.runs.trigger(wf, { key: "a" });
  assert.equal((await first.result()).status, "CANCELLED");
  await engine.settle();
  assert.equal(engine.taskRuns(second.id)[0].status, "RUNNING");
  body.releaseAll();
  assert.equal((await second.result()).status, "COMPLETED");
});

Deno.test("MockEngine: a workflow-level limit holds the whole run until all its tasks finish", async () => {
  await using engine = new MockEngine();
  const body = gate();
  const wf = workflow<{ key: string }>({
    name: "dag-limit",
    concurrency: { expression: "input.key", maxRuns: 1, strategy: "GROUP_ROUND_ROBIN" },
  });
  const a = wf.task({ name: "a", fn: () => ({}) });
  wf.task({ name: "b", parents: [a], fn: body.fn });
  await using _w = await start(engine, [wf]);
  const first = await engine.client.runs.trigger(wf, { key: "k" });
  const second = await engine.client.runs.trigger(wf, { key: "k" });
  await engine.settle();
  // The first run's task a finished, but b still runs: the second run's a must not start.
  assert.deepEqual(engine.taskRuns(first.id).map((t) => t.status), ["COMPLETED", "RUNNING"]);
  assert.deepEqual(engine.taskRuns(second.id).map((t) => t.status), ["QUEUED", "PENDING"]);
  body.releaseAll();
  await first.result();
  await engine.settle();
  body.releaseAll();
  assert.equal((await second.result()).status, "COMPLETED");
});

Deno.test("MockEngine: a static rate limit consumes units and refills per window on the virtual clock", async () => {
  await using engine = new MockEngine();
  await engine.client.rateLimits.put("api", 3, "minute");
  const wf = task({ name: "call", rateLimits: [{ key: "api", units: 2 }], fn: () => ({}) });
  await using _w = await start(engine, [wf]);
  const runs: RunRef[] = [];
  for (let i = 0; i < 3; i++) runs.push(await engine.client.runs.trigger(wf, {}));
  await engine.settle();
  const status = () => runs.map((r) => engine.taskRuns(r.id)[0].status);
  assert.deepEqual(status(), ["COMPLETED", "QUEUED", "QUEUED"]);
  await engine.advance("59s");
  assert.deepEqual(status(), ["COMPLETED", "QUEUED", "QUEUED"]);
  await engine.advance("1s");
  assert.deepEqual(status(), ["COMPLETED", "COMPLETED", "QUEUED"]);
  await engine.advance("1m");
  assert.deepEqual(status(), ["COMPLETED", "COMPLETED", "COMPLETED"]);
});

Deno.test("MockEngine: PutWorkflow fails with INTERNAL when a task names a static rate limit nobody put", async () => {
  await using engine = new MockEngine();
  const wf = task({ name: "needs-limit", rateLimits: [{ key: "later" }], fn: () => ({}) });
  const early = createWorker(engine.client, {
    name: "early",
    workflows: [wf],
    logger: quiet,
    handleSignals: false,
    // Long enough that retrying for all of it would show: the worker says why after 3 answers.
    startTimeout: "10m",
  });
  await assert.rejects(early.start(), {
    message:
      'Worker "early" failed to start: PutWorkflow "needs-limit" failed with internal 3 times; its tasks name the static rate limit(s) "later", and the engine fails PutWorkflow for a limit that was never put: create each first with client.rateLimits.put(key, limit, duration)',
  });
  await early.stop();
  assert.ok(
    engine.engineLog().includes(
      'PutWorkflow "needs-limit": task "needs-limit" names rate limit "later", which was never put (PutRateLimit): INTERNAL',
    ),
    engine.engineLog().join("\n"),
  );
  // Put first, as the engine needs: the same declaration registers and runs.
  await engine.client.rateLimits.put("later", 1, "second");
  await using _w = await start(engine, [wf]);
  assert.equal((await (await engine.client.runs.trigger(wf, {})).result()).status, "COMPLETED");
});

Deno.test("MockEngine: dynamic rate limits are per key value", async () => {
  await using engine = new MockEngine();
  const wf = task({
    name: "per-user",
    rateLimits: [{ dynamicKey: "input.user", limit: 1, duration: "second" }],
    fn: () => ({}),
  });
  await using _w = await start(engine, [wf]);
  const runs: RunRef[] = [];
  for (const user of ["u1", "u1", "u2"]) runs.push(await engine.client.runs.trigger(wf, { user }));
  await engine.settle();
  assert.deepEqual(runs.map((r) => engine.taskRuns(r.id)[0].status), [
    "COMPLETED",
    "QUEUED",
    "COMPLETED",
  ]);
  await engine.advance("1s");
  assert.equal((await runs[1].result()).status, "COMPLETED");
});

Deno.test("MockEngine: a required label waits for a worker that has it; upsertLabels() lets it run", async () => {
  await using engine = new MockEngine();
  const wf = task({
    name: "gpu-job",
    desiredWorkerLabels: { gpu: { value: "a100", required: true } },
    fn: (_input, ctx) => ({ worker: ctx.workerId }),
  });
  await using worker = await start(engine, [wf], { labels: { gpu: "t4" } });
  const run = await engine.client.runs.trigger(wf, {});
  await engine.advance("1m");
  assert.equal(engine.taskRuns(run.id)[0].status, "QUEUED");
  await worker.upsertLabels({ gpu: "a100" });
  assert.deepEqual(engine.workers()[0].labels, { gpu: "a100" });
  await engine.advance("1s");
  assert.deepEqual((await run.result()).outputs["gpu-job"], { worker: worker.id });
});

Deno.test("MockEngine: label weights pick among workers; trigger labels override the task's", async () => {
  await using engine = new MockEngine();
  const wf = task({
    name: "placed",
    desiredWorkerLabels: {
      region: { value: "eu", weight: 10 },
      mem: { value: 32, comparator: "GREATER_THAN_OR_EQUAL", weight: 50 },
    },
    fn: (_input, ctx) => ({ worker: ctx.workerId }),
  });
  await using eu = await start(engine, [wf], { name: "eu", labels: { region: "eu", mem: 16 } });
  await using big = await start(engine, [wf], { name: "big", labels: { region: "us", mem: 64 } });
  assert.deepEqual(await wf.run(engine.client, {}), { worker: big.id });
  assert.deepEqual(
    await wf.run(engine.client, {}, {
      desiredWorkerLabels: { region: { value: "eu", required: true } },
    }),
    { worker: eu.id },
  );
});

Deno.test("MockEngine: sticky keeps a run's tasks on one worker (hard waits for it)", async () => {
  await using engine = new MockEngine();
  const second = gate();
  const wf = workflow({ name: "sticky", sticky: "hard" });
  const a = wf.task({ name: "a", fn: (_i, ctx) => ({ worker: ctx.workerId }) });
  wf.task({ name: "b", parents: [a], fn: second.fn });
  await using w1 = await start(engine, [wf], { name: "w1", slots: 1 });
  const run = await engine.client.runs.trigger(wf, {});
  await engine.settle();
  await using w2 = await start(engine, [wf], { name: "w2", slots: 5 });
  const other = await engine.client.runs.trigger(wf, {});
  await engine.settle();
  // w1's one slot is taken by the first run's b; the second run started on w2 and stays there.
  const on = (id: string) => engine.taskRuns(id).map((t) => t.workerId ?? t.status);
  assert.deepEqual(on(run.id), ["COMPLETED", w1.id]);
  assert.deepEqual(on(other.id), ["COMPLETED", w2.id]);
  second.releaseAll();
  const outputs = (await run.result()).outputs;
  assert.deepEqual([outputs.a, outputs.b], [{ worker: w1.id }, { worker: w1.id }]);
  await other.result();
});

Deno.test("MockEngine: hard sticky waits for its worker even when another one is free", async () => {
  await using engine = new MockEngine();
  const first = gate();
  const blocking = gate();
  const other = workflow({ name: "other" });
  other.task({ name: "block", fn: blocking.fn });
  const wf = workflow({ name: "hard", sticky: "hard" });
  const a = wf.task({ name: "a", fn: first.fn });
  wf.task({ name: "b", parents: [a], fn: (_i, ctx) => ({ worker: ctx.workerId }) });
  await using w1 = await start(engine, [other, wf], { name: "w1", slots: 1 });
  const run = await engine.client.runs.trigger(wf, {});
  await engine.settle();
  const blocker = await engine.client.runs.trigger(other, {});
  await using _w2 = await start(engine, [wf], { name: "w2", slots: 5 });
  first.releaseAll(); // a completes on w1; the blocker (queued first) takes w1's one slot
  await engine.advance("1s");
  assert.deepEqual(engine.taskRuns(run.id).map((t) => t.status), ["COMPLETED", "QUEUED"]);
  assert.equal(engine.taskRuns(blocker.id)[0].status, "RUNNING");
  blocking.releaseAll();
  await blocker.result();
  assert.deepEqual((await run.result()).outputs.b, { worker: w1.id });
});

Deno.test("MockEngine: slotCost holds that many slot units; defaultPriority applies when the trigger names none", async () => {
  await using engine = new MockEngine();
  const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  const wf = workflow<{ n: number }>({ name: "heavy", defaultPriority: 3 });
  wf.task({
    name: "t",
    slotCost: 2,
    fn: async (input, ctx) => {
      await gates[input.n].promise;
      return { priority: ctx.priority ?? null };
    },
  });
  await using _w = await start(engine, [wf], { slots: 3 });
  const a = await engine.client.runs.trigger(wf, { n: 0 });
  const b = await engine.client.runs.trigger(wf, { n: 1 }, { priority: 1 });
  await engine.settle();
  // Two units of three are held: the second run waits for them.
  assert.deepEqual(engine.taskRuns().map((t) => t.status), ["RUNNING", "QUEUED"]);
  assert.deepEqual(engine.workers()[0].usedSlots, { default: 2 });
  gates[0].resolve();
  gates[1].resolve();
  assert.deepEqual((await a.result()).outputs.t, { priority: 3 });
  assert.deepEqual((await b.result()).outputs.t, { priority: 1 });
});

Deno.test("Workflow.onSuccess() runs after every task completed, and not when one failed", async () => {
  await using engine = new MockEngine();
  const wf = workflow<{ fail: boolean }>({ name: "with-success" });
  const a = wf.task({ name: "a", fn: () => ({ a: 1 }) });
  wf.task({
    name: "b",
    parents: [a],
    fn: (input) => {
      if (input.fail) throw new Error("nope");
      return { b: 2 };
    },
  });
  wf.task({ name: "c", fn: () => ({ c: 3 }) });
  wf.onSuccess({ name: "done", fn: (_i, ctx) => ({ saw: Object.keys(ctx.taskRunErrors).length }) });
  await using _w = await start(engine, [wf]);
  const ok = await (await engine.client.runs.trigger(wf, { fail: false })).result();
  assert.deepEqual(ok.outputs.done, { saw: 0 });
  const bad = await (await engine.client.runs.trigger(wf, { fail: true })).result();
  assert.equal(bad.status, "FAILED");
  assert.equal(bad.outputs.done, undefined);
});

Deno.test("cancelIf cancels a waiting task when its event arrives", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "cancellable" });
  wf.task({
    name: "t",
    waitFor: [new UserEventCondition("go")],
    cancelIf: [new UserEventCondition("abort")],
    fn: () => ({}),
  });
  await using _w = await start(engine, [wf]);
  const run = await engine.client.runs.trigger(wf, {});
  await engine.client.events.push("abort", {});
  assert.equal((await run.result()).status, "CANCELLED");
});

Deno.test("task() is a workflow whose run() returns the task's own output, or throws its error", async () => {
  await using engine = new MockEngine();
  const double = task({
    name: "double",
    retries: 0,
    fn: (input: { n: number }) => {
      if (input.n < 0) throw new Error("negative");
      return { doubled: input.n * 2 };
    },
  });
  assert.throws(() => double.task({ name: "x", fn: () => ({}) }), {
    name: "TypeError",
    message: 'Standalone task "double" holds one task; task() needs a workflow() declaration',
  });
  await using _w = await start(engine, [double]);
  assert.deepEqual(await double.run(engine.client, { n: 21 }), { doubled: 42 });
  await assert.rejects(double.run(engine.client, { n: -1 }), /of task "double" failed: .*negative/);
});

Deno.test("Worker stops gracefully on SIGTERM unless handleSignals is false", async () => {
  const script = `
    import { createWorker, task } from "${new URL("../../mod.ts", import.meta.url)}";
    import { MockEngine } from "${new URL("../../testing/mod.ts", import.meta.url)}";
    const engine = new MockEngine();
    const t = task({ name: "t", fn: () => ({}) });
    const worker = createWorker(engine.client, { name: "w", workflows: [t] });
    await worker.start();
    console.log("running");
    while (worker.state !== "stopped") await new Promise((r) => setTimeout(r, 10));
    console.log(worker.state);
    await engine.close();
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("running")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  child.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const status = await child.status;
  await child.stderr.cancel();
  assert.deepEqual(out.trim().split("\n"), ["running", "stopped"]);
  assert.equal(status.code, 0);
});
