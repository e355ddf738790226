import assert from "node:assert/strict";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import {
  DEMO_ORDERS,
  type DemoEngine,
  main,
  mockDemoEngine,
  orderWorkflow,
  runDemo,
} from "../../examples/demo.ts";
import { createWorker } from "@hatchet-deno/sdk";

const quiet = { write: () => {}, progress: false } as const;

Deno.test("runDemo() drives every order to its expected outcome on the virtual clock", async () => {
  await using engine = new MockEngine();
  const report = await runDemo(mockDemoEngine(engine), quiet);
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  assert.equal(report.engineMs, 24 * 3_600_000);
  const summary = Object.fromEntries(
    Object.entries(report.results).map(([id, r]) => [id, [r.status, Object.keys(r.errors)]]),
  );
  assert.deepEqual(summary, {
    "o-1": ["COMPLETED", []],
    "o-2": ["COMPLETED", []],
    "o-3": ["FAILED", ["charge"]],
    "o-4": ["COMPLETED", []],
  });
  assert.deepEqual(report.results["o-1"].outputs.review, {
    decision: "auto-approved",
    approver: null,
  });
  assert.deepEqual(report.results["o-2"].outputs.ship, {
    trackingId: "trk-o-2",
    review: "not needed",
  });
  assert.deepEqual(report.results["o-3"].outputs["notify-failure"], {
    notified: true,
    failed: ["charge"],
  });
  assert.deepEqual(report.results["o-4"].outputs.review, { decision: "approved", approver: "ana" });
  // The engine saw what the tasks did: runs in trigger order, review skipped under 100, ship
  // cancelled after the failed charge.
  const runs = engine.runs();
  const orderRuns = runs.filter((r) => r.workflowName === "demo-order");
  const byRun = orderRuns.map((r) =>
    Object.fromEntries(engine.taskRuns(r.id).map((t) => [t.taskName, t.status]))
  );
  assert.deepEqual(byRun.map((r) => r.review), ["COMPLETED", "SKIPPED", "SKIPPED", "COMPLETED"]);
  assert.deepEqual(byRun.map((r) => r.ship), ["COMPLETED", "COMPLETED", "CANCELLED", "COMPLETED"]);
  assert.deepEqual(byRun.map((r) => r["notify-failure"]), [
    "SKIPPED",
    "SKIPPED",
    "COMPLETED",
    "SKIPPED",
  ]);
  // Each order that shipped spawned one notify-customer child from its ship task.
  const ship = (orderId: string) => {
    const run = orderRuns[DEMO_ORDERS.findIndex((o) => o.orderId === orderId)];
    return engine.taskRuns(run.id).find((t) => t.taskName === "ship")!.id;
  };
  const children = runs.filter((r) => r.workflowName === "notify-customer");
  assert.deepEqual(
    children.map((c) => [c.triggeredBy, c.parentTaskRunId, c.childKey, c.input, c.status]),
    ["o-2", "o-4", "o-1"].map((orderId) => [
      "child",
      ship(orderId),
      "notify-customer",
      { orderId, trackingId: `trk-${orderId}` },
      "COMPLETED",
    ]),
  );
});

Deno.test("runDemo() prints a timeline in engine time with logs, stream chunks and results", async () => {
  await using engine = new MockEngine();
  const report = await runDemo(mockDemoEngine(engine), quiet);
  const lines = report.lines;
  assert.equal(
    lines[0],
    "Order demo on MockEngine, in memory, on a virtual clock starting 2026-01-01T00:00:00.000Z",
  );
  const at = (line: string) => {
    const index = lines.indexOf(line);
    assert.notEqual(index, -1, `missing line ${JSON.stringify(line)}`);
    return index;
  };
  const order = [
    '+00:00:00  trigger   o-1 {"items":3,"total":250,"card":"ok"}',
    "+00:00:00  o-1  validate       log       Validating 3 item(s), total 250",
    '+00:00:00  o-1  validate       stream    "item 1/3 in stock\\n"',
    "+00:00:00  o-1  review         waiting   for order:approved with orderId o-1, at most 24h",
    "+00:00:00  o-2  review         skipped   total < 100",
    "+00:00:00  o-3  charge         failed    NonRetryableError: Card declined for order o-3",
    "+00:00:00  o-3  notify-failure log       Order o-3 failed in charge: " +
    "NonRetryableError: Card declined for order o-3",
    '+01:00:00  event     order:approved {"orderId":"o-7","approver":"bob"} (no review waits for o-7)',
    '+02:00:00  event     order:approved {"orderId":"o-4","approver":"ana"}',
    "+02:00:00  o-4  review         resumed   approved by ana",
    '+02:00:00  o-4  ship           stream    "handed to carrier\\n"',
    "+02:00:00  o-4  ship           spawned   notify-customer for trk-o-4",
    "+02:00:00  o-4  send-notice    log       Emailing the customer of o-4: tracking trk-o-4",
    '+02:00:00  o-4  stream reader  chunk     #0 "label printed\\n"',
    '+02:00:00  o-4  stream reader  chunk     #1 "handed to carrier\\n"',
    "+24:00:00  clock     22h later: the review window of o-1 ends",
    "+24:00:00  o-1  review         resumed   no approval within 24h",
    '+24:00:00  o-1  ship           completed {"trackingId":"trk-o-1","review":"auto-approved"}',
    "Results",
    "  o-1  COMPLETED  auto-approved; shipped trk-o-1",
    "  o-2  COMPLETED  review skipped; shipped trk-o-2",
    "  o-3  FAILED     review skipped; charge failed: NonRetryableError: Card declined for " +
    "order o-3; notify-failure ran",
    "  o-4  COMPLETED  approved by ana; shipped trk-o-4",
    "All 4 runs ended as expected after 24h of engine time.",
  ].map(at);
  assert.deepEqual(order, [...order].sort((a, b) => a - b), "lines appear in this order");
  // The reader attached after validate ran: validate's chunks were not kept for it.
  assert.deepEqual(lines.filter((l) => l.includes("stream reader")), [
    "+00:00:00  o-4  stream reader  waiting   for o-4's chunks (none sent before now is kept)",
    '+02:00:00  o-4  stream reader  chunk     #0 "label printed\\n"',
    '+02:00:00  o-4  stream reader  chunk     #1 "handed to carrier\\n"',
  ]);
  assert.equal(lines.at(-1), "All 4 runs ended as expected after 24h of engine time.");
  assert.ok(!lines.some((l) => l.includes(engine.token)), "the token never appears");
});

Deno.test("runDemo() prints the same timeline on every run", async () => {
  const once = async () => {
    await using engine = new MockEngine();
    return (await runDemo(mockDemoEngine(engine), quiet)).lines;
  };
  assert.deepEqual(await once(), await once());
});

Deno.test("runDemo() reports the runs that did not end as expected", async () => {
  await using engine = new MockEngine();
  const base = mockDemoEngine(engine);
  let first = true;
  // The first pause overshoots by a day: both review windows end before o-4 gets approved.
  const late: DemoEngine = {
    ...base,
    pass(duration, progress) {
      const d = first ? "25h" : duration;
      first = false;
      return base.pass(d, progress);
    },
  };
  const report = await runDemo(late, quiet);
  assert.equal(report.ok, false);
  assert.equal(report.results["o-4"].outputs.review.decision, "auto-approved");
  assert.ok(
    report.problems.some((p) => p.startsWith("o-4: expected review to be approved by ana")),
    report.problems.join("\n"),
  );
  assert.ok(report.problems.includes("o-4: review resumed 24h after the start, expected 2h"));
  assert.equal(
    report.lines.at(-1),
    `${report.problems.length} problem(s): the demo did not go as expected.`,
  );
});

Deno.test("orderWorkflow() skips review under 100 and ships without it", async () => {
  const notes: string[] = [];
  const orders = orderWorkflow({ onNote: (n) => notes.push(`${n.task} ${n.kind}`) });
  await using engine = new MockEngine();
  await using worker = createWorker(engine.client, { name: "w", workflows: orders.workflows });
  await worker.start();
  const run = await engine.client.runs.trigger(orders.workflow, DEMO_ORDERS[1]);
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs.ship, { trackingId: "trk-o-2", review: "not needed" });
  await engine.settle();
  // The child runs beside the end of ship: its notes are checked on their own.
  assert.deepEqual(notes.filter((n) => n.startsWith("send-notice")), [
    "send-notice started",
    "send-notice log",
    "send-notice completed",
  ]);
  assert.deepEqual(notes.filter((n) => !n.startsWith("send-notice")), [
    "validate started",
    "validate log",
    "validate stream",
    "validate completed",
    "charge started",
    "charge log",
    "charge completed",
    "ship started",
    "review skipped",
    "ship stream",
    "ship stream",
    "ship log",
    "ship spawned",
    "ship completed",
  ]);
});

Deno.test("main() rejects unknown arguments with exit code 2", async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    assert.equal(await main(["--nope"]), 2);
  } finally {
    console.error = original;
  }
  assert.equal(errors[0], 'Unknown argument: "--nope"');
});

Deno.test("examples/demo.ts exits 0 and prints the timeline on stdout only", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "examples/demo.ts"],
    cwd: new URL("../../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const lines = stdout.split("\n");
  assert.equal(
    lines[0],
    "Order demo on MockEngine, in memory, on a virtual clock starting 2026-01-01T00:00:00.000Z",
  );
  assert.ok(lines.includes("+02:00:00  o-4  review         resumed   approved by ana"));
  assert.ok(lines.includes("+24:00:00  o-1  review         resumed   no approval within 24h"));
  assert.ok(lines.includes("All 4 runs ended as expected after 24h of engine time."));
  assert.ok(!stdout.includes("\r"), "no progress line on stdout");
  assert.ok(!stderr.includes("\r"), "no progress line when stderr is not a terminal");
  assert.match(stderr, /24h of engine time took [\d.]+s of wall time/);
});

Deno.test("examples/demo.ts --engine exits 1 with the reason when no engine is configured", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "examples/demo.ts", "--engine"],
    cwd: new URL("../../", import.meta.url),
    clearEnv: true,
    // Only what Deno needs to find its cache: no HATCHET_CLIENT_* from the test's environment.
    env: Object.fromEntries(
      ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME"].flatMap((name) => {
        const value = Deno.env.get(name);
        return value === undefined ? [] : [[name, value]];
      }).concat([["NO_COLOR", "1"]]),
    ),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  assert.equal(
    new TextDecoder().decode(out.stderr).trim(),
    "The demo failed: No API token: set HATCHET_CLIENT_TOKEN or pass token",
  );
});

Deno.test("the README's demo excerpt matches what runDemo() prints", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Two commands"));
  const start = section.indexOf("```text\n") + "```text\n".length;
  const excerpt = section.slice(start, section.indexOf("```", start)).split("\n")
    .filter((l) => l !== "");
  assert.ok(excerpt.length > 5, "the README has a timeline excerpt");
  await using engine = new MockEngine();
  const { lines } = await runDemo(mockDemoEngine(engine), quiet);
  assert.deepEqual(excerpt.filter((l) => !lines.includes(l)), []);
  const positions = excerpt.map((l) => lines.indexOf(l));
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b), "in the same order");
});
