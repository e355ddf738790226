// The generated service descriptors and message schemas, for the mock engine and the transport
// tests. Everything else talks to the hand-written ports in ports.ts.
export * from "./gen/dispatcher/dispatcher_pb.ts";
export * from "./gen/events/events_pb.ts";
export * from "./gen/v1/shared/condition_pb.ts";
export * from "./gen/v1/dispatcher_pb.ts";
export * from "./gen/v1/workflows_pb.ts";
