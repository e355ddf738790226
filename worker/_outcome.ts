// What the worker reports for a finished attempt: the output as JSON text for COMPLETED, or the
// error text for FAILED. The engine reads parent outputs as JSON objects and stores payloads in
// Postgres, which rejects U+0000, so both are checked here rather than failing in the engine.

/** A serialised output, or why the output cannot be sent. */
export type OutputText = { ok: true; payload: string } | { ok: false; message: string };

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return `a string (${JSON.stringify(value.length > 60 ? value.slice(0, 60) + "..." : value)})`;
    case "number":
    case "boolean":
    case "bigint":
      return `a ${typeof value} (${String(value)})`;
    default:
      return `a ${typeof value}`;
  }
}

/**
 * Serialises a task's return value. `undefined` and `null` mean "no output" (an empty payload,
 * which the engine reads as `{}`).
 *
 * @param taskName For messages.
 * @param value What the task returned.
 * @returns The payload, or a message saying why it cannot be sent.
 */
export function serializeOutput(taskName: string, value: unknown): OutputText {
  if (value === undefined || value === null) return { ok: true, payload: "" };
  if (typeof value !== "object" || Array.isArray(value)) {
    return {
      ok: false,
      message: `Task "${taskName}" must return a JSON object or nothing, received ${kindOf(value)}`,
    };
  }
  try {
    const payload = JSON.stringify(value, (key, v) => {
      if (key.includes("\u0000") || (typeof v === "string" && v.includes("\u0000"))) {
        throw new TypeError(
          `the output contains the character U+0000 ${
            key.includes("\u0000") ? "in a key" : `in the value of ${JSON.stringify(key)}`
          }, which the engine cannot store`,
        );
      }
      return v;
    });
    return { ok: true, payload };
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    const reason = /circular/i.test(detail) ? `it contains a cycle (${detail})` : detail;
    return {
      ok: false,
      message: `Task "${taskName}" returned an output that cannot be sent as JSON: ${reason}`,
    };
  }
}

const MAX_CAUSES = 5;

/**
 * The error text reported in a FAILED event: `<name>: <message>` and the stack frames, then any
 * `cause` chain. Values that are not `Error`s are described readably.
 *
 * @param err What the task threw.
 * @returns The text (never containing U+0000).
 */
export function describeError(err: unknown): string {
  return describeOne(err, 0).replaceAll("\u0000", "\\u0000");
}

function describeOne(err: unknown, depth: number): string {
  if (!(err instanceof Error)) return `Non-Error value thrown: ${describeThrown(err)}`;
  const header = `${err.name}: ${err.message}`;
  const stack = typeof err.stack === "string" ? err.stack : "";
  const frames = stack.split("\n").filter((line) => /^\s+at /.test(line));
  let text = frames.length ? `${header}\n${frames.join("\n")}` : header;
  if (err.cause !== undefined && depth < MAX_CAUSES) {
    text += `\nCaused by: ${describeOne(err.cause, depth + 1)}`;
  }
  return text;
}

function describeThrown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined || typeof value === "function" || typeof value === "symbol") {
    return String(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // A cycle or a BigInt inside: still show the fields rather than "[object Object]".
    const seen = new WeakSet<object>();
    try {
      return JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === "bigint") return `${v}n`;
        if (v !== null && typeof v === "object") {
          if (seen.has(v)) return "[Circular]";
          seen.add(v);
        }
        return v;
      });
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}
