// The mock engine's state and rules, split into rooms under engine/ (one concept each, see the
// comment opening each module); EngineCore in engine/core.ts wires them together. This file keeps
// the import path the rest of testing/ uses.

export { EngineCore } from "./engine/core.ts";
export type {
  DurableStream,
  EngineCoreOptions,
  LogRecord,
  RunInfo,
  RunTrigger,
  TaskRunInfo,
  TaskStatus,
  WorkerInfo,
} from "./engine/types.ts";
