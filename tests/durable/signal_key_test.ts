import assert from "node:assert/strict";
import { sleepSignalKey } from "../../durable/signal_key.ts";

Deno.test("sleepSignalKey() formats sleep:<duration>-<index>", () => {
  assert.equal(sleepSignalKey("10s", 0), "sleep:10s-0");
  assert.equal(sleepSignalKey("5m", 1), "sleep:5m-1");
  assert.equal(sleepSignalKey(86_400_000, 2), "sleep:24h-2");
  assert.equal(sleepSignalKey("1h30m", 3), "sleep:90m-3");
  assert.equal(sleepSignalKey(1500, 4), "sleep:1500ms-4");
});

Deno.test("sleepSignalKey() is stable across attempts: the same sequence gives the same keys", () => {
  const attempt = (): string[] => ["10s", "10s", "1h", 60_000].map((d, i) => sleepSignalKey(d, i));
  assert.deepEqual(attempt(), attempt());
  assert.deepEqual(attempt(), ["sleep:10s-0", "sleep:10s-1", "sleep:1h-2", "sleep:1m-3"]);
});

Deno.test("sleepSignalKey() is distinct per wait, also for equal durations", () => {
  const keys = Array.from({ length: 100 }, (_, i) => sleepSignalKey("10s", i));
  assert.equal(new Set(keys).size, 100);
  // Equivalent spellings of one duration map to one key, so a retry that spells it differently
  // still replays.
  assert.equal(sleepSignalKey("60s", 0), sleepSignalKey("1m", 0));
});

Deno.test("sleepSignalKey() throws RangeError for a bad duration or index", () => {
  assert.throws(
    () => sleepSignalKey("soon", 0),
    new RangeError(
      'Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received "soon"',
    ),
  );
  assert.throws(
    () => sleepSignalKey("1s", -1),
    new RangeError("Invalid sleep index: expected a non-negative integer, received -1"),
  );
  assert.throws(
    () => sleepSignalKey("1s", 1.5),
    new RangeError("Invalid sleep index: expected a non-negative integer, received 1.5"),
  );
});
