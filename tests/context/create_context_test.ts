import assert from "node:assert/strict";
import { MAX_LOG_LENGTH, truncateLogLine } from "../../context/create_context.ts";

Deno.test("truncateLogLine() keeps lines up to the engine's limit unchanged", () => {
  const line = "y".repeat(MAX_LOG_LENGTH);
  assert.equal(truncateLogLine(line), line);
});

Deno.test("truncateLogLine() cuts long lines to the limit with a marker", () => {
  const out = truncateLogLine("x".repeat(25_000));
  assert.equal(out.length, MAX_LOG_LENGTH);
  assert.ok(out.endsWith("... [truncated: 25000 characters in total]"));
  assert.ok(out.startsWith("xxxx"));
});

Deno.test("truncateLogLine() never splits a surrogate pair", () => {
  const marker = "... [truncated: 10010 characters in total]";
  const keep = MAX_LOG_LENGTH - marker.length;
  // Put an emoji so that its high surrogate would be the last kept code unit.
  const line = "a".repeat(keep - 1) + "😀" + "b".repeat(10010 - keep - 1);
  assert.equal(line.length, 10010);
  const out = truncateLogLine(line);
  assert.equal(out, "a".repeat(keep - 1) + marker);
});
