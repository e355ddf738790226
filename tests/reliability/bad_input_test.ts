// Bad input, one row each: the error is clear and names the value, nothing reaches the engine
// that should not, and the worker keeps running the next task. Add a row to extend it.

import assert from "node:assert/strict";
import {
  createWorker,
  type DurableContext,
  type HatchetClient,
  SleepCondition,
  UserEventCondition,
  workflow,
} from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { type ActionFields, recordingLogger, rewritingClient } from "../worker/_helpers.ts";
import { networkClient, STACKS } from "./_harness.ts";

/** The error a row expects: its class name and its message. */
interface Expected {
  name: "TypeError" | "RangeError" | "SyntaxError" | "Error";
  message: string | RegExp;
}

/** Something a task does with its context; it must throw (or reject with) `error`. */
interface InTask {
  kind: "in task";
  what: string;
  durable?: boolean;
  act: (ctx: DurableContext) => unknown;
  /** The error, or none for input that is fixed up rather than refused. */
  error?: Expected;
  /** RPC methods the act may send (default none). */
  sends?: string[];
  check?: (engine: MockEngine) => void;
}

/** What a task returns or throws; the run must fail with `reported` as its error text. */
interface Outcome {
  kind: "outcome";
  what: string;
  fn: () => unknown;
  reported: string | RegExp;
}

/** A call outside any task; it must throw `error` with no RPC at all. */
interface Call {
  kind: "call";
  what: string;
  act: (client: HatchetClient) => unknown;
  error: Expected;
}

/** An assignment the engine sends, rewritten on its way; the run must fail with `reported`. */
interface Assignment {
  kind: "assignment";
  what: string;
  rewrite: (action: ActionFields) => void;
  reported: string | RegExp;
}

type Row = InTask | Outcome | Call | Assignment;

const cyclic = (): Record<string, unknown> => {
  const o: Record<string, unknown> = { name: "loop" };
  o.self = o;
  return o;
};

const PARSE = `Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received`;

const ROWS: Row[] = [
  // Durations.
  ...["5x", "", "1d"].map((value): InTask => ({
    kind: "in task",
    what: `ctx.refreshTimeout(${JSON.stringify(value)})`,
    act: (ctx) => ctx.refreshTimeout(value),
    error: {
      name: "RangeError",
      message: `ctx.refreshTimeout(): ${PARSE} ${JSON.stringify(value)}`,
    },
  })),
  {
    kind: "in task",
    what: "ctx.refreshTimeout(-1)",
    act: (ctx) => ctx.refreshTimeout(-1),
    error: {
      name: "RangeError",
      message:
        "ctx.refreshTimeout(): Cannot parse duration: expected a non-negative number of milliseconds, received -1",
    },
  },
  {
    kind: "in task",
    what: 'ctx.refreshTimeout("0s")',
    act: (ctx) => ctx.refreshTimeout("0s"),
    error: {
      name: "RangeError",
      message: 'ctx.refreshTimeout(): incrementBy must be positive, received "0s"',
    },
  },
  {
    kind: "in task",
    what: 'ctx.sleepFor("5x")',
    durable: true,
    act: (ctx) => ctx.sleepFor("5x"),
    error: { name: "RangeError", message: new RegExp(`${escape(PARSE)} "5x"`) },
  },
  // Signal keys and event keys.
  {
    kind: "in task",
    what: 'ctx.waitFor("")',
    durable: true,
    act: (ctx) => ctx.waitFor("", new SleepCondition("1s")),
    error: {
      name: "TypeError",
      message: 'Invalid signal key: expected a non-empty string, received ""',
    },
  },
  {
    kind: "in task",
    what: 'new UserEventCondition("")',
    durable: true,
    act: (ctx) => ctx.waitFor("approval", new UserEventCondition("")),
    error: {
      name: "TypeError",
      message: 'Invalid event key: expected a non-empty string, received ""',
    },
  },
  {
    kind: "call",
    what: 'client.events.push("")',
    act: (client) => client.events.push("", {}),
    error: { name: "TypeError", message: 'Event key must be a non-empty string, received ""' },
  },
  // Logs.
  {
    kind: "in task",
    what: "ctx.log() of an object holding a BigInt",
    act: (ctx) => ctx.log({ amount: 10n } as never),
    error: {
      name: "TypeError",
      message:
        "ctx.log(): the object cannot be written as JSON: Do not know how to serialize a BigInt",
    },
  },
  {
    kind: "in task",
    what: "ctx.log() of an object with a cycle",
    act: (ctx) => ctx.log(cyclic() as never),
    error: {
      name: "TypeError",
      message: /^ctx\.log\(\): the object cannot be written as JSON: Converting circular structure/,
    },
  },
  {
    kind: "in task",
    what: "ctx.log() of a number",
    act: (ctx) => ctx.log(42 as never),
    error: {
      name: "TypeError",
      message: "ctx.log(): expected a string or a JSON object, received 42",
    },
  },
  {
    kind: "in task",
    what: 'ctx.log() with level "loud"',
    act: (ctx) => ctx.log("x", { level: "loud" as never }),
    error: {
      name: "TypeError",
      message: 'ctx.log(): level must be "debug", "info", "warn" or "error", received "loud"',
    },
  },
  {
    kind: "in task",
    what: "ctx.log() of a 20,000-character line",
    act: (ctx) => ctx.log("y".repeat(20_000), { raiseOnError: true }),
    sends: ["PutLog"],
    check: (engine) => {
      const [line] = engine.logs();
      assert.equal(line.message.length, 10_000);
      assert.equal(line.message.slice(0, 9_950), "y".repeat(9_950));
      assert.match(line.message, /y\.\.\. \[truncated: 20000 characters in total\]$/);
    },
  },
  // Stream data.
  ...[[42, "42", "a number"], [{ text: "hi" }, '{"text":"hi"}', "an object"], [
    null,
    "null",
    "null",
  ]].map(([value, type, label]): InTask => ({
    kind: "in task",
    what: `ctx.putStream() of ${label}`,
    act: (ctx) => ctx.putStream(value as never),
    error: {
      name: "TypeError",
      message: `ctx.putStream(): expected a string or a Uint8Array, received ${type}`,
    },
  })),
  // Task outputs.
  {
    kind: "outcome",
    what: "an output that is a number",
    fn: () => 42,
    reported: 'Task "probe" must return a JSON object or nothing, received a number (42)',
  },
  {
    kind: "outcome",
    what: "an output that is an array",
    fn: () => [1, 2],
    reported: 'Task "probe" must return a JSON object or nothing, received an array',
  },
  {
    kind: "outcome",
    what: "an output holding U+0000",
    fn: () => ({ note: "a\u0000b" }),
    reported:
      'Task "probe" returned an output that cannot be sent as JSON: the output contains the character U+0000 in the value of "note", which the engine cannot store',
  },
  {
    kind: "outcome",
    what: "an output with a cycle",
    fn: cyclic,
    reported: /^Task "probe" returned an output that cannot be sent as JSON: it contains a cycle/,
  },
  {
    kind: "outcome",
    what: "an output holding a BigInt",
    fn: () => ({ amount: 10n }),
    reported:
      'Task "probe" returned an output that cannot be sent as JSON: Do not know how to serialize a BigInt',
  },
  // Values thrown that are not errors.
  ...([
    ["a string", () => "boom", '"boom"'],
    ["undefined", () => undefined, "undefined"],
    ["null", () => null, "null"],
    ["a BigInt", () => 7n, "7n"],
    ["a symbol", () => Symbol("why"), "Symbol(why)"],
    ["an object with a cycle", cyclic, '{"name":"loop","self":"[Circular]"}'],
    ["an object holding a BigInt", () => ({ amount: 10n }), '{"amount":"10n"}'],
  ] as const).map(([what, value, text]): Outcome => ({
    kind: "outcome",
    what: `throwing ${what}`,
    fn: () => {
      throw value();
    },
    reported: `Non-Error value thrown: ${text}`,
  })),
  // Assignments.
  {
    kind: "assignment",
    what: "a malformed action payload",
    rewrite: (action) => action.actionPayload = "{oops",
    reported:
      /^TypeError: Malformed action payload for task run "[^"]+": not valid JSON \(.+\), received "\{oops"/,
  },
  {
    kind: "assignment",
    what: "an action payload whose input is not an object",
    rewrite: (action) => action.actionPayload = '{"input":[1]}',
    reported:
      /^TypeError: Malformed action payload for task run "[^"]+": "input" must be a JSON object, received an array/,
  },
  {
    kind: "assignment",
    what: "an AssignedAction for an unknown action id",
    rewrite: (action) => action.actionId = "elsewhere:probe",
    reported:
      'Worker "w" has no task for action id "elsewhere:probe"; it registered "bad-input:probe", "bad-input-durable:probe"',
  },
];

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function expectError(err: unknown, expected: Expected): void {
  assert.ok(err instanceof Error, `expected ${expected.name}, received ${String(err)}`);
  assert.equal(err.name, expected.name);
  if (typeof expected.message === "string") assert.equal(err.message, expected.message);
  else assert.match(err.message, expected.message);
}

function expectText(text: string | undefined, expected: string | RegExp): void {
  if (typeof expected === "string") assert.equal(text, expected);
  else assert.match(text ?? "", expected);
}

/**
 * What the engine heard, leaving out what any run does (trigger, poll, heartbeat), sorted: STARTED
 * goes out while the task runs, so only the set is fixed.
 */
function heard(engine: MockEngine, from: number): string[] {
  return engine.rpcLog().slice(from).filter((e) =>
    !["Heartbeat", "TriggerWorkflowRun", "GetRunDetails", "SubscribeToWorkflowRuns"].includes(
      e.method,
    )
  ).map((e) => e.summary?.eventType ? `${e.method} ${e.summary.eventType}` : e.method).sort();
}

function testName(row: Row): string {
  switch (row.kind) {
    case "in task":
      return row.error
        ? `Bad input: ${row.what} throws ${row.error.name}, sends nothing, and the worker runs on`
        : `Bad input: ${row.what} is fixed up, sent, and the worker runs on`;
    case "outcome":
      return `Bad input: ${row.what} fails the run with a readable error and the worker runs on`;
    case "call":
      return `Bad input: ${row.what} throws ${row.error.name} and sends nothing`;
    case "assignment":
      return `Bad input: ${row.what} fails the run, runs no task code, and the worker runs on`;
  }
}

for (const row of ROWS) {
  Deno.test(testName(row), async () => {
    await using engine = new MockEngine();
    let n = 0;
    await using client = rewritingClient(engine, (action) => {
      if (row.kind === "assignment" && ++n === 1) row.rewrite(action);
    });
    const plain = workflow<{ probe?: boolean }>({ name: "bad-input" });
    const durable = workflow<{ probe?: boolean }>({ name: "bad-input-durable" });
    let caught: unknown = "nothing thrown";
    let bodies = 0;
    const body = async (input: { probe?: boolean }, ctx: DurableContext) => {
      bodies++;
      if (!input.probe) return { ok: true };
      if (row.kind === "outcome") return row.fn() as never;
      if (row.kind === "in task") {
        try {
          await row.act(ctx);
        } catch (err) {
          caught = err;
        }
      }
      return { ok: true };
    };
    plain.task({ name: "probe", fn: (input, ctx) => body(input, ctx as DurableContext) });
    durable.durableTask({ name: "probe", fn: body });
    const target = row.kind === "in task" && row.durable ? durable : plain;
    const rec = recordingLogger();
    const worker = createWorker(client, {
      name: "w",
      workflows: [plain, durable],
      logger: rec.logger,
    });
    await worker.start();
    try {
      const from = engine.rpcLog().length;
      if (row.kind === "call") {
        let thrown: unknown = "nothing thrown";
        try {
          await row.act(client);
        } catch (err) {
          thrown = err;
        }
        expectError(thrown, row.error);
        assert.deepEqual(heard(engine, from), []);
      } else {
        const result = await (await client.runs.trigger(target, { probe: true })).result();
        await engine.settle();
        if (row.kind === "in task") {
          if (row.error) expectError(caught, row.error);
          else assert.equal(caught, "nothing thrown");
          assert.equal(result.status, "COMPLETED");
          assert.deepEqual(
            heard(engine, from),
            ["SendStepActionEvent STARTED", ...(row.sends ?? []), "SendStepActionEvent COMPLETED"]
              .sort(),
          );
          row.check?.(engine);
        } else if (row.kind === "outcome") {
          assert.equal(result.status, "FAILED");
          expectText(result.errors.probe, row.reported);
          assert.deepEqual(heard(engine, from), [
            "SendStepActionEvent FAILED",
            "SendStepActionEvent STARTED",
          ]);
        } else {
          assert.equal(result.status, "FAILED");
          expectText(result.errors.probe, row.reported);
          assert.equal(bodies, 0);
          assert.deepEqual(heard(engine, from), ["SendStepActionEvent FAILED"]);
        }
      }
      // Nothing else broke: the same worker runs the next task.
      const next = await (await client.runs.trigger(target, {})).result();
      assert.deepEqual(next.outputs, { probe: { ok: true } });
      assert.equal(worker.state, "running");
      assert.deepEqual(rec.errors, []);
    } finally {
      await worker.stop();
    }
  });
}

// Connections: a wrong token and an untrusted certificate, over each stack. The error names the
// cause, the engine processes nothing, and a correctly configured worker still runs.

async function healthyRun(engine: MockEngine, client: HatchetClient): Promise<void> {
  const wf = workflow({ name: "healthy" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  await using worker = createWorker(client, { name: "good", workflows: [wf] });
  await worker.start();
  const result = await (await engine.client.runs.trigger(wf, {})).result();
  assert.deepEqual(result.outputs, { t: { ok: true } });
}

for (const http of STACKS) {
  Deno.test(`Bad input: a wrong token over ${http} makes Worker.start() reject naming unauthenticated, and the engine processes nothing`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen();
    await using stranger = new MockEngine();
    await using wrong = networkClient(engine, server.hostPort, http, { token: stranger.token });
    const wf = workflow({ name: "locked-out" });
    wf.task({ name: "t", fn: () => ({}) });
    const worker = createWorker(wrong, { name: "w", workflows: [wf] });
    await assert.rejects(worker.start(), {
      name: "Error",
      message:
        'Worker "w" failed to start: /Dispatcher/GetVersion failed with unauthenticated: invalid auth token',
    });
    assert.equal(worker.state, "failed");
    assert.deepEqual(engine.rpcLog(), [{ method: "GetVersion", error: "unauthenticated" }]);
    await using right = networkClient(engine, server.hostPort, http);
    await healthyRun(engine, right);
  });

  Deno.test(`Bad input: TLS to an untrusted certificate over ${http} makes Worker.start() reject naming the certificate, and nothing reaches the engine`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen({ tls: true });
    await using untrusting = networkClient(engine, server.hostPort, http, { tls: "tls" });
    const wf = workflow({ name: "untrusted" });
    wf.task({ name: "t", fn: () => ({}) });
    const worker = createWorker(untrusting, {
      name: "w",
      workflows: [wf],
      startTimeout: "200ms",
      logger: { warn: () => {}, error: () => {} },
    });
    await assert.rejects(worker.start(), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(
        err.message,
        new RegExp(
          `^Worker "w" failed to start: the engine at ${server.hostPort} kept failing for startTimeout \\(200ms\\); last error: /Dispatcher/GetVersion failed with \\w+: .*certificate`,
          "i",
        ),
      );
      return true;
    });
    assert.deepEqual(engine.rpcLog(), []);
    await using trusting = networkClient(engine, server.hostPort, http, {
      tls: "tls",
      tlsRootCa: server.caPem,
    });
    await healthyRun(engine, trusting);
  });
}
