// The demo under Deno's built-in OpenTelemetry (OTEL_DENO=true), exporting OTLP/HTTP JSON to a
// receiver this test runs on 127.0.0.1: each order is one trace, with its task spans inside.

import assert from "node:assert/strict";

interface OtlpSpan {
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  startTimeUnixNano: string;
  status: { code?: number };
  attributes: Record<string, unknown>;
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}

function spansOf(body: unknown): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  // deno-lint-ignore no-explicit-any
  for (const resource of (body as any).resourceSpans ?? []) {
    for (const scopeSpans of resource.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        const attributes: Record<string, unknown> = {};
        for (const { key, value } of (span.attributes ?? []) as OtlpAttribute[]) {
          attributes[key] = Object.values(value)[0];
        }
        out.push({ ...span, scope: scopeSpans.scope?.name ?? "", attributes });
      }
    }
  }
  return out;
}

async function exportedSpans(program: string): Promise<OtlpSpan[]> {
  const bodies: unknown[] = [];
  await using receiver = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const body = await req.json();
      if (new URL(req.url).pathname === "/v1/traces") bodies.push(body);
      return Response.json({});
    },
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", program],
    cwd: new URL("../../", import.meta.url),
    stdout: "null",
    stderr: "piped",
    env: {
      NO_COLOR: "1",
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return bodies.flatMap(spansOf);
}

Deno.test("With OTEL_DENO=true over real gRPC, Deno's fetch spans nest below the trigger and task spans, and never become their parents", async () => {
  const spans = await exportedSpans("tests/observability/_traced_program.ts");
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const ours = spans.filter((s) => s.scope === "@hatchet-deno/sdk");
  const triggers = ours.filter((s) => s.name === "runs.trigger over-grpc");
  assert.equal(triggers.length, 2);
  for (const trigger of triggers) {
    assert.equal(trigger.parentSpanId, "", "a trigger from top-level code is a root span");
    const children = spans.filter((s) => s.parentSpanId === trigger.spanId);
    const below = children.map((s) =>
      s.scope === "@hatchet-deno/sdk" ? s.name : s.attributes["url.full"]
    );
    assert.equal(children.length, 2, JSON.stringify(below));
    assert.ok(below.includes("logger"), JSON.stringify(below));
    assert.ok(
      below.some((u) => String(u).endsWith("/v1.AdminService/TriggerWorkflowRun")),
      JSON.stringify(below),
    );
    const task = children.find((s) => s.name === "logger")!;
    const inTask = spans.filter((s) => s.parentSpanId === task.spanId)
      .map((s) => String(s.attributes["url.full"]));
    assert.ok(inTask.some((u) => u.endsWith("/EventsService/PutLog")), JSON.stringify(inTask));
  }
  // No span of ours hangs below a span of Deno's own.
  for (const span of ours) {
    const parent = byId.get(span.parentSpanId);
    assert.ok(parent === undefined || parent.scope === "@hatchet-deno/sdk", span.name);
  }
});

Deno.test("examples/demo.ts with OTEL_DENO=true exports one trace per order with its task spans inside", async () => {
  const bodies: unknown[] = [];
  const paths: string[] = [];
  await using receiver = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      paths.push(`${req.method} ${path} ${req.headers.get("content-type")}`);
      const body = await req.json();
      if (path === "/v1/traces") bodies.push(body);
      return Response.json({});
    },
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "examples/demo.ts"],
    cwd: new URL("../../", import.meta.url),
    stdout: "null",
    stderr: "piped",
    env: {
      NO_COLOR: "1",
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "hatchet-demo",
    },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.ok(paths.includes("POST /v1/traces application/json"), paths.join("\n"));

  const spans = bodies.flatMap(spansOf).filter((s) => s.scope === "@hatchet-deno/sdk");
  const triggers = spans.filter((s) => s.name === "runs.trigger demo-order")
    .sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
  assert.equal(triggers.length, 4);
  assert.equal(new Set(triggers.map((t) => t.traceId)).size, 4, "one trace per order");
  for (const trigger of triggers) assert.equal(trigger.parentSpanId, "");

  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const orders: Record<string, string[]> = {};
  triggers.forEach((trigger, i) => {
    const runId = trigger.attributes["hatchet.workflow_run_id"];
    const inTrace = spans.filter((s) => s.traceId === trigger.traceId && s !== trigger);
    for (const span of inTrace) {
      // Every span of the trace hangs below the trigger.
      let parent = byId.get(span.parentSpanId);
      while (parent !== undefined && parent !== trigger) parent = byId.get(parent.parentSpanId);
      assert.equal(parent, trigger, `${span.name} hangs below the trigger`);
      if (span.name.startsWith("waitFor ")) continue;
      if (span.name === "send-notice") {
        // The child's task hangs below the spawn span of ship, in its own run.
        const spawn = byId.get(span.parentSpanId)!;
        assert.equal(spawn.name, "spawn notify-customer");
        assert.equal(byId.get(spawn.parentSpanId)?.name, "ship");
        assert.equal(
          span.attributes["hatchet.workflow_run_id"],
          spawn.attributes["hatchet.workflow_run_id"],
        );
        assert.notEqual(span.attributes["hatchet.workflow_run_id"], runId);
      } else if (span.name !== "spawn notify-customer") {
        assert.equal(span.attributes["hatchet.workflow_run_id"], runId);
      }
    }
    orders[`o-${i + 1}`] = inTrace.map((s) => s.name).sort();
  });
  const shipped = ["send-notice", "ship", "spawn notify-customer"];
  assert.deepEqual(orders, {
    "o-1": ["charge", "review", ...shipped, "validate", "waitFor approval"],
    "o-2": ["charge", ...shipped, "validate"],
    "o-3": ["charge", "notify-failure", "validate"],
    "o-4": ["charge", "review", ...shipped, "validate", "waitFor approval"],
  });
  const failedCharge = spans.find((s) => s.traceId === triggers[2].traceId && s.name === "charge")!;
  assert.equal(failedCharge.status.code, 2, "the declined charge is an error span");
  assert.equal(failedCharge.attributes["hatchet.outcome"], "failed");
});
