// The conformance scenarios, in one registry. Each declares its own workflows under names unique
// to the suite run and stack (ctx.name), starts its own worker (ctx.startWorker), checks real
// outcomes (outputs, statuses, what the engine stored) and times its key step (ctx.measure).
// To add one: write a Scenario and append it to `scenarios` at the bottom.

import assert from "node:assert/strict";
import {
  type HatchetClient,
  type JsonObject,
  NonRetryableError,
  or,
  ParentCondition,
  SleepCondition,
  TaskCancelledError,
  UserEventCondition,
  workflow,
} from "../../mod.ts";
import {
  deferred,
  delay,
  eventually,
  formatMs,
  type Scenario,
  type ScenarioContext,
  within,
} from "./harness.ts";
import { runsScenarios } from "./runs_scenarios.ts";
import { flowScenarios } from "./flow_scenarios.ts";
import { durableScenarios } from "./durable_scenarios.ts";
import { officialScenarios } from "./official_scenarios.ts";

/** Triggers and waits for the result under the scenario's signal. */
async function runToEnd(
  client: HatchetClient,
  ctx: ScenarioContext,
  wf: Parameters<HatchetClient["runs"]["trigger"]>[0],
  input: JsonObject,
  options?: { additionalMetadata?: JsonObject; priority?: number },
) {
  const run = await client.runs.trigger(wf, input, options);
  return { run, result: await run.result({ signal: ctx.signal }) };
}

const simpleTask: Scenario = {
  name: "simple task",
  async run(client, ctx) {
    const wf = workflow<{ name: string }>({ name: ctx.name("simple") });
    wf.task({
      name: "greet",
      fn: (input, t) => ({
        message: `Hello, ${input.name}!`,
        workflowRunId: t.workflowRunId,
        attemptNumber: t.attemptNumber,
        taskName: t.taskName,
      }),
    });
    await ctx.startWorker([wf], { warmUp: false });
    const first = await ctx.measure(
      "first run (new worker)",
      () => runToEnd(client, ctx, wf, { name: "Ada" }),
    );
    assert.equal(first.result.status, "COMPLETED");
    assert.deepEqual(first.result.outputs.greet, {
      message: "Hello, Ada!",
      workflowRunId: first.run.id,
      attemptNumber: 1,
      taskName: "greet",
    });
    const start = performance.now();
    const second = await runToEnd(client, ctx, wf, { name: "Grace" });
    ctx.record("warm run", performance.now() - start);
    assert.equal(second.result.outputs.greet.message, "Hello, Grace!");
    await eventually(async () => {
      const stored = await ctx.rest.workflowRun(first.run.id, ctx.signal);
      assert.equal(stored.run.status, "COMPLETED");
    }, ctx.signal);
  },
};

const dagTaskOutput: Scenario = {
  name: "DAG + taskOutput",
  async run(client, ctx) {
    const wf = workflow<{ n: number }>({ name: ctx.name("dag") });
    const start = wf.task({ name: "start", fn: (input) => ({ n: input.n }) });
    const double = wf.task({
      name: "double",
      parents: [start],
      fn: (_input, t) => ({ n: t.taskOutput(start).n * 2 }),
    });
    const square = wf.task({
      name: "square",
      parents: [start],
      fn: (_input, t) => ({ n: t.taskOutput(start).n ** 2 }),
    });
    wf.task({
      name: "sum",
      parents: [double, square],
      fn: (_input, t) => ({ n: t.taskOutput(double).n + t.taskOutput(square).n }),
    });
    await ctx.startWorker([wf]);
    const { result } = await ctx.measure(
      "trigger→result",
      () => runToEnd(client, ctx, wf, { n: 7 }),
    );
    assert.equal(result.status, "COMPLETED");
    assert.deepEqual(result.outputs, {
      start: { n: 7 },
      double: { n: 14 },
      square: { n: 49 },
      sum: { n: 63 },
    });
  },
};

const skipWasSkipped: Scenario = {
  name: "skip + wasSkipped",
  async run(client, ctx) {
    const wf = workflow<{ total: number }>({ name: ctx.name("skip") });
    const check = wf.task({ name: "check", fn: (input) => ({ total: input.total }) });
    const review = wf.task({
      name: "review",
      parents: [check],
      skipIf: [new ParentCondition(check, "output.total < 100")],
      fn: () => ({ reviewed: true }),
    });
    wf.task({
      name: "report",
      parents: [check, review],
      fn: (_input, t) => ({
        reviewSkipped: t.wasSkipped(review),
        checkSkipped: t.wasSkipped(check),
      }),
    });
    await ctx.startWorker([wf]);
    const small = await ctx.measure(
      "trigger→result",
      () => runToEnd(client, ctx, wf, { total: 5 }),
    );
    assert.equal(small.result.status, "COMPLETED");
    assert.deepEqual(small.result.outputs.report, { reviewSkipped: true, checkSkipped: false });
    assert.equal("reviewed" in (small.result.outputs.review ?? {}), false);
    const big = await runToEnd(client, ctx, wf, { total: 500 });
    assert.deepEqual(big.result.outputs.review, { reviewed: true });
    assert.deepEqual(big.result.outputs.report, { reviewSkipped: false, checkSkipped: false });
  },
};

const logsStreamsOrder: Scenario = {
  name: "logs + streams order",
  async run(client, ctx) {
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`);
    const chunks = Array.from({ length: 20 }, (_, i) => `chunk ${i};`);
    const started = deferred<string>();
    const subscribed = deferred<void>();
    const wf = workflow({ name: ctx.name("logs") });
    wf.task({
      name: "chatty",
      fn: async (_input, t) => {
        started.resolve(t.taskRunId);
        for (const line of lines.slice(0, 20)) t.log(line);
        t.log({ structured: true, n: 20 });
        for (const line of lines.slice(20)) t.log(line, { level: "warn" });
        // The engine keeps no chunk and attaches a subscriber only once the run reached its OLAP
        // store, later under load: ping until the reader has seen one, then send the real chunks.
        while (
          !await within(
            Promise.race([subscribed.promise.then(() => true), delay(500).then(() => false)]),
            t.signal,
            "the stream subscriber",
          )
        ) {
          t.putStream("ping;");
        }
        for (const chunk of chunks) t.putStream(chunk);
        return { logged: lines.length + 1 };
      },
    });
    await ctx.startWorker([wf]);
    const run = await client.runs.trigger(wf, {});
    const streamed = (async () => {
      let text = "";
      const indexes: number[] = [];
      for await (const chunk of run.stream({ signal: ctx.signal })) {
        if (chunk.text() === "ping;") {
          subscribed.resolve();
          continue;
        }
        text += chunk.text();
        indexes.push(chunk.index ?? -1);
      }
      return { text, indexes };
    })();
    const taskRunId = await within(started.promise, ctx.signal, "the task to start");
    const result = await ctx.measure("trigger→result", () => run.result({ signal: ctx.signal }));
    assert.equal(result.status, "COMPLETED");
    await eventually(async () => {
      const rows = await ctx.rest.taskLogs(taskRunId, ctx.signal);
      // A backlog may be merged into one row joined with "\n"; the order is what counts.
      const stored = rows.flatMap((row) => row.message.split("\n"));
      assert.deepEqual(stored, [
        ...lines.slice(0, 20),
        JSON.stringify({ structured: true, n: 20 }),
        ...lines.slice(20),
      ]);
      assert.deepEqual([...new Set(rows.map((row) => row.level))], ["INFO", "WARN"]);
    }, ctx.signal);
    const { text, indexes } = await streamed;
    assert.equal(text, chunks.join(""));
    // Consecutive event indexes after the pings: nothing lost, nothing reordered.
    assert.deepEqual(indexes, chunks.map((_, i) => indexes[0] + i));
  },
};

const retriesNonRetryable: Scenario = {
  name: "retries + NonRetryableError",
  async run(client, ctx) {
    const attempts: number[] = [];
    const fatalAttempts: number[] = [];
    const wf = workflow({ name: ctx.name("retry") });
    wf.task({
      name: "flaky",
      retries: 2,
      fn: (_input, t) => {
        attempts.push(t.attemptNumber);
        if (t.attemptNumber < 3) throw new Error(`flaky attempt ${t.attemptNumber}`);
        return { attempt: t.attemptNumber, retryCount: t.retryCount };
      },
    });
    const fatal = workflow({ name: ctx.name("fatal") });
    fatal.task({
      name: "fatal",
      retries: 3,
      fn: (_input, t) => {
        fatalAttempts.push(t.attemptNumber);
        throw new NonRetryableError("card declined");
      },
    });
    await ctx.startWorker([wf, fatal]);
    const [flaky, failed] = await ctx.measure("trigger→result, 3 attempts", () =>
      Promise.all([
        runToEnd(client, ctx, wf, {}),
        runToEnd(client, ctx, fatal, {}),
      ]));
    assert.equal(flaky.result.status, "COMPLETED");
    assert.deepEqual(flaky.result.outputs.flaky, { attempt: 3, retryCount: 2 });
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.equal(failed.result.status, "FAILED");
    assert.match(failed.result.errors.fatal, /card declined/);
    // Give a wrongful retry the time it would take to show up.
    await delay(2_000, ctx.signal);
    assert.deepEqual(fatalAttempts, [1]);
  },
};

const onFailureErrors: Scenario = {
  name: "on-failure errors",
  async run(client, ctx) {
    const wf = workflow({ name: ctx.name("onfail") });
    const charge = wf.task({
      name: "charge",
      fn: () => {
        throw new NonRetryableError("insufficient funds");
      },
    });
    wf.onFailure({
      name: "notify",
      fn: (_input, t) => ({
        errors: t.taskRunErrors,
        chargeError: t.fetchTaskRunError(charge) ?? null,
      }),
    });
    await ctx.startWorker([wf]);
    const { result } = await ctx.measure("trigger→result", () => runToEnd(client, ctx, wf, {}));
    assert.equal(result.status, "FAILED");
    assert.match(result.errors.charge, /insufficient funds/);
    const notify = result.outputs.notify as { errors: Record<string, string>; chargeError: string };
    assert.ok(notify, `on-failure output missing: ${JSON.stringify(result)}`);
    assert.deepEqual(Object.keys(notify.errors), ["charge"]);
    assert.match(notify.errors.charge, /insufficient funds/);
    assert.match(notify.chargeError, /insufficient funds/);
  },
};

const cancelBothWays: Scenario = {
  name: "cancel both ways",
  async run(client, ctx) {
    const started = deferred<string>();
    const aborted = deferred<{ at: number; reason: unknown }>();
    const outside = workflow({ name: ctx.name("cancel-out") });
    outside.task({
      name: "wait",
      fn: async (_input, t) => {
        started.resolve(t.taskRunId);
        await new Promise<void>((resolve) =>
          t.signal.addEventListener("abort", () => resolve(), { once: true })
        );
        aborted.resolve({ at: performance.now(), reason: t.signal.reason });
        return { finished: true };
      },
    });
    const inside = workflow({ name: ctx.name("cancel-in") });
    let insideSaw: { aborted: boolean; done: boolean } | undefined;
    inside.task({
      name: "quit",
      fn: async (_input, t) => {
        await t.cancel();
        insideSaw = { aborted: t.signal.aborted, done: t.done() };
        return { finished: true };
      },
    });
    await ctx.startWorker([outside, inside]);

    const run = await client.runs.trigger(outside, {});
    const taskRunId = await within(started.promise, ctx.signal, "the task to start");
    const cancelledAt = performance.now();
    await client.runs.cancel([taskRunId]);
    const { at, reason } = await within(aborted.promise, ctx.signal, "ctx.signal to abort");
    ctx.record("cancel→signal", at - cancelledAt);
    assert.ok(reason instanceof TaskCancelledError, `reason: ${String(reason)}`);
    assert.equal(reason.source, "engine");
    assert.equal((await run.result({ signal: ctx.signal })).status, "CANCELLED");

    const self = await ctx.measure(
      "ctx.cancel() run→result",
      () => runToEnd(client, ctx, inside, {}),
    );
    assert.equal(self.result.status, "CANCELLED");
    assert.deepEqual(insideSaw, { aborted: true, done: true });
    assert.deepEqual(self.result.outputs, {});
  },
};

const refreshTimeout: Scenario = {
  name: "refreshTimeout",
  async run(client, ctx) {
    const refreshed = workflow({ name: ctx.name("refresh") });
    refreshed.task({
      name: "slow",
      executionTimeout: "3s",
      fn: async (_input, t) => {
        await t.refreshTimeout("10s");
        await delay(6_000, t.signal);
        return { survived: true };
      },
    });
    const control = workflow({ name: ctx.name("no-refresh") });
    let controlReason: unknown;
    control.task({
      name: "slow",
      executionTimeout: "3s",
      fn: async (_input, t) => {
        await delay(15_000, t.signal).catch((err) => {
          controlReason = err;
          throw err;
        });
        return { survived: true };
      },
    });
    await ctx.startWorker([refreshed, control]);
    const [ok, timedOut] = await ctx.measure("trigger→result (6 s task)", () =>
      Promise.all([
        runToEnd(client, ctx, refreshed, {}),
        runToEnd(client, ctx, control, {}),
      ]));
    assert.equal(ok.result.status, "COMPLETED");
    assert.deepEqual(ok.result.outputs.slow, { survived: true });
    // The control proves the 3 s timeout is enforced: without the refresh the task is stopped.
    assert.notEqual(timedOut.result.status, "COMPLETED");
    assert.ok(controlReason instanceof TaskCancelledError, `reason: ${String(controlReason)}`);
  },
};

const durableSleep: Scenario = {
  name: "durable sleepFor",
  async run(client, ctx) {
    const wf = workflow({ name: ctx.name("sleep") });
    wf.durableTask({
      name: "nap",
      fn: async (_input, t) => {
        const start = Date.now();
        const result = await t.sleepFor("2s");
        return { lateMs: Date.now() - start - 2_000, result };
      },
    });
    await ctx.startWorker([wf]);
    const { result } = await runToEnd(client, ctx, wf, {});
    assert.equal(result.status, "COMPLETED");
    const nap = result.outputs.nap as { lateMs: number; result: JsonObject };
    ctx.record("resolved after due", nap.lateMs);
    assert.ok(nap.lateMs >= 0, `the sleep resolved ${-nap.lateMs} ms early`);
    assert.deepEqual(Object.keys(nap.result), ["CREATE"]);
    assert.deepEqual(Object.keys(nap.result.CREATE as JsonObject), ["sleep:2s"]);
  },
};

const durableEventCel: Scenario = {
  name: "durable waitFor event + CEL",
  async run(client, ctx) {
    const key = ctx.name("approved");
    const waiting = deferred<void>();
    let resumedAt = 0;
    const wf = workflow<{ orderId: string }>({ name: ctx.name("wait-event") });
    wf.durableTask({
      name: "approve",
      fn: async (input, t) => {
        waiting.resolve();
        const result = await t.waitFor(
          "approval",
          new UserEventCondition(key, { expression: `input.orderId == "${input.orderId}"` }),
        );
        resumedAt = performance.now();
        return result;
      },
    });
    await ctx.startWorker([wf]);
    const run = await client.runs.trigger(wf, { orderId: "o-2" });
    await within(waiting.promise, ctx.signal, "the task to wait");
    // Events pushed before the wait is registered are not seen on the legacy path.
    await delay(1_500, ctx.signal);
    await client.events.push(key, { orderId: "o-1", approver: "stray" });
    const pushedAt = performance.now();
    await client.events.push(key, { orderId: "o-2", approver: "ana" });
    const result = await run.result({ signal: ctx.signal });
    ctx.record("push→resume", resumedAt - pushedAt);
    assert.equal(result.status, "COMPLETED");
    assert.deepEqual(result.outputs.approve, {
      CREATE: { [key]: [{ orderId: "o-2", approver: "ana" }] },
    });
  },
};

const durableOr: Scenario = {
  name: "durable or(sleep, event)",
  async run(client, ctx) {
    const key = ctx.name("nudge");
    const second = deferred<void>();
    let resumedAt = 0;
    const wf = workflow({ name: ctx.name("wait-or") });
    wf.durableTask({
      name: "either",
      fn: async (_input, t) => {
        const bySleep = await t.waitFor(
          "first",
          or(new SleepCondition("2s"), new UserEventCondition(key)),
        );
        second.resolve();
        const byEvent = await t.waitFor(
          "second",
          or(new SleepCondition("40s"), new UserEventCondition(key)),
        );
        resumedAt = performance.now();
        return { bySleep, byEvent };
      },
    });
    await ctx.startWorker([wf]);
    const run = await client.runs.trigger(wf, {});
    await within(second.promise, ctx.signal, "the first wait to end by its sleep");
    await delay(1_500, ctx.signal);
    const pushedAt = performance.now();
    await client.events.push(key, { nudged: true });
    const result = await run.result({ signal: ctx.signal });
    ctx.record("push→resume", resumedAt - pushedAt);
    assert.equal(result.status, "COMPLETED");
    const out = result.outputs.either as { bySleep: JsonObject; byEvent: JsonObject };
    assert.deepEqual(Object.keys(out.bySleep.CREATE as JsonObject), ["sleep:2s"]);
    assert.deepEqual(out.byEvent.CREATE, { [key]: [{ nudged: true }] });
  },
};

const durableReplay: Scenario = {
  name: "durable replay after retry",
  async run(client, ctx) {
    const wf = workflow({ name: ctx.name("replay") });
    const sleeps: { attempt: number; ms: number; result: JsonObject }[] = [];
    wf.durableTask({
      name: "retry-after-sleep",
      retries: 1,
      fn: async (_input, t) => {
        const start = performance.now();
        const result = await t.sleepFor("6s");
        sleeps.push({ attempt: t.attemptNumber, ms: performance.now() - start, result });
        if (t.attemptNumber === 1) throw new Error("fail after the sleep");
        return { attempt: t.attemptNumber };
      },
    });
    await ctx.startWorker([wf]);
    const { result } = await runToEnd(client, ctx, wf, {});
    assert.equal(result.status, "COMPLETED");
    assert.deepEqual(result.outputs["retry-after-sleep"], { attempt: 2 });
    assert.deepEqual(sleeps.map((s) => s.attempt), [1, 2]);
    ctx.record("replayed sleep", sleeps[1].ms);
    // A replayed sleep returns the first attempt's result instead of sleeping 6 s again.
    assert.ok(sleeps[1].ms < 3_000, `the replayed 6s sleep took ${formatMs(sleeps[1].ms)}`);
    assert.deepEqual(sleeps[1].result, sleeps[0].result);
  },
};

const eventTrigger: Scenario = {
  name: "event trigger",
  async run(client, ctx) {
    const key = ctx.name("order:placed");
    const seen = deferred<{ at: number; input: JsonObject; meta: JsonObject; byEvent: boolean }>();
    const wf = workflow({ name: ctx.name("on-event"), onEvents: [key] });
    wf.task({
      name: "react",
      fn: (input, t) => {
        seen.resolve({
          at: performance.now(),
          input,
          meta: t.additionalMetadata ?? {},
          byEvent: t.wasTriggeredByEvent,
        });
        return {};
      },
    });
    await ctx.startWorker([wf]);
    // The engine may still be discovering the new worker: the run waits in the queue meanwhile.
    const pushedAt = performance.now();
    const { eventId } = await client.events.push(key, { orderId: "o-9" }, {
      additionalMetadata: { source: "conformance" },
    });
    const got = await within(seen.promise, ctx.signal, "the event's run");
    ctx.record("push→task start", got.at - pushedAt);
    assert.deepEqual(got.input, { orderId: "o-9" });
    assert.equal(got.byEvent, true);
    assert.equal(got.meta.source, "conformance");
    assert.equal(got.meta.hatchet__event_id, eventId);
    assert.equal(got.meta.hatchet__event_key, key);
  },
};

const metadataPriority: Scenario = {
  name: "metadata + priority",
  async run(client, ctx) {
    const wf = workflow({ name: ctx.name("meta") });
    wf.task({
      name: "read",
      fn: (_input, t) => ({
        meta: t.additionalMetadata ?? null,
        priority: t.priority ?? null,
        byEvent: t.wasTriggeredByEvent,
      }),
    });
    await ctx.startWorker([wf]);
    const { run, result } = await ctx.measure(
      "trigger→result",
      () =>
        runToEnd(client, ctx, wf, {}, {
          additionalMetadata: { tenant: "acme", attempt: 1 },
          priority: 3,
        }),
    );
    assert.equal(result.status, "COMPLETED");
    const out = result.outputs.read as { meta: JsonObject; priority: number; byEvent: boolean };
    assert.equal(out.meta.tenant, "acme");
    assert.equal(out.meta.attempt, 1);
    assert.equal(typeof out.meta.traceparent, "string");
    assert.equal(out.priority, 3);
    assert.equal(out.byEvent, false);
    await eventually(async () => {
      const stored = await ctx.rest.workflowRun(run.id, ctx.signal);
      assert.equal(stored.run.additionalMetadata?.tenant, "acme");
    }, ctx.signal);
  },
};

const namespaceMixedCase: Scenario = {
  name: "namespace + mixed case",
  async run(_client, ctx) {
    const namespace = ctx.name("Conf").replace(/-/g, "_");
    const client = ctx.createClient({ namespace });
    const key = `Order:Shipped-${ctx.name("Ev")}`;
    const wf = workflow<{ id: string }>({ name: ctx.name("MixedCase"), onEvents: [key] });
    const byEvent = deferred<{ shipped: string; eventKey: unknown }>();
    const pack = wf.task({ name: "PackIt", fn: (input) => ({ packed: input.id ?? "event" }) });
    wf.task({
      name: "ShipIt",
      parents: [pack],
      fn: (_input, t) => {
        const shipped = t.taskOutput(pack).packed;
        if (t.wasTriggeredByEvent) {
          byEvent.resolve({ shipped, eventKey: t.additionalMetadata?.hatchet__event_key });
        }
        return { shipped, workflowRunId: t.workflowRunId };
      },
    });
    await ctx.startWorker([wf], { client });
    const { run, result } = await ctx.measure(
      "trigger→result",
      () => runToEnd(client, ctx, wf, { id: "p-1" }),
    );
    assert.equal(result.status, "COMPLETED");
    assert.deepEqual(result.outputs.ShipIt, { shipped: "p-1", workflowRunId: run.id });
    const prefix = namespace.toLowerCase() + "_";
    await eventually(async () => {
      const stored = await ctx.rest.workflowRun(run.id, ctx.signal);
      assert.deepEqual(stored.tasks.map((task) => task.actionId).sort(), [
        `${prefix}${wf.name.toLowerCase()}:packit`,
        `${prefix}${wf.name.toLowerCase()}:shipit`,
      ]);
    }, ctx.signal);
    // The event key is namespaced on both sides: the workflow's trigger and the push.
    await client.events.push(key, {});
    assert.deepEqual(await within(byEvent.promise, ctx.signal, "the event's run"), {
      shipped: "event",
      eventKey: client.config.applyNamespace(key),
    });
  },
};

const bigPayloads: Scenario = {
  name: "200 KB payloads",
  async run(client, ctx) {
    const blob = Array.from({ length: 200 * 1024 / 8 }, (_, i) => i.toString(36).padStart(8, "."))
      .join("");
    const wf = workflow<{ blob: string }>({ name: ctx.name("big") });
    wf.task({
      name: "echo",
      fn: (input) => ({ length: input.blob.length, reversed: [...input.blob].reverse().join("") }),
    });
    await ctx.startWorker([wf]);
    const { result } = await ctx.measure(
      "trigger→result",
      () => runToEnd(client, ctx, wf, { blob }),
    );
    assert.equal(result.status, "COMPLETED");
    const out = result.outputs.echo as { length: number; reversed: string };
    assert.equal(out.length, 200 * 1024);
    assert.equal(out.reversed, [...blob].reverse().join(""));
  },
};

const fiftyConcurrent: Scenario = {
  name: "50 concurrent trigger+result",
  async run(client, ctx) {
    const wf = workflow<{ n: number }>({ name: ctx.name("fifty") });
    wf.task({ name: "double", fn: (input) => ({ n: input.n * 2 }) });
    await ctx.startWorker([wf]);
    // One run first, so the 50 below measure the engine, not the discovery of a new worker.
    await runToEnd(client, ctx, wf, { n: -1 });
    const results = await ctx.measure("50 × trigger→result", () =>
      Promise.all(
        Array.from({ length: 50 }, (_, n) =>
          client.runs.trigger(wf, { n }).then((run) => run.result({ signal: ctx.signal }))),
      ));
    assert.deepEqual(
      results.map((r) => [r.status, r.outputs.double]),
      Array.from({ length: 50 }, (_, n) => ["COMPLETED", { n: n * 2 }]),
    );
  },
};

const engineRestart: Scenario = {
  name: "engine restart",
  exclusive: true,
  timeoutMs: 150_000,
  async run(client, ctx) {
    const command = ctx.env.HATCHET_TEST_ENGINE_RESTART;
    if (!command) {
      return ctx.skip("set HATCHET_TEST_ENGINE_RESTART to a shell command that restarts it");
    }
    const wf = workflow<{ n: number }>({ name: ctx.name("restart") });
    wf.task({ name: "inc", fn: (input) => ({ n: input.n + 1 }) });
    const worker = await ctx.startWorker([wf]);
    assert.deepEqual((await runToEnd(client, ctx, wf, { n: 1 })).result.outputs.inc, { n: 2 });
    const restart = await new Deno.Command("sh", {
      args: ["-c", command],
      stdout: "inherit",
      stderr: "inherit",
      signal: ctx.signal,
    }).output();
    assert.equal(restart.code, 0, `the restart command exited with ${restart.code}`);
    const result = await ctx.measure("restart→run done", async () => {
      // The engine may take a moment to accept calls again: retry the trigger, not the result.
      for (;;) {
        try {
          const run = await client.runs.trigger(wf, { n: 41 });
          return await run.result({ signal: ctx.signal });
        } catch (err) {
          ctx.signal.throwIfAborted();
          ctx.note(`trigger after restart failed, retrying: ${(err as Error).message}`);
          await delay(1_000, ctx.signal);
        }
      }
    });
    assert.equal(result.status, "COMPLETED");
    assert.deepEqual(result.outputs.inc, { n: 42 });
    assert.equal(worker.state, "running");
  },
};

/** Every scenario, in table order. Append new ones here. */
export const scenarios: readonly Scenario[] = [
  simpleTask,
  dagTaskOutput,
  skipWasSkipped,
  logsStreamsOrder,
  retriesNonRetryable,
  onFailureErrors,
  cancelBothWays,
  refreshTimeout,
  durableSleep,
  durableEventCel,
  durableOr,
  durableReplay,
  eventTrigger,
  metadataPriority,
  namespaceMixedCase,
  bigPayloads,
  fiftyConcurrent,
  ...runsScenarios,
  ...flowScenarios,
  ...durableScenarios,
  ...officialScenarios,
  engineRestart,
];
