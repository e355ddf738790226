// What a client does with runs: references, results by subscription, stream consumers, bulk
// triggers, schedules, replays, children, and cron expressions.
export type {
  BulkTriggerItem,
  ChildOptions,
  ChildSpawn,
  RunEvent,
  RunFilter,
  RunRef,
  RunResult,
  RunsClient,
  ScheduledRun,
  StreamChunk,
  TriggerOptions,
  WorkflowRef,
} from "./types.ts";
export { type CronSchedule, parseCron } from "./cron.ts";
export {
  checkChildSpawn,
  type ChildParent,
  type ChildTrigger,
  createRunsRuntime,
  type RunsRuntime,
} from "./runs_client.ts";
