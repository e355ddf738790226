// The demo behind `deno task demo`: an order workflow on the in-memory MockEngine, driven through
// a day of virtual time, printed as a timeline. `deno task demo --engine` runs the same workflow
// against the Hatchet engine configured by HATCHET_CLIENT_* (wall-clock time, so the one-day
// review window shrinks to a minute).
//
// The workflow, per order:
//
//   validate ──> review (durable; skipped for orders under 100) ──> ship
//            └─> charge (fails for a declined card) ───────────────┘
//   notify-failure (the on-failure task) runs when any task fails.
//   ship spawns a child run of `notify-customer` (one task, send-notice) and does not wait for it.
//
// `review` waits for an `order:approved` event for its own order (a CEL filter) or gives up
// waiting after the review window and approves the order itself. Meanwhile a separate consumer
// reads o-4's stream (RunRef.stream) and puts each chunk on the timeline as it arrives.

import {
  type Context,
  createClient,
  createWorker,
  type DurationInput,
  formatDuration,
  type HatchetClient,
  NonRetryableError,
  or,
  ParentCondition,
  parseDuration,
  type RunRef,
  type RunResult,
  SleepCondition,
  type TaskRef,
  UserEventCondition,
  type Workflow,
  workflow,
} from "@hatchet-deno/sdk";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import {
  createProgress,
  createTimeline,
  type NoteKind,
  type Progress,
  silentProgress,
  type Timeline,
} from "./_demo_timeline.ts";

/** The input of one order run. */
export type OrderInput = {
  orderId: string;
  items: number;
  total: number;
  card: "ok" | "declined";
};

/** The input of a `notify-customer` run, which `ship` spawns. */
export type NoticeInput = {
  orderId: string;
  trackingId: string;
};

/** What a task of the order workflow tells the demo's timeline. */
export interface TaskNote {
  /** The order the task works on. */
  orderId: string;
  /** The task's name. */
  task: string;
  /** What happened. */
  kind: Exclude<NoteKind, "trigger" | "event" | "clock" | "chunk">;
  /** The details, one line. */
  text: string;
}

/** Options of {@link orderWorkflow}. */
export interface OrderWorkflowOptions {
  /** How long `review` waits for an approval before approving on its own; default `"24h"`. */
  reviewWindow?: DurationInput;
  /** Receives what tasks do as they do it (the demo's timeline); default: nothing. */
  onNote?: (note: TaskNote) => void;
}

/** The order workflow and its tasks. */
export interface OrderWorkflow {
  /** The workflow to trigger. */
  workflow: Workflow<OrderInput>;
  /** The child workflow `ship` spawns: tells the customer the order is on its way. */
  notifyCustomer: Workflow<NoticeInput>;
  /** Both workflows, to register on a worker. */
  workflows: Workflow<OrderInput | NoticeInput>[];
  /** Checks the order; logs and streams its progress. */
  validate: TaskRef<{ orderId: string; total: number }>;
  /** Durable: waits for `order:approved` or the review window; skipped under 100. */
  review: TaskRef<{ decision: "approved" | "auto-approved"; approver: string | null }>;
  /** Charges the card; fails without retry when it is declined. */
  charge: TaskRef<{ chargeId: string; amount: number }>;
  /** Ships once reviewed (or review was skipped) and charged; spawns `notify-customer`. */
  ship: TaskRef<{ trackingId: string; review: string }>;
  /** The task of `notify-customer`. */
  sendNotice: TaskRef<{ channel: string; trackingId: string }>;
  /** The on-failure task: reports which tasks failed. */
  notifyFailure: TaskRef<{ notified: boolean; failed: string[] }>;
}

/**
 * The task names in DAG order, then the child's task, which is also the order the timeline lists
 * them in.
 */
export const TASK_NAMES: readonly string[] = [
  "validate",
  "review",
  "charge",
  "ship",
  "notify-failure",
  "send-notice",
];

/**
 * Declares the order workflow. Each call makes a new declaration, so a test can run several
 * engines side by side.
 *
 * @param options The review window and a listener for what tasks do.
 * @returns The workflow and its task references.
 * @throws {RangeError} When `reviewWindow` is not a duration.
 * @example
 * ```ts
 * import { createWorker } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 * import { orderWorkflow } from "./demo.ts";
 *
 * const orders = orderWorkflow();
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: orders.workflows });
 * await worker.start();
 * const run = await engine.client.runs.trigger(orders.workflow, {
 *   orderId: "o-9",
 *   items: 1,
 *   total: 20,
 *   card: "ok",
 * });
 * const result = await run.result();
 * assert.deepEqual(result.outputs.ship, { trackingId: "trk-o-9", review: "not needed" });
 * await engine.settle();
 * const child = engine.runs().find((r) => r.workflowName === "notify-customer");
 * assert.equal(child?.parentWorkflowRunId, run.id);
 * assert.equal(child?.status, "COMPLETED");
 * ```
 */
export function orderWorkflow(options?: OrderWorkflowOptions): OrderWorkflow {
  const window = formatDuration(options?.reviewWindow ?? "24h");
  const onNote = options?.onNote ?? (() => {});
  type Input = { orderId: string };
  const tell = (ctx: Context<Input>, kind: TaskNote["kind"], text: string) =>
    onNote({ orderId: ctx.input.orderId, task: ctx.taskName, kind, text });
  const log = (ctx: Context<Input>, line: string) => {
    tell(ctx, "log", line);
    ctx.log(line);
  };
  const stream = (ctx: Context<Input>, chunk: string) => {
    tell(ctx, "stream", JSON.stringify(chunk));
    ctx.putStream(chunk);
  };
  // Notes the start and the outcome of every attempt, so the timeline shows what ran when.
  const traced = <I extends Input, C extends Context<I>, O>(
    fn: (input: I, ctx: C) => O | Promise<O>,
  ) =>
  async (input: I, ctx: C): Promise<O> => {
    tell(ctx, "started", `attempt ${ctx.attemptNumber}`);
    try {
      const output = await fn(input, ctx);
      tell(ctx, "completed", JSON.stringify(output));
      return output;
    } catch (err) {
      tell(ctx, "failed", err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      throw err;
    }
  };

  const orders = workflow<OrderInput>({
    name: "demo-order",
    description: "Validate, review, charge and ship an order",
  });

  const notifyCustomer = workflow<NoticeInput>({
    name: "notify-customer",
    description: "Tell the customer their order is on its way",
  });
  const sendNotice = notifyCustomer.task({
    name: "send-notice",
    fn: traced((input: NoticeInput, ctx) => {
      log(ctx, `Emailing the customer of ${input.orderId}: tracking ${input.trackingId}`);
      return { channel: "email", trackingId: input.trackingId };
    }),
  });

  const validate = orders.task({
    name: "validate",
    fn: traced((input, ctx) => {
      log(ctx, `Validating ${input.items} item(s), total ${input.total}`);
      for (let i = 1; i <= input.items; i++) stream(ctx, `item ${i}/${input.items} in stock\n`);
      return { orderId: input.orderId, total: input.total };
    }),
  });

  const review = orders.durableTask({
    name: "review",
    parents: [validate],
    // CEL over the parent's output: small orders need no review.
    skipIf: [new ParentCondition(validate, "output.total < 100")],
    // The execution timeout keeps running while the task waits, so it must outlast the window.
    executionTimeout: "48h",
    fn: traced(async (input, ctx) => {
      tell(ctx, "waiting", `for order:approved with orderId ${input.orderId}, at most ${window}`);
      const result = await ctx.waitFor(
        "approval",
        or(
          new UserEventCondition("order:approved", {
            expression: `input.orderId == ${JSON.stringify(input.orderId)}`,
            readableDataKey: "approval",
          }),
          new SleepCondition(window, { readableDataKey: "window" }),
        ),
      );
      const approval = result.CREATE?.approval?.[0] as { approver?: string } | undefined;
      if (approval) {
        tell(ctx, "resumed", `approved by ${approval.approver}`);
        return { decision: "approved" as const, approver: approval.approver ?? null };
      }
      tell(ctx, "resumed", `no approval within ${window}`);
      log(ctx, `Nobody objected within ${window}: approving automatically`);
      return { decision: "auto-approved" as const, approver: null };
    }),
  });

  const charge = orders.task({
    name: "charge",
    parents: [validate],
    fn: traced((input, ctx) => {
      if (input.card === "declined") {
        log(ctx, `Charging ${input.total} to the card on file`);
        // A declined card will not succeed on a retry.
        throw new NonRetryableError(`Card declined for order ${input.orderId}`);
      }
      log(ctx, `Charged ${input.total}`);
      return { chargeId: `ch-${input.orderId}`, amount: input.total };
    }),
  });

  const ship = orders.task({
    name: "ship",
    parents: [review, charge],
    fn: traced(async (input: OrderInput, ctx) => {
      if (ctx.wasSkipped(review)) {
        onNote({ orderId: input.orderId, task: "review", kind: "skipped", text: "total < 100" });
      }
      const reviewed = ctx.wasSkipped(review) ? "not needed" : ctx.taskOutput(review).decision;
      const trackingId = `trk-${input.orderId}`;
      stream(ctx, "label printed\n");
      stream(ctx, "handed to carrier\n");
      log(ctx, `Shipped ${input.orderId} (review: ${reviewed})`);
      // Shipping does not wait for the customer to be told. The key makes the spawn idempotent:
      // a retried attempt gets the same child back instead of a second email.
      await ctx.spawnChild(notifyCustomer, { orderId: input.orderId, trackingId }, {
        key: "notify-customer",
      });
      tell(ctx, "spawned", `notify-customer for ${trackingId}`);
      return { trackingId, review: reviewed };
    }),
  });

  const notifyFailure = orders.onFailure({
    name: "notify-failure",
    fn: traced((input, ctx) => {
      const failed = Object.keys(ctx.taskRunErrors).sort();
      for (const task of failed) {
        log(ctx, `Order ${input.orderId} failed in ${task}: ${firstLine(ctx.taskRunErrors[task])}`);
      }
      return { notified: true, failed };
    }),
  });

  return {
    workflow: orders,
    notifyCustomer,
    workflows: [orders, notifyCustomer] as Workflow<OrderInput | NoticeInput>[],
    validate,
    review,
    charge,
    ship,
    sendNotice,
    notifyFailure,
  };
}

/** The orders the demo places, and what must become of each. */
export const DEMO_ORDERS: readonly OrderInput[] = [
  // Reviewed; nobody approves, so the review window runs out.
  { orderId: "o-1", items: 3, total: 250, card: "ok" },
  // Under 100: review is skipped.
  { orderId: "o-2", items: 1, total: 40, card: "ok" },
  // The card is declined: charge fails and notify-failure runs.
  { orderId: "o-3", items: 2, total: 60, card: "declined" },
  // Reviewed and approved by an `order:approved` event.
  { orderId: "o-4", items: 2, total: 900, card: "ok" },
];

/** Where the demo runs: the in-memory engine (virtual time) or a real one (wall-clock time). */
export interface DemoEngine {
  /** `"mock"`: a MockEngine on its virtual clock; `"live"`: a real engine. */
  readonly kind: "mock" | "live";
  /** A client of the engine. */
  readonly client: HatchetClient;
  /** How long reviews wait for approval. */
  readonly reviewWindow: string;
  /** When the driver pushes an approval nobody waits for, after the runs start. */
  readonly strayAfter: string;
  /** When the driver pushes the approval for o-4, after the stray one. */
  readonly approveAfter: string;
  /** The first line of the output. */
  readonly banner: string;
  /** Whether the timeline shows milliseconds. */
  readonly milliseconds: boolean;
  /** The engine's current time. */
  now(): Date;
  /**
   * Lets `duration` of engine time pass.
   *
   * @param duration How long.
   * @param progress Where to show what is happening.
   */
  pass(duration: string, progress: Progress): Promise<void>;
  /**
   * Waits until `check()` holds.
   *
   * @param check The condition.
   * @param what What it means, for the error.
   * @param progress Where to show what is happening.
   * @throws {Error} When it does not hold once the engine is quiet (mock) or within a minute.
   */
  until(check: () => boolean, what: string, progress: Progress): Promise<void>;
  /**
   * Waits for a run's result.
   *
   * @param run The run.
   * @param label Its order id.
   * @param progress Where to show what is happening.
   * @returns The result.
   * @throws {Error} When the run is not done once the engine is quiet (mock) or in 5 minutes.
   */
  result(run: RunRef, label: string, progress: Progress): Promise<RunResult>;
  /**
   * Checks what only the engine knows: statuses, and that every log line and stream chunk a
   * task sent arrived. Live engines are not inspected.
   *
   * @param runId The run.
   * @param notes What its tasks said they did.
   * @returns Problems found, empty when all is well.
   */
  inspect(runId: string, notes: readonly TaskNote[]): string[];
}

/**
 * The demo's engine over a {@link MockEngine} on its virtual clock.
 *
 * @param engine The engine (clock `"virtual"`).
 * @returns The demo engine.
 */
export function mockDemoEngine(engine: MockEngine): DemoEngine {
  const decoder = new TextDecoder();
  return {
    kind: "mock",
    client: engine.client,
    reviewWindow: "24h",
    strayAfter: "1h",
    approveAfter: "1h",
    banner:
      `Order demo on MockEngine, in memory, on a virtual clock starting ${engine.now().toISOString()}`,
    milliseconds: false,
    now: () => engine.now(),
    async pass(duration, progress) {
      progress.update(`Advancing the engine clock by ${duration}…`);
      await engine.advance(duration);
    },
    async until(check, what, progress) {
      progress.update(`Waiting for ${what}…`);
      await engine.settle();
      if (!check()) throw new Error(`Expected ${what} once the engine was quiet`);
    },
    async result(run, label, progress) {
      progress.update(`Collecting the result of ${label}…`);
      await engine.settle();
      const open = engine.taskRuns(run.id).filter((t) =>
        t.status === "PENDING" || t.status === "QUEUED" || t.status === "RUNNING"
      );
      if (open.length > 0) {
        throw new Error(
          `Run ${label} is not done once the engine is quiet: ${
            open.map((t) => `${t.taskName} is ${t.status}`).join(", ")
          }`,
        );
      }
      return await run.result();
    },
    inspect(runId, notes) {
      const problems: string[] = [];
      for (const taskRun of engine.taskRuns(runId)) {
        const mine = notes.filter((n) => n.task === taskRun.taskName);
        const said = (kind: TaskNote["kind"]) =>
          mine.filter((n) => n.kind === kind).map((n) => n.text);
        const logs = engine.logs(taskRun.id).map((l) => l.message);
        if (JSON.stringify(logs) !== JSON.stringify(said("log"))) {
          problems.push(
            `${taskRun.taskName}: the engine got log lines ${JSON.stringify(logs)}, ` +
              `the task sent ${JSON.stringify(said("log"))}`,
          );
        }
        const chunks = engine.streamEvents(taskRun.id).map((c) =>
          JSON.stringify(decoder.decode(c))
        );
        if (JSON.stringify(chunks) !== JSON.stringify(said("stream"))) {
          problems.push(
            `${taskRun.taskName}: the engine got stream chunks [${chunks.join(", ")}], ` +
              `the task sent [${said("stream").join(", ")}]`,
          );
        }
      }
      return problems;
    },
  };
}

const LIVE_TICK_MS = 250;
const LIVE_UNTIL_MS = 60_000;
const LIVE_RESULT_MS = 5 * 60_000;

/**
 * The demo's engine over a real Hatchet engine: wall-clock time, so the review window is a
 * minute rather than a day.
 *
 * @param client A client of the engine.
 * @returns The demo engine.
 */
export function liveDemoEngine(client: HatchetClient): DemoEngine {
  const reviewWindow = "60s";
  const tick = () => new Promise((resolve) => setTimeout(resolve, LIVE_TICK_MS));
  return {
    kind: "live",
    client,
    reviewWindow,
    strayAfter: "5s",
    approveAfter: "5s",
    banner: `Order demo on the Hatchet engine at ${client.config.hostPort}, in wall-clock ` +
      `time: the review window is ${reviewWindow} instead of 24h, so this takes about a minute`,
    milliseconds: true,
    now: () => new Date(),
    async pass(duration, progress) {
      const end = Date.now() + parseDuration(duration);
      while (Date.now() < end) {
        progress.update(`Waiting ${duration} of wall-clock time: ${secondsLeft(end)}s left`);
        await tick();
      }
    },
    async until(check, what, progress) {
      const end = Date.now() + LIVE_UNTIL_MS;
      while (!check()) {
        if (Date.now() >= end) throw new Error(`Expected ${what} within ${LIVE_UNTIL_MS / 1000}s`);
        progress.update(`Waiting for ${what}: ${secondsLeft(end)}s until giving up`);
        await tick();
      }
    },
    async result(run, label, progress) {
      const controller = new AbortController();
      const end = Date.now() + LIVE_RESULT_MS;
      const timer = setInterval(() => {
        if (Date.now() >= end) controller.abort(new Error(`Run ${label} did not finish in 5m`));
        progress.update(`Waiting for run ${label} to finish: ${secondsLeft(end)}s until giving up`);
      }, LIVE_TICK_MS);
      try {
        return await run.result({ signal: controller.signal });
      } finally {
        clearInterval(timer);
      }
    },
    inspect() {
      return [];
    },
  };
}

function secondsLeft(end: number): number {
  return Math.max(0, Math.ceil((end - Date.now()) / 1000));
}

/** The timeline's name for the consumer reading o-4's stream. */
const READER = "stream reader";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Receives each line of the timeline; default `console.log`. */
  write?: (line: string) => void;
  /** Draw a progress line on stderr; default: when stderr is a terminal. */
  progress?: boolean;
}

/** What {@link runDemo} did. */
export interface DemoReport {
  /** Whether every run ended as expected. */
  ok: boolean;
  /** What went wrong; empty when `ok`. */
  problems: string[];
  /** The lines written, in order. */
  lines: string[];
  /** Each order's run result, by order id. */
  results: Record<string, RunResult>;
  /** Engine time from the first trigger to the last result, in ms. */
  engineMs: number;
}

/**
 * Runs the demo scenario: starts a worker, places {@link DEMO_ORDERS}, pushes a stray approval
 * and o-4's approval, lets the review window pass, and checks each run's outcome. Writes the
 * timeline as it goes.
 *
 * @param engine Where to run (see {@link mockDemoEngine} and {@link liveDemoEngine}).
 * @param options Where the lines go, and whether to draw a progress line.
 * @returns What happened; `ok` is false with `problems` when a run ended unexpectedly.
 * @throws {Error} When the worker cannot start or the engine fails an RPC.
 * @example
 * ```ts
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 * import { mockDemoEngine, runDemo } from "./demo.ts";
 *
 * await using engine = new MockEngine();
 * const report = await runDemo(mockDemoEngine(engine), { write: () => {}, progress: false });
 * assert.deepEqual(report.problems, []);
 * assert.equal(report.results["o-4"].outputs.review.approver, "ana");
 * ```
 */
export async function runDemo(engine: DemoEngine, options?: DemoOptions): Promise<DemoReport> {
  const lines: string[] = [];
  const sink = options?.write ?? ((line: string) => console.log(line));
  const write = (line: string) => {
    progress.clear();
    lines.push(line);
    sink(line);
  };
  const progress = options?.progress === false
    ? silentProgress
    : options?.progress === true
    ? createProgress(true)
    : createProgress();
  const taskNotes: TaskNote[] = [];
  const timeline: Timeline = createTimeline({
    now: () => engine.now(),
    orders: DEMO_ORDERS.map((o) => o.orderId),
    tasks: [...TASK_NAMES, READER],
    milliseconds: engine.milliseconds,
  });
  const driver = (kind: NoteKind, text: string) => timeline.note(undefined, undefined, kind, text);
  const flush = () => timeline.flush().forEach(write);

  const orders = orderWorkflow({
    reviewWindow: engine.reviewWindow,
    onNote(note) {
      taskNotes.push(note);
      timeline.note(note.orderId, note.task, note.kind, note.text);
    },
  });
  const has = (orderId: string, task: string, kind: TaskNote["kind"]) =>
    taskNotes.some((n) => n.orderId === orderId && n.task === task && n.kind === kind);

  write(engine.banner);
  write("");
  try {
    progress.update("Starting the worker…");
    await using worker = createWorker(engine.client, {
      name: "demo-worker",
      workflows: orders.workflows,
    });
    await worker.start();

    const runs = new Map<string, RunRef>();
    for (const order of DEMO_ORDERS) {
      progress.update(`Triggering ${order.orderId}…`);
      const { orderId, ...rest } = order;
      driver("trigger", `${orderId} ${JSON.stringify(rest)}`);
      runs.set(orderId, await engine.client.runs.trigger(orders.workflow, order));
    }
    await engine.until(
      () => has("o-1", "review", "waiting") && has("o-4", "review", "waiting"),
      "the reviews of o-1 and o-4 to wait for approval",
      progress,
    );
    flush();

    // A consumer of o-4's output, apart from the worker, attaches now. The engine publishes
    // chunks without keeping them, so it never sees validate's chunks, only ship's, as they come.
    const reading = new AbortController();
    const chunks: string[] = [];
    timeline.note("o-4", READER, "waiting", "for o-4's chunks (none sent before now is kept)");
    const reader = (async () => {
      for await (const chunk of runs.get("o-4")!.stream({ signal: reading.signal })) {
        const text = `#${chunk.index} ${JSON.stringify(chunk.text())}`;
        chunks.push(text);
        timeline.note("o-4", READER, "chunk", text);
      }
    })();

    await engine.pass(engine.strayAfter, progress);
    driver("clock", `${engine.strayAfter} later`);
    const stray = { orderId: "o-7", approver: "bob" };
    driver("event", `order:approved ${JSON.stringify(stray)} (no review waits for o-7)`);
    await engine.client.events.push("order:approved", stray);
    await engine.pass(engine.approveAfter, progress);
    driver("clock", `${engine.approveAfter} later`);
    const approval = { orderId: "o-4", approver: "ana" };
    driver("event", `order:approved ${JSON.stringify(approval)}`);
    await engine.client.events.push("order:approved", approval);
    await engine.until(
      () =>
        has("o-4", "ship", "completed") && has("o-4", "send-notice", "completed") &&
        chunks.length === 2,
      "o-4 to ship, its customer to be told and its stream reader to see both chunks",
      progress,
    );
    flush();

    const rest = parseDuration(engine.reviewWindow) - parseDuration(engine.strayAfter) -
      parseDuration(engine.approveAfter);
    const restText = formatDuration(rest);
    await engine.pass(restText, progress);
    driver("clock", `${restText} later: the review window of o-1 ends`);

    const results: Record<string, RunResult> = {};
    for (const [orderId, run] of runs) {
      results[orderId] = await engine.result(run, orderId, progress);
    }
    await engine.until(
      () => has("o-1", "send-notice", "completed"),
      "the customer of o-1 to be told",
      progress,
    );
    // o-4 ended long ago, and with it its stream; the signal is only a guard.
    reading.abort();
    await reader;
    const engineMs = engine.now().getTime() - timeline.start;
    flush();

    const problems: string[] = [];
    for (const orderId of runs.keys()) {
      const shipped = results[orderId].outputs.ship !== undefined;
      if (shipped !== has(orderId, "send-notice", "completed")) {
        problems.push(
          `${orderId}: expected notify-customer to ${shipped ? "" : "not "}run for the order`,
        );
      }
    }
    const expectedChunks = ['#0 "label printed\\n"', '#1 "handed to carrier\\n"'];
    if (JSON.stringify(chunks) !== JSON.stringify(expectedChunks)) {
      problems.push(`o-4: the stream reader saw ${JSON.stringify(chunks)}, expected ship's chunks`);
    }
    for (const [orderId, run] of runs) {
      const mine = taskNotes.filter((n) => n.orderId === orderId);
      problems.push(
        ...expectations(orderId, results[orderId]).map((p) => `${orderId}: ${p}`),
        ...engine.inspect(run.id, mine).map((p) => `${orderId}: ${p}`),
      );
    }
    if (engine.kind === "mock") problems.push(...timingProblems(timeline, engine));

    write("");
    write("Results");
    for (const [orderId, result] of Object.entries(results)) {
      write(`  ${orderId}  ${result.status.padEnd(9)}  ${summarize(result)}`);
    }
    write("");
    write(
      problems.length === 0
        ? `All ${runs.size} runs ended as expected after ${elapsed(engine, engineMs)}.`
        : `${problems.length} problem(s): the demo did not go as expected.`,
    );
    return { ok: problems.length === 0, problems, lines, results, engineMs };
  } finally {
    progress.clear();
  }
}

function elapsed(engine: DemoEngine, ms: number): string {
  return engine.kind === "mock"
    ? `${formatDuration(ms)} of engine time`
    : `${Math.round(ms / 1000)}s of wall-clock time`;
}

// The engine's error text carries the stack trace after the first line.
function firstLine(text: string): string {
  return text.split("\n", 1)[0];
}

function summarize(result: RunResult): string {
  const out = result.outputs;
  const parts: string[] = [];
  const review = out.review as { decision?: string; approver?: string | null } | undefined;
  if (review?.decision === "approved") parts.push(`approved by ${review.approver}`);
  else if (review?.decision === "auto-approved") parts.push("auto-approved");
  else parts.push("review skipped");
  if (out.ship) parts.push(`shipped ${(out.ship as { trackingId: string }).trackingId}`);
  for (const [task, error] of Object.entries(result.errors)) {
    parts.push(`${task} failed: ${firstLine(error)}`);
  }
  if ((out["notify-failure"] as { notified?: boolean } | undefined)?.notified) {
    parts.push("notify-failure ran");
  }
  return parts.join("; ");
}

// What each order must come to. Checked on every engine, mock or live.
function expectations(orderId: string, result: RunResult): string[] {
  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => {
    if (!ok) problems.push(`expected ${what}, got ${JSON.stringify(result)}`);
  };
  const out = result.outputs as Record<string, Record<string, unknown> | undefined>;
  switch (orderId) {
    case "o-1":
      expect(result.status === "COMPLETED", "COMPLETED");
      expect(out.review?.decision === "auto-approved", "review to auto-approve");
      expect(out.ship?.review === "auto-approved", "ship to see the auto-approval");
      break;
    case "o-2":
      expect(result.status === "COMPLETED", "COMPLETED");
      expect(out.ship?.review === "not needed", "ship to see review skipped");
      break;
    case "o-3":
      expect(result.status === "FAILED", "FAILED");
      expect(/Card declined for order o-3/.test(result.errors.charge ?? ""), "charge to fail");
      expect(out.ship === undefined, "ship not to run");
      expect(
        JSON.stringify(out["notify-failure"]?.failed) === JSON.stringify(["charge"]),
        "notify-failure to report charge",
      );
      break;
    case "o-4":
      expect(result.status === "COMPLETED", "COMPLETED");
      expect(out.review?.approver === "ana", "review to be approved by ana");
      expect(out.ship?.review === "approved", "ship to see the approval");
      break;
  }
  return problems;
}

// On the virtual clock the reviews must resume exactly when their event or window comes.
function timingProblems(timeline: Timeline, engine: DemoEngine): string[] {
  const resumed = (orderId: string) =>
    timeline.notes().find((n) =>
      n.order === orderId && n.task === "review" && n.kind === "resumed"
    );
  const problems: string[] = [];
  const check = (orderId: string, offset: number) => {
    const at = resumed(orderId)?.at;
    if (at === undefined) problems.push(`${orderId}: review never resumed`);
    else if (at - timeline.start !== offset) {
      problems.push(
        `${orderId}: review resumed ${formatDuration(at - timeline.start)} after the start, ` +
          `expected ${formatDuration(offset)}`,
      );
    }
  };
  check("o-4", parseDuration(engine.strayAfter) + parseDuration(engine.approveAfter));
  check("o-1", parseDuration(engine.reviewWindow));
  return problems;
}

/**
 * The demo's command line: runs on a fresh {@link MockEngine}, or with `--engine` on the engine
 * the `HATCHET_CLIENT_*` environment configures. Writes the timeline to stdout and problems to
 * stderr.
 *
 * @param args Command-line arguments: `--engine`, `--help`.
 * @returns The exit code: 0 when every run ended as expected, 1 when not, 2 on bad arguments.
 */
export async function main(args: readonly string[]): Promise<number> {
  const unknown = args.filter((a) => a !== "--engine" && a !== "--help" && a !== "-h");
  if (args.includes("--help") || args.includes("-h") || unknown.length > 0) {
    if (unknown.length > 0) console.error(`Unknown argument: ${JSON.stringify(unknown[0])}`);
    console.error(
      "Usage: deno task demo [--engine]\n\n" +
        "Without --engine the demo runs on an in-memory MockEngine with a virtual clock.\n" +
        "With --engine it runs on the Hatchet engine that HATCHET_CLIENT_TOKEN (and the other\n" +
        "HATCHET_CLIENT_* variables) point at, in wall-clock time.",
    );
    return unknown.length > 0 ? 2 : 0;
  }
  const started = performance.now();
  let report: DemoReport;
  try {
    if (args.includes("--engine")) {
      await using client = createClient();
      report = await runDemo(liveDemoEngine(client));
    } else {
      await using engine = new MockEngine();
      report = await runDemo(mockDemoEngine(engine));
    }
  } catch (err) {
    console.error(`The demo failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  if (!report.ok) {
    console.error("The demo did not go as expected:");
    for (const problem of report.problems) console.error(`  ${problem}`);
    return 1;
  }
  if (!args.includes("--engine")) {
    const wall = ((performance.now() - started) / 1000).toFixed(1);
    console.error(`(${formatDuration(report.engineMs)} of engine time took ${wall}s of wall time)`);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
