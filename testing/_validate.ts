// Parsers and checks with the engine's rules: UUIDs, JSON columns, Go durations, the database's
// interval strings, and Go's JSON encoding (sorted map keys) for payloads the engine re-encodes.

import type { JsonObject, JsonValue } from "../transport/types.ts";

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Whether `s` parses as a UUID the way Go's `uuid.Parse` accepts the common forms. */
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** Why a JSON column value is rejected (`ValidateJSONB`), or `undefined` when it is fine. */
export function jsonbError(text: string, field: string): string | undefined {
  if (text === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `invalid json in field \`${field}\``;
  }
  if (containsNul(value)) {
    return `encoded jsonb contains invalid null character \\u0000 in field \`${field}\``;
  }
  return undefined;
}

function containsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (Array.isArray(value)) return value.some(containsNul);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).some(([k, v]) => k.includes("\u0000") || containsNul(v));
  }
  return false;
}

/** Parses JSON text that must hold an object; `undefined` when it does not. */
export function parseObject(text: string): JsonObject | undefined {
  try {
    const value = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a JSON value is an object (not an array or null). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const GO_UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const GO_DURATION_RE = /^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ms|s|m|h))+$/;
const GO_PART_RE = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ms|s|m|h)/g;

/**
 * Parses a duration the way the engine validates `RefreshTimeout` and step timeouts (§7.7):
 * decimal numbers with `ms`, `s`, `m`, `h`. `undefined` when it does not match.
 */
export function parseGoDuration(text: string): number | undefined {
  if (!GO_DURATION_RE.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(GO_PART_RE)) ms += Number(n) * GO_UNIT_MS[unit];
  return ms;
}

const DAY_MS = 86_400_000;
const LONG_UNIT_MS: Record<string, number> = { d: DAY_MS, w: 7 * DAY_MS, y: 365 * DAY_MS };

/**
 * Parses a sleep duration as the database's `convert_duration_to_interval` does (§6.3):
 * `"<1-8 digits>(d|w|y)"` or Go-style parts; anything else, including `""`, is 5 minutes.
 */
export function parseSleepDuration(text: string): number {
  const long = /^(\d{1,8})(d|w|y)$/.exec(text);
  if (long) return Number(long[1]) * LONG_UNIT_MS[long[2]];
  return parseGoDuration(text) ?? 5 * 60_000;
}

/** JSON text as Go's `encoding/json` writes a decoded map: object keys sorted. */
export function goJson(value: JsonValue | undefined): string {
  return JSON.stringify(sortKeys(value ?? null));
}

function sortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isObject(value)) {
    const out: JsonObject = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}
