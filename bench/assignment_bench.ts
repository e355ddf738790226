// Every assignment's action_payload is parsed before the task runs: this is per-task overhead.
import type { AssignedActionData } from "../transport/ports.ts";
import { parseAssignment } from "../context/parse_assignment.ts";

function action(payload: string): AssignedActionData {
  return {
    tenantId: "t",
    workflowRunId: "1c0b6a52-36b8-4c1f-9d7a-1a2b3c4d5e6f",
    jobId: "j",
    jobName: "order",
    jobRunId: "9f0e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b",
    taskId: "j",
    taskRunExternalId: "9f0e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b",
    actionId: "order:charge",
    actionType: "START_STEP_RUN",
    actionPayload: payload,
    taskName: "charge",
    retryCount: 0,
    additionalMetadata: '{"tenant":"acme"}',
    childWorkflowIndex: undefined,
    childWorkflowKey: undefined,
    parentWorkflowRunId: undefined,
    priority: 1,
    workflowId: undefined,
    workflowVersionId: undefined,
    durableTaskInvocationCount: undefined,
    triggeringEventExternalId: undefined,
    triggeringEventKey: undefined,
  };
}

const small = action('{"input":{}}');
const dag = action(JSON.stringify({
  input: { orderId: "o-1", items: Array.from({ length: 20 }, (_, i) => ({ sku: `s-${i}`, n: i })) },
  parents: {
    validate: { ok: true, total: 125.5 },
    reserve: { reservationId: "r-1", expiresAt: "2026-01-01T00:00:00Z" },
  },
}));

Deno.bench("parseAssignment() of a trivial task", { group: "assignment", baseline: true }, () => {
  parseAssignment(small);
});

Deno.bench("parseAssignment() of a DAG task with parents", { group: "assignment" }, () => {
  parseAssignment(dag);
});
