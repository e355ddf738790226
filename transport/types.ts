/**
 * A JSON value: what task inputs, outputs and event payloads are made of.
 *
 * @example
 * ```ts
 * import type { JsonValue } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 *
 * const value: JsonValue = { id: 7, tags: ["a", "b"], paid: true, note: null };
 * assert.deepEqual(JSON.parse(JSON.stringify(value)), value);
 * ```
 */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * A JSON object, the shape of every task input, task output and event payload.
 *
 * @example
 * ```ts
 * import type { JsonObject } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * const payload: JsonObject = { orderId: "o-1", items: [{ sku: "x", qty: 2 }] };
 * const { eventId } = await engine.client.events.push("order:created", payload);
 * assert.equal(typeof eventId, "string");
 * ```
 */
export type JsonObject = { [key: string]: JsonValue };

/**
 * A duration: a string such as `"90s"`, `"5m"`, `"1h30m"`, `"500ms"`, or a number of milliseconds.
 *
 * @example
 * ```ts
 * import { type DurationInput, formatDuration, parseDuration } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 *
 * const durations: DurationInput[] = ["90s", "1h30m", 1500];
 * assert.deepEqual(durations.map(parseDuration), [90_000, 5_400_000, 1500]);
 * assert.equal(formatDuration(durations[2]), "1500ms");
 * ```
 */
export type DurationInput = string | number;
