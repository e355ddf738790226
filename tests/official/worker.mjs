// A worker of the official Hatchet TypeScript SDK (@hatchet-dev/typescript-sdk, the version
// pinned in package.json) for `deno task test:official`, under Node 20+. The driver (run.ts)
// starts it with HATCHET_CLIENT_* pointing at a MockEngine and talks to it in JSON lines: it
// writes commands on stdin ({"id", "op", ...}) and reads one answer per command on stdout
// ({"id", "ok", ...}). Commands use the SDK's own client (trigger, result, push, REST calls,
// stream subscription); "open" releases a gate that a task awaits, so the driver decides when a
// task may finish. The same workflows as worker.py.

import { createRequire } from "node:module";
import process from "node:process";
import readline from "node:readline";

// The SDK is CommonJS without an exports map.
const require = createRequire(import.meta.url);
const { ConcurrencyLimitStrategy, HatchetClient, Or } = require(
  "@hatchet-dev/typescript-sdk/v1",
);

const hatchet = HatchetClient.init();
// A stream the mock does not serve ends in a rejection nothing in the SDK catches; it is
// reported on stderr so the worker stays up for the other scenarios.
process.on("unhandledRejection", (err) => {
  process.stderr.write(`unhandled rejection: ${err?.stack ?? err}\n`);
});
// The SDK logs to stdout, which carries the answers: every SDK log line goes to stderr.
for (const method of ["log", "info", "debug", "warn"]) {
  console[method] = (...args) => process.stderr.write(`${args.join(" ")}\n`);
}

const gates = new Map();
function gate(name) {
  let g = gates.get(name);
  if (!g) {
    let open;
    const promise = new Promise((resolve) => open = resolve);
    g = { promise, open };
    gates.set(name, g);
  }
  return g;
}
const executions = new Map();

const simple = hatchet.workflow({ name: "simple" });
simple.task({ name: "hello", fn: (input) => ({ message: `hello ${input.name}` }) });

const dag = hatchet.workflow({ name: "dag" });
const first = dag.task({ name: "first", fn: () => ({ n: 1 }) });
// Returns nothing: the SDK sends the output "null".
const middle = dag.task({ name: "middle", parents: [first], fn: () => {} });
dag.task({
  name: "last",
  parents: [middle],
  fn: async (_input, ctx) => ({ fromGrandparent: await ctx.parentOutput(first) }),
});

const skip = hatchet.workflow({ name: "skip" });
const decide = skip.task({ name: "decide", fn: () => ({ go: false }) });
skip.task({
  name: "maybe",
  parents: [decide],
  skipIf: [{ parent: decide, expression: "output.go == false" }],
  fn: () => ({ ran: true }),
});

const logs = hatchet.workflow({ name: "logs" });
logs.task({
  name: "chatty",
  fn: async (_input, ctx) => {
    await ctx.logger.info("line 1");
    await ctx.logger.info("line 2");
    await ctx.putStream("chunk-1");
    await ctx.putStream("chunk-2");
    return { done: true };
  },
});

const retry = hatchet.workflow({ name: "retry" });
retry.task({
  name: "flaky",
  retries: 2,
  fn: (_input, ctx) => {
    if (ctx.retryCount() < 1) throw new Error(`attempt ${ctx.retryCount()} fails`);
    return { retryCount: ctx.retryCount() };
  },
});

const failing = hatchet.workflow({ name: "failing" });
const fine = failing.task({ name: "fine", fn: () => ({ ok: 1 }) });
failing.task({
  name: "broken",
  parents: [fine],
  fn: () => {
    throw new Error("boom");
  },
});
failing.onFailure({
  name: "report",
  fn: async (_input, ctx) => ({ errors: ctx.errors(), fine: await ctx.parentOutput(fine) }),
});

function untilAborted(ctx) {
  return new Promise((resolve) => {
    const signal = ctx.abortController.signal;
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

const timeout = hatchet.workflow({ name: "timeout" });
timeout.task({
  name: "stuck",
  executionTimeout: "5s",
  fn: async (_input, ctx) => {
    await untilAborted(ctx);
    return {};
  },
});

const refresh = hatchet.workflow({ name: "refresh" });
refresh.task({
  name: "extend",
  executionTimeout: "5s",
  fn: async (_input, ctx) => {
    await ctx.refreshTimeout("30s");
    await ctx.logger.info("refreshed");
    await gate("refresh").promise;
    return { refreshed: true };
  },
});

const holder = hatchet.workflow({ name: "holder" });
holder.task({
  name: "hold",
  executionTimeout: "10m",
  fn: async (input, ctx) => {
    if (input.release) await ctx.releaseSlot();
    await ctx.logger.info("holding");
    await gate(`hold-${input.gate}`).promise;
    return { held: true };
  },
});

const durableSleep = hatchet.workflow({ name: "durable-sleep" });
durableSleep.durableTask({
  name: "nap",
  executionTimeout: "2h",
  fn: async (_input, ctx) => {
    await ctx.sleepFor("1h");
    return { slept: true };
  },
});

const durableEvent = hatchet.workflow({ name: "durable-event" });
durableEvent.durableTask({
  name: "approval",
  executionTimeout: "2h",
  fn: async (_input, ctx) => {
    const result = await ctx.waitFor({
      eventKey: "official:approved",
      expression: "input.orderId == 'o-1'",
    });
    return { result };
  },
});

const durableOr = hatchet.workflow({ name: "durable-or" });
durableOr.durableTask({
  name: "either",
  executionTimeout: "48h",
  fn: async (_input, ctx) => {
    const result = await ctx.waitFor(
      Or({ sleepFor: "24h" }, { eventKey: "official:never" }),
    );
    return { result };
  },
});

const onEvent = hatchet.workflow({ name: "on-event", on: { event: "official:order" } });
onEvent.task({
  name: "triggered",
  fn: (input, ctx) => {
    const meta = Object.fromEntries(
      Object.entries(ctx.additionalMetadata()).filter(([k]) => !k.startsWith("hatchet__")),
    );
    return { input, meta };
  },
});

const cancelMe = hatchet.workflow({ name: "cancel-me" });
cancelMe.task({
  name: "wait_for_cancel",
  executionTimeout: "10m",
  fn: async (_input, ctx) => {
    await ctx.logger.info("waiting");
    await untilAborted(ctx);
    // The engine has already taken the task as cancelled; this line is for the driver.
    await ctx.logger.info("saw cancel");
    return { cancelled: false };
  },
});

const selfCancel = hatchet.workflow({ name: "self-cancel" });
selfCancel.task({
  name: "quit",
  executionTimeout: "10m",
  fn: async (_input, ctx) => {
    await ctx.cancel();
    await untilAborted(ctx);
    return {};
  },
});

const child = hatchet.workflow({ name: "child" });
child.task({ name: "double", fn: (input) => ({ doubled: (input.n ?? 0) * 2 }) });

const parent = hatchet.workflow({ name: "parent" });
parent.task({
  name: "spawn",
  executionTimeout: "10m",
  fn: async () => ({ child: await child.run({ n: 21 }) }),
});

const replayed = hatchet.workflow({ name: "replayed" });
replayed.task({
  name: "once_broken",
  fn: () => {
    const n = (executions.get("replayed") ?? 0) + 1;
    executions.set("replayed", n);
    if (n === 1) throw new Error("first execution fails");
    return { executions: n };
  },
});

const streamer = hatchet.workflow({ name: "streamer" });
streamer.task({
  name: "emit",
  executionTimeout: "10m",
  fn: async (_input, ctx) => {
    await gate("stream").promise;
    await ctx.putStream("a");
    await ctx.putStream("b");
    // This SDK's putStream does not wait for its RPC, so the result could overtake the chunks:
    // the driver opens this gate once the engine has both.
    await gate("stream-sent").promise;
    return { streamed: 2 };
  },
});

// One run per `input.group` at a time; a second while one runs is cancelled.
const limited = hatchet.workflow({
  name: "limited",
  concurrency: {
    expression: "input.group",
    maxRuns: 1,
    limitStrategy: ConcurrencyLimitStrategy.CANCEL_NEWEST,
  },
});
limited.task({
  name: "one_at_a_time",
  executionTimeout: "10m",
  fn: async (input, ctx) => {
    await ctx.logger.info("admitted");
    await gate(`limited-${input.gate}`).promise;
    return { gate: input.gate };
  },
});

// The worker carries the label gpu=yes and not tpu.
const labelled = hatchet.workflow({ name: "labelled" });
labelled.task({
  name: "on_gpu",
  desiredWorkerLabels: { gpu: { value: "yes", required: true } },
  fn: () => ({ ran: "gpu" }),
});
const unmatched = hatchet.workflow({ name: "unmatched" });
unmatched.task({
  name: "on_tpu",
  desiredWorkerLabels: { tpu: { value: "yes", required: true } },
  fn: () => ({ ran: "tpu" }),
});

const workflows = [
  simple,
  dag,
  skip,
  logs,
  retry,
  failing,
  timeout,
  refresh,
  holder,
  durableSleep,
  durableEvent,
  durableOr,
  onEvent,
  cancelMe,
  selfCancel,
  child,
  parent,
  replayed,
  streamer,
  limited,
  labelled,
  unmatched,
];
const byName = new Map(workflows.map((w) => [w.name, w]));

async function runCommand(cmd) {
  switch (cmd.op) {
    case "run": {
      const ref = await byName.get(cmd.workflow).runNoWait(cmd.input ?? {}, {
        additionalMetadata: cmd.meta ?? {},
      });
      return { runId: await ref.getWorkflowRunId() };
    }
    case "result":
    case "aio_result":
      return { result: await hatchet.runs.runRef(cmd.runId).result() };
    case "push":
      await hatchet.events.push(cmd.key, cmd.payload ?? {}, {
        additionalMetadata: cmd.meta ?? {},
      });
      return {};
    case "get": {
      const details = await hatchet.runs.get(cmd.runId);
      return {
        status: details.run.status,
        tasks: Object.fromEntries(details.tasks.map((t) => [t.displayName, t.status])),
        output: details.run.output,
      };
    }
    case "status":
      return { status: await hatchet.runs.get_status(cmd.runId) };
    case "cancel":
      await hatchet.runs.cancel({ ids: [cmd.runId] });
      return {};
    case "replay":
      await hatchet.runs.replay({ ids: [cmd.runId] });
      return {};
    case "schedule":
      await byName.get(cmd.workflow).schedule(new Date(cmd.at), cmd.input ?? {});
      return {};
    case "stream": {
      const chunks = [];
      for await (const chunk of hatchet.runs.subscribeToStream(cmd.runId)) chunks.push(chunk);
      return { chunks };
    }
    case "open":
      gate(cmd.gate).open();
      return {};
    default:
      throw new Error(`unknown op ${JSON.stringify(cmd.op)}`);
  }
}

function answer(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "") return;
  const cmd = JSON.parse(line);
  runCommand(cmd).then(
    (result) => answer({ id: cmd.id, ok: true, ...result }),
    (err) => answer({ id: cmd.id, ok: false, error: `${err?.name}: ${err?.message ?? err}` }),
  );
});
process.stdin.on("end", () => process.exit(0));

const worker = await hatchet.worker("official-typescript", {
  workflows,
  slots: 2,
  labels: { gpu: "yes" },
});
// start() resolves only when the worker stops, so it is not awaited here.
worker.start().catch((err) => {
  process.stderr.write(`worker failed: ${err?.message ?? err}\n`);
  process.exit(1);
});
