/** A JSON value: what task inputs, outputs and event payloads are made of. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A JSON object, the shape of every task input, task output and event payload. */
export type JsonObject = { [key: string]: JsonValue };

/** A duration: a string such as `"90s"`, `"5m"`, `"1h30m"`, `"500ms"`, or a number of milliseconds. */
export type DurationInput = string | number;
