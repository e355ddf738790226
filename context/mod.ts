// The task context: task-run data parsed from the assignment and the helpers that talk to the
// engine for one attempt.

export type { Context, LogOptions, TaskRef } from "./context.ts";
export {
  NonRetryableError,
  TaskCancelledError,
  TaskOutputMissingError,
  TaskSkippedError,
} from "./errors.ts";
export {
  createContext,
  type CreateContextOptions,
  type LogLevel,
  MAX_LOG_LENGTH,
  type TaskRunPort,
  truncateLogLine,
} from "./create_context.ts";
export { parseAssignment, type TaskRunData } from "./parse_assignment.ts";
export { createLogSender, type LogSender, type LogSenderOptions } from "./log_sender.ts";
