// `deno task test:official`: the official Hatchet SDKs against `MockEngine.listen()`.
//
// Installs the official TypeScript SDK (package.json + package-lock.json here, `npm ci`) and the
// official Python SDK (requirements.txt here, in a virtual environment made with
// `python3 -m venv`), starts a worker of each (worker.mjs, worker.py) against its own
// MockEngine on the virtual clock, triggers runs with the SDK's own client, moves the clock,
// and checks every outcome in the engine. Prints one line per scenario and, per SDK,
// `official <sdk>: N passed, N failed`; exits 1 when anything failed.
//
//   deno task test:official [--sdk typescript|python] [--only name,name] [--verbose]
//                           [--trigger official|engine]
//
// `--trigger engine` triggers through `engine.client` instead of the official client, to look
// at what happens inside tasks while the official trigger path does not work.
//
// The worker processes run on wall time, so the driver waits for what they do by polling the
// engine (with a deadline), and moves the engine's clock only once a wait is registered.

import assert from "node:assert/strict";
import { MockEngine } from "../../testing/mod.ts";
import type { EngineListener, TaskRunInfo } from "../../testing/mod.ts";
import type { JsonObject } from "../../mod.ts";

import { ensurePythonSdk, ensureTypeScriptSdk, HERE } from "./install.ts";

type Sdk = "typescript" | "python";

interface Args {
  sdks: Sdk[];
  /** Who triggers runs: the official client (default), or `engine.client` to look at tasks alone. */
  trigger: "official" | "engine";
  only: Set<string> | undefined;
  verbose: boolean;
}

function parseArgs(args: string[]): Args {
  let sdks: Sdk[] = ["typescript", "python"];
  let only: Set<string> | undefined;
  let verbose = false;
  let trigger: Args["trigger"] = "official";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--sdk") {
      const value = args[++i];
      if (value !== "typescript" && value !== "python") {
        throw new TypeError(
          `Invalid --sdk: expected "typescript" or "python", received ${JSON.stringify(value)}`,
        );
      }
      sdks = [value];
    } else if (arg === "--only") {
      only = new Set((args[++i] ?? "").split(",").filter((s) => s !== ""));
    } else if (arg === "--trigger") {
      const value = args[++i];
      if (value !== "official" && value !== "engine") {
        throw new TypeError(
          `Invalid --trigger: expected "official" or "engine", received ${JSON.stringify(value)}`,
        );
      }
      trigger = value;
    } else if (arg === "--verbose") {
      verbose = true;
    } else {
      throw new TypeError(`Unknown argument: ${JSON.stringify(arg)}`);
    }
  }
  return { sdks, only, verbose, trigger };
}

// ------------------------------------------------------------------------------- the worker

interface Answer {
  id: number;
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

/** A running official worker and the command channel to its SDK client. */
class OfficialWorker {
  readonly sdk: Sdk;
  readonly output: string[] = [];
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pending = new Map<number, (answer: Answer) => void>();
  #nextId = 1;
  readonly exited: Promise<Deno.CommandStatus>;

  constructor(
    sdk: Sdk,
    command: string,
    args: string[],
    env: Record<string, string>,
  ) {
    this.sdk = sdk;
    this.#child = new Deno.Command(command, {
      args,
      cwd: HERE,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.exited = this.#child.status.then((status) => {
      for (const settle of this.#pending.values()) {
        settle({
          id: 0,
          ok: false,
          error: `the worker exited (code ${status.code})`,
        });
      }
      this.#pending.clear();
      return status;
    });
    this.#read(this.#child.stdout, true);
    this.#read(this.#child.stderr, false);
  }

  async #read(
    stream: ReadableStream<Uint8Array>,
    answers: boolean,
  ): Promise<void> {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (answers && line.startsWith('{"id"')) {
          const answer = JSON.parse(line) as Answer;
          this.#pending.get(answer.id)?.(answer);
          this.#pending.delete(answer.id);
        } else {
          this.output.push(line);
          if (this.output.length > 400) this.output.shift();
        }
      }
    }
  }

  /** Sends a command; resolves with the answer, rejects with the SDK's error. */
  send(
    op: string,
    fields: Record<string, unknown> = {},
    timeoutMs = 30_000,
  ): Promise<Answer> {
    const id = this.#nextId++;
    const answer = new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new Error(`${this.sdk} ${op}: no answer within ${timeoutMs / 1000}s`),
        );
      }, timeoutMs);
      this.#pending.set(id, (a) => {
        clearTimeout(timer);
        if (a.ok) resolve(a);
        else reject(new Error(`${this.sdk} SDK ${op} failed: ${a.error}`));
      });
    });
    this.#writer.write(
      new TextEncoder().encode(`${JSON.stringify({ id, op, ...fields })}\n`),
    );
    return answer;
  }

  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    this.kill("SIGKILL");
    await this.exited;
  }
}

// ------------------------------------------------------------------------------- harness

/** What a scenario works with: the engine, the listener, and the SDK's worker and client. */
class Harness {
  readonly sdk: Sdk;
  readonly engine: MockEngine;
  listener: EngineListener;
  readonly worker: OfficialWorker;
  readonly via: Args["trigger"];

  constructor(
    sdk: Sdk,
    engine: MockEngine,
    listener: EngineListener,
    worker: OfficialWorker,
    via: Args["trigger"],
  ) {
    this.sdk = sdk;
    this.via = via;
    this.engine = engine;
    this.listener = listener;
    this.worker = worker;
  }

  /** Triggers a run with the official client; returns its id. */
  async trigger(
    workflow: string,
    input: Record<string, unknown> = {},
    meta?: Record<string, string>,
  ): Promise<string> {
    if (this.via === "engine") {
      const run = await this.engine.client.runs.trigger(
        workflow,
        input as JsonObject,
        {
          additionalMetadata: meta,
        },
      );
      return run.id;
    }
    const answer = await this.worker.send("run", { workflow, input, meta });
    return answer.runId as string;
  }

  /** Waits (wall time, polling the engine) until `check` returns a value other than undefined. */
  async until<T>(
    what: string,
    check: () => T | undefined,
    timeoutMs = 20_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  tasks(runId: string): Record<string, TaskRunInfo> {
    return Object.fromEntries(
      this.engine.taskRuns(runId).map((t) => [t.taskName, t]),
    );
  }

  /** Waits until every task of the run is final; returns them by name. */
  settle(
    runId: string,
    timeoutMs?: number,
  ): Promise<Record<string, TaskRunInfo>> {
    return this.until(`run ${runId} to finish`, () => {
      const tasks = this.engine.taskRuns(runId);
      const done = tasks.length > 0 && tasks.every((t) => FINAL.has(t.status));
      return done ? this.tasks(runId) : undefined;
    }, timeoutMs);
  }

  /** Waits until the task is running on the worker. */
  running(runId: string, task: string): Promise<TaskRunInfo> {
    return this.until(`${task} to run`, () => {
      const t = this.tasks(runId)[task];
      return t?.status === "RUNNING" ? t : undefined;
    });
  }

  /** Waits until the task logged `line`. */
  logged(runId: string, task: string, line: string): Promise<true> {
    return this.until(`${task} to log ${JSON.stringify(line)}`, () => {
      const t = this.tasks(runId)[task];
      return t !== undefined &&
        this.engine.logs(t.id).some((l) => l.message === line);
    }) as Promise<true>;
  }

  /** Waits until the durable task registered a wait (either durable path). */
  waiting(runId: string, task: string): Promise<true> {
    return this.until(`${task} to register a durable wait`, () => {
      const t = this.tasks(runId)[task];
      if (t === undefined) return false;
      return this.engine.rpcLog().some((e) =>
        /Durable/.test(e.method) && e.method !== "ListenForDurableEvent" &&
        e.summary?.taskRunId === t.id && e.error === undefined
      );
    }) as Promise<true>;
  }

  /** Ids of runs whose tasks include `task`. */
  runsWith(task: string): string[] {
    return [
      ...new Set(
        this.engine.taskRuns().filter((t) => t.taskName === task).map((t) => t.workflowRunId),
      ),
    ];
  }
}

const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "SKIPPED"]);

interface Scenario {
  name: string;
  /** Only for these SDKs; default both. */
  sdks?: Sdk[];
  /** Restarts the listener, so it runs after the others. */
  last?: boolean;
  run(h: Harness): Promise<void>;
}

function statuses(tasks: Record<string, TaskRunInfo>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(tasks).map(([k, t]) => [k, t.status]),
  );
}

const SCENARIOS: Scenario[] = [
  {
    name: "simple task",
    async run(h) {
      const id = await h.trigger("simple", { name: "Ada" });
      const { hello } = await h.settle(id);
      assert.equal(hello.status, "COMPLETED", hello.error);
      assert.deepEqual(hello.output, { message: "hello Ada" });
    },
  },
  {
    name: "DAG: a task returning nothing, a grandchild reading its grandparent",
    async run(h) {
      const id = await h.trigger("dag");
      const tasks = await h.settle(id);
      assert.deepEqual(statuses(tasks), {
        first: "COMPLETED",
        middle: "COMPLETED",
        last: "COMPLETED",
      }, tasks.middle.error ?? tasks.last.error);
      // What a task returning nothing sends is the SDK's choice: TypeScript "null", Python "{}".
      const nothing = h.sdk === "typescript" ? null : {};
      assert.deepEqual(tasks.middle.output, nothing);
      assert.deepEqual(
        tasks.last.output,
        h.sdk === "python"
          ? { fromGrandparent: { n: 1 }, fromParent: nothing }
          : { fromGrandparent: { n: 1 } },
      );
    },
  },
  {
    name: "skip_if on a parent's output",
    async run(h) {
      const id = await h.trigger("skip");
      assert.deepEqual(statuses(await h.settle(id)), {
        decide: "COMPLETED",
        maybe: "SKIPPED",
      });
    },
  },
  {
    name: "logs and stream chunks",
    async run(h) {
      const id = await h.trigger("logs");
      const { chatty } = await h.settle(id);
      assert.equal(chatty.status, "COMPLETED", chatty.error);
      // The SDKs send logs and chunks in the background: they may land after the task's result.
      const logs = () => h.engine.logs(chatty.id).map((l) => l.message);
      const chunks = () => h.engine.streamEvents(chatty.id).map((b) => new TextDecoder().decode(b));
      await h.until(
        "2 log lines and 2 chunks",
        () => logs().length >= 2 && chunks().length >= 2,
      )
        .catch(() => {});
      assert.deepEqual(logs(), ["line 1", "line 2"]);
      assert.deepEqual(chunks(), ["chunk-1", "chunk-2"]);
    },
  },
  {
    name: "retries",
    async run(h) {
      const id = await h.trigger("retry");
      const { flaky } = await h.settle(id);
      assert.equal(flaky.status, "COMPLETED", flaky.error);
      assert.equal(flaky.retryCount, 1);
      assert.deepEqual(flaky.output, { retryCount: 1 });
    },
  },
  {
    name: "on-failure task reads the errors and a completed task's output",
    async run(h) {
      const id = await h.trigger("failing");
      const { fine, broken, ...rest } = await h.settle(id);
      // The SDKs name the on-failure task themselves ("on-failure-task", "report-on-failure").
      const [report] = Object.values(rest);
      assert.deepEqual([fine.status, broken.status, report?.status], [
        "COMPLETED",
        "FAILED",
        "COMPLETED",
      ], report?.error);
      const output = report.output as {
        errors: Record<string, string>;
        fine: unknown;
      };
      assert.match(output.errors.broken ?? "", /boom/);
      assert.deepEqual(output.fine, { ok: 1 });
    },
  },
  {
    name: "execution timeout on the virtual clock",
    async run(h) {
      const id = await h.trigger("timeout");
      await h.running(id, "stuck");
      await h.engine.advance("6s");
      const { stuck } = await h.settle(id);
      assert.equal(stuck.status, "FAILED");
    },
  },
  {
    name: "refresh_timeout keeps a task alive past its timeout",
    async run(h) {
      const id = await h.trigger("refresh");
      await h.logged(id, "extend", "refreshed");
      await h.engine.advance("10s");
      assert.equal(h.tasks(id).extend.status, "RUNNING");
      await h.worker.send("open", { gate: "refresh" });
      const { extend } = await h.settle(id);
      assert.equal(extend.status, "COMPLETED", extend.error);
      assert.deepEqual(extend.output, { refreshed: true });
    },
  },
  {
    name: "release_slot lets another task run (2 slots)",
    async run(h) {
      const a = await h.trigger("holder", { gate: "a" });
      await h.logged(a, "hold", "holding");
      const b = await h.trigger("holder", { gate: "b", release: true });
      await h.logged(b, "hold", "holding");
      const c = await h.trigger("simple", { name: "third" });
      const { hello } = await h.settle(c);
      assert.equal(hello.status, "COMPLETED", hello.error);
      assert.equal(h.tasks(a).hold.status, "RUNNING");
      assert.equal(h.tasks(b).hold.status, "RUNNING");
      await h.worker.send("open", { gate: "hold-a" });
      await h.worker.send("open", { gate: "hold-b" });
      assert.equal((await h.settle(a)).hold.status, "COMPLETED");
      assert.equal((await h.settle(b)).hold.status, "COMPLETED");
    },
  },
  {
    name: "durable sleep for 1h",
    async run(h) {
      const id = await h.trigger("durable-sleep");
      await h.waiting(id, "nap");
      await h.engine.advance("1h");
      const { nap } = await h.settle(id);
      assert.equal(nap.status, "COMPLETED", nap.error);
      assert.deepEqual(nap.output, { slept: true });
    },
  },
  {
    name: "durable wait for a user event with a CEL filter",
    async run(h) {
      const id = await h.trigger("durable-event");
      await h.waiting(id, "approval");
      await h.worker.send("push", {
        key: "official:approved",
        payload: { orderId: "o-2" },
      });
      await h.engine.settle();
      assert.equal(h.tasks(id).approval.status, "RUNNING");
      await h.worker.send("push", {
        key: "official:approved",
        payload: { orderId: "o-1" },
      });
      const { approval } = await h.settle(id);
      assert.equal(approval.status, "COMPLETED", approval.error);
      const text = JSON.stringify(approval.output);
      assert.ok(text.includes('"o-1"') && !text.includes('"o-2"'), text);
    },
  },
  {
    name: "durable or(sleep 24h, event): the sleep wins",
    async run(h) {
      const id = await h.trigger("durable-or");
      await h.waiting(id, "either");
      await h.engine.advance("24h");
      const { either } = await h.settle(id);
      assert.equal(either.status, "COMPLETED", either.error);
      const text = JSON.stringify(
        (either.output as { result: unknown }).result,
      );
      assert.ok(text !== "{}" && !text.includes("official:never"), text);
    },
  },
  {
    name: "event trigger with additional metadata",
    async run(h) {
      const before = new Set(h.runsWith("triggered"));
      await h.worker.send("push", {
        key: "official:order",
        payload: { orderId: "o-9" },
        meta: { source: "official" },
      });
      const id = await h.until(
        "a run of on-event",
        () => h.runsWith("triggered").find((r) => !before.has(r)),
      );
      const { triggered } = await h.settle(id);
      assert.equal(triggered.status, "COMPLETED", triggered.error);
      const output = triggered.output as {
        input: unknown;
        meta: Record<string, unknown>;
      };
      assert.deepEqual(output.input, { orderId: "o-9" });
      assert.equal(output.meta.source, "official");
    },
  },
  {
    name: "cancel a run through the client (REST)",
    async run(h) {
      const id = await h.trigger("cancel-me");
      await h.logged(id, "wait_for_cancel", "waiting");
      await h.worker.send("cancel", { runId: id });
      const { wait_for_cancel } = await h.settle(id);
      assert.equal(wait_for_cancel.status, "CANCELLED");
      await h.logged(id, "wait_for_cancel", "saw cancel");
    },
  },
  {
    name: "ctx.cancel() from inside the task (REST)",
    async run(h) {
      const id = await h.trigger("self-cancel");
      const { quit } = await h.settle(id);
      assert.equal(quit.status, "CANCELLED", quit.error);
    },
  },
  {
    name: "runs.get and runs.get_status (REST)",
    async run(h) {
      const id = await h.trigger("simple", { name: "Rest" });
      await h.settle(id);
      const details = await h.worker.send("get", { runId: id });
      assert.equal(details.status, "COMPLETED");
      assert.deepEqual(details.tasks, { hello: "COMPLETED" });
      const status = await h.worker.send("status", { runId: id });
      assert.equal(status.status, "COMPLETED");
    },
  },
  {
    name: "replay a failed run (REST)",
    async run(h) {
      const id = await h.trigger("replayed");
      assert.equal((await h.settle(id)).once_broken.status, "FAILED");
      await h.worker.send("replay", { runId: id });
      const { once_broken } = await h.until(
        "the replayed run to complete",
        () => {
          const t = h.tasks(id);
          return t.once_broken?.status === "COMPLETED" ? t : undefined;
        },
      );
      assert.deepEqual(once_broken.output, { executions: 2 });
    },
  },
  {
    name: "schedule a run 1h ahead",
    async run(h) {
      const before = new Set(h.runsWith("hello"));
      const at = new Date(h.engine.now().getTime() + 3600_000).toISOString();
      await h.worker.send("schedule", {
        workflow: "simple",
        at,
        input: { name: "later" },
      });
      await h.engine.advance("59m");
      assert.equal(h.runsWith("hello").filter((r) => !before.has(r)).length, 0);
      await h.engine.advance("1m");
      const id = await h.until(
        "the scheduled run",
        () => h.runsWith("hello").find((r) => !before.has(r)),
      );
      const { hello } = await h.settle(id);
      assert.deepEqual(hello.output, { message: "hello later" });
    },
  },
  {
    name: "result() of a run",
    async run(h) {
      const id = await h.trigger("simple", { name: "Result" });
      const answer = await h.worker.send("result", { runId: id });
      assert.deepEqual(answer.result, { hello: { message: "hello Result" } });
    },
  },
  {
    name: "aio_result() (subscription) of a run",
    sdks: ["python"],
    async run(h) {
      const id = await h.trigger("simple", { name: "Sub" });
      const answer = await h.worker.send("aio_result", { runId: id });
      assert.deepEqual(answer.result, { hello: { message: "hello Sub" } });
    },
  },
  {
    name: "child workflow run from a task",
    async run(h) {
      const id = await h.trigger("parent");
      const { spawn } = await h.settle(id);
      assert.equal(spawn.status, "COMPLETED", spawn.error);
      assert.deepEqual(spawn.output, { child: { double: { doubled: 42 } } });
    },
  },
  {
    name: "stream subscription",
    async run(h) {
      const id = await h.trigger("streamer");
      await h.running(id, "emit");
      const chunks = h.worker.send("stream", { runId: id });
      chunks.catch(() => {}); // awaited below; a failure before then must not go unhandled
      await h.until(
        "the stream subscription",
        () => h.engine.rpcLog().some((e) => e.method === "SubscribeToWorkflowEvents"),
      );
      const sent = () => h.engine.rpcLog().filter((e) => e.method === "PutStreamEvent").length;
      const before = sent();
      await h.worker.send("open", { gate: "stream" });
      // Neither SDK waits for a chunk's RPC before its task returns: let the run end only once the
      // engine has both, so the subscription's end cannot overtake them.
      await h.until("both stream chunks", () => sent() >= before + 2);
      await h.worker.send("open", { gate: "stream-sent" });
      const answer = await chunks;
      assert.deepEqual(answer.chunks, ["a", "b"]);
    },
  },
  {
    name: "concurrency: CANCEL_NEWEST on input.group cancels a second run of the same group",
    async run(h) {
      const a = await h.trigger("limited", { group: "g", gate: "a" });
      await h.logged(a, "one_at_a_time", "admitted");
      const b = await h.trigger("limited", { group: "g", gate: "b" });
      // Another group is not held back by the first.
      const c = await h.trigger("limited", { group: "h", gate: "c" });
      await h.logged(c, "one_at_a_time", "admitted");
      const second = (await h.settle(b)).one_at_a_time;
      assert.equal(second.status, "CANCELLED", second.error);
      assert.equal(h.tasks(a).one_at_a_time.status, "RUNNING");
      await h.worker.send("open", { gate: "limited-a" });
      await h.worker.send("open", { gate: "limited-c" });
      const first = (await h.settle(a)).one_at_a_time;
      assert.equal(first.status, "COMPLETED", first.error);
      assert.deepEqual(first.output, { gate: "a" });
      assert.equal((await h.settle(c)).one_at_a_time.status, "COMPLETED");
    },
  },
  {
    name: "desired worker labels: a required label the worker has runs; one it lacks stays queued",
    async run(h) {
      const worker = h.engine.workers().find((w) => w.active && w.actions.length > 0);
      assert.equal(worker?.labels.gpu, "yes");
      const id = await h.trigger("labelled");
      const { on_gpu } = await h.settle(id);
      assert.equal(on_gpu.status, "COMPLETED", on_gpu.error);
      assert.deepEqual(on_gpu.output, { ran: "gpu" });
      const queued = await h.trigger("unmatched");
      await h.until("the on_tpu task", () => h.tasks(queued).on_tpu);
      await h.engine.advance("10s");
      // The worker has free slots: a task without labels runs past the one it cannot take.
      const later = await h.trigger("simple", { name: "past" });
      assert.equal((await h.settle(later)).hello.status, "COMPLETED");
      const { on_tpu } = h.tasks(queued);
      assert.equal(on_tpu.status, "QUEUED");
      await h.worker.send("cancel", { runId: queued });
      assert.equal((await h.settle(queued)).on_tpu.status, "CANCELLED");
    },
  },
  {
    name: "reconnect after the engine's listener restarts",
    last: true,
    async run(h) {
      const [host, port] = h.listener.hostPort.split(":");
      const restPort = Number(new URL(h.listener.restUrl).port);
      await h.listener.close();
      h.listener = await h.engine.listen({ port: Number(port), restPort });
      assert.equal(host, "127.0.0.1");
      const id = await h.trigger("simple", { name: "again" });
      const { hello } = await h.settle(id, 60_000);
      assert.deepEqual(hello.output, { message: "hello again" });
    },
  },
  {
    name: "shutdown pauses the worker (REST)",
    last: true,
    async run(h) {
      h.worker.kill("SIGTERM");
      await h.until(
        "PATCH /api/v1/workers/{worker}",
        () =>
          h.engine.rpcLog().some((e) =>
            e.method === "PATCH /api/v1/workers/{worker}" &&
            e.error === undefined
          ),
        30_000,
      );
    },
  },
];

async function runSdk(
  sdk: Sdk,
  args: Args,
  python: string | undefined,
): Promise<[number, number]> {
  await using engine = new MockEngine();
  let listener = await engine.listen();
  // The token names the REST address (server_url); the Python SDK takes the gRPC address only
  // from HATCHET_CLIENT_HOST_PORT. Settings from the calling shell must not point elsewhere.
  const inherited = Object.entries(Deno.env.toObject())
    .filter(([name]) => !name.startsWith("HATCHET_") && !name.startsWith("OTEL_"));
  const env = {
    ...Object.fromEntries(inherited),
    HATCHET_CLIENT_TOKEN: listener.token,
    HATCHET_CLIENT_HOST_PORT: listener.hostPort,
    HATCHET_CLIENT_TLS_STRATEGY: "none",
    HATCHET_CLIENT_LOG_LEVEL: "WARN",
    PYTHONUNBUFFERED: "1",
  };
  const worker = sdk === "typescript"
    ? new OfficialWorker(sdk, "node", ["worker.mjs"], env)
    : new OfficialWorker(sdk, python!, ["worker.py"], env);
  let passed = 0;
  let failed = 0;
  try {
    const h = new Harness(sdk, engine, listener, worker, args.trigger);
    const ready = await h.until(
      `the ${sdk} worker to connect`,
      () =>
        engine.workers().some((w) => w.active && w.actions.length > 0) ||
        undefined,
      60_000,
    ).then(() => undefined, (err: Error) => {
      if (args.verbose) {
        for (const line of worker.output.slice(-40)) {
          console.log(`      | ${line}`);
        }
      }
      return err;
    });
    const scenarios = SCENARIOS
      .filter((s) => s.sdks === undefined || s.sdks.includes(sdk))
      .filter((s) => args.only === undefined || args.only.has(s.name))
      .sort((a, b) => Number(a.last ?? false) - Number(b.last ?? false));
    for (const scenario of scenarios) {
      const start = Date.now();
      const mark = worker.output.length;
      try {
        if (ready) throw ready;
        await scenario.run(h);
        passed++;
        console.log(
          `ok    ${sdk}  ${scenario.name} (${Date.now() - start} ms)`,
        );
      } catch (err) {
        failed++;
        const message = (err as Error).message.split("\n").slice(0, 12).join(
          "\n      ",
        );
        console.log(`FAIL  ${sdk}  ${scenario.name}: ${message}`);
        if (args.verbose) {
          for (const line of worker.output.slice(mark).slice(-30)) {
            console.log(`      | ${line}`);
          }
          for (const entry of engine.rpcLog().slice(-20)) {
            const error = entry.error ? ` -> ${entry.error}` : "";
            console.log(
              `      > ${entry.method} ${JSON.stringify(entry.summary ?? {})}${error}`,
            );
          }
        }
      }
    }
    listener = h.listener;
  } finally {
    await worker.close();
    await listener.close();
  }
  return [passed, failed];
}

async function main(): Promise<number> {
  const args = parseArgs(Deno.args);
  let python: string | undefined;
  const results: [Sdk, number, number][] = [];
  for (const sdk of args.sdks) {
    try {
      if (sdk === "typescript") await ensureTypeScriptSdk();
      else python = await ensurePythonSdk();
    } catch (err) {
      console.log(
        `FAIL  ${sdk}  install the official SDK: ${(err as Error).message}`,
      );
      results.push([sdk, 0, 1]);
      continue;
    }
    const [passed, failed] = await runSdk(sdk, args, python);
    results.push([sdk, passed, failed]);
  }
  for (const [sdk, passed, failed] of results) {
    console.log(`official ${sdk}: ${passed} passed, ${failed} failed`);
  }
  return results.some(([, , failed]) => failed > 0) ? 1 : 0;
}

if (import.meta.main) {
  Deno.exitCode = await main();
}
