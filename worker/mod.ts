// Declaring workflows and running their tasks.

export {
  type BackoffOptions,
  type DurableTaskOptions,
  type OnFailureOptions,
  type TaskOptions,
  type Workflow,
  workflow,
  type WorkflowOptions,
} from "./workflow.ts";
export {
  createWorker,
  type Worker,
  type WorkerLogger,
  type WorkerOptions,
  type WorkerState,
} from "./create_worker.ts";
export {
  createPushHandler,
  type PushHandler,
  type PushHandlerOptions,
  type PushPaths,
} from "./push_handler.ts";
