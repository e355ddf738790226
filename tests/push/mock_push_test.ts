import assert from "node:assert/strict";
import { createPushHandler, NonRetryableError, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { deferred, SECRET } from "./_helpers.ts";

const TRIGGER = "http://push-endpoint.invalid/hatchet/trigger";

Deno.test("MockEngine.addPushEndpoint() runs a DAG in push mode with parent outputs", async () => {
  const wf = workflow<{ amount: number }>({ name: "push-dag" });
  const validate = wf.task({
    name: "validate",
    fn: (input) => ({ ok: input.amount > 0 }),
  });
  const price = wf.task({ name: "price", fn: (input) => ({ cents: input.amount * 100 }) });
  wf.task({
    name: "charge",
    parents: [validate, price],
    fn: (_input, ctx) => ({
      charged: ctx.taskOutput(validate).ok ? ctx.taskOutput(price).cents : 0,
      attempt: ctx.attemptNumber,
    }),
  });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  await using endpoint = await engine.addPushEndpoint({ handler, signingSecret: SECRET });
  assert.deepEqual(endpoint.actions, ["push-dag:validate", "push-dag:price", "push-dag:charge"]);
  const [operator] = engine.workers();
  assert.equal(operator.id, endpoint.workerId);
  assert.equal(operator.name, "http-operator");
  assert.deepEqual(operator.actions, endpoint.actions);
  assert.deepEqual(operator.slotConfig, { default: 100 });

  const run = await engine.client.runs.trigger(wf, { amount: 7 });
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs, {
    validate: { ok: true },
    price: { cents: 700 },
    charge: { charged: 700, attempt: 1 },
  });
  const deliveries = endpoint.deliveries();
  assert.deepEqual(
    deliveries.map((d) => [d.taskName, d.status]).sort(),
    [["charge", 200], ["price", 200], ["validate", 200]],
  );
  assert.equal(deliveries.at(-1)!.taskName, "charge", "charge is delivered after its parents");
  // The handler registered the workflow itself, on the first healthcheck.
  const methods = engine.rpcLog().map((e) => e.method);
  assert.deepEqual(methods.slice(0, 2), ["PutWorkflow", "TriggerWorkflowRun"]);
  assert.equal(methods.includes("SendStepActionEvent"), false, "the operator reports in-engine");
});

Deno.test("MockEngine.addPushEndpoint() retries a failed delivery per the task's retries", async () => {
  const wf = workflow({ name: "push-retry" });
  wf.task({
    name: "flaky",
    retries: 2,
    fn: (_input, ctx) => {
      if (ctx.retryCount < 2) throw new Error(`boom ${ctx.retryCount}`);
      return { attempt: ctx.attemptNumber };
    },
  });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  await using endpoint = await engine.addPushEndpoint({ handler, signingSecret: SECRET });
  const run = await engine.client.runs.trigger(wf, {});
  const result = await run.result();
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs.flaky, { attempt: 3 });
  assert.deepEqual(
    endpoint.deliveries().map((d) => [d.retryCount, d.status, d.error]),
    [
      [0, 500, `request delivery to "${TRIGGER}" returned status 500`],
      [1, 500, `request delivery to "${TRIGGER}" returned status 500`],
      [2, 200, undefined],
    ],
  );
  assert.equal(engine.taskRuns(run.id)[0].retryCount, 2);
  // The engine keeps only the status; the error text reaches it as a log line.
  const errors = engine.logs().filter((l) => l.level === "ERROR");
  assert.deepEqual(errors.map((l) => [l.retryCount, l.message.split("\n")[0]]), [
    [0, "Error: boom 0"],
    [1, "Error: boom 1"],
  ]);
});

Deno.test("MockEngine.addPushEndpoint() fails a NonRetryableError with 422, retried as the engine does", async () => {
  const wf = workflow({ name: "push-final" });
  let calls = 0;
  wf.task({
    name: "declined",
    retries: 1,
    fn: () => {
      calls++;
      throw new NonRetryableError("Card declined");
    },
  });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  await using endpoint = await engine.addPushEndpoint({ handler, signingSecret: SECRET });
  const run = await engine.client.runs.trigger(wf, {});
  const result = await run.result();
  assert.equal(result.status, "FAILED");
  assert.equal(result.errors.declined, `request delivery to "${TRIGGER}" returned status 422`);
  // The HTTP operator reports every failure as retryable: the one retry happens.
  assert.equal(calls, 2);
  const [first] = endpoint.deliveries();
  assert.equal(first.status, 422);
  const body = JSON.parse(first.body);
  assert.equal(body.retryable, false);
  assert.match(body.error, /^NonRetryableError: Card declined/);
});

Deno.test("MockEngine.addPushEndpoint() delivers a pushed task's logs and stream chunks before its result", async () => {
  const wf = workflow<{ name: string }>({ name: "push-logs" });
  wf.task({
    name: "talk",
    fn: (input, ctx) => {
      ctx.log(`hello ${input.name}`);
      ctx.log({ step: 2 }, { level: "warn" });
      ctx.putStream("chunk-1");
      ctx.putStream("chunk-2");
      ctx.log("bye", { level: "debug" });
      return { done: true };
    },
  });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  const atResponse: number[] = [];
  await using _endpoint = await engine.addPushEndpoint({
    handler: async (request) => {
      const response = await handler(request);
      if (new URL(request.url).pathname === "/hatchet/trigger") {
        atResponse.push(engine.logs().length, engine.streamEvents(engine.taskRuns()[0].id).length);
      }
      return response;
    },
    signingSecret: SECRET,
  });
  const run = await engine.client.runs.trigger(wf, { name: "Ada" });
  assert.equal((await run.result()).status, "COMPLETED");
  assert.deepEqual(atResponse, [3, 2], "delivered before the response was returned");
  const [task] = engine.taskRuns(run.id);
  assert.deepEqual(engine.logs(task.id).map((l) => [l.message, l.level, l.retryCount]), [
    ["hello Ada", "INFO", 0],
    ['{"step":2}', "WARN", 0],
    ["bye", "DEBUG", 0],
  ]);
  const decoder = new TextDecoder();
  assert.deepEqual(engine.streamEvents(task.id).map((c) => decoder.decode(c)), [
    "chunk-1",
    "chunk-2",
  ]);
});

Deno.test("MockEngine.addPushEndpoint() polls the healthcheck on the engine clock", async () => {
  const wf = workflow({ name: "push-poll" });
  wf.task({ name: "a", fn: () => ({}) });
  await using engine = new MockEngine();
  await using pushHandler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  let polls = 0;
  const state: { advertise?: string[] } = {};
  const handler = async (request: Request): Promise<Response> => {
    if (new URL(request.url).pathname === "/hatchet/healthcheck") {
      polls++;
      assert.equal(await request.clone().text(), "{}");
      if (state.advertise) return Response.json({ actions: state.advertise });
    }
    return await pushHandler(request);
  };
  await using endpoint = await engine.addPushEndpoint({ handler, signingSecret: SECRET });
  assert.equal(polls, 1);
  await engine.advance("4s");
  assert.equal(polls, 1);
  await engine.advance("1s");
  assert.equal(polls, 2);
  await engine.advance("10s");
  assert.equal(polls, 4);
  state.advertise = [];
  await engine.advance("5s");
  assert.deepEqual(endpoint.actions, []);
  assert.deepEqual(engine.workers()[0].actions, []);
  assert.deepEqual(await endpoint.healthcheck(), []);
});

Deno.test("MockEngine.addPushEndpoint() rejects when the first healthcheck fails", async () => {
  const wf = workflow({ name: "push-bad-secret" });
  wf.task({ name: "a", fn: () => ({}) });
  await using engine = new MockEngine();
  await using handler = createPushHandler({ workflows: [wf], signingSecret: SECRET });
  await assert.rejects(
    engine.addPushEndpoint({ handler, signingSecret: "not-the-secret" }),
    {
      name: "Error",
      message:
        'Cannot add the push endpoint: healthcheck endpoint "http://push-endpoint.invalid/hatchet/healthcheck" returned status 401: {"error":"Invalid X-Hatchet-Signature: expected the hex HMAC-SHA256 of the body with the signing secret","retryable":true}',
    },
  );
  assert.equal(engine.workers()[0].live, false, "the operator's worker was taken out");
  await assert.rejects(engine.addPushEndpoint({ signingSecret: SECRET }), {
    name: "TypeError",
    message: "addPushEndpoint(): give exactly one of url and handler",
  });
  await assert.rejects(engine.addPushEndpoint({ handler, signingSecret: "" }), {
    name: "TypeError",
    message: 'addPushEndpoint(): signingSecret must be a non-empty string, received ""',
  });
});

Deno.test("A push handler whose task names a static rate limit nobody put says so in its healthcheck, and registers once it is put", async () => {
  const wf = workflow({ name: "push-needs-limit" });
  wf.task({ name: "call", rateLimits: [{ key: "llm-api" }], fn: () => ({ called: true }) });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  const refused = await engine.addPushEndpoint({ handler, signingSecret: SECRET }).then(
    () => undefined,
    (err: Error) => err.message,
  );
  // The engine quotes the start of the 503's JSON body.
  assert.ok(
    refused?.includes(
      'returned status 503: {"error":"Could not register the workflows: PutWorkflow \\"push-needs-limit\\" failed with internal 3 times; its tasks name the static rate limit(s) \\"llm-api\\"',
    ),
    refused,
  );
  // A failed registration is tried again on the next healthcheck.
  await engine.client.rateLimits.put("llm-api", 10, "minute");
  await using _endpoint = await engine.addPushEndpoint({ handler, signingSecret: SECRET });
  const run = await engine.client.runs.trigger(wf, {});
  assert.deepEqual((await run.result()).outputs, { call: { called: true } });
});

Deno.test("MockEngine.addPushEndpoint() aborts the request of a cancelled task run", async () => {
  const wf = workflow({ name: "push-cancel" });
  const started = deferred();
  const aborted = deferred<unknown>();
  wf.task({
    name: "slow",
    fn: async (_input, ctx) => {
      started.resolve();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      aborted.resolve(ctx.signal.reason);
      return {};
    },
  });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  await using endpoint = await engine.addPushEndpoint({ handler, signingSecret: SECRET });
  const run = await engine.client.runs.trigger(wf, {});
  await started.promise;
  const [task] = engine.taskRuns(run.id);
  await engine.client.runs.cancel([task.id]);
  assert.equal(((await aborted.promise) as Error).name, "TaskCancelledError");
  assert.equal((await run.result()).status, "CANCELLED");
  await engine.settle();
  assert.deepEqual(endpoint.deliveries().map((d) => [d.taskName, d.cancelled]), [["slow", true]]);
});

Deno.test("MockEngine.addPushEndpoint() times a pushed task out on the virtual clock", async () => {
  const wf = workflow({ name: "push-timeout" });
  const started = deferred();
  wf.task({
    name: "stuck",
    executionTimeout: "10s",
    fn: async (_input, ctx) => {
      started.resolve();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      return {};
    },
  });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  await using _endpoint = await engine.addPushEndpoint({
    handler,
    signingSecret: SECRET,
    healthcheckInterval: "1h",
  });
  const run = await engine.client.runs.trigger(wf, {});
  await started.promise;
  await engine.advance("11s");
  const result = await run.result();
  assert.equal(result.status, "FAILED");
  assert.equal(result.errors.stuck, "Task exceeded timeout of 10s");
});

Deno.test("MockEngine.addPushEndpoint() fails a delivery that outlives requestTimeout", async () => {
  const wf = workflow({ name: "push-request-timeout" });
  const started = deferred();
  wf.task({
    name: "long",
    executionTimeout: "5m",
    fn: async (_input, ctx) => {
      started.resolve();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      return {};
    },
  });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  await using _endpoint = await engine.addPushEndpoint({
    handler,
    signingSecret: SECRET,
    requestTimeout: "30s",
    healthcheckInterval: "1h",
  });
  const run = await engine.client.runs.trigger(wf, {});
  await started.promise;
  await engine.advance("31s");
  const result = await run.result();
  assert.equal(result.status, "FAILED");
  assert.equal(
    result.errors.long,
    `could not deliver request to "${TRIGGER}": context deadline exceeded`,
  );
});

Deno.test("PushEndpoint.remove() stops routing tasks to the endpoint", async () => {
  const wf = workflow({ name: "push-remove" });
  wf.task({ name: "a", fn: () => ({ n: 1 }) });
  await using engine = new MockEngine();
  await using handler = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    client: engine.client,
  });
  const endpoint = await engine.addPushEndpoint({ handler, signingSecret: SECRET });
  const first = await engine.client.runs.trigger(wf, {});
  assert.equal((await first.result()).status, "COMPLETED");
  await endpoint.remove();
  await endpoint.remove();
  const second = await engine.client.runs.trigger(wf, {});
  await engine.settle();
  assert.deepEqual(engine.taskRuns(second.id).map((t) => t.status), ["QUEUED"]);
  assert.equal(endpoint.deliveries().length, 1);
});
