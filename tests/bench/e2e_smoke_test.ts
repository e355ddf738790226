// The end-to-end benchmark must keep running: CI runs it with tiny counts and checks its output
// shape. Timings are never asserted (shared 2-core machines are noisy).

import assert from "node:assert/strict";

const E2E = new URL("../../bench/e2e.ts", import.meta.url).pathname;

Deno.test("bench/e2e.ts --smoke prints the table and, last, a JSON line with every metric", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", E2E, "--smoke"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `the harness failed:\n${stderr}`);

  const lines = stdout.trimEnd().split("\n");
  for (
    const metric of [
      "tasks_per_s ours (native)",
      "tasks_per_s ours (node)",
      "tasks_per_s official",
      "log_lines_per_s ours",
      "log_lines_per_s official",
      "wake_ms p50",
      "wake_ms p99",
      "wake_ms_legacy p50",
      "wake_ms_legacy p99",
      "unary_rtt_ms",
      "unary_200kb_ms native",
      "unary_200kb_ms node",
      "bytes_per_wait",
      "rss_mb_100k_waits",
      "rss_mb_100k_waits_pooled",
      "bytes_per_held_task",
      "virtual_day_ms",
      "schedule_10k_keys_tasks_per_s",
    ]
  ) {
    assert.ok(lines.some((l) => l.startsWith(metric)), `no table row for ${metric}:\n${stdout}`);
  }

  const result = JSON.parse(lines[lines.length - 1]);
  assert.deepEqual(Object.keys(result), [
    "tasks_per_s",
    "wake_ms",
    "wake_ms_legacy",
    "unary_rtt_ms",
    "unary_200kb_ms",
    "log_lines_per_s",
    "bytes_per_wait",
    "rss_mb_100k_waits",
    "rss_mb_100k_waits_pooled",
    "virtual_day_ms",
    "schedule_10k_keys_tasks_per_s",
  ]);
  assert.deepEqual(Object.keys(result.tasks_per_s), ["ours", "ours_node", "official"]);
  assert.deepEqual(Object.keys(result.wake_ms), ["p50", "p99"]);
  assert.deepEqual(Object.keys(result.wake_ms_legacy), ["p50", "p99"]);
  assert.deepEqual(Object.keys(result.unary_200kb_ms), ["native", "node"]);
  assert.deepEqual(Object.keys(result.log_lines_per_s), ["ours", "official"]);

  // Our side never depends on Node or npm, so every one of its numbers is there.
  const ours = [
    result.tasks_per_s.ours,
    result.tasks_per_s.ours_node,
    result.wake_ms.p50,
    result.wake_ms.p99,
    result.wake_ms_legacy.p50,
    result.wake_ms_legacy.p99,
    result.unary_rtt_ms,
    result.unary_200kb_ms.native,
    result.unary_200kb_ms.node,
    result.log_lines_per_s.ours,
    result.bytes_per_wait,
    result.rss_mb_100k_waits,
    result.rss_mb_100k_waits_pooled,
    result.virtual_day_ms,
    result.schedule_10k_keys_tasks_per_s,
  ];
  for (const value of ours) assert.ok(typeof value === "number" && value > 0, stdout);
  // The official SDK's numbers are numbers, or null with a note saying why.
  for (const value of [result.tasks_per_s.official, result.log_lines_per_s.official]) {
    if (value === null) assert.match(stdout, /^note: official SDK: not measured: /m);
    else assert.ok(typeof value === "number" && value > 0);
  }
});
