import { formatDuration } from "../transport/duration.ts";
import type { DurationInput } from "../transport/types.ts";

/**
 * The signal key of the `index`-th `ctx.sleepFor()` of an attempt: `sleep:<duration>-<index>`.
 * A pure function of its arguments, so a retried attempt derives the same keys in the same order
 * and the engine answers the sleeps it already completed at once, while two sleeps of one
 * attempt never share a key.
 *
 * @param duration The sleep's duration.
 * @param index The number of sleeps the attempt started before this one (from 0).
 * @returns The signal key, e.g. `"sleep:10s-0"`.
 * @throws {RangeError} When `duration` does not parse or `index` is not a non-negative integer.
 * @example
 * ```ts
 * import { sleepSignalKey } from "./signal_key.ts";
 * import assert from "node:assert/strict";
 * assert.equal(sleepSignalKey("10s", 0), "sleep:10s-0");
 * assert.equal(sleepSignalKey(300_000, 1), "sleep:5m-1");
 * ```
 */
export function sleepSignalKey(duration: DurationInput, index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(
      `Invalid sleep index: expected a non-negative integer, received ${String(index)}`,
    );
  }
  return `sleep:${formatDuration(duration)}-${index}`;
}
