import assert from "node:assert/strict";
import { parseAssignment } from "../../context/parse_assignment.ts";
import type { AssignedActionData } from "../../transport/ports.ts";

function action(overrides: Partial<AssignedActionData> = {}): AssignedActionData {
  return {
    tenantId: "tenant",
    workflowRunId: "wr-1",
    jobId: "step-1",
    jobName: "charge",
    jobRunId: "tr-1",
    taskId: "step-1",
    taskRunExternalId: "tr-1",
    actionId: "orders:charge",
    actionType: "START_STEP_RUN",
    actionPayload: JSON.stringify({
      input: { amount: 5 },
      triggered_by: "manual",
      parents: { validate: { ok: true }, skippedOne: { skipped: true } },
      triggers: { filter_payload: null },
      user_data: null,
      overrides: null,
    }),
    taskName: "charge",
    retryCount: 2,
    additionalMetadata: undefined,
    childWorkflowIndex: undefined,
    childWorkflowKey: undefined,
    parentWorkflowRunId: undefined,
    priority: 1,
    workflowId: "wf-id",
    workflowVersionId: "wfv-id",
    durableTaskInvocationCount: undefined,
    triggeringEventExternalId: undefined,
    triggeringEventKey: undefined,
    ...overrides,
  };
}

Deno.test("parseAssignment() reads input, parents, triggers and the assignment fields", () => {
  const data = parseAssignment(action());
  assert.deepEqual(data, {
    input: { amount: 5 },
    parents: { validate: { ok: true }, skippedOne: { skipped: true } },
    stepRunErrors: {},
    triggers: { filter_payload: null },
    additionalMetadata: undefined,
    workflowRunId: "wr-1",
    taskRunId: "tr-1",
    taskName: "charge",
    actionId: "orders:charge",
    retryCount: 2,
    parentWorkflowRunId: undefined,
    priority: 1,
    workflowId: "wf-id",
    workflowVersionId: "wfv-id",
    triggeringEventId: undefined,
    triggeringEventKey: undefined,
    childIndex: undefined,
    childKey: undefined,
  });
});

Deno.test("parseAssignment() maps null and missing objects to {} and reads step_run_errors", () => {
  const data = parseAssignment(action({
    actionPayload: JSON.stringify({
      input: null,
      parents: { a: null },
      step_run_errors: { a: "Error: boom" },
      extra: 1,
    }),
    additionalMetadata: '{"team":"billing"}',
    parentWorkflowRunId: "parent-task",
    triggeringEventExternalId: "event-1",
    triggeringEventKey: "order:paid",
    priority: 0,
    workflowId: "",
  }));
  assert.deepEqual(data.input, {});
  assert.deepEqual(data.parents, { a: {} });
  assert.deepEqual(data.triggers, {});
  assert.deepEqual(data.stepRunErrors, { a: "Error: boom" });
  assert.deepEqual(data.additionalMetadata, { team: "billing" });
  assert.equal(data.parentWorkflowRunId, "parent-task");
  assert.equal(data.triggeringEventId, "event-1");
  assert.equal(data.triggeringEventKey, "order:paid");
  assert.equal(data.priority, undefined);
  assert.equal(data.workflowId, undefined);
});

Deno.test("parseAssignment() treats empty additional metadata as unset", () => {
  assert.equal(parseAssignment(action({ additionalMetadata: "" })).additionalMetadata, undefined);
  assert.equal(
    parseAssignment(action({ additionalMetadata: "null" })).additionalMetadata,
    undefined,
  );
});

Deno.test("parseAssignment() throws a TypeError naming the problem when the payload is malformed", () => {
  const cases: [string, string][] = [
    ["", 'Malformed action payload for task run "tr-1": expected a JSON object, received ""'],
    [
      "[1]",
      'Malformed action payload for task run "tr-1": expected a JSON object, received an array',
    ],
    [
      '{"input":"x"}',
      'Malformed action payload for task run "tr-1": "input" must be a JSON object, received a string',
    ],
    [
      '{"parents":{"a":3}}',
      'Malformed action payload for task run "tr-1": "parents.a" must be a JSON object, received a number',
    ],
    [
      '{"step_run_errors":{"a":{}}}',
      'Malformed action payload for task run "tr-1": "step_run_errors.a" must be a string, received an object',
    ],
  ];
  for (const [payload, message] of cases) {
    assert.throws(() => parseAssignment(action({ actionPayload: payload })), {
      name: "TypeError",
      message,
    });
  }
  assert.throws(() => parseAssignment(action({ actionPayload: "{not json" })), (err) => {
    assert.ok(err instanceof TypeError);
    assert.match(
      err.message,
      /^Malformed action payload for task run "tr-1": not valid JSON \(.+\), received "\{not json"$/,
    );
    return true;
  });
});

Deno.test("parseAssignment() throws a TypeError when additional metadata is not a JSON object", () => {
  assert.throws(() => parseAssignment(action({ additionalMetadata: "[1]" })), {
    name: "TypeError",
    message:
      'Malformed additional metadata for task run "tr-1": expected a JSON object, received an array',
  });
  assert.throws(() => parseAssignment(action({ additionalMetadata: "{" })), {
    name: "TypeError",
    message: 'Malformed additional metadata for task run "tr-1": not valid JSON, received "{"',
  });
});
