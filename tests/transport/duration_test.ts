import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../transport/duration.ts";

Deno.test("parseDuration() reads every unit and combinations of them", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1m30s250ms"), 90_250);
  assert.equal(parseDuration("0s"), 0);
});

Deno.test("parseDuration() takes a number as milliseconds", () => {
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(1500), 1500);
});

Deno.test("parseDuration() rejects what is not a duration, quoting the value", () => {
  for (const bad of ["5x", "", "1d", "5", "-1h", "1.5h", " 5s", "5s ", "s"]) {
    assert.throws(() => parseDuration(bad), {
      name: "RangeError",
      message: `Cannot parse duration: expected e.g. "90s", "5m", "1h30m" or "500ms", received ${
        JSON.stringify(bad)
      }`,
    });
  }
  for (const bad of [-1, NaN, Infinity]) {
    assert.throws(() => parseDuration(bad), {
      name: "RangeError",
      message:
        `Cannot parse duration: expected a non-negative number of milliseconds, received ${bad}`,
    });
  }
});

Deno.test("formatDuration() emits the engine's single-unit forms", () => {
  assert.equal(formatDuration("10s"), "10s");
  assert.equal(formatDuration("60s"), "1m");
  assert.equal(formatDuration("90s"), "90s");
  assert.equal(formatDuration("1h30m"), "90m");
  assert.equal(formatDuration("24h"), "24h");
  assert.equal(formatDuration(1500), "1500ms");
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(86_400_000), "24h");
});

Deno.test("formatDuration() output always matches the engine's RefreshTimeout pattern", () => {
  const engine = /^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ms|s|m|h))+$/;
  for (const d of ["1s", "59s", "61s", "1h1s", 1, 999, 3_600_001, "100m"]) {
    assert.match(formatDuration(d), engine);
    assert.equal(parseDuration(formatDuration(d)), parseDuration(d));
  }
});
