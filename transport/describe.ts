// Error messages quote what the caller passed; this renders any value short and unambiguous.

/** Renders `value` for an error message: strings quoted, objects by class name or JSON. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (typeof value === "function") return `a function${value.name ? ` (${value.name})` : ""}`;
  if (typeof value === "symbol") return value.toString();
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  if (name && name !== "Object" && name !== "Array") return `a ${name}`;
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return "an object";
  }
}
