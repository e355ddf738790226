import assert from "node:assert/strict";
import { createClient, createWorker, type DurableContext, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { resolveHealthcheck } from "../../observability/healthcheck.ts";
import { recordingLogger } from "../worker/_helpers.ts";

const LOOPBACK = { port: 0, hostname: "127.0.0.1" };

/** One Prometheus text exposition, checked line by line: samples by `name{labels}`. */
function parseMetrics(text: string): Map<string, number> {
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  const sample =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$/;
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === "TYPE") {
        assert.ok(["counter", "gauge", "histogram"].includes(meta[3]), line);
        assert.ok(!types.has(meta[2]), `one TYPE line for ${meta[2]}`);
        types.set(meta[2], meta[3]);
      }
      continue;
    }
    const m = sample.exec(line);
    assert.ok(m !== null, `a valid sample line: ${JSON.stringify(line)}`);
    const [, name, labels = "", value] = m;
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(types.has(family), `${name} has a TYPE line before it`);
    if (types.get(family) === "counter") assert.ok(name.endsWith("_total"), name);
    const number = value === "+Inf" ? Infinity : Number(value);
    assert.ok(!Number.isNaN(number), `${line}: a number`);
    assert.ok(!samples.has(name + labels), `no repeated series ${name}${labels}`);
    samples.set(name + labels, number);
  }
  // Histogram buckets are cumulative and end at +Inf with the count.
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, number[]>();
    for (const [key, value] of samples) {
      const b = new RegExp(`^${family}_bucket\\{(.*),le="([^"]+)"\\}$`).exec(key);
      if (b !== null) series.set(b[1], [...series.get(b[1]) ?? [], value]);
    }
    for (const [labels, counts] of series) {
      assert.deepEqual(counts, [...counts].sort((a, b) => a - b), `${labels} buckets cumulative`);
      assert.equal(counts.at(-1), samples.get(`${family}_count{${labels}}`));
    }
  }
  return samples;
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

Deno.test("Worker /health answers 503 while the engine is down and 200 again after the action stream reconnects", async () => {
  await using engine = new MockEngine();
  const first = await engine.listen();
  await using client = createClient({
    token: engine.token,
    hostPort: first.hostPort,
    tls: "none",
    env: {},
  });
  const wf = workflow({ name: "probe" });
  wf.task({ name: "t", fn: () => ({ ok: true }) });
  const rec = recordingLogger();
  await using worker = createWorker(client, {
    name: "probed",
    workflows: [wf],
    healthcheck: LOOPBACK,
    heartbeatInterval: "200ms",
    logger: rec.logger,
  });
  await worker.start();
  const port = worker.healthcheckPort!;
  const up = await get(port, "/health");
  assert.deepEqual([up.status, JSON.parse(up.body)], [200, {
    status: "HEALTHY",
    state: "running",
  }]);

  await first.close();
  await rec.waitFor(/reconnecting the action stream/);
  const down = await get(port, "/health");
  assert.deepEqual([down.status, JSON.parse(down.body)], [503, {
    status: "UNHEALTHY",
    state: "running",
  }]);
  assert.equal(
    parseMetrics((await get(port, "/metrics")).body).get("hatchet_worker_action_stream_up"),
    0,
  );

  await using second = await engine.listen({ port: Number(first.hostPort.split(":")[1]) });
  assert.equal(second.hostPort, first.hostPort);
  // The worker reconnects on its own backoff timer: poll until it reports healthy again.
  const giveUpAt = Date.now() + 60_000;
  while ((await get(port, "/health")).status !== 200) {
    assert.ok(
      Date.now() < giveUpAt,
      "the worker never reported healthy after the engine came back",
    );
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const metrics = parseMetrics((await get(port, "/metrics")).body);
  assert.equal(metrics.get("hatchet_worker_action_stream_up"), 1);
  assert.ok(metrics.get("hatchet_worker_action_stream_reconnects_total")! >= 1);
  // And it takes work again over the new connection.
  const run = await client.runs.trigger(wf, {});
  assert.deepEqual((await run.result()).outputs.t, { ok: true });

  await worker.stop();
  await assert.rejects(get(port, "/health"), TypeError, "the server stopped with the worker");
});

Deno.test("Worker /metrics counts tasks, slots in use, pending waits, dropped log lines and RPC latency", async () => {
  await using engine = new MockEngine({ version: "v0.79.0" }); // the legacy path: its durable RPC is unary
  const gate = Promise.withResolvers<void>();
  const running = Promise.withResolvers<void>();
  const wf = workflow({ name: "counted" });
  wf.task({
    name: "blocker",
    fn: async (_input, ctx) => {
      running.resolve();
      await gate.promise;
      await ctx.log("lost line").catch(() => {});
      return {};
    },
  });
  wf.task({
    name: "broken",
    fn: () => {
      throw new Error("nope");
    },
  });
  wf.durableTask({
    name: "napper",
    executionTimeout: "2h",
    fn: async (_input, ctx: DurableContext) => {
      await ctx.sleepFor("1h");
      return {};
    },
  });
  const rec = recordingLogger();
  await using worker = createWorker(engine.client, {
    name: "counter",
    workflows: [wf],
    slots: 5,
    durableSlots: 7,
    healthcheck: LOOPBACK,
    logger: rec.logger,
  });
  await worker.start();
  const port = worker.healthcheckPort!;
  const before = parseMetrics((await get(port, "/metrics")).body);
  assert.equal(before.get("hatchet_worker_tasks_started_total"), 0);

  const run = await engine.client.runs.trigger(wf, {});
  await running.promise;
  await engine.settle();
  const during = parseMetrics((await get(port, "/metrics")).body);
  assert.deepEqual(
    [
      'hatchet_worker_slots{kind="default"}',
      'hatchet_worker_slots{kind="durable"}',
      'hatchet_worker_slots_in_use{kind="default"}',
      'hatchet_worker_slots_in_use{kind="durable"}',
      "hatchet_worker_durable_waits_pending",
      "hatchet_worker_tasks_started_total",
      "hatchet_worker_tasks_failed_total",
      "hatchet_worker_action_stream_up",
    ].map((key) => [key, during.get(key)]),
    [
      ['hatchet_worker_slots{kind="default"}', 5],
      ['hatchet_worker_slots{kind="durable"}', 7],
      ['hatchet_worker_slots_in_use{kind="default"}', 1],
      ['hatchet_worker_slots_in_use{kind="durable"}', 1],
      ["hatchet_worker_durable_waits_pending", 1],
      ["hatchet_worker_tasks_started_total", 3],
      ["hatchet_worker_tasks_failed_total", 1],
      ["hatchet_worker_action_stream_up", 1],
    ],
  );

  engine.faults.failNext("PutLog", "invalid_argument");
  gate.resolve();
  await engine.advance("1h");
  assert.equal((await run.result()).status, "FAILED");
  const after = parseMetrics((await get(port, "/metrics")).body);
  assert.deepEqual(
    [
      after.get('hatchet_worker_slots_in_use{kind="default"}'),
      after.get('hatchet_worker_slots_in_use{kind="durable"}'),
      after.get("hatchet_worker_durable_waits_pending"),
      after.get("hatchet_worker_tasks_started_total"),
      after.get("hatchet_worker_tasks_completed_total"),
      after.get("hatchet_worker_tasks_failed_total"),
      after.get("hatchet_worker_log_lines_dropped_total"),
      after.get("hatchet_worker_durable_evictions_total"),
      after.get("hatchet_worker_action_stream_reconnects_total"),
    ],
    [0, 0, 0, 3, 2, 1, 1, 0, 0],
  );
  // Three results (and three STARTED events) went out: the latency histogram saw each.
  const sent = 'hatchet_worker_rpc_duration_seconds_count{method="Dispatcher.sendStepActionEvent"}';
  assert.equal(after.get(sent), 6);
  assert.ok(
    after.get(
      'hatchet_worker_rpc_duration_seconds_count{method="Durable.registerDurableEvent"}',
    ) === 1,
  );
});

Deno.test("Worker serves /metrics as Prometheus text and answers 404 and 405 elsewhere", async () => {
  await using engine = new MockEngine();
  const wf = workflow({ name: "plain" });
  wf.task({ name: "t", fn: () => ({}) });
  await using worker = createWorker(engine.client, {
    name: "w",
    workflows: [wf],
    healthcheck: LOOPBACK,
  });
  await worker.start();
  const res = await fetch(`http://127.0.0.1:${worker.healthcheckPort}/metrics`);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const names = [...parseMetrics(await res.text()).keys()].filter((k) => !k.includes("rpc_"));
  assert.deepEqual(names, [
    'hatchet_worker_slots{kind="default"}',
    'hatchet_worker_slots{kind="durable"}',
    'hatchet_worker_slots_in_use{kind="default"}',
    'hatchet_worker_slots_in_use{kind="durable"}',
    "hatchet_worker_action_stream_up",
    "hatchet_worker_tasks_started_total",
    "hatchet_worker_tasks_completed_total",
    "hatchet_worker_tasks_failed_total",
    "hatchet_worker_durable_waits_pending",
    "hatchet_worker_durable_evictions_total",
    "hatchet_worker_action_stream_reconnects_total",
    "hatchet_worker_log_lines_dropped_total",
  ]);
  assert.equal((await get(worker.healthcheckPort!, "/nope")).status, 404);
  const post = await fetch(`http://127.0.0.1:${worker.healthcheckPort}/health`, { method: "POST" });
  await post.body?.cancel();
  assert.equal(post.status, 405);
});

Deno.test("resolveHealthcheck() reads the official SDKs' HATCHET_CLIENT_WORKER_HEALTHCHECK_* variables", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(resolveHealthcheck(undefined, env({}), "W"), undefined);
  assert.equal(
    resolveHealthcheck(undefined, env({ HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED: "false" }), "W"),
    undefined,
  );
  assert.deepEqual(
    resolveHealthcheck(undefined, env({ HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED: "true" }), "W"),
    { port: 8001, hostname: "0.0.0.0" },
  );
  assert.deepEqual(
    resolveHealthcheck(
      undefined,
      env({
        HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED: "True",
        HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT: "9102",
        HATCHET_CLIENT_WORKER_HEALTHCHECK_BIND_ADDRESS: "127.0.0.1",
      }),
      "W",
    ),
    { port: 9102, hostname: "127.0.0.1" },
  );
  // The option wins over the environment; false turns the server off.
  const on = env({ HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED: "1" });
  assert.equal(resolveHealthcheck(false, on, "W"), undefined);
  assert.deepEqual(resolveHealthcheck({ port: 9000 }, on, "W"), {
    port: 9000,
    hostname: "0.0.0.0",
  });
  assert.throws(
    () =>
      resolveHealthcheck(
        undefined,
        env({
          HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED: "true",
          HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT: "eighty",
        }),
        "W",
      ),
    new RangeError(
      'W: HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT must be an integer from 0 to 65535, received "eighty"',
    ),
  );
});

Deno.test("createWorker() throws for a bad healthcheck option, naming the value", async () => {
  const wf = workflow({ name: "x" });
  wf.task({ name: "t", fn: () => ({}) });
  await using engine = new MockEngine();
  assert.throws(
    () =>
      createWorker(engine.client, { name: "w", workflows: [wf], healthcheck: { port: 70_000 } }),
    new RangeError(
      'Worker "w": healthcheck.port must be an integer from 0 to 65535, received 70000',
    ),
  );
  assert.throws(
    () =>
      createWorker(engine.client, {
        name: "w",
        workflows: [wf],
        healthcheck: { hostname: "" },
      }),
    new TypeError('Worker "w": healthcheck.hostname must be a non-empty string, received ""'),
  );
});
