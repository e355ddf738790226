import assert from "node:assert/strict";
import {
  type Context,
  createWorker,
  type JsonObject,
  ParentCondition,
  RpcError,
  TaskCancelledError,
  TaskOutputMissingError,
  TaskSkippedError,
  workflow,
} from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { aborted, deferred, recordingLogger } from "../worker/_helpers.ts";

const decoder = new TextDecoder();

Deno.test("Context attributes describe the run, the attempt and the worker", async () => {
  await using engine = new MockEngine();
  const wf = workflow<{ n: number }>({ name: "attrs" });
  let seen: Context<{ n: number }> | undefined;
  wf.task({
    name: "look",
    fn: (input, ctx) => {
      seen = ctx;
      return { n: input.n };
    },
  });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    lifespan: async function* () {
      yield { db: "connection" };
    },
  });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, { n: 7 }, {
    additionalMetadata: { team: "billing" },
    priority: 3,
  });
  assert.equal((await run.result()).status, "COMPLETED");
  const [task] = engine.taskRuns(run.id);
  const ctx = seen!;
  assert.deepEqual(ctx.input, { n: 7 });
  assert.deepEqual(ctx.workflowInput, { n: 7 });
  assert.equal(ctx.workflowRunId, run.id);
  assert.equal(ctx.taskRunId, task.id);
  assert.equal(ctx.taskName, "look");
  assert.equal(ctx.workerId, worker.id);
  assert.equal(ctx.retryCount, 0);
  assert.equal(ctx.attemptNumber, 1);
  const { traceparent, ...sent } = ctx.additionalMetadata ?? {};
  assert.deepEqual(sent, { team: "billing" });
  // The engine adds a W3C traceparent to every run that was triggered without one.
  assert.match(String(traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.equal(ctx.parentWorkflowRunId, undefined);
  assert.equal(ctx.priority, 3);
  assert.equal(typeof ctx.workflowId, "string");
  assert.equal(typeof ctx.workflowVersionId, "string");
  assert.equal(ctx.wasTriggeredByEvent, false);
  assert.deepEqual(ctx.taskRunErrors, {});
  assert.deepEqual(ctx.lifespan, { db: "connection" });
  assert.equal(ctx.signal.aborted, false);
  assert.equal(ctx.done(), false);
});

Deno.test("Context.wasTriggeredByEvent is true and the input is the payload for an event run", async () => {
  await using engine = new MockEngine({ namespace: "dev" });
  const wf = workflow({ name: "on-event", onEvents: ["order:paid"] });
  const seen = deferred<Context>();
  wf.task({
    name: "react",
    fn: (_input, ctx) => {
      seen.resolve(ctx);
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  await engine.client.events.push("order:paid", { orderId: "o-1" });
  const ctx = await seen.promise;
  await engine.settle();
  assert.equal(ctx.wasTriggeredByEvent, true);
  assert.deepEqual(ctx.input, { orderId: "o-1" });
  assert.equal(ctx.additionalMetadata?.hatchet__event_key, "dev_order:paid");
  assert.deepEqual(engine.taskRuns().map((t) => t.status), ["COMPLETED"]);
});

Deno.test("Context.additionalMetadata holds the engine's traceparent, and keeps one the trigger sent", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "plain" });
  wf.task({ name: "t", fn: (_input, ctx) => ({ meta: ctx.additionalMetadata ?? null }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const plain = await engine.client.runs.trigger(wf, {});
  const first = (await plain.result()).outputs.t as { meta: Record<string, string> };
  assert.deepEqual(Object.keys(first.meta), ["traceparent"]);
  assert.match(first.meta.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  // Stable for a run, and distinct between runs.
  const again = (await (await engine.client.runs.trigger(wf, {})).result()).outputs.t as {
    meta: Record<string, string>;
  };
  assert.notEqual(again.meta.traceparent, first.meta.traceparent);
  const mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const sent = await engine.client.runs.trigger(wf, {}, {
    additionalMetadata: { traceparent: mine },
  });
  assert.deepEqual((await sent.result()).outputs.t, { meta: { traceparent: mine } });
});

Deno.test("Context.taskOutput(), wasSkipped() and their errors follow a DAG with a skipped branch", async () => {
  await using engine = new MockEngine();
  const wf = workflow<{ amount: number }>({ name: "dag" });
  const check = wf.task({ name: "check", fn: (input) => ({ big: input.amount > 100 }) });
  const review = wf.task({
    name: "review",
    parents: [check],
    skipIf: [new ParentCondition(check, "output.big == false")],
    fn: () => ({ reviewed: true }),
  });
  wf.task({
    name: "finish",
    parents: [check, review],
    fn: (_input, ctx) => {
      const big: boolean = ctx.taskOutput(check).big;
      const errors: JsonObject = {};
      for (const probe of [() => ctx.taskOutput(review), () => ctx.taskOutput("nope")]) {
        try {
          probe();
        } catch (err) {
          const e = err as Error;
          errors[e.name] = e.message;
          if (err instanceof TaskSkippedError) errors.skippedTask = err.task;
          if (err instanceof TaskOutputMissingError) errors.missingTask = err.task;
        }
      }
      return {
        big,
        reviewSkipped: ctx.wasSkipped(review),
        checkSkipped: ctx.wasSkipped("check"),
        errors,
      };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();

  const small = await (await engine.client.runs.trigger(wf, { amount: 5 })).result();
  assert.equal(small.status, "COMPLETED");
  assert.deepEqual(small.outputs.finish, {
    big: false,
    reviewSkipped: true,
    checkSkipped: false,
    errors: {
      TaskSkippedError: 'Task "review" was skipped',
      skippedTask: "review",
      TaskOutputMissingError: 'No output for task "nope": parents present: "check", "review"',
      missingTask: "nope",
    },
  });
  const big = await (await engine.client.runs.trigger(wf, { amount: 500 })).result();
  assert.deepEqual(big.outputs.review, { reviewed: true });
  assert.equal((big.outputs.finish as JsonObject).reviewSkipped, false);
});

Deno.test("Context.taskOutput() throws a TypeError for an argument that is not a task", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "bad-arg" });
  wf.task({
    name: "t",
    fn: (_input, ctx) => {
      try {
        ctx.taskOutput(42 as unknown as string);
      } catch (err) {
        return { name: (err as Error).name, message: (err as Error).message };
      }
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.deepEqual(result.outputs.t, {
    name: "TypeError",
    message: "ctx.taskOutput(): expected a task reference or a task name, received 42",
  });
});

Deno.test("Context.taskRunErrors and fetchTaskRunError() show upstream failures to the on-failure task", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "fails" });
  wf.task({
    name: "boom",
    fn: () => {
      throw new Error("kaput");
    },
  });
  wf.onFailure({
    fn: (_input, ctx) => ({
      errors: ctx.taskRunErrors,
      boom: ctx.fetchTaskRunError("boom") ?? null,
      other: ctx.fetchTaskRunError("other") ?? null,
    }),
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.equal(result.status, "FAILED");
  assert.match(result.errors.boom, /^Error: kaput\n\s+at /);
  const out = result.outputs["on-failure-task"] as {
    errors: Record<string, string>;
    boom: string;
    other: null;
  };
  assert.deepEqual(out.errors, { boom: result.errors.boom });
  assert.equal(out.boom, result.errors.boom);
  assert.equal(out.other, null);
});

Deno.test("Context.log() delivers thousands of lines in call order, merged into fewer rows, before the result", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "chatty" });
  const lines = Array.from({ length: 3000 }, (_, i) => `line ${i}`);
  wf.task({
    name: "talk",
    fn: (_input, ctx) => {
      for (const line of lines) ctx.log(line);
      return { said: lines.length };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  assert.equal((await run.result()).status, "COMPLETED");
  const [task] = engine.taskRuns(run.id);
  const rows = engine.logs(task.id).map((l) => l.message);
  assert.deepEqual(rows.flatMap((row) => row.split("\n")), lines);
  assert.ok(rows.length < lines.length, `${rows.length} rows for ${lines.length} lines`);
  const log = engine.rpcLog({ omit: ["Heartbeat", "GetRunDetails", "SubscribeToWorkflowRuns"] });
  const lastLog = log.findLastIndex((e) => e.method === "PutLog");
  const completed = log.findIndex((e) =>
    e.method === "SendStepActionEvent" && e.summary?.eventType === "COMPLETED"
  );
  assert.ok(completed > lastLog, "COMPLETED is reported after the last log line");
});

Deno.test("Context.log() sends objects as JSON, maps levels and truncates long lines", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "levels" });
  const thrown: string[] = [];
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      ctx.log({ user: "ada", n: 1 }, { level: "debug" });
      ctx.log("careful", { level: "warn" });
      ctx.log("x".repeat(12_000), { level: "error" });
      for (
        const bad of [() => ctx.log("l", { level: "loud" as "info" }), () => ctx.log(5 as never)]
      ) {
        try {
          bad();
        } catch (err) {
          thrown.push(`${(err as Error).name}: ${(err as Error).message}`);
        }
      }
      await ctx.log("last");
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  await (await engine.client.runs.trigger(wf, {})).result();
  const logs = engine.logs();
  assert.deepEqual(logs.map((l) => [l.level, l.message.length]), [
    ["DEBUG", 20],
    ["WARN", 7],
    ["ERROR", 10_000],
    ["INFO", 4],
  ]);
  assert.equal(logs[0].message, '{"user":"ada","n":1}');
  assert.deepEqual(JSON.parse(logs[0].message), { user: "ada", n: 1 });
  assert.match(logs[2].message, /\.\.\. \[truncated: 12000 characters in total\]$/);
  assert.equal(logs[0].retryCount, 0);
  assert.deepEqual(thrown, [
    'TypeError: ctx.log(): level must be "debug", "info", "warn" or "error", received "loud"',
    "TypeError: ctx.log(): expected a string or a JSON object, received 5",
  ]);
});

Deno.test("Context.log() retries transient failures and rejects only with raiseOnError", async () => {
  await using engine = new MockEngine();
  const rec = recordingLogger();
  const wf = workflow({ name: "flaky-logs" });
  const outcome: string[] = [];
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      engine.faults.failNext("PutLog", "unavailable", 2);
      await ctx.log("survives");
      engine.faults.failNext("PutLog", "invalid_argument", 2);
      await ctx.log("quietly lost");
      try {
        await ctx.log("loudly lost", { raiseOnError: true });
      } catch (err) {
        assert.ok(err instanceof RpcError);
        outcome.push(err.code);
      }
    },
  });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    logger: rec.logger,
  });
  await worker.start();
  await (await engine.client.runs.trigger(wf, {})).result();
  assert.deepEqual(engine.logs().map((l) => l.message), ["survives"]);
  assert.deepEqual(outcome, ["invalid_argument"]);
  const putLogs = engine.rpcLog().filter((e) => e.method === "PutLog");
  assert.deepEqual(putLogs.map((e) => [e.summary?.message, e.error ?? "ok"]), [
    ["survives", "unavailable"],
    ["survives", "unavailable"],
    ["survives", "ok"],
    ["quietly lost", "invalid_argument"],
    ["loudly lost", "invalid_argument"],
  ]);
  assert.equal(rec.warnings.filter((w) => /log line .* was not delivered/.test(w)).length, 2);
});

Deno.test("Context.putStream() delivers thousands of chunks with ordered event indexes", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "streamer" });
  const chunks = Array.from({ length: 2000 }, (_, i) => `chunk ${i};`);
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      for (const [i, chunk] of chunks.entries()) {
        if (i % 2 === 0) ctx.putStream(chunk);
        else ctx.putStream(new TextEncoder().encode(chunk));
      }
      await ctx.putStream("end");
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await run.result();
  const [task] = engine.taskRuns(run.id);
  assert.deepEqual(engine.streamEvents(task.id).map((b) => decoder.decode(b)), [...chunks, "end"]);
  const indexes = engine.rpcLog().filter((e) => e.method === "PutStreamEvent").map((e) =>
    e.summary?.eventIndex
  );
  assert.deepEqual(indexes, Array.from({ length: 2001 }, (_, i) => i));
});

Deno.test("Context.refreshTimeout() extends the deadline under the virtual clock", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "slow" });
  const refreshed = deferred();
  const errors: string[] = [];
  let reason: unknown;
  wf.task({
    name: "t",
    executionTimeout: "10s",
    fn: async (_input, ctx) => {
      for (const bad of ["5x", 0]) {
        await ctx.refreshTimeout(bad).catch((err) => errors.push(`${err.name}: ${err.message}`));
      }
      await ctx.refreshTimeout("20s");
      refreshed.resolve();
      await aborted(ctx.signal);
      reason = ctx.signal.reason;
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await refreshed.promise;
  await engine.advance("25s");
  assert.equal(engine.taskRuns(run.id)[0].status, "RUNNING");
  await engine.advance("6s");
  const result = await run.result();
  assert.equal(result.status, "FAILED");
  assert.match(result.errors.t, /timeout/);
  assert.ok(reason instanceof TaskCancelledError);
  assert.equal(reason.source, "engine");
  assert.deepEqual(errors, [
    'RangeError: ctx.refreshTimeout(): Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received "5x"',
    "RangeError: ctx.refreshTimeout(): incrementBy must be positive, received 0",
  ]);
  const refreshes = engine.rpcLog().filter((e) => e.method === "RefreshTimeout");
  assert.deepEqual(refreshes.map((e) => e.summary?.incrementBy), ["20s"]);
  const events = engine.rpcLog().filter((e) => e.method === "SendStepActionEvent");
  assert.deepEqual(events.map((e) => e.summary?.eventType), ["STARTED"]);
});

Deno.test("Context.releaseSlot() lets a one-slot worker start the next run", async () => {
  await using engine = new MockEngine();
  const wf = workflow<{ first: boolean }>({ name: "slotty" });
  const released = deferred();
  const gate = deferred();
  wf.task({
    name: "t",
    fn: async (input, ctx) => {
      if (input.first) {
        await ctx.releaseSlot();
        await ctx.releaseSlot();
        released.resolve();
        await gate.promise;
      }
      return { first: input.first };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf], slots: 1 });
  await worker.start();
  const first = await engine.client.runs.trigger(wf, { first: true });
  await released.promise;
  const second = await engine.client.runs.trigger(wf, { first: false });
  assert.deepEqual((await second.result()).outputs.t, { first: false });
  assert.equal(engine.taskRuns(first.id)[0].status, "RUNNING");
  gate.resolve();
  assert.deepEqual((await first.result()).outputs.t, { first: true });
  assert.equal(engine.rpcLog().filter((e) => e.method === "ReleaseSlot").length, 1);
});

Deno.test("Context.cancel() cancels the run in the engine, aborts the signal and reports nothing", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "self-cancel" });
  let reason: unknown;
  let done = false;
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      assert.equal(ctx.done(), false);
      await ctx.cancel();
      reason = ctx.signal.reason;
      done = ctx.done();
      return { ignored: true };
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  const result = await run.result();
  assert.equal(result.status, "CANCELLED");
  assert.deepEqual(result.outputs, {});
  assert.ok(reason instanceof TaskCancelledError);
  assert.equal(reason.source, "task");
  assert.equal(done, true);
  const [task] = engine.taskRuns(run.id);
  const log = engine.rpcLog({ omit: ["Heartbeat", "GetRunDetails", "SubscribeToWorkflowRuns"] });
  assert.deepEqual(
    log.filter((e) => e.method === "CancelTasks" || e.method === "SendStepActionEvent")
      .map((e) => [e.method, e.summary?.eventType ?? e.summary?.externalIds]),
    [["SendStepActionEvent", "STARTED"], ["CancelTasks", [task.id]]],
  );
});

Deno.test("Context.signal aborts with a TaskCancelledError when the run is cancelled from outside", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "outside-cancel" });
  const started = deferred<string>();
  let reason: unknown;
  let done = false;
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      started.resolve(ctx.taskRunId);
      await aborted(ctx.signal);
      reason = ctx.signal.reason;
      done = ctx.done();
    },
  });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.client.runs.cancel([await started.promise]);
  assert.equal((await run.result()).status, "CANCELLED");
  await engine.settle();
  assert.ok(reason instanceof TaskCancelledError);
  assert.equal(reason.source, "engine");
  assert.equal(done, true);
  const events = engine.rpcLog().filter((e) => e.method === "SendStepActionEvent");
  assert.deepEqual(events.map((e) => e.summary?.eventType), ["STARTED"]);
});
