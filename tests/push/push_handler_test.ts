import assert from "node:assert/strict";
import {
  type Context,
  createPushHandler,
  NonRetryableError,
  TaskCancelledError,
  workflow,
} from "../../mod.ts";
import { parseAction } from "../../worker/push_handler.ts";
import { actionJson, deferred, pushRequest } from "./_helpers.ts";

const SECRET = "test-signing-secret";

Deno.test("parseAction() reads protojson camelCase names and defaults omitted fields", () => {
  const action = parseAction({
    taskRunExternalId: "tr",
    actionId: "wf:t",
    actionPayload: "{}",
    additionalMetadata: '{"a":1}',
    childWorkflowIndex: 2,
    triggeringEventExternalId: "ev",
  });
  assert.equal(action.actionType, "START_STEP_RUN");
  assert.equal(action.retryCount, 0);
  assert.equal(action.priority, 0);
  assert.equal(action.tenantId, "");
  assert.equal(action.additionalMetadata, '{"a":1}');
  assert.equal(action.childWorkflowIndex, 2);
  assert.equal(action.triggeringEventExternalId, "ev");
  assert.equal(action.workflowId, undefined);
});

Deno.test("parseAction() also reads snake_case names, integer strings and enum numbers", () => {
  const action = parseAction({
    task_run_external_id: "tr",
    action_id: "wf:t",
    action_type: 1,
    retry_count: "3",
    workflow_version_id: "v",
  });
  assert.equal(action.taskRunExternalId, "tr");
  assert.equal(action.actionType, "CANCEL_STEP_RUN");
  assert.equal(action.retryCount, 3);
  assert.equal(action.workflowVersionId, "v");
});

Deno.test("parseAction() throws TypeError naming the field at fault", () => {
  assert.throws(() => parseAction([]), {
    name: "TypeError",
    message: "expected an AssignedAction JSON object, received an array",
  });
  assert.throws(() => parseAction({ actionId: "a" }), {
    name: "TypeError",
    message: '"taskRunExternalId" is missing',
  });
  assert.throws(() => parseAction({ taskRunExternalId: "t", actionId: "a", retryCount: 1.5 }), {
    name: "TypeError",
    message: '"retryCount" must be an integer, received 1.5',
  });
  assert.throws(
    () => parseAction({ taskRunExternalId: "t", actionId: "a", actionType: "START" }),
    {
      name: "TypeError",
      message:
        '"actionType" must be one of START_STEP_RUN, CANCEL_STEP_RUN, START_GET_GROUP_KEY, START_BATCH, received "START"',
    },
  );
  assert.throws(() => parseAction({ taskRunExternalId: 5, actionId: "a" }), {
    name: "TypeError",
    message: '"taskRunExternalId" must be a string, received a number',
  });
});

Deno.test("createPushHandler() gives the task the same Context a worker gives", async () => {
  const wf = workflow<{ n: number }>({ name: "ctx-wf" });
  const first = wf.task({ name: "first", fn: () => ({ v: 1 }) });
  const skipped = wf.task({ name: "skipped", fn: () => ({}) });
  let seen: Context<{ n: number }> | undefined;
  wf.task({
    name: "check",
    parents: [first, skipped],
    fn: (_input, ctx) => {
      seen = ctx;
      return { v: ctx.taskOutput(first).v + 1, skipped: ctx.wasSkipped(skipped) };
    },
  });
  await using h = createPushHandler({ workflows: [wf], signingSecret: SECRET });
  const body = actionJson({
    actionId: "ctx-wf:check",
    taskName: "check",
    retryCount: 2,
    additionalMetadata: '{"source":"test"}',
    workflowId: "wid",
    triggeringEventExternalId: "ev-1",
    actionPayload: JSON.stringify({
      input: { n: 5 },
      parents: { first: { v: 1 }, skipped: { skipped: true } },
    }),
  });
  const response = await h(await pushRequest("/hatchet/trigger", body));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { v: 2, skipped: true });
  assert.ok(seen);
  assert.deepEqual(seen.input, { n: 5 });
  assert.equal(seen.taskName, "check");
  assert.equal(seen.taskRunId, "7a1f8c7e-0000-4000-8000-000000000004");
  assert.equal(seen.workflowRunId, "7a1f8c7e-0000-4000-8000-000000000002");
  assert.equal(seen.retryCount, 2);
  assert.equal(seen.attemptNumber, 3);
  assert.deepEqual(seen.additionalMetadata, { source: "test" });
  assert.equal(seen.priority, 1);
  assert.equal(seen.workflowId, "wid");
  assert.equal(seen.wasTriggeredByEvent, true);
  assert.equal(seen.workerId, "");
  assert.equal(seen.done(), false);
});

Deno.test("createPushHandler() answers {} for a task without output", async () => {
  const wf = workflow({ name: "empty-out" });
  wf.task({ name: "t", fn: () => {} });
  await using h = createPushHandler({ workflows: [wf], signingSecret: SECRET });
  const response = await h(
    await pushRequest("/hatchet/trigger", actionJson({ actionId: "empty-out:t", taskName: "t" })),
  );
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "{}");
});

Deno.test("createPushHandler() maps NonRetryableError to 422 and other errors to 500", async () => {
  const wf = workflow({ name: "fails" });
  wf.task({
    name: "final",
    fn: () => {
      throw new NonRetryableError("Card declined");
    },
  });
  wf.task({
    name: "flaky",
    fn: () => {
      throw new Error("Network hiccup");
    },
  });
  wf.task({ name: "bad-output", fn: () => ["not", "an", "object"] as never });
  await using h = createPushHandler({ workflows: [wf], signingSecret: SECRET });
  const send = async (task: string) =>
    await h(
      await pushRequest(
        "/hatchet/trigger",
        actionJson({ actionId: `fails:${task}`, taskName: task }),
      ),
    );

  const final = await send("final");
  assert.equal(final.status, 422);
  const finalBody = await final.json();
  assert.equal(finalBody.retryable, false);
  assert.match(finalBody.error, /^NonRetryableError: Card declined\n\s+at /);

  const flaky = await send("flaky");
  assert.equal(flaky.status, 500);
  const flakyBody = await flaky.json();
  assert.equal(flakyBody.retryable, true);
  assert.match(flakyBody.error, /^Error: Network hiccup\n/);

  const bad = await send("bad-output");
  assert.equal(bad.status, 500);
  assert.deepEqual(await bad.json(), {
    error: 'Task "bad-output" must return a JSON object or nothing, received an array',
    retryable: true,
  });
});

Deno.test("createPushHandler() answers 404 for an action it does not run and 400 for other action types", async () => {
  const wf = workflow({ name: "known" });
  wf.task({ name: "t", fn: () => ({}) });
  await using h = createPushHandler({ workflows: [wf], signingSecret: SECRET });
  const unknown = await h(
    await pushRequest("/hatchet/trigger", actionJson({ actionId: "other:t" })),
  );
  assert.equal(unknown.status, 404);
  assert.equal(
    (await unknown.json()).error,
    'No task for action id "other:t": this handler runs "known:t"',
  );
  const cancel = await h(
    await pushRequest(
      "/hatchet/trigger",
      actionJson({ actionId: "known:t", actionType: "CANCEL_STEP_RUN" }),
    ),
  );
  assert.equal(cancel.status, 400);
  assert.equal(
    (await cancel.json()).error,
    'Unsupported action type CANCEL_STEP_RUN for task run "7a1f8c7e-0000-4000-8000-000000000004": a push handler runs START_STEP_RUN only',
  );
  const payload = await h(
    await pushRequest(
      "/hatchet/trigger",
      actionJson({ actionId: "known:t", actionPayload: "[1]" }),
    ),
  );
  assert.equal(payload.status, 400);
  assert.equal(
    (await payload.json()).error,
    'Malformed action payload for task run "7a1f8c7e-0000-4000-8000-000000000004": expected a JSON object, received an array',
  );
});

Deno.test("createPushHandler() without a client fails the context calls that need the engine", async () => {
  const wf = workflow({ name: "no-client" });
  const errors: string[] = [];
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      await ctx.log("dropped"); // no raiseOnError: settles quietly
      for (
        const call of [
          () => ctx.log("x", { raiseOnError: true }),
          () => ctx.refreshTimeout("10s"),
          () => ctx.releaseSlot(),
          () => ctx.cancel(),
        ]
      ) {
        await call().catch((err: Error) => errors.push(err.message));
      }
      return { ok: true };
    },
  });
  await using h = createPushHandler({ workflows: [wf], signingSecret: SECRET });
  const response = await h(
    await pushRequest("/hatchet/trigger", actionJson({ actionId: "no-client:t", taskName: "t" })),
  );
  assert.deepEqual(await response.json(), { ok: true });
  const hint = "in push mode without a client: pass createPushHandler({ client: createClient() })";
  assert.deepEqual(errors, [
    `Cannot send a log line ${hint}`,
    `Cannot refresh the timeout ${hint}`,
    `Cannot release the slot ${hint}`,
    `Cannot cancel the task run ${hint}`,
  ]);
});

Deno.test("createPushHandler() rejects durable tasks: durable waits are not supported in push mode", () => {
  const wf = workflow({ name: "durable-wf" });
  wf.task({ name: "plain", fn: () => ({}) });
  wf.durableTask({
    name: "waits",
    fn: async (_input, ctx) => {
      await ctx.sleepFor("1h");
      return {};
    },
  });
  assert.throws(() => createPushHandler({ workflows: [wf], signingSecret: SECRET }), {
    name: "TypeError",
    message:
      'createPushHandler(): task "waits" of workflow "durable-wf" is durable, and durable waits are not supported in push mode: run it on a worker (createWorker)',
  });
});

Deno.test("createPushHandler() throws TypeError for bad options, quoting the value", () => {
  const wf = workflow({ name: "opts" });
  wf.task({ name: "t", fn: () => ({}) });
  assert.throws(() => createPushHandler({ workflows: [wf], signingSecret: "" }), {
    name: "TypeError",
    message: 'createPushHandler(): signingSecret must be a non-empty string, received ""',
  });
  assert.throws(() => createPushHandler({ workflows: [], signingSecret: "s" }), {
    name: "TypeError",
    message: "createPushHandler(): workflows must be a non-empty array, received []",
  });
  assert.throws(
    () => createPushHandler({ workflows: [wf], signingSecret: "s", paths: { trigger: "x" } }),
    {
      name: "TypeError",
      message: 'createPushHandler(): paths.trigger must be a path starting with "/", received "x"',
    },
  );
  assert.throws(
    () =>
      createPushHandler({
        workflows: [wf],
        signingSecret: "s",
        paths: { trigger: "/h", healthcheck: "/h" },
      }),
    {
      name: "TypeError",
      message:
        'createPushHandler(): paths.trigger and paths.healthcheck must differ, both are "/h"',
    },
  );
  assert.throws(
    () => createPushHandler({ workflows: [wf], signingSecret: "s", client: {} as never }),
    {
      name: "TypeError",
      message:
        "Expected a HatchetClient from createClient() or MockEngine.client, received another object",
    },
  );
});

Deno.test("createPushHandler() serves custom paths and namespaced action ids", async () => {
  const wf = workflow({ name: "Orders" });
  wf.task({ name: "charge", fn: () => ({}) });
  await using h = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    namespace: "Dev",
    paths: { trigger: "/run", healthcheck: "/health" },
  });
  assert.deepEqual(h.actions, ["dev_orders:charge"]);
  const response = await h(await pushRequest("/health", "{}"));
  assert.deepEqual(await response.json(), { actions: ["dev_orders:charge"] });
  const old = await h(await pushRequest("/hatchet/healthcheck", "{}"));
  assert.equal(old.status, 404);
  await old.body?.cancel();
});

Deno.test("createPushHandler() starts the lifespan once and cleans it up on close()", async () => {
  const events: string[] = [];
  const wf = workflow({ name: "life" });
  wf.task({ name: "t", fn: (_input, ctx) => ({ db: ctx.lifespan as string }) });
  const h = createPushHandler({
    workflows: [wf],
    signingSecret: SECRET,
    lifespan: async function* () {
      events.push("start");
      yield "db-1";
      events.push("cleanup");
    },
  });
  const body = actionJson({ actionId: "life:t", taskName: "t" });
  const health = await h(await pushRequest("/hatchet/healthcheck", "{}"));
  await health.body?.cancel();
  assert.deepEqual(events, [], "the healthcheck does not start the lifespan");
  const [a, b] = await Promise.all([
    h(await pushRequest("/hatchet/trigger", body)),
    h(await pushRequest("/hatchet/trigger", body)),
  ]);
  assert.deepEqual(await a.json(), { db: "db-1" });
  assert.deepEqual(await b.json(), { db: "db-1" });
  assert.deepEqual(events, ["start"]);
  await h.close();
  assert.deepEqual(events, ["start", "cleanup"]);
  const after = await h(await pushRequest("/hatchet/trigger", body));
  assert.equal(after.status, 503);
  assert.equal((await after.json()).error, "The push handler is closed");
});

Deno.test("createPushHandler() aborts ctx.signal with TaskCancelledError when the request is aborted", async () => {
  const wf = workflow({ name: "abort" });
  const started = deferred();
  let reason: unknown;
  wf.task({
    name: "t",
    fn: async (_input, ctx) => {
      started.resolve();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      reason = ctx.signal.reason;
      throw reason;
    },
  });
  await using h = createPushHandler({ workflows: [wf], signingSecret: SECRET });
  const controller = new AbortController();
  const pending = h(
    await pushRequest("/hatchet/trigger", actionJson({ actionId: "abort:t", taskName: "t" }), {
      signal: controller.signal,
    }),
  );
  await started.promise;
  controller.abort();
  const response = await pending;
  assert.equal(response.status, 500);
  await response.body?.cancel();
  assert.ok(reason instanceof TaskCancelledError);
  assert.equal(reason.source, "engine");
  assert.equal(
    reason.message,
    "Task run was cancelled by the engine: the engine closed the request",
  );
});

Deno.test("worker/push_handler.ts loads no node: or npm: module (deno info)", async () => {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "worker/push_handler.ts"],
    cwd: new URL("../../", import.meta.url),
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  const info = JSON.parse(new TextDecoder().decode(stdout));
  const specifiers: string[] = info.modules.map((m: { specifier: string }) => m.specifier);
  assert.ok(specifiers.some((s) => s.endsWith("/worker/push_handler.ts")));
  assert.deepEqual(specifiers.filter((s) => !s.startsWith("file://")), []);
});
