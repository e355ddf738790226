// Five-field cron expressions as the engine reads them (its parser: minute, hour, day of month,
// month, day of week; `*`, `?`, lists, ranges, steps, month and weekday names), evaluated in UTC.
// Workflow declarations validate `onCrons` with it, and the mock engine fires crons with it.

import { describeValue } from "../transport/describe.ts";

/** A parsed cron expression. */
export interface CronSchedule {
  /** The expression as given. */
  readonly expression: string;
  /**
   * The first matching minute strictly after `after`, in UTC.
   *
   * @param after The instant to search from.
   * @returns The next firing time.
   */
  next(after: Date): Date;
}

interface Field {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

const FIELDS: Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  {
    name: "month",
    min: 1,
    max: 12,
    names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
  },
  { name: "day of week", min: 0, max: 6, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] },
];

/**
 * Parses a five-field cron expression (`"*\/5 * * * *"`, `"0 9 * * MON-FRI"`).
 *
 * @param expression The expression.
 * @returns The schedule, whose `next()` gives firing times in UTC.
 * @throws {TypeError} When the expression is not a string.
 * @throws {RangeError} When it is not a valid five-field expression; the message names it.
 * @example
 * ```ts
 * import { parseCron } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 *
 * const every5 = parseCron("*\/5 * * * *");
 * assert.equal(every5.next(new Date("2026-01-01T10:02:30Z")).toISOString(), "2026-01-01T10:05:00.000Z");
 * const weekdays = parseCron("0 9 * * MON-FRI");
 * assert.equal(weekdays.next(new Date("2026-01-03T12:00:00Z")).toISOString(), "2026-01-05T09:00:00.000Z");
 * assert.throws(() => parseCron("61 * * * *"), /Invalid cron expression "61 \* \* \* \*": minute/);
 * ```
 */
export function parseCron(expression: string): CronSchedule {
  if (typeof expression !== "string") {
    throw new TypeError(
      `Invalid cron expression: expected a string, received ${describeValue(expression)}`,
    );
  }
  const bad = (detail: string) =>
    new RangeError(`Invalid cron expression ${JSON.stringify(expression)}: ${detail}`);
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === "") {
    throw bad(
      `expected 5 fields (minute hour day-of-month month day-of-week), found ${
        parts[0] === "" ? 0 : parts.length
      }`,
    );
  }
  const sets: Set<number>[] = [];
  const starred: boolean[] = [];
  for (let i = 0; i < 5; i++) {
    const field = FIELDS[i];
    const text = parts[i].toLowerCase();
    starred.push(text.startsWith("*") || text.startsWith("?"));
    const set = new Set<number>();
    for (const item of text.split(",")) {
      const m = /^([^/]+)(?:\/(\d+))?$/.exec(item);
      if (!m) throw bad(`${field.name} field ${JSON.stringify(parts[i])} is malformed`);
      const step = m[2] === undefined ? 1 : Number(m[2]);
      if (step < 1) throw bad(`${field.name} step must be at least 1, received ${m[2]}`);
      let lo: number;
      let hi: number;
      if (m[1] === "*" || m[1] === "?") {
        lo = field.min;
        hi = field.max;
      } else {
        const range = m[1].split("-");
        if (range.length > 2) throw bad(`${field.name} range ${JSON.stringify(m[1])} is malformed`);
        lo = value(range[0], field, bad);
        hi = range.length === 2 ? value(range[1], field, bad) : m[2] === undefined ? lo : field.max;
        if (lo > hi) throw bad(`${field.name} range ${JSON.stringify(m[1])} runs backwards`);
      }
      for (let v = lo; v <= hi; v += step) set.add(v);
    }
    sets.push(set);
  }
  const [minutes, hours, days, months, weekdays] = sets;
  const dayMatches = (d: Date): boolean => {
    const dom = days.has(d.getUTCDate());
    const dow = weekdays.has(d.getUTCDay());
    // The engine's rule: if either day field is a star, both must match; otherwise either may.
    return starred[2] || starred[4] ? dom && dow : dom || dow;
  };
  return {
    expression,
    next(after: Date): Date {
      const t = new Date(after.getTime());
      t.setUTCSeconds(0, 0);
      t.setUTCMinutes(t.getUTCMinutes() + 1);
      // Five years of minutes bounds a search for a date that never comes (e.g. "0 0 30 2 *").
      const limit = t.getTime() + 5 * 366 * 24 * 3_600_000;
      while (t.getTime() <= limit) {
        if (!months.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0, 0, 0);
          continue;
        }
        if (!dayMatches(t)) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0, 0, 0);
          continue;
        }
        if (!hours.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
          continue;
        }
        if (!minutes.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
          continue;
        }
        return t;
      }
      throw new RangeError(
        `Cron expression ${JSON.stringify(expression)} never fires after ${after.toISOString()}`,
      );
    },
  };
}

function value(text: string, field: Field, bad: (detail: string) => RangeError): number {
  const named = field.names?.indexOf(text) ?? -1;
  const v = named >= 0 ? named + field.min : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(v) || v < field.min || v > field.max) {
    throw bad(
      `${field.name} value ${JSON.stringify(text)} is out of range ${field.min}-${field.max}`,
    );
  }
  return v;
}
