// The generated service descriptors and message schemas, for the mock engine and the transport
// tests. Everything else talks to the hand-written ports in ports.ts.
export * from "./gen/dispatcher/dispatcher_pb.ts";
export * from "./gen/events/events_pb.ts";
export * from "./gen/v1/shared/condition_pb.ts";
export * from "./gen/v1/shared/trigger_pb.ts";
export * from "./gen/v1/dispatcher_pb.ts";
export * from "./gen/v1/workflows_pb.ts";
// The legacy WorkflowService repeats three enums of package v1 (same names, same values). The
// unprefixed names stay the v1 ones; the legacy file's own are reachable through `legacy`.
export * from "./gen/workflows/workflows_pb.ts";
export {
  ConcurrencyLimitStrategy,
  ConcurrencyLimitStrategySchema,
  RateLimitDuration,
  RateLimitDurationSchema,
  StickyStrategy,
  StickyStrategySchema,
} from "./gen/v1/workflows_pb.ts";
export * as legacy from "./gen/workflows/workflows_pb.ts";
