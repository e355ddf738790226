// A real base Context (from the context helper's factory) for durable-context unit tests.

import type { Context } from "../../context/context.ts";
import { createContext, type TaskRunPort } from "../../context/create_context.ts";

const noopPort: TaskRunPort = {
  putLog: () => Promise.resolve(),
  putStream: () => Promise.resolve(),
  refreshTimeout: () => Promise.resolve(),
  releaseSlot: () => Promise.resolve(),
  cancel: () => Promise.resolve(),
};

export function baseContext(
  taskRunId: string,
  controller: AbortController = new AbortController(),
  retryCount = 0,
): Context {
  return createContext({
    input: { orderId: "o-1" },
    parents: {},
    stepRunErrors: {},
    triggers: {},
    additionalMetadata: undefined,
    workflowRunId: "wr-1",
    taskRunId,
    taskName: "approve",
    actionId: "orders:approve",
    retryCount,
    parentWorkflowRunId: undefined,
    priority: 1,
    workflowId: undefined,
    workflowVersionId: undefined,
    triggeringEventId: undefined,
    triggeringEventKey: undefined,
    childIndex: undefined,
    childKey: undefined,
  }, { port: noopPort, workerId: "worker-1", lifespan: undefined, controller });
}
