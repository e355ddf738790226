// A Context is built for every attempt; ctx.log() sits in users' hot loops.
import { createContext, parseAssignment, type TaskRunPort } from "../context/mod.ts";
import type { AssignedActionData } from "../transport/ports.ts";

const assignment: AssignedActionData = {
  tenantId: "t",
  workflowRunId: "1c0b6a52-36b8-4c1f-9d7a-1a2b3c4d5e6f",
  jobId: "j",
  jobName: "order",
  jobRunId: "9f0e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b",
  taskId: "j",
  taskRunExternalId: "9f0e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b",
  actionId: "order:ship",
  actionType: "START_STEP_RUN",
  actionPayload: '{"input":{"orderId":"o-1"},"parents":{"charge":{"paid":true}}}',
  taskName: "ship",
  retryCount: 0,
  additionalMetadata: undefined,
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
const data = parseAssignment(assignment);
const delivered = Promise.resolve();
// A port that accepts everything at once, so the benches time the context, not a transport.
const port: TaskRunPort = {
  putLog: () => delivered,
  putStream: () => delivered,
  refreshTimeout: () => delivered,
  releaseSlot: () => delivered,
  cancel: () => delivered,
};
const ctx = createContext(data, {
  port,
  workerId: "w",
  lifespan: undefined,
  controller: new AbortController(),
});

Deno.bench("createContext() for one attempt", { group: "context", baseline: true }, () => {
  createContext(data, {
    port,
    workerId: "w",
    lifespan: undefined,
    controller: new AbortController(),
  });
});

Deno.bench("ctx.taskOutput() of a parent", { group: "context" }, () => {
  ctx.taskOutput("charge");
});

Deno.bench("ctx.log() of a string (enqueue only)", { group: "log" }, () => {
  ctx.log("charging order o-1");
});

Deno.bench("ctx.log() of an object (enqueue only)", { group: "log" }, () => {
  ctx.log({ orderId: "o-1", step: "charge", amount: 125.5 });
});
