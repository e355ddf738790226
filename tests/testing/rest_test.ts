import assert from "node:assert/strict";
import { createWorker, workflow } from "../../mod.ts";
import { type EngineListener, MockEngine } from "../../testing/mod.ts";

async function call(
  server: EngineListener,
  method: string,
  path: string,
  body?: unknown,
  token: string = server.token,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${server.restUrl}${path}`, {
    method,
    headers: {
      ...(token === "" ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

Deno.test("MockEngine REST answers every other path 501 with a JSON body naming it", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const path = `/api/v1/tenants/${engine.tenantId}/workflows`;
  assert.deepEqual(await call(server, "GET", path), {
    status: 501,
    json: { errors: [{ description: `Not implemented by the mock engine: GET ${path}` }] },
  });
  // A served path with another method is not served either.
  const cancel = `/api/v1/stable/tenants/${engine.tenantId}/tasks/cancel`;
  assert.deepEqual(await call(server, "DELETE", cancel), {
    status: 501,
    json: { errors: [{ description: `Not implemented by the mock engine: DELETE ${cancel}` }] },
  });
  assert.deepEqual(engine.rpcLog(), [
    { method: `GET ${path}`, error: "unimplemented" },
    { method: `DELETE ${cancel}`, error: "unimplemented" },
  ]);
});

Deno.test("MockEngine REST answers 401 without a token it issued and 403 for another tenant", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const path = `/api/v1/stable/tenants/${engine.tenantId}/tasks/cancel`;
  const body = { externalIds: [] };
  const unauthorized = {
    status: 401,
    json: { errors: [{ description: "Unauthorized: invalid or missing API token" }] },
  };
  assert.deepEqual(await call(server, "POST", path, body, ""), unauthorized);
  assert.deepEqual(await call(server, "POST", path, body, "not-a-token"), unauthorized);
  const other = crypto.randomUUID();
  assert.deepEqual(
    await call(server, "POST", `/api/v1/stable/tenants/${other}/tasks/cancel`, body),
    {
      status: 403,
      json: { errors: [{ description: `Forbidden: tenant ${other} is not this engine's tenant` }] },
    },
  );
  assert.deepEqual(await call(server, "POST", path, body), { status: 200, json: { ids: [] } });
});

Deno.test("MockEngine REST GET workflow-runs/{id} reports the run, created tasks and shape; /status the status", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const wf = workflow<{ n: number }>({ name: "shape" });
  const a = wf.task({ name: "a", fn: (input) => ({ n: input.n + 1 }) });
  wf.task({ name: "b", parents: [a], fn: () => ({ done: true }) });
  // Registered by a worker that then stops: the run waits in the queue.
  const first = createWorker(engine.client, { name: "first", workflows: [wf] });
  await first.start();
  await first.stop();
  const run = await engine.client.runs.trigger(wf, { n: 1 }, {
    additionalMetadata: { source: "test" },
  });

  // No worker yet: a is queued, b does not exist yet but is in the shape.
  const queued = await call(server, "GET", `/api/v1/stable/workflow-runs/${run.id}`);
  assert.equal(queued.status, 200);
  const details = queued.json as {
    run: Record<string, unknown>;
    taskEvents: unknown[];
    shape: { taskName: string; childrenStepIds: string[]; stepId: string }[];
    tasks: Record<string, unknown>[];
  };
  assert.equal(details.run.status, "QUEUED");
  assert.deepEqual(details.run.input, { n: 1 });
  assert.equal((details.run.additionalMetadata as Record<string, string>).source, "test");
  assert.equal(details.run.tenantId, engine.tenantId);
  assert.equal((details.run.metadata as { id: string }).id, run.id);
  assert.deepEqual(details.taskEvents, []);
  assert.deepEqual(details.tasks.map((t) => [t.displayName, t.status]), [["a", "QUEUED"]]);
  assert.deepEqual(details.shape.map((s) => s.taskName), ["a", "b"]);
  assert.deepEqual(details.shape[0].childrenStepIds, [details.shape[1].stepId]);
  assert.deepEqual(await call(server, "GET", `/api/v1/stable/workflow-runs/${run.id}/status`), {
    status: 200,
    json: "QUEUED",
  });

  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  await run.result();
  const done = (await call(server, "GET", `/api/v1/stable/workflow-runs/${run.id}`)).json as {
    run: Record<string, unknown>;
    tasks: Record<string, unknown>[];
  };
  assert.equal(done.run.status, "COMPLETED");
  assert.deepEqual(done.run.output, { a: { n: 2 }, b: { done: true } });
  assert.deepEqual(
    done.tasks.map((t) => [t.displayName, t.status, t.output, t.type, t.workflowRunExternalId]),
    [
      ["a", "COMPLETED", { n: 2 }, "DAG", run.id],
      ["b", "COMPLETED", { done: true }, "DAG", run.id],
    ],
  );
  for (const field of ["taskExternalId", "taskId", "taskInsertedAt", "createdAt", "tenantId"]) {
    assert.ok(done.tasks.every((t) => t[field] !== undefined), field);
  }
  assert.deepEqual(await call(server, "GET", `/api/v1/stable/workflow-runs/${run.id}/status`), {
    status: 200,
    json: "COMPLETED",
  });
  assert.deepEqual(
    await call(server, "GET", "/api/v1/stable/workflow-runs/not-a-uuid"),
    {
      status: 400,
      json: {
        errors: [{
          description: 'Invalid workflow run id: expected a UUID, received "not-a-uuid"',
        }],
      },
    },
  );
});

Deno.test("MockEngine REST POST tasks/cancel cancels by ids or by filter and answers the task ids", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const wf = workflow({ name: "to-cancel" });
  wf.task({ name: "t", fn: () => ({}) });
  const worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  await worker.stop();
  const run = await engine.client.runs.trigger(wf, {});
  const [task] = engine.taskRuns(run.id);
  const path = `/api/v1/stable/tenants/${engine.tenantId}/tasks/cancel`;
  assert.deepEqual(await call(server, "POST", path, { externalIds: [run.id] }), {
    status: 200,
    json: { ids: [task.id] },
  });
  assert.equal(engine.taskRuns(run.id)[0].status, "CANCELLED");
  // By filter (V1TaskFilter): runs created since, of these statuses, with this metadata.
  const a = await engine.client.runs.trigger(wf, {}, { additionalMetadata: { team: "a" } });
  const b = await engine.client.runs.trigger(wf, {}, { additionalMetadata: { team: "b" } });
  const byFilter = await call(server, "POST", path, {
    filter: {
      since: "2026-01-01T00:00:00Z",
      statuses: ["QUEUED"],
      additionalMetadata: ["team:a"],
    },
  });
  assert.deepEqual(byFilter, { status: 200, json: { ids: [engine.taskRuns(a.id)[0].id] } });
  assert.deepEqual(
    [engine.taskRuns(a.id)[0].status, engine.taskRuns(b.id)[0].status],
    ["CANCELLED", "QUEUED"],
  );
  assert.deepEqual(await call(server, "POST", path, { filter: { statuses: [] } }), {
    status: 400,
    json: {
      errors: [{
        description: "Invalid filter.since: expected a date-time string, received undefined",
      }],
    },
  });
});

Deno.test("MockEngine REST POST tasks/replay runs a failed run again, retry count plus one", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  let executions = 0;
  const wf = workflow({ name: "replayable" });
  const first = wf.task({
    name: "first",
    fn: () => {
      executions++;
      if (executions === 1) throw new Error("first execution fails");
      return { executions };
    },
  });
  wf.task({ name: "second", parents: [first], fn: () => ({ ok: true }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const run = await engine.client.runs.trigger(wf, {});
  await engine.settle();
  assert.deepEqual(engine.taskRuns(run.id).map((t) => [t.taskName, t.status]), [
    ["first", "FAILED"],
    ["second", "CANCELLED"],
  ]);
  const ids = engine.taskRuns(run.id).map((t) => t.id);
  const path = `/api/v1/stable/tenants/${engine.tenantId}/tasks/replay`;
  assert.deepEqual(await call(server, "POST", path, { externalIds: [run.id] }), {
    status: 200,
    json: { ids },
  });
  const result = await run.result();
  assert.deepEqual(result.outputs, { first: { executions: 2 }, second: { ok: true } });
  assert.deepEqual(engine.taskRuns(run.id).map((t) => [t.taskName, t.status, t.retryCount]), [
    ["first", "COMPLETED", 1],
    ["second", "COMPLETED", 1],
  ]);
});

Deno.test("MockEngine REST POST workflows/{name}/scheduled triggers the run at triggerAt", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const wf = workflow<{ name: string }>({ name: "Later" });
  wf.task({ name: "greet", fn: (input) => ({ hi: input.name }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const triggerAt = new Date(engine.now().getTime() + 3600_000).toISOString();
  const answer = await call(
    server,
    "POST",
    `/api/v1/tenants/${engine.tenantId}/workflows/later/scheduled`,
    { input: { name: "Ada" }, additionalMetadata: { k: "v" }, triggerAt },
  );
  assert.equal(answer.status, 200);
  const scheduled = answer.json as Record<string, unknown>;
  assert.deepEqual(
    [scheduled.workflowName, scheduled.triggerAt, scheduled.input, scheduled.method],
    ["Later", triggerAt, { name: "Ada" }, "API"],
  );
  await engine.advance("59m");
  assert.deepEqual(engine.taskRuns(), []);
  await engine.advance("1m");
  assert.deepEqual(engine.taskRuns().map((t) => [t.taskName, t.status, t.output]), [
    ["greet", "COMPLETED", { hi: "Ada" }],
  ]);
  assert.deepEqual(
    await call(server, "POST", `/api/v1/tenants/${engine.tenantId}/workflows/nope/scheduled`, {
      input: {},
      additionalMetadata: {},
      triggerAt,
    }),
    { status: 404, json: { errors: [{ description: "Workflow not found: nope" }] } },
  );
});

Deno.test("MockEngine REST PATCH workers/{id} with isPaused holds new runs until resumed", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const wf = workflow({ name: "paused" });
  wf.task({ name: "t", fn: () => ({ ran: true }) });
  await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const path = `/api/v1/workers/${worker.id}`;
  const paused = await call(server, "PATCH", path, { isPaused: true });
  assert.equal(paused.status, 200);
  assert.deepEqual(
    [
      (paused.json as Record<string, unknown>).name,
      (paused.json as Record<string, unknown>).status,
    ],
    ["w", "PAUSED"],
  );
  const run = await engine.client.runs.trigger(wf, {});
  await engine.settle();
  assert.equal(engine.taskRuns(run.id)[0].status, "QUEUED");
  const resumed = await call(server, "PATCH", path, { isPaused: false });
  assert.equal((resumed.json as Record<string, unknown>).status, "ACTIVE");
  assert.deepEqual((await run.result()).outputs, { t: { ran: true } });
});
