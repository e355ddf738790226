import assert from "node:assert/strict";
import {
  createClient,
  createWorker,
  NonRetryableError,
  TaskCancelledError,
  type WorkerState,
  workflow,
} from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { aborted, deferred, recordingLogger, rewritingClient } from "./_helpers.ts";

const OMIT = ["Heartbeat", "GetRunDetails", "TriggerWorkflowRun", "SubscribeToWorkflowRuns"];

function events(engine: MockEngine): (string | number | boolean | string[] | undefined)[][] {
  return engine.rpcLog().filter((e) => e.method === "SendStepActionEvent").map((e) => [
    e.summary?.taskName,
    e.summary?.eventType,
    e.summary?.retryCount,
  ]);
}

Deno.test("Worker.start() registers workflows and the worker, then listens", async () => {
  await using engine = new MockEngine({ namespace: "dev" });
  const wf = workflow({ name: "Orders" });
  wf.task({ name: "charge", fn: () => ({}) });
  wf.durableTask({ name: "ship", fn: () => ({}) });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    slots: 3,
    durableSlots: 4,
    labels: { zone: "eu" },
  });
  assert.equal(worker.state, "idle");
  assert.equal(worker.id, undefined);
  const starting = worker.start();
  assert.equal(worker.state, "starting");
  await starting;
  assert.equal(worker.state, "running");
  assert.equal(worker.name, "dev_w");
  assert.deepEqual(engine.rpcLog({ omit: OMIT }), [
    { method: "GetVersion" },
    { method: "PutWorkflow", summary: { name: "dev_Orders" } },
    { method: "Register", summary: { workerName: "dev_w" } },
    { method: "ListenV2", summary: { workerId: worker.id! } },
  ]);
  const [info] = engine.workers();
  assert.equal(info.id, worker.id);
  assert.deepEqual(info.actions, ["dev_orders:charge", "dev_orders:ship"]);
  assert.deepEqual(info.slotConfig, { default: 3, durable: 4 });
  assert.deepEqual(info.labels, { zone: "eu" });
  assert.equal(info.live, true);
});

Deno.test("Worker.start() registers legacy slots on engines without GetVersion", async () => {
  await using engine = new MockEngine({ version: null });
  const wf = workflow({ name: "old" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf], slots: 2 });
  await worker.start();
  assert.deepEqual(engine.workers()[0].slotConfig, { default: 2 });
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.deepEqual(result.outputs.t, { ok: true });
});

Deno.test("Worker.start() falls back to Listen when ListenV2 is unimplemented", async () => {
  await using engine = new MockEngine();
  engine.faults.failNext("ListenV2", "unimplemented");
  const rec = recordingLogger();
  const wf = workflow({ name: "v1" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    logger: rec.logger,
  });
  await worker.start();
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.deepEqual(result.outputs.t, { ok: true });
  const listens = engine.rpcLog().filter((e) => e.method.startsWith("Listen"));
  assert.deepEqual(listens.map((e) => [e.method, e.error ?? "ok"]), [
    ["ListenV2", "unimplemented"],
    ["Listen", "ok"],
  ]);
  assert.deepEqual(rec.warnings, ['Worker "w": the engine has no ListenV2; using Listen']);
});

Deno.test("Worker.start() retries transient failures and rejects clearly on a permanent one", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "reg" });
  wf.task({ name: "t", fn: () => ({}) });
  const rec = recordingLogger();
  engine.faults.failNext("Register", "unavailable", 2);
  await using ok = createWorker(engine.client, { name: "ok", workflows: [wf], logger: rec.logger });
  await ok.start();
  assert.equal(ok.state, "running");
  assert.equal(rec.warnings.length, 2);

  engine.faults.failNext("PutWorkflow", "invalid_argument");
  let cleaned = false;
  await using bad = createWorker(engine.client, {
    name: "bad",
    workflows: [wf],
    logger: rec.logger,
    lifespan: async function* () {
      yield undefined;
      cleaned = true;
    },
  });
  await assert.rejects(bad.start(), (err) => {
    assert.ok(err instanceof Error);
    assert.match(
      err.message,
      /^Worker "bad" failed to start: \/v1\.AdminService\/PutWorkflow failed with invalid_argument: /,
    );
    assert.equal((err.cause as { code?: string }).code, "invalid_argument");
    return true;
  });
  assert.equal(bad.state, "failed");
  assert.equal(cleaned, true);
  await assert.rejects(bad.start(), {
    message: 'Worker "bad" cannot start: its state is "failed"',
  });
});

Deno.test("Worker runs retries with backoff on the virtual clock and honours NonRetryableError", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "retry" });
  const seen: number[] = [];
  const firstFailed = deferred();
  wf.task({
    name: "flaky",
    retries: 2,
    backoff: { factor: 2, maxSeconds: 60 },
    fn: (_input, ctx) => {
      seen.push(ctx.retryCount);
      if (ctx.retryCount === 0) firstFailed.resolve();
      if (ctx.attemptNumber < 3) throw new Error(`attempt ${ctx.attemptNumber} failed`);
      return { attempts: ctx.attemptNumber };
    },
  });
  const fatal = workflow({ name: "fatal" });
  let fatalCalls = 0;
  fatal.task({
    name: "charge",
    retries: 3,
    fn: () => {
      fatalCalls++;
      throw new NonRetryableError("card declined");
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf, fatal] });
  await worker.start();

  const run = await engine.client.runs.trigger(wf, {});
  await firstFailed.promise;
  await engine.advance("2s");
  await engine.advance("4s");
  const result = await run.result();
  assert.deepEqual(result.outputs.flaky, { attempts: 3 });
  assert.deepEqual(seen, [0, 1, 2]);
  assert.deepEqual(events(engine), [
    ["flaky", "STARTED", 0],
    ["flaky", "FAILED", 0],
    ["flaky", "STARTED", 1],
    ["flaky", "FAILED", 1],
    ["flaky", "STARTED", 2],
    ["flaky", "COMPLETED", 2],
  ]);

  const failed = await (await engine.client.runs.trigger(fatal, {})).result();
  assert.equal(failed.status, "FAILED");
  assert.match(failed.errors.charge, /^NonRetryableError: card declined\n\s+at /);
  assert.equal(fatalCalls, 1);
});

Deno.test("Worker reports outputs that are not JSON objects and non-Error throws as failures", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "outputs" });
  wf.task({ name: "number", fn: () => 42 as never });
  wf.task({ name: "nothing", fn: () => {} });
  wf.task({ name: "nul", fn: () => ({ s: "a\u0000b" }) });
  wf.task({
    name: "cycle",
    fn: () => {
      const o: Record<string, unknown> = {};
      o.o = o;
      return o as never;
    },
  });
  wf.task({
    name: "thrower",
    fn: () => {
      throw { code: 7 };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.equal(result.status, "FAILED");
  assert.deepEqual(result.outputs, { nothing: {} });
  assert.equal(
    result.errors.number,
    'Task "number" must return a JSON object or nothing, received a number (42)',
  );
  assert.match(result.errors.nul, /U\+0000 in the value of "s"/);
  assert.match(
    result.errors.cycle,
    /^Task "cycle" returned an output that cannot be sent as JSON: it contains a cycle/,
  );
  assert.equal(result.errors.thrower, 'Non-Error value thrown: {"code":7}');
});

Deno.test("Worker fails a run with a malformed payload or an unknown action id and keeps running", async () => {
  await using engine = new MockEngine();
  const rec = recordingLogger();
  let n = 0;
  await using client = rewritingClient(engine, (action) => {
    n++;
    if (n === 1) action.actionPayload = "{oops";
    if (n === 2) action.actionId = "elsewhere:t";
  });
  const wf = workflow({ name: "robust" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  await using worker = createWorker(client, { name: "w", workflows: [wf], logger: rec.logger });
  await worker.start();
  const first = await (await client.runs.trigger(wf, {})).result();
  assert.equal(first.status, "FAILED");
  assert.match(
    first.errors.t,
    /^TypeError: Malformed action payload for task run "[^"]+": not valid JSON/,
  );
  const second = await (await client.runs.trigger(wf, {})).result();
  assert.equal(second.status, "FAILED");
  assert.equal(
    second.errors.t,
    'Worker "w" has no task for action id "elsewhere:t"; it registered "robust:t"',
  );
  const third = await (await client.runs.trigger(wf, {})).result();
  assert.deepEqual(third.outputs.t, { ok: true });
  assert.equal(worker.state, "running");
});

Deno.test("Worker retries sending results on transient errors but not on invalid_argument", async () => {
  await using engine = new MockEngine();
  const rec = recordingLogger();
  const wf = workflow({ name: "send" });
  wf.task({
    name: "t",
    fn: async (input) => {
      // STARTED is still in flight when the task runs: let it land before arming the faults.
      await engine.settle();
      if (input.mode === "transient") {
        engine.faults.failNext("SendStepActionEvent", "unavailable", 2);
      } else engine.faults.failNext("SendStepActionEvent", "invalid_argument");
      return { ok: true };
    },
  });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    logger: rec.logger,
  });
  await worker.start();
  const ok = await (await engine.client.runs.trigger(wf, { mode: "transient" })).result();
  assert.deepEqual(ok.outputs.t, { ok: true });
  await engine.client.runs.trigger(wf, { mode: "permanent" });
  await rec.waitFor(/could not report COMPLETED/);
  const sends = engine.rpcLog().filter((e) => e.method === "SendStepActionEvent");
  assert.deepEqual(sends.map((e) => [e.summary?.eventType, e.error ?? "ok"]), [
    ["STARTED", "ok"],
    ["COMPLETED", "unavailable"],
    ["COMPLETED", "unavailable"],
    ["COMPLETED", "ok"],
    ["STARTED", "ok"],
    ["COMPLETED", "invalid_argument"],
  ]);
  assert.equal(rec.warnings.filter((w) => /sending COMPLETED .* retry/.test(w)).length, 2);
});

Deno.test("Worker runs at most `slots` tasks at once", async () => {
  await using engine = new MockEngine();
  const wf = workflow<{ i: number }>({ name: "limited" });
  let running = 0;
  let peak = 0;
  const gates = [deferred(), deferred(), deferred()];
  const started = [deferred(), deferred(), deferred()];
  wf.task({
    name: "t",
    fn: async (input) => {
      running++;
      peak = Math.max(peak, running);
      started[input.i].resolve();
      await gates[input.i].promise;
      running--;
      return { i: input.i };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf], slots: 2 });
  await worker.start();
  const runs = [];
  for (const i of [0, 1, 2]) runs.push(await engine.client.runs.trigger(wf, { i }));
  await started[0].promise;
  await started[1].promise;
  await engine.settle();
  assert.equal(running, 2);
  assert.deepEqual(engine.taskRuns().map((t) => t.status), ["RUNNING", "RUNNING", "QUEUED"]);
  gates[0].resolve();
  await started[2].promise;
  gates[1].resolve();
  gates[2].resolve();
  for (const run of runs) assert.equal((await run.result()).status, "COMPLETED");
  assert.equal(peak, 2);
});

Deno.test("Worker frees a cancelled run's slot after the grace period even if the task ignores its signal", async () => {
  await using engine = new MockEngine();
  const wf = workflow<{ stubborn: boolean }>({ name: "stubborn" });
  const started = deferred<string>();
  const finish = deferred();
  let reason: unknown;
  wf.task({
    name: "t",
    fn: async (input, ctx) => {
      if (!input.stubborn) return { stubborn: false };
      started.resolve(ctx.taskRunId);
      await finish.promise;
      reason = ctx.signal.reason;
      return { stubborn: true };
    },
  });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    slots: 1,
    cancellationGracePeriod: "20ms",
  });
  await worker.start();
  const first = await engine.client.runs.trigger(wf, { stubborn: true });
  await engine.client.runs.cancel([await started.promise]);
  const second = await engine.client.runs.trigger(wf, { stubborn: false });
  assert.deepEqual((await second.result()).outputs.t, { stubborn: false });
  assert.equal((await first.result()).status, "CANCELLED");
  finish.resolve();
  await worker.stop();
  assert.ok(reason instanceof TaskCancelledError);
  assert.equal(reason.source, "engine");
  assert.deepEqual(events(engine), [
    ["t", "STARTED", 0],
    ["t", "STARTED", 0],
    ["t", "COMPLETED", 0],
  ]);
});

Deno.test("Worker reconnects its action stream after the engine drops it and keeps its id", async () => {
  await using engine = new MockEngine();
  const rec = recordingLogger();
  const wf = workflow({ name: "reconnect" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    logger: rec.logger,
  });
  await worker.start();
  const id = worker.id;
  await engine.settle();
  engine.dropStreams();
  await rec.waitFor(/reconnecting the action stream in \d+ ms \(attempt 1\)/);
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.deepEqual(result.outputs.t, { ok: true });
  assert.equal(worker.id, id);
  assert.equal(engine.workers().length, 1);
  const listens = engine.rpcLog().filter((e) => e.method === "ListenV2");
  assert.deepEqual(listens.map((e) => e.summary?.workerId), [id, id]);
  assert.match(rec.warnings[0], /^Worker "w": the action stream failed: .*unavailable/);
});

Deno.test("Worker registers again when a heartbeat answers not_found", async () => {
  await using engine = new MockEngine();
  const rec = recordingLogger();
  const wf = workflow({ name: "hb" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  engine.faults.failNext("Heartbeat", "not_found");
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    logger: rec.logger,
    heartbeatInterval: "10ms",
  });
  await worker.start();
  await rec.waitFor(/registering again/);
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.deepEqual(result.outputs.t, { ok: true });
  const workers = engine.workers();
  assert.equal(workers.length, 2);
  assert.equal(worker.id, workers[1].id);
  assert.equal(engine.taskRuns()[0].status, "COMPLETED");
  assert.deepEqual(rec.warnings, [
    'Worker "w": the engine no longer knows this worker; registering again',
  ]);
});

Deno.test("Worker runs the lifespan generator at start and its cleanup at stop", async () => {
  await using engine = new MockEngine();
  const steps: string[] = [];
  const wf = workflow({ name: "life" });
  wf.task({
    name: "t",
    fn: (_input, ctx) => {
      steps.push(`task sees ${(ctx.lifespan as { pool: string }).pool}`);
      return {};
    },
  });
  const worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    lifespan: async function* () {
      steps.push("setup");
      try {
        yield { pool: "db-pool" };
      } finally {
        steps.push("cleanup");
      }
    },
  });
  await worker.start();
  await (await engine.client.runs.trigger(wf, {})).result();
  await worker.stop();
  assert.deepEqual(steps, ["setup", "task sees db-pool", "cleanup"]);
});

Deno.test("Worker.stop() lets a running task finish and report before unsubscribing", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "drain" });
  const started = deferred();
  const gate = deferred();
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      started.resolve();
      await gate.promise;
      ctx.log("finishing");
      return { finished: true };
    },
  });
  const worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  const states: WorkerState[] = [worker.state];
  await worker.start();
  states.push(worker.state);
  const run = await engine.client.runs.trigger(wf, {});
  await started.promise;
  const stopping = worker.stop();
  states.push(worker.state);
  assert.equal(worker.stop(), stopping);
  gate.resolve();
  await stopping;
  states.push(worker.state);
  assert.deepEqual(states, ["idle", "running", "stopping", "stopped"]);
  assert.deepEqual((await run.result()).outputs.t, { finished: true });
  const tail = engine.rpcLog({ omit: OMIT }).slice(-4).map((e) => [
    e.method,
    e.summary?.eventType ?? e.summary?.message ?? "",
  ]);
  assert.deepEqual(tail, [
    ["SendStepActionEvent", "STARTED"],
    ["PutLog", "finishing"],
    ["SendStepActionEvent", "COMPLETED"],
    ["Unsubscribe", ""],
  ]);
});

Deno.test("Worker.stop() cancels tasks still running after the drain timeout", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "slowpoke" });
  const started = deferred();
  let reason: unknown;
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      started.resolve();
      await aborted(ctx.signal);
      reason = ctx.signal.reason;
      return { late: true };
    },
  });
  const rec = recordingLogger();
  const worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    drainTimeout: "20ms",
    logger: rec.logger,
  });
  await worker.start();
  await engine.client.runs.trigger(wf, {});
  await started.promise;
  await worker.stop();
  assert.equal(worker.state, "stopped");
  assert.ok(reason instanceof TaskCancelledError);
  assert.equal(reason.source, "worker");
  assert.deepEqual(events(engine), [["t", "STARTED", 0]]);
  assert.deepEqual(rec.warnings, [
    'Worker "w": 1 task run(s) still running after the drain timeout; cancelling them',
  ]);
});

Deno.test("Worker.stop() on an idle worker just marks it stopped", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "idle" });
  wf.task({ name: "t", fn: () => ({}) });
  const worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.stop();
  assert.equal(worker.state, "stopped");
  assert.deepEqual(engine.rpcLog(), []);
});

Deno.test("createWorker() throws on bad options", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "x" });
  wf.task({ name: "t", fn: () => ({}) });
  assert.throws(() => createWorker(engine.client, { name: "", workflows: [wf] }), {
    name: "TypeError",
    message: 'Worker name must be a non-empty string, received ""',
  });
  assert.throws(() => createWorker(engine.client, { name: "w", workflows: [] }), {
    name: "TypeError",
    message: 'Worker "w": workflows must be a non-empty array',
  });
  assert.throws(() => createWorker(engine.client, { name: "w", workflows: [wf], slots: 0 }), {
    name: "RangeError",
    message: 'Worker "w": slots must be a positive integer, received 0',
  });
  assert.throws(
    () => createWorker(engine.client, { name: "w", workflows: [wf], drainTimeout: "soon" }),
    { name: "RangeError" },
  );
  const twin = workflow({ name: "X" });
  twin.task({ name: "t", fn: () => ({}) });
  assert.throws(() => createWorker(engine.client, { name: "w", workflows: [wf, twin] }), {
    name: "TypeError",
    message:
      'Worker "w": two tasks share the action id "x:t"; workflow names must differ after lower-casing',
  });
  assert.throws(() => createWorker({} as never, { name: "w", workflows: [wf] }), {
    name: "TypeError",
  });
});

Deno.test("Worker runs a durable task that sleeps on the virtual clock", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "durable" });
  const sleeping = deferred();
  wf.durableTask({
    name: "nap",
    executionTimeout: "2h",
    fn: async (_input, ctx) => {
      const wait = ctx.sleepFor("1h");
      sleeping.resolve();
      const res = await wait;
      return { woke: Object.keys(res) };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await sleeping.promise;
  await engine.advance("1h");
  const result = await run.result();
  assert.deepEqual(result.outputs.nap, { woke: ["CREATE"] });
  assert.deepEqual(engine.workers()[0].slotConfig, { durable: 1000 });
});

Deno.test("Worker runs tasks over real gRPC from MockEngine.listen()", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  await using client = createClient({
    token: engine.token,
    hostPort: server.hostPort,
    tls: "none",
    env: {},
  });
  const wf = workflow<{ name: string }>({ name: "grpc" });
  const hello = wf.task({
    name: "hello",
    fn: (input, ctx) => {
      ctx.log(`hi ${input.name}`);
      ctx.putStream("chunk");
      return { text: `Hello, ${input.name}` };
    },
  });
  wf.task({
    name: "loud",
    parents: [hello],
    fn: (_i, ctx) => ({ text: ctx.taskOutput(hello).text.toUpperCase() }),
  });
  await using worker = createWorker(client, { name: "w", workflows: [wf] });
  await worker.start();
  const result = await (await client.runs.trigger(wf, { name: "Ada" })).result();
  assert.deepEqual(result.outputs.loud, { text: "HELLO, ADA" });
  assert.deepEqual(engine.logs().map((l) => l.message), ["hi Ada"]);
  await worker.stop();
});

Deno.test("Worker opens a fresh action stream when a heartbeat answers failed_precondition", async () => {
  await using engine = new MockEngine();
  const rec = recordingLogger();
  const wf = workflow({ name: "relisten" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    logger: rec.logger,
    heartbeatInterval: "10ms",
  });
  await worker.start();
  await engine.settle();
  engine.faults.failNext("Heartbeat", "failed_precondition");
  await rec.waitFor(/action stream inactive; reconnecting/);
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.deepEqual(result.outputs.t, { ok: true });
  const listens = engine.rpcLog().filter((e) => e.method === "ListenV2");
  assert.deepEqual(listens.map((e) => e.summary?.workerId), [worker.id, worker.id]);
  assert.equal(engine.workers().length, 1);
});

Deno.test("Worker.stop() during start() ends the start with a clear error", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "early-stop" });
  wf.task({ name: "t", fn: () => ({}) });
  engine.faults.failNext("GetVersion", "unavailable", 5);
  const rec = recordingLogger();
  const worker = createWorker(engine.client, { name: "w", workflows: [wf], logger: rec.logger });
  const starting = worker.start();
  const stopping = worker.stop();
  await assert.rejects(starting, { message: 'Worker "w" was stopped before it started' });
  await stopping;
  assert.equal(worker.state, "stopped");
  assert.deepEqual(
    engine.rpcLog().map((e) => e.method).filter((m) => m !== "GetVersion"),
    [],
  );
});
