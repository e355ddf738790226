// Declaring workflows and running their tasks.

export {
  type BackoffOptions,
  type DurableTaskOptions,
  type OnFailureOptions,
  type OnSuccessOptions,
  type TaskDefaults,
  type TaskOptions,
  type Workflow,
  workflow,
  type WorkflowOptions,
} from "./workflow.ts";
export {
  type ConcurrencyOptions,
  type ConcurrencyStrategy,
  type DesiredWorkerLabel,
  type LabelComparator,
  type RateLimitDuration,
  type StickyStrategy,
  type TaskRateLimit,
} from "./flow_control.ts";
export {
  type DurableStandaloneOptions,
  type Standalone,
  type StandaloneOptions,
  type StandaloneRunOptions,
  task,
} from "./standalone.ts";
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
