import type { DurationInput } from "./types.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(?:\d+(?:ms|s|m|h))+$/;
const PART_RE = /(\d+)(ms|s|m|h)/g;

/**
 * Parses a duration into milliseconds.
 *
 * Accepts `"90s"`, `"5m"`, `"1h30m"`, `"500ms"` (whole numbers of `h`, `m`, `s`, `ms`, in any
 * combination) or a non-negative finite number of milliseconds.
 *
 * @param input The duration.
 * @returns The duration in milliseconds.
 * @throws {RangeError} When the input is not a duration.
 * @example
 * ```ts
 * import { parseDuration } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 * assert.equal(parseDuration("1h30m"), 5_400_000);
 * assert.equal(parseDuration(250), 250);
 * ```
 */
export function parseDuration(input: DurationInput): number {
  if (typeof input === "number") {
    if (Number.isFinite(input) && input >= 0) return input;
    throw new RangeError(
      `Cannot parse duration: expected a non-negative number of milliseconds, received ${input}`,
    );
  }
  if (typeof input !== "string" || !DURATION_RE.test(input)) {
    throw new RangeError(
      `Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received ${
        JSON.stringify(input)
      }`,
    );
  }
  let ms = 0;
  for (const [, n, unit] of input.matchAll(PART_RE)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}

/**
 * Formats a duration in the engine's form: whole hours, minutes or seconds as one unit when the
 * value divides evenly (`"2h"`, `"5m"`, `"90s"`), else milliseconds (`"1500ms"`).
 *
 * @param input The duration.
 * @returns The engine's duration string.
 * @throws {RangeError} When the input is not a duration.
 * @example
 * ```ts
 * import { formatDuration } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 * assert.equal(formatDuration("1h30m"), "90m");
 * assert.equal(formatDuration(1500), "1500ms");
 * ```
 */
export function formatDuration(input: DurationInput): string {
  const ms = Math.round(parseDuration(input));
  if (ms === 0) return "0s";
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  if (ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m}m`;
  if (ms % UNIT_MS.s === 0) return `${ms / UNIT_MS.s}s`;
  return `${ms}ms`;
}
