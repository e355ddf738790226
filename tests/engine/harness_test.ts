// The conformance suite needs a real engine and is not part of `deno task test`; these tests keep
// its harness honest without one: the launcher's skip line, the registry, and how runSuite counts
// and tabulates outcomes (against MockEngine served over real gRPC).

import assert from "node:assert/strict";
import { workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { formatTable, runSuite, type Scenario } from "./harness.ts";
import { scenarios } from "./scenarios.ts";

Deno.test("test:engine prints one line and exits 0 when no engine is configured", async () => {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env=HATCHET_CLIENT_*,HATCHET_TEST_*", main],
    env: { HATCHET_CLIENT_TOKEN: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(new TextDecoder().decode(stderr), "");
  assert.equal(code, 0);
  assert.equal(
    out,
    "test:engine skipped: HATCHET_CLIENT_TOKEN is not set, so no engine is configured " +
      "(set HATCHET_CLIENT_TOKEN and HATCHET_CLIENT_HOST_PORT to run the conformance suite)\n",
  );
});

Deno.test("scenarios registry: unique names; the side-by-side timing and the restart run alone, the restart last", () => {
  const names = scenarios.map((s) => s.name);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(scenarios.filter((s) => s.exclusive).map((s) => s.name), [
    "durable wake: ours vs official SDKs",
    "engine restart",
  ]);
  for (
    const name of [
      "simple task",
      "DAG + taskOutput",
      "logs + streams order",
      "durable replay after retry",
      "50 concurrent trigger+result",
    ]
  ) {
    assert.ok(names.includes(name), name);
  }
});

Deno.test("runSuite() runs each scenario on each stack and reports pass, fail and skip with the key latency", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const env = {
    HATCHET_CLIENT_TOKEN: engine.token,
    HATCHET_CLIENT_HOST_PORT: server.hostPort,
    HATCHET_CLIENT_TLS_STRATEGY: "none",
  };
  const passes: Scenario = {
    name: "passes",
    async run(client, ctx) {
      const wf = workflow<{ n: number }>({ name: ctx.name("double") });
      wf.task({ name: "double", fn: (input) => ({ n: input.n * 2 }) });
      await ctx.startWorker([wf]);
      const result = await ctx.measure("trigger→result", async () => {
        const run = await client.runs.trigger(wf, { n: 21 });
        return await run.result({ signal: ctx.signal });
      });
      assert.deepEqual(result.outputs.double, { n: 42 });
      ctx.note(`ran as ${wf.name}`);
    },
  };
  const fails: Scenario = {
    name: "fails",
    run: () => Promise.reject(new Error("expected failure")),
  };
  const skips: Scenario = { name: "skips", exclusive: true, run: (_c, ctx) => ctx.skip("why") };
  const seen: string[] = [];
  const results = await runSuite([passes, fails, skips], {
    stacks: ["native", "node"],
    env,
    concurrency: 2,
    runId: "r1",
    onResult: (r) => seen.push(`${r.scenario}/${r.stack}`),
  });

  assert.equal(seen.length, 6);
  assert.deepEqual(seen.slice(4).sort(), ["skips/native", "skips/node"]);
  assert.deepEqual(
    results.map((r) => [r.scenario, r.stack, r.status, r.error ?? null]),
    [
      ["passes", "native", "pass", null],
      ["passes", "node", "pass", null],
      ["fails", "native", "fail", "Error: expected failure"],
      ["fails", "node", "fail", "Error: expected failure"],
      ["skips", "native", "skip", null],
      ["skips", "node", "skip", null],
    ],
  );
  assert.deepEqual(results[0].notes, ["ran as double-passes-r1-native"]);
  assert.deepEqual(results[4].notes, ["skipped: why"]);
  assert.equal(results[0].key?.label, "trigger→result");
  const table = formatTable(results, ["native", "node"]).split("\n");
  assert.equal(table.length, 5);
  assert.match(table[0], /^\| scenario +\| key step +\| native +\| node +\|$/);
  assert.match(table[2], /^\| passes +\| trigger→result +\| pass, \d+ ms +\| pass, \d+ ms +\|$/);
  assert.match(table[3], /^\| fails +\| +\| fail +\| fail +\|$/);
  assert.match(table[4], /^\| skips +\| +\| skip +\| skip +\|$/);
});
