// Flow-control declarations: concurrency limits, rate limits, worker affinity and stickiness.
// The public types users write, their validation at declaration time (errors name the value), and
// their translation into the wire shapes of transport/ports.ts.

import { describeValue } from "../transport/describe.ts";
import type { ConcurrencyInput, DesiredLabelInput, RateLimitInput } from "../transport/ports.ts";

/**
 * What the engine does with runs beyond `maxRuns` for one concurrency key.
 *
 * - `"GROUP_ROUND_ROBIN"`: they wait; keys take turns as runs finish.
 * - `"CANCEL_IN_PROGRESS"`: the newest run starts and the oldest running one is cancelled.
 * - `"CANCEL_NEWEST"`: the new run is cancelled; running ones are never touched.
 *
 * @example
 * ```ts
 * import { type ConcurrencyStrategy, workflow } from "@hatchet-deno/sdk";
 * const strategy: ConcurrencyStrategy = "CANCEL_NEWEST";
 * workflow({ name: "dedupe", concurrency: { expression: "input.id", maxRuns: 1, strategy } });
 * ```
 */
export type ConcurrencyStrategy = "GROUP_ROUND_ROBIN" | "CANCEL_IN_PROGRESS" | "CANCEL_NEWEST";

/**
 * A concurrency limit: at most `maxRuns` runs at once per value of `expression`.
 *
 * @example
 * ```ts
 * import { type ConcurrencyOptions, createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * // One run per user at a time; a second one for the same user is cancelled.
 * const perUser: ConcurrencyOptions = {
 *   expression: "input.userId",
 *   maxRuns: 1,
 *   strategy: "CANCEL_NEWEST",
 * };
 * const wf = workflow<{ userId: string }>({ name: "sync-user", concurrency: perUser });
 * wf.task({
 *   name: "sync",
 *   fn: (_input, ctx) =>
 *     new Promise<{ stopped: boolean }>((resolve) => {
 *       ctx.signal.addEventListener("abort", () => resolve({ stopped: true }));
 *     }),
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const first = await engine.client.runs.trigger(wf, { userId: "u1" });
 * const second = await engine.client.runs.trigger(wf, { userId: "u1" });
 * assert.equal((await second.result()).status, "CANCELLED");
 * await engine.client.runs.cancel([first.id]);
 * ```
 */
export interface ConcurrencyOptions {
  /**
   * A CEL expression over `input` and `additional_metadata` giving the key, e.g.
   * `"input.userId"` or `"additional_metadata.tenant"`.
   */
  expression: string;
  /** Runs allowed at once per key (a positive integer). */
  maxRuns: number;
  /** What happens to runs beyond `maxRuns`. */
  strategy: ConcurrencyStrategy;
}

/**
 * The window a rate limit refills over: the limit's units come back in full once per window.
 *
 * @example
 * ```ts
 * import type { RateLimitDuration } from "@hatchet-deno/sdk";
 * const window: RateLimitDuration = "minute";
 * console.assert(window === "minute");
 * ```
 */
export type RateLimitDuration = "second" | "minute" | "hour" | "day" | "week" | "month" | "year";

/**
 * A rate limit a task consumes units of before it starts. Either a static `key` (created with
 * `client.rateLimits.put`) or a `dynamicKey` CEL expression with its own `limit`.
 *
 * @example
 * ```ts
 * import { createWorker, type TaskRateLimit, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const perUser: TaskRateLimit = {
 *   dynamicKey: "input.userId",
 *   units: 1,
 *   limit: 2,
 *   duration: "minute",
 * };
 * const wf = workflow<{ userId: string }>({ name: "notify" });
 * wf.task({ name: "send", rateLimits: [perUser], fn: () => ({ sent: true }) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const runs = [];
 * for (let i = 0; i < 3; i++) runs.push(await engine.client.runs.trigger(wf, { userId: "u1" }));
 * await engine.settle();
 * assert.deepEqual(engine.taskRuns().map((t) => t.status), ["COMPLETED", "COMPLETED", "QUEUED"]);
 * await engine.advance("1m"); // the window refills
 * assert.equal((await runs[2].result()).status, "COMPLETED");
 * ```
 */
export interface TaskRateLimit {
  /**
   * A static key, created beforehand with `client.rateLimits.put(key, limit, duration)`: the
   * engine refuses to register a task naming a key that does not exist yet.
   */
  key?: string;
  /** A CEL expression over `input` / `additional_metadata` giving the key; needs `limit`. */
  dynamicKey?: string;
  /** Units one run consumes (a positive integer); default 1. */
  units?: number;
  /** A CEL expression giving the units one run consumes; instead of `units`. */
  dynamicUnits?: string;
  /** The limit of a dynamic key: a positive integer or a CEL expression. */
  limit?: number | string;
  /** The window of a dynamic key's limit; default `"minute"`. */
  duration?: RateLimitDuration;
}

/**
 * How a desired label compares the worker's value with the wanted one (`worker <op> wanted`).
 *
 * @example
 * ```ts
 * import type { LabelComparator } from "@hatchet-deno/sdk";
 * const atLeast: LabelComparator = "GREATER_THAN_OR_EQUAL";
 * console.assert(atLeast.length > 0);
 * ```
 */
export type LabelComparator =
  | "EQUAL"
  | "NOT_EQUAL"
  | "GREATER_THAN"
  | "GREATER_THAN_OR_EQUAL"
  | "LESS_THAN"
  | "LESS_THAN_OR_EQUAL";

/**
 * A worker label a task wants. A `required` one makes the task wait for a worker that matches;
 * otherwise matching workers score `weight` and the highest score wins.
 *
 * @example
 * ```ts
 * import { createWorker, type DesiredWorkerLabel, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const gpu: DesiredWorkerLabel = { value: "a100", required: true };
 * const wf = workflow({ name: "train" });
 * wf.task({ name: "fit", desiredWorkerLabels: { gpu }, fn: (_i, ctx) => ({ on: ctx.workerId }) });
 * await using engine = new MockEngine();
 * await using cpu = createWorker(engine.client, { name: "cpu", workflows: [wf] });
 * await using big = createWorker(engine.client, {
 *   name: "big",
 *   workflows: [wf],
 *   labels: { gpu: "a100" },
 * });
 * await cpu.start();
 * await big.start();
 * const result = await (await engine.client.runs.trigger(wf, {})).result();
 * assert.equal(result.outputs.fit.on, big.id);
 * ```
 */
export interface DesiredWorkerLabel {
  /** The wanted value (a string, or an integer for the ordering comparators). */
  value: string | number;
  /** Whether only a matching worker may run the task; default false. */
  required?: boolean;
  /** How to compare; default `"EQUAL"`. */
  comparator?: LabelComparator;
  /** Score a matching worker gets; default 100. */
  weight?: number;
}

/**
 * Whether a run's tasks stay on the worker that ran its first task: `"soft"` prefers it,
 * `"hard"` waits for it.
 *
 * @example
 * ```ts
 * import { type StickyStrategy, workflow } from "@hatchet-deno/sdk";
 * const sticky: StickyStrategy = "hard";
 * workflow({ name: "session", sticky });
 * ```
 */
export type StickyStrategy = "soft" | "hard";

const STRATEGIES: readonly ConcurrencyStrategy[] = [
  "GROUP_ROUND_ROBIN",
  "CANCEL_IN_PROGRESS",
  "CANCEL_NEWEST",
];
/** The engine's rate-limit windows, in the order of `RateLimitDuration` on the wire. */
export const RATE_LIMIT_DURATIONS: readonly RateLimitDuration[] = [
  "second",
  "minute",
  "hour",
  "day",
  "week",
  "month",
  "year",
];
const COMPARATORS: readonly LabelComparator[] = [
  "EQUAL",
  "NOT_EQUAL",
  "GREATER_THAN",
  "GREATER_THAN_OR_EQUAL",
  "LESS_THAN",
  "LESS_THAN_OR_EQUAL",
];
const INT32_MAX = 2 ** 31 - 1;

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function positiveInt(value: unknown, what: string): number {
  if (!Number.isInteger(value) || (value as number) <= 0 || (value as number) > INT32_MAX) {
    throw new RangeError(`${what} must be a positive integer, received ${describeValue(value)}`);
  }
  return value as number;
}

function expression(value: unknown, what: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(
      `${what} must be a non-empty CEL expression, received ${describeValue(value)}`,
    );
  }
  return value;
}

/**
 * Validates a `concurrency` option (one limit or a list) and returns its wire form.
 *
 * @param value What the caller passed.
 * @param what The subject of error messages, e.g. `Workflow "w": concurrency`.
 * @returns The limits, in order.
 * @throws {TypeError} When it is not an object or list of objects, or the expression is empty.
 * @throws {RangeError} When `maxRuns` is not a positive integer or the strategy is unknown.
 */
export function validateConcurrency(value: unknown, what: string): ConcurrencyInput[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item, i) => {
    const at = Array.isArray(value) ? `${what}[${i}]` : what;
    if (!isObject(item)) {
      throw new TypeError(
        `${at} must be { expression, maxRuns, strategy }, received ${describeValue(item)}`,
      );
    }
    const expr = expression(item.expression, `${at}.expression`);
    const maxRuns = positiveInt(item.maxRuns, `${at}.maxRuns`);
    if (!STRATEGIES.includes(item.strategy as ConcurrencyStrategy)) {
      throw new RangeError(
        `${at}.strategy must be one of ${STRATEGIES.join(", ")}, received ${
          describeValue(item.strategy)
        }`,
      );
    }
    return { expression: expr, maxRuns, strategy: item.strategy as ConcurrencyStrategy };
  });
}

/**
 * Validates a rate-limit window.
 *
 * @param value What the caller passed.
 * @param what The subject of error messages.
 * @returns The window.
 * @throws {RangeError} When it is not one of {@link RATE_LIMIT_DURATIONS}.
 */
export function validateDuration(value: unknown, what: string): RateLimitDuration {
  if (!RATE_LIMIT_DURATIONS.includes(value as RateLimitDuration)) {
    throw new RangeError(
      `${what} must be one of ${
        RATE_LIMIT_DURATIONS.map((d) => JSON.stringify(d)).join(", ")
      }, received ${describeValue(value)}`,
    );
  }
  return value as RateLimitDuration;
}

/**
 * Validates a task's `rateLimits` and returns their wire form (`CreateTaskRateLimit`). A static
 * limit sends `key` and `units`; a dynamic one sends every part as a CEL expression, as the
 * engine stores them.
 *
 * @param value What the caller passed.
 * @param what The subject of error messages.
 * @returns The limits, in order.
 * @throws {TypeError} When the shape is wrong: both or neither key, both units forms, a dynamic key
 *   without `limit`.
 * @throws {RangeError} When units or a limit are not positive integers, or the duration unknown.
 */
export function validateRateLimits(value: unknown, what: string): RateLimitInput[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new TypeError(`${what} must be an array, received ${describeValue(value)}`);
  }
  return value.map((item, i) => {
    const at = `${what}[${i}]`;
    if (!isObject(item)) {
      throw new TypeError(
        `${at} must be { key | dynamicKey, units | dynamicUnits, limit, duration }, received ${
          describeValue(item)
        }`,
      );
    }
    const hasKey = item.key !== undefined;
    const hasDynamicKey = item.dynamicKey !== undefined;
    if (hasKey === hasDynamicKey) {
      throw new TypeError(
        `${at} needs exactly one of key and dynamicKey, received ${describeValue(item)}`,
      );
    }
    if (item.units !== undefined && item.dynamicUnits !== undefined) {
      throw new TypeError(`${at} takes units or dynamicUnits, not both`);
    }
    const units = item.units === undefined ? undefined : positiveInt(item.units, `${at}.units`);
    const dynamicUnits = item.dynamicUnits === undefined
      ? undefined
      : expression(item.dynamicUnits, `${at}.dynamicUnits`);
    const duration = item.duration === undefined
      ? undefined
      : validateDuration(item.duration, `${at}.duration`);
    let limit: string | undefined;
    if (item.limit !== undefined) {
      limit = typeof item.limit === "number"
        ? String(positiveInt(item.limit, `${at}.limit`))
        : expression(item.limit, `${at}.limit`);
    }
    if (hasKey) {
      if (typeof item.key !== "string" || item.key.trim() === "") {
        throw new TypeError(
          `${at}.key must be a non-empty string, received ${describeValue(item.key)}`,
        );
      }
      if (limit !== undefined || duration !== undefined) {
        throw new TypeError(
          `${at}: a static key takes its limit and duration from client.rateLimits.put(${
            JSON.stringify(item.key)
          }, limit, duration), not from the task`,
        );
      }
      if (dynamicUnits === undefined) return { key: item.key, units: units ?? 1 };
      return { key: item.key, unitsExpr: dynamicUnits };
    }
    const keyExpr = expression(item.dynamicKey, `${at}.dynamicKey`);
    if (limit === undefined) {
      throw new TypeError(
        `${at}: a dynamicKey needs a limit (a number or a CEL expression), received none`,
      );
    }
    const out: RateLimitInput = {
      key: keyExpr,
      keyExpr,
      limitValuesExpr: limit,
      durationIndex: RATE_LIMIT_DURATIONS.indexOf(duration ?? "minute"),
    };
    if (dynamicUnits !== undefined) out.unitsExpr = dynamicUnits;
    else out.units = units ?? 1;
    return out;
  });
}

/**
 * Validates `desiredWorkerLabels` and returns their wire form (`DesiredWorkerLabels`).
 *
 * @param value What the caller passed.
 * @param what The subject of error messages.
 * @returns The labels by name, or `undefined` for none.
 * @throws {TypeError} When the shape is wrong or a value is neither a string nor an integer.
 * @throws {RangeError} When a comparator is unknown, an ordering comparator has a string value, or
 *   the weight is not a non-negative integer.
 */
export function validateDesiredLabels(
  value: unknown,
  what: string,
): Record<string, DesiredLabelInput> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    throw new TypeError(
      `${what} must be an object of { value, required, comparator, weight } by label name, received ${
        describeValue(value)
      }`,
    );
  }
  const out: Record<string, DesiredLabelInput> = {};
  for (const [name, raw] of Object.entries(value)) {
    const at = `${what}.${name}`;
    if (name === "") throw new TypeError(`${what}: a label name is empty`);
    if (!isObject(raw)) {
      throw new TypeError(
        `${at} must be { value, required, comparator, weight }, received ${describeValue(raw)}`,
      );
    }
    const label: DesiredLabelInput = {};
    if (typeof raw.value === "string") label.strValue = raw.value;
    else if (Number.isInteger(raw.value) && Math.abs(raw.value as number) <= INT32_MAX) {
      label.intValue = raw.value as number;
    } else {
      throw new TypeError(
        `${at}.value must be a string or an integer, received ${describeValue(raw.value)}`,
      );
    }
    if (raw.required !== undefined) {
      if (typeof raw.required !== "boolean") {
        throw new TypeError(
          `${at}.required must be a boolean, received ${describeValue(raw.required)}`,
        );
      }
      label.required = raw.required;
    }
    if (raw.comparator !== undefined) {
      if (!COMPARATORS.includes(raw.comparator as LabelComparator)) {
        throw new RangeError(
          `${at}.comparator must be one of ${COMPARATORS.join(", ")}, received ${
            describeValue(raw.comparator)
          }`,
        );
      }
      if (
        raw.comparator !== "EQUAL" && raw.comparator !== "NOT_EQUAL" && label.strValue !== undefined
      ) {
        throw new RangeError(
          `${at}: comparator ${raw.comparator} compares integers, received the string value ${
            JSON.stringify(label.strValue)
          }`,
        );
      }
      label.comparator = raw.comparator as LabelComparator;
    }
    if (raw.weight !== undefined) {
      if (
        !Number.isInteger(raw.weight) || (raw.weight as number) < 0 ||
        (raw.weight as number) > INT32_MAX
      ) {
        throw new RangeError(
          `${at}.weight must be a non-negative integer, received ${describeValue(raw.weight)}`,
        );
      }
      label.weight = raw.weight as number;
    }
    out[name] = label;
  }
  return out;
}

/**
 * Validates worker labels (`createWorker({ labels })`, `worker.upsertLabels`).
 *
 * @param value What the caller passed.
 * @param what The subject of error messages.
 * @returns A copy of the labels.
 * @throws {TypeError} When it is not an object of strings and integers.
 */
export function validateWorkerLabels(
  value: unknown,
  what: string,
): Record<string, string | number> {
  if (!isObject(value)) {
    throw new TypeError(
      `${what} must be an object of label values, received ${describeValue(value)}`,
    );
  }
  const out: Record<string, string | number> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string" && !(Number.isInteger(v) && Math.abs(v as number) <= INT32_MAX)) {
      throw new TypeError(
        `${what}.${key} must be a string or an integer, received ${describeValue(v)}`,
      );
    }
    out[key] = v as string | number;
  }
  return out;
}

/**
 * Validates `sticky`.
 *
 * @param value What the caller passed.
 * @param what The subject of error messages.
 * @returns The strategy, or `undefined`.
 * @throws {RangeError} When it is neither `"soft"` nor `"hard"`.
 */
export function validateSticky(value: unknown, what: string): StickyStrategy | undefined {
  if (value === undefined) return undefined;
  if (value !== "soft" && value !== "hard") {
    throw new RangeError(`${what} must be "soft" or "hard", received ${describeValue(value)}`);
  }
  return value;
}

/**
 * Validates a priority (1 lowest to 3 highest).
 *
 * @param value What the caller passed.
 * @param what The subject of error messages.
 * @returns The priority, or `undefined`.
 * @throws {RangeError} When it is not 1, 2 or 3.
 */
export function validatePriority(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (value !== 1 && value !== 2 && value !== 3) {
    throw new RangeError(`${what} must be 1, 2 or 3, received ${describeValue(value)}`);
  }
  return value;
}
