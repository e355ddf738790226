// Faults a long-running worker meets: an engine that restarts, unary calls that fail for a
// while, an engine that is down at start, and acknowledgements lost on the way back.
//
// What the protocol allows, and what these tests hold the worker to:
// - Log lines and stream chunks: at least once, in call order per attempt. PutLog and
//   PutStreamEvent carry no idempotency key, so a request the engine processed but whose answer
//   was lost (a reset stream, a dropped connection) is sent again; with one request in flight
//   per attempt, a repeat always comes right after the original, and a repeated chunk keeps its
//   event_index. Nothing else is repeated and nothing is lost while the engine comes back within
//   the retry budget (15 attempts, up to 5 s apart).
// - Results (SendStepActionEvent): may be sent twice the same way; the engine keeps the first
//   result of an attempt and ignores later ones, so the run's outcome is exactly once.
// - Durable waits: resolved exactly once. After a reconnect the worker asks again for every
//   pending signal key and the engine answers from its stored completion.
// - Tasks: a reconnect never re-runs a task; the worker keeps its id and its running attempts.

import assert from "node:assert/strict";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createWorker, type HatchetClient, UserEventCondition, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { backoffDelay } from "../../transport/retry.ts";
import { StepActionEventType } from "../../transport/services.ts";
import { createClientFromTransport } from "../../worker/client.ts";
import { deferred, recordingLogger } from "../worker/_helpers.ts";
import {
  calls,
  collapseRepeats,
  networkClient,
  portOf,
  STACKS,
  subscriptions,
  texts,
  until,
} from "./_harness.ts";

const LINES = 25;

function expectedLines(from: number, to: number, prefix: string): string[] {
  return Array.from({ length: to - from }, (_, i) => `${prefix} ${from + i}`);
}

for (const http of STACKS) {
  Deno.test(`Worker over ${http} reconnects ListenV2 and the durable listener when the engine listener restarts on the same port, and finishes every run`, async () => {
    await using engine = new MockEngine({ version: "v0.79.0" }); // the legacy durable listener's reconnects
    const first = await engine.listen();
    await using client = networkClient(engine, first.hostPort, http);
    const rec = recordingLogger();
    const ran = { waiter: 0, napper: 0, talker: 0 };
    const waiting = deferred();
    const napping = deferred();
    const talking = deferred();
    const gate = deferred();

    const approvals = workflow({ name: "approvals" });
    approvals.durableTask({
      name: "waiter",
      executionTimeout: "2h",
      fn: async (_input, ctx) => {
        ran.waiter++;
        ctx.log("waiter before");
        ctx.putStream("w0");
        const wait = ctx.waitFor("approval", new UserEventCondition("approve"));
        waiting.resolve();
        const result = await wait;
        ctx.log("waiter after");
        ctx.putStream("w1");
        return { result };
      },
    });
    const naps = workflow({ name: "naps" });
    naps.durableTask({
      name: "napper",
      executionTimeout: "2h",
      fn: async (_input, ctx) => {
        ran.napper++;
        const wait = ctx.sleepFor("1h");
        napping.resolve();
        return { woke: Object.keys(await wait) };
      },
    });
    const chatter = workflow({ name: "chatter" });
    chatter.task({
      name: "talker",
      fn: async (_input, ctx) => {
        ran.talker++;
        for (let i = 0; i < LINES; i++) {
          ctx.log(`line ${i}`);
          ctx.putStream(`chunk ${i}`);
        }
        talking.resolve();
        await gate.promise;
        // Not awaited: lines and chunks are in flight when the listener goes away.
        for (let i = LINES; i < 2 * LINES; i++) {
          ctx.log(`line ${i}`);
          ctx.putStream(`chunk ${i}`);
        }
        return { lines: 2 * LINES };
      },
    });
    await using worker = createWorker(client, {
      name: "survivor",
      workflows: [approvals, naps, chatter],
      logger: rec.logger,
    });
    await worker.start();
    const workerId = worker.id;

    const runs = [
      await engine.client.runs.trigger(approvals, {}),
      await engine.client.runs.trigger(naps, {}),
      await engine.client.runs.trigger(chatter, {}),
    ];
    await Promise.all([waiting.promise, napping.promise, talking.promise]);
    await until(
      engine,
      "both durable waits subscribed",
      () => subscriptions(engine, "approval") === 1 && subscriptions(engine, "sleep:1h-0") === 1,
    );

    // The talker's second half goes out while the listener goes away.
    gate.resolve();
    await first.close();
    await rec.waitFor(/reconnecting the action stream/);
    await using second = await engine.listen({ port: portOf(first.hostPort) });
    assert.equal(second.hostPort, first.hostPort);

    await until(
      engine,
      "a new ListenV2 and both waits subscribed again",
      () =>
        calls(engine, "ListenV2").filter((e) => e.error === undefined).length >= 2 &&
        subscriptions(engine, "approval") >= 2 && subscriptions(engine, "sleep:1h-0") >= 2,
    );
    // Finished before the clock moves past its 60 s execution timeout: its lines may still be
    // retrying on real timers, which the engine's quiet check cannot see.
    await runs[2].result();
    await engine.client.events.push("approve", { by: "ops" });
    await engine.advance("1h");
    // New work reaches the worker over the new connection.
    runs.push(await engine.client.runs.trigger(chatter, {}));

    const results = await Promise.all(runs.map((run) => run.result()));
    assert.deepEqual(results.map((r) => [r.status, r.outputs]), [
      ["COMPLETED", { waiter: { result: { CREATE: { approve: [{ by: "ops" }] } } } }],
      ["COMPLETED", { napper: { woke: ["CREATE"] } }],
      ["COMPLETED", { talker: { lines: 2 * LINES } }],
      ["COMPLETED", { talker: { lines: 2 * LINES } }],
    ]);
    // Each task ran once: a reconnect neither re-runs nor re-assigns work.
    assert.deepEqual(ran, { waiter: 1, napper: 1, talker: 2 });
    assert.deepEqual(
      engine.taskRuns().map((t) => [t.taskName, t.status, t.retryCount]),
      [
        ["waiter", "COMPLETED", 0],
        ["napper", "COMPLETED", 0],
        ["talker", "COMPLETED", 0],
        ["talker", "COMPLETED", 0],
      ],
    );
    assert.equal(worker.id, workerId);
    assert.equal(engine.workers().length, 1);
    assert.deepEqual(
      [...new Set(calls(engine, "ListenV2").map((e) => e.summary?.workerId))],
      [workerId],
    );

    // Every line and chunk arrived, in order; the only repeats are immediate ones. A burst of
    // lines may share rows (joined with "\n"), and a repeat repeats the whole row.
    const [waiter, , talker, talkerAgain] = engine.taskRuns();
    assert.deepEqual(collapseRepeats(engine.logs(waiter.id).map((l) => l.message)), [
      "waiter before",
      "waiter after",
    ]);
    assert.deepEqual(collapseRepeats(texts(engine.streamEvents(waiter.id))), ["w0", "w1"]);
    for (const run of [talker, talkerAgain]) {
      assert.deepEqual(
        collapseRepeats(engine.logs(run.id).map((l) => l.message)).flatMap((m) => m.split("\n")),
        expectedLines(0, 2 * LINES, "line"),
      );
      assert.deepEqual(
        collapseRepeats(texts(engine.streamEvents(run.id))),
        expectedLines(0, 2 * LINES, "chunk"),
      );
    }
    assert.deepEqual(rec.errors, []);
    assert.deepEqual(rec.warnings.filter((w) => /not delivered|could not report/.test(w)), []);
  });

  Deno.test(`Worker over ${http} retries results, logs, stream chunks and durable waits while unary calls fail with unavailable`, async () => {
    await using engine = new MockEngine({ version: "v0.79.0" }); // legacy durable RPCs fail here
    await using server = await engine.listen();
    await using client = networkClient(engine, server.hostPort, http);
    const rec = recordingLogger();
    const sleeping = deferred();
    const wf = workflow({ name: "outage" });
    wf.durableTask({
      name: "t",
      executionTimeout: "2h",
      fn: async (_input, ctx) => {
        engine.faults.failNext("PutLog", "unavailable", 3);
        engine.faults.failNext("PutStreamEvent", "unavailable", 3);
        ctx.log("before");
        ctx.putStream("chunk");
        engine.faults.failNext("RegisterDurableEvent", "unavailable", 2);
        engine.faults.failNext("ListenForDurableEvent", "unavailable", 2);
        const wait = ctx.sleepFor("1h");
        sleeping.resolve();
        await wait;
        ctx.log("after");
        engine.faults.failNext("SendStepActionEvent", "unavailable", 2);
        return { ok: true };
      },
    });
    await using worker = createWorker(client, { name: "w", workflows: [wf], logger: rec.logger });
    await worker.start();
    const run = await engine.client.runs.trigger(wf, {});
    await sleeping.promise;
    await until(engine, "the sleep subscribed", () => subscriptions(engine, "sleep:1h-0") === 1);
    await engine.advance("1h");
    assert.deepEqual((await run.result()).outputs, { t: { ok: true } });

    const outcome = (method: string) =>
      calls(engine, method).map((e) => [
        e.summary?.message ?? e.summary?.signalKey ?? e.summary?.eventType ?? "",
        e.error ?? "ok",
      ]);
    assert.deepEqual(outcome("PutLog"), [
      ["before", "unavailable"],
      ["before", "unavailable"],
      ["before", "unavailable"],
      ["before", "ok"],
      ["after", "ok"],
    ]);
    assert.deepEqual(
      calls(engine, "PutStreamEvent").map((e) => e.error ?? "ok"),
      ["unavailable", "unavailable", "unavailable", "ok"],
    );
    assert.deepEqual(outcome("RegisterDurableEvent"), [
      ["sleep:1h-0", "unavailable"],
      ["sleep:1h-0", "unavailable"],
      ["sleep:1h-0", "ok"],
    ]);
    // Two stream opens fail; the third carries the subscription.
    assert.deepEqual(outcome("ListenForDurableEvent"), [
      ["", "unavailable"],
      ["", "unavailable"],
      ["", "ok"],
      ["sleep:1h-0", "ok"],
    ]);
    assert.deepEqual(outcome("SendStepActionEvent"), [
      ["STARTED", "ok"],
      ["COMPLETED", "unavailable"],
      ["COMPLETED", "unavailable"],
      ["COMPLETED", "ok"],
    ]);
    // The fault hook fails a call before the engine acts on it, so nothing is repeated.
    assert.deepEqual(engine.logs().map((l) => l.message), ["before", "after"]);
    assert.deepEqual(texts(engine.streamEvents(engine.taskRuns()[0].id)), ["chunk"]);
    assert.equal(rec.warnings.filter((w) => /sending COMPLETED .* retry/.test(w)).length, 2);
    assert.deepEqual(rec.errors, []);
  });

  Deno.test(`Worker over ${http} re-listens when a heartbeat answers failed_precondition and registers again on not_found`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen();
    await using client = networkClient(engine, server.hostPort, http);
    const rec = recordingLogger();
    const wf = workflow({ name: "beats" });
    wf.task({ name: "t", fn: () => ({ ok: true }) });
    await using worker = createWorker(client, {
      name: "w",
      workflows: [wf],
      heartbeatInterval: "20ms",
      logger: rec.logger,
    });
    await worker.start();
    const firstId = worker.id!;
    const listens = () => calls(engine, "ListenV2").filter((e) => e.error === undefined);

    engine.faults.failNext("Heartbeat", "failed_precondition");
    await rec.waitFor(/the engine reports the action stream inactive; reconnecting$/);
    await until(engine, "a second ListenV2", () => listens().length === 2);
    assert.equal(worker.id, firstId);

    engine.faults.failNext("Heartbeat", "not_found");
    await rec.waitFor(/the engine no longer knows this worker; registering again$/);
    await until(engine, "a ListenV2 for the new worker id", () => listens().length === 3);
    const secondId = worker.id!;
    assert.notEqual(secondId, firstId);
    assert.deepEqual(listens().map((e) => e.summary?.workerId), [firstId, firstId, secondId]);
    assert.deepEqual(engine.workers().map((w) => w.id), [firstId, secondId]);

    const result = await (await engine.client.runs.trigger(wf, {})).result();
    assert.deepEqual(result.outputs, { t: { ok: true } });
    assert.deepEqual(engine.workers().map((w) => [w.id, w.active]), [
      [firstId, false],
      [secondId, true],
    ]);
    assert.deepEqual(rec.errors, []);
  });

  Deno.test(`Worker.start() over ${http} retries while the engine is down and rejects after startTimeout`, async () => {
    await using engine = new MockEngine();
    const probe = await engine.listen();
    const hostPort = probe.hostPort;
    await probe.close();
    await using client = networkClient(engine, hostPort, http);
    const wf = workflow({ name: "early" });
    wf.task({ name: "t", fn: () => ({ ok: true }) });
    const rec = recordingLogger();
    let cleanedUp = false;
    const worker = createWorker(client, {
      name: "w",
      workflows: [wf],
      startTimeout: "300ms",
      logger: rec.logger,
      lifespan: async function* () {
        yield undefined;
        cleanedUp = true;
      },
    });
    await assert.rejects(worker.start(), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(
        err.message,
        new RegExp(
          `^Worker "w" failed to start: the engine at ${hostPort} kept failing for startTimeout \\(300ms\\); last error: /Dispatcher/GetVersion failed with unavailable: `,
        ),
      );
      assert.match(err.message, /refused/i);
      assert.equal((err.cause as { code?: string }).code, "unavailable");
      return true;
    });
    assert.equal(worker.state, "failed");
    assert.equal(cleanedUp, true);
    assert.ok(rec.warnings.length >= 1);
    assert.ok(
      rec.warnings.every((w) =>
        /GetVersion failed with unavailable: .*; retrying in \d+ ms$/.test(w)
      ),
    );
    assert.deepEqual(engine.rpcLog(), []);
  });

  Deno.test(`Worker.start() over ${http} succeeds once the engine comes up within startTimeout`, async () => {
    await using engine = new MockEngine();
    const probe = await engine.listen();
    const hostPort = probe.hostPort;
    await probe.close();
    await using client = networkClient(engine, hostPort, http);
    const wf = workflow({ name: "late" });
    wf.task({ name: "t", fn: () => ({ ok: true }) });
    const rec = recordingLogger();
    await using worker = createWorker(client, { name: "w", workflows: [wf], logger: rec.logger });
    const starting = worker.start();
    await rec.waitFor(/GetVersion failed with unavailable: .*; retrying in \d+ ms$/);
    await using _server = await engine.listen({ port: portOf(hostPort) });
    await starting;
    assert.equal(worker.state, "running");
    const result = await (await engine.client.runs.trigger(wf, {})).result();
    assert.deepEqual(result.outputs, { t: { ok: true } });
  });
}

/**
 * A client of `engine` (in memory) that loses the answer of the next call named in `lose` (a
 * method, or the event type of a SendStepActionEvent) after the engine acted on it, as a
 * connection dropped at that moment would.
 */
function losingClient(engine: MockEngine, lose: Set<string>): HatchetClient {
  const inner = engine.transport();
  const transport: Transport = {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const res = await inner.unary(method, signal, timeoutMs, header, input, contextValues);
      const key = method.name === "SendStepActionEvent"
        ? StepActionEventType[(input as { eventType: StepActionEventType }).eventType]
          .replace("STEP_EVENT_TYPE_", "")
        : method.name;
      if (lose.delete(key)) {
        throw new ConnectError("the connection dropped before the answer", Code.Unavailable);
      }
      return res;
    },
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      inner.stream(method, signal, timeoutMs, header, input, contextValues),
  };
  return createClientFromTransport(engine.client.config, transport);
}

Deno.test("Worker sends a log line, a stream chunk and a result again when their answer is lost: repeats are immediate and the outcome counts once", async () => {
  await using engine = new MockEngine();
  const lose = new Set<string>();
  await using client = losingClient(engine, lose);
  const rec = recordingLogger();
  const wf = workflow({ name: "lossy" });
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      await ctx.log("one");
      lose.add("PutLog");
      lose.add("PutStreamEvent");
      ctx.log("two");
      ctx.putStream("a");
      ctx.putStream("b");
      await ctx.log("three");
      lose.add("COMPLETED");
      return { ok: true };
    },
  });
  await using worker = createWorker(client, { name: "w", workflows: [wf], logger: rec.logger });
  await worker.start();
  const result = await (await client.runs.trigger(wf, {})).result();
  assert.deepEqual(result.outputs, { t: { ok: true } });
  // The repeat of the result goes out after a backoff; the run was complete before it.
  await rec.waitFor(/sending COMPLETED for task run .* retry 1$/);
  await until(
    engine,
    "the result sent again",
    () => calls(engine, "SendStepActionEvent").length === 3,
  );
  const [run] = engine.taskRuns();
  assert.deepEqual(engine.logs().map((l) => l.message), ["one", "two", "two", "three"]);
  assert.deepEqual(texts(engine.streamEvents(run.id)), ["a", "a", "b"]);
  assert.deepEqual(
    calls(engine, "SendStepActionEvent").map((e) => e.summary?.eventType),
    ["STARTED", "COMPLETED", "COMPLETED"],
  );
  assert.deepEqual([run.status, run.retryCount], ["COMPLETED", 0]);
  assert.deepEqual(engine.engineLog(), [
    `ignored STEP_EVENT_TYPE_COMPLETED for task ${run.id} (t) retry_count 0: task is COMPLETED at retry_count 0`,
  ]);
  assert.deepEqual(rec.errors, []);
});

Deno.test("backoffDelay() doubles from the base, adds up to 50% jitter, and stops at the cap", () => {
  const random = Math.random;
  try {
    Math.random = () => 0;
    assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelay(n, 100, 5_000)), [100, 200, 400, 800]);
    Math.random = () => 0.999;
    assert.deepEqual(
      [1, 2, 3].map((n) => Math.round(backoffDelay(n, 100, 5_000))),
      [150, 300, 600],
    );
    assert.equal(backoffDelay(40, 100, 5_000), 5_000);
  } finally {
    Math.random = random;
  }
  const draws = new Set(Array.from({ length: 50 }, () => backoffDelay(3, 100, 5_000)));
  assert.ok(draws.size > 1, "jittered");
  for (const d of draws) assert.ok(d >= 400 && d < 600, String(d));
});
