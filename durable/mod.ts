/**
 * Durable waits: conditions, signal keys, the shared durable-event listener and the
 * `DurableContext` factory.
 *
 * @module
 */

export {
  isOrGroup,
  or,
  type OrGroup,
  ParentCondition,
  SleepCondition,
  type TaskCondition,
  UserEventCondition,
  type WaitCondition,
} from "./conditions.ts";
export { toDurableConditions, toTaskConditions } from "./to_conditions.ts";
export { sleepSignalKey } from "./signal_key.ts";
export {
  createDurableListener,
  createLegacyPath,
  createLegacyRun,
  type DurableListener,
  type DurableListenerOptions,
  type LegacyRetryOptions,
  type SubscribeOptions,
} from "./legacy_listener.ts";
export {
  createEventLogListener,
  type EventLogListenerOptions,
  InvocationEvictedError,
} from "./event_log_listener.ts";
export type {
  DurableChildHandle,
  DurablePath,
  DurableRun,
  DurableRunOptions,
} from "./durable_path.ts";
export { NonDeterminismError } from "./non_determinism_error.ts";
export {
  DEFAULT_EVICTION_POLICY,
  type EvictionPolicy,
  type ResolvedEvictionPolicy,
  resolveEvictionPolicy,
} from "./eviction_policy.ts";
export {
  createDurableContext,
  type DurableContext,
  type DurableContextDeps,
  type DurableWaitResult,
  type WaitForEventOptions,
} from "./durable_context.ts";
