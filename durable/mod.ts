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
  type DurableListener,
  type DurableListenerOptions,
  type SubscribeOptions,
} from "./durable_listener.ts";
export {
  createDurableContext,
  type DurableContext,
  type DurableContextDeps,
  type DurableWaitResult,
} from "./durable_context.ts";
