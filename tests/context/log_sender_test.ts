// The log sender merges lines under backpressure: these tests run real workers against the mock
// engine and read the rows it stored.

import assert from "node:assert/strict";
import type { Transport } from "@connectrpc/connect";
import { type Context, createWorker, type HatchetClient, workflow } from "../../mod.ts";
import { MAX_LOG_LENGTH } from "../../context/create_context.ts";
import { type LogEntry, MockEngine } from "../../testing/mod.ts";
import { createClientFromTransport } from "../../worker/client.ts";
import { recordingLogger } from "../worker/_helpers.ts";

/** Runs a task whose body is `body` on a worker of `client` and returns its stored log rows. */
async function logRows(
  engine: MockEngine,
  body: (ctx: Context) => void,
  client: HatchetClient = engine.client,
): Promise<LogEntry[]> {
  const wf = workflow({ name: "logger" });
  wf.task({
    name: "t",
    fn: (_input, ctx) => {
      body(ctx);
      return { ok: true };
    },
  });
  await using worker = createWorker(client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  assert.equal((await run.result()).status, "COMPLETED");
  return engine.logs(engine.taskRuns(run.id)[0].id);
}

function linesOf(rows: LogEntry[]): string[] {
  return rows.flatMap((row) => row.message.split("\n"));
}

Deno.test("LogSender.putLog() sends each of a few lines logged at once as its own row", async () => {
  await using engine = new MockEngine();
  const rows = await logRows(engine, (ctx) => {
    ctx.log("one");
    ctx.log("two");
    ctx.log("three");
  });
  assert.deepEqual(rows.map((r) => r.message), ["one", "two", "three"]);
});

Deno.test("LogSender.putLog() merges only when more than 16 lines wait behind the one in flight", async () => {
  await using engine = new MockEngine();
  const burst = (n: number) => (ctx: Context) => {
    for (let i = 0; i < n; i++) ctx.log(`line ${i}`);
  };
  const seventeen = await logRows(engine, burst(17));
  assert.equal(seventeen.length, 17);
  assert.deepEqual(linesOf(seventeen), Array.from({ length: 17 }, (_, i) => `line ${i}`));
  const eighteen = (await logRows(engine, burst(18))).map((r) => r.message);
  // The first line leaves at once; the 17 behind it wait for its answer and share one row.
  assert.deepEqual(eighteen, [
    "line 0",
    Array.from({ length: 17 }, (_, i) => `line ${i + 1}`).join("\n"),
  ]);
});

Deno.test("LogSender.putLog() merges a flood of 2,000 lines into fewer rows, in order, before the result", async () => {
  await using engine = new MockEngine();
  const lines = Array.from({ length: 2_000 }, (_, i) => `line ${i}`);
  const rows = await logRows(engine, (ctx) => {
    for (const line of lines) ctx.log(line);
  });
  assert.deepEqual(linesOf(rows), lines);
  assert.ok(rows.length < lines.length, `${rows.length} rows for ${lines.length} lines`);
  assert.ok(rows.length <= 20, `${rows.length} rows`);
  for (const row of rows) assert.ok(row.message.length <= MAX_LOG_LENGTH, `${row.message.length}`);
  const log = engine.rpcLog({ omit: ["Heartbeat", "GetRunDetails", "SubscribeToWorkflowRuns"] });
  const putLogs = log.filter((e) => e.method === "PutLog");
  assert.equal(putLogs.length, rows.length);
  assert.ok(putLogs.every((e) => e.error === undefined));
  const lastLog = log.findLastIndex((e) => e.method === "PutLog");
  const completed = log.findIndex((e) =>
    e.method === "SendStepActionEvent" && e.summary?.eventType === "COMPLETED"
  );
  assert.ok(completed > lastLog, "COMPLETED is reported after the last row landed");
});

Deno.test("LogSender.putLog() never puts lines of different levels in one row", async () => {
  await using engine = new MockEngine();
  const levels = ["info", "warn", "info", "debug", "error", "warn"] as const;
  const runs = [300, 40, 5, 1, 200, 60];
  const expected: string[] = [];
  const rows = await logRows(engine, (ctx) => {
    for (const [r, level] of levels.entries()) {
      for (let i = 0; i < runs[r]; i++) {
        const line = `${level} ${r}.${i}`;
        expected.push(line);
        ctx.log(line, { level });
      }
    }
  });
  assert.deepEqual(linesOf(rows), expected);
  assert.ok(rows.length < expected.length);
  for (const row of rows) {
    const level = row.level.toLowerCase();
    for (const line of row.message.split("\n")) assert.ok(line.startsWith(`${level} `), line);
  }
  // Each run of one level gives at least one row of its own.
  assert.deepEqual(
    rows.map((r) => r.level).filter((level, i, all) => i === 0 || level !== all[i - 1]),
    ["INFO", "WARN", "INFO", "DEBUG", "ERROR", "WARN"],
  );
});

Deno.test("LogSender.putLog() sends every object line of a flood as a row of its own", async () => {
  await using engine = new MockEngine();
  const expected: string[] = [];
  const rows = await logRows(engine, (ctx) => {
    for (let i = 0; i < 500; i++) {
      ctx.log(`text ${i}`);
      expected.push(`text ${i}`);
      if (i % 10 === 0) {
        ctx.log({ i });
        expected.push(JSON.stringify({ i }));
      }
    }
  });
  assert.deepEqual(linesOf(rows), expected);
  const objects = rows.filter((r) => r.message.includes("{"));
  assert.deepEqual(
    objects.map((r) => JSON.parse(r.message)),
    Array.from({ length: 50 }, (_, k) => ({ i: k * 10 })),
  );
  assert.ok(rows.some((r) => r.message.includes("\n")), "the text lines were merged");
});

Deno.test("LogSender.putLog() merges long lines only while the row stays within 10,000 characters", async () => {
  await using engine = new MockEngine();
  const long = Array.from({ length: 40 }, (_, i) => `${i}`.padEnd(6_000, "x"));
  // 5,000 + "\n" + 4,999 is exactly the limit; a third line does not fit.
  const pairs = Array.from(
    { length: 40 },
    (_, i) => `${i}`.padEnd(i % 2 === 0 ? 5_000 : 4_999, "y"),
  );
  // 5,000 + "\n" + 5,000 is one character over: two rows.
  const over = ["a".repeat(5_000), "b".repeat(5_000)];
  // A different level: never merged with the pairs, and keeps more than 16 lines waiting
  // behind the last of them.
  const tail = Array.from({ length: 20 }, (_, i) => `tail ${i}`);
  const rows = await logRows(engine, (ctx) => {
    ctx.log("start");
    for (const line of [...long, ...pairs, ...over]) ctx.log(line);
    for (const line of tail) ctx.log(line, { level: "warn" });
  });
  assert.deepEqual(linesOf(rows), ["start", ...long, ...pairs, ...over, ...tail]);
  assert.deepEqual(rows.map((r) => r.message.length), [
    5,
    ...long.map(() => 6_000),
    ...Array.from({ length: 20 }, () => MAX_LOG_LENGTH),
    5_000,
    5_000,
    tail.join("\n").length,
  ]);
});

/**
 * A client of `engine` (in memory) that arms `failNext("PutLog", "unavailable", times)` the first
 * time it sees a merged PutLog, just before passing it on.
 */
function failFirstMerged(engine: MockEngine, times: number): HatchetClient {
  const inner = engine.transport();
  let armed = false;
  const transport: Transport = {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const message = (input as { message?: unknown }).message;
      if (
        method.name === "PutLog" && !armed && typeof message === "string" && message.includes("\n")
      ) {
        armed = true;
        engine.faults.failNext("PutLog", "unavailable", times);
      }
      return inner.unary(method, signal, timeoutMs, header, input, contextValues);
    },
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      inner.stream(method, signal, timeoutMs, header, input, contextValues),
  };
  return createClientFromTransport(engine.client.config, transport);
}

Deno.test("LogSender.putLog() retries a merged request whole when it fails with unavailable, losing and repeating nothing", async () => {
  await using engine = new MockEngine();
  const lines = Array.from({ length: 300 }, (_, i) => `line ${i}`);
  const rec = recordingLogger();
  await using client = failFirstMerged(engine, 2);
  const wf = workflow({ name: "flaky" });
  const settled: string[] = [];
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      const sent = lines.map((line) => ctx.log(line, { raiseOnError: true }));
      await Promise.all(sent.map((p, i) => p.then(() => settled.push(lines[i]))));
      return { ok: true };
    },
  });
  await using worker = createWorker(client, { name: "w", workflows: [wf], logger: rec.logger });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  assert.equal((await run.result()).status, "COMPLETED");
  const rows = engine.logs(engine.taskRuns(run.id)[0].id);
  assert.deepEqual(linesOf(rows), lines);
  assert.deepEqual(settled, lines);
  const merged = lines.slice(1).join("\n");
  assert.deepEqual(rows.map((r) => r.message), ["line 0", merged]);
  const putLogs = engine.rpcLog().filter((e) => e.method === "PutLog");
  assert.deepEqual(putLogs.map((e) => [e.summary?.message, e.error ?? "ok"]), [
    ["line 0", "ok"],
    [merged, "unavailable"],
    [merged, "unavailable"],
    [merged, "ok"],
  ]);
  assert.deepEqual(rec.warnings, []);
});

Deno.test("LogSender.putLog() sends an empty line of a flood alone, as the engine's answer to it does not depend on timing", async () => {
  await using engine = new MockEngine();
  const rec = recordingLogger();
  const wf = workflow({ name: "blank" });
  const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`);
  let rejected = "";
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      for (const line of lines.slice(0, 20)) ctx.log(line);
      const blank = ctx.log("", { raiseOnError: true }).catch((err) => {
        rejected = (err as Error).name;
      });
      for (const line of lines.slice(20)) ctx.log(line);
      await blank;
    },
  });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    logger: rec.logger,
  });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await run.result();
  const rows = engine.logs(engine.taskRuns(run.id)[0].id).map((r) => r.message);
  assert.deepEqual(rows, [
    "line 0",
    lines.slice(1, 20).join("\n"),
    lines.slice(20).join("\n"),
  ]);
  assert.equal(rejected, "RpcError");
  const putLogs = engine.rpcLog().filter((e) => e.method === "PutLog");
  assert.deepEqual(putLogs.map((e) => e.error ?? "ok"), ["ok", "ok", "invalid_argument", "ok"]);
  assert.equal(rec.warnings.filter((w) => /log line .* was not delivered/.test(w)).length, 1);
});
