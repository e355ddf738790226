// The demo's timeline: notes from the driver and from inside tasks, stamped with engine time and
// printed in a stable order, plus a progress line on stderr. Private to examples/demo.ts.

/** What a note says happened. */
export type NoteKind =
  | "trigger"
  | "event"
  | "clock"
  | "started"
  | "log"
  | "stream"
  | "waiting"
  | "resumed"
  | "skipped"
  | "spawned"
  | "completed"
  | "failed"
  | "chunk";

/** One line of the timeline. */
export interface Note {
  /** Engine time, ms since the epoch. */
  at: number;
  /** The order the note is about; `undefined` for the driver's own notes. */
  order: string | undefined;
  /** The task that wrote it; `undefined` for the driver's own notes. */
  task: string | undefined;
  kind: NoteKind;
  text: string;
}

/** Collects notes and prints them in engine-time order. */
export interface Timeline {
  /** The engine time the timeline counts from. */
  readonly start: number;
  /** Records a note at the engine's current time. */
  note(order: string | undefined, task: string | undefined, kind: NoteKind, text: string): void;
  /** Every note so far, in the order they were recorded. */
  notes(): readonly Note[];
  /**
   * The notes recorded since the last flush, formatted and sorted: by engine time, then the
   * driver's notes, then by order and task (their declaration order), then as recorded. Tasks of
   * different orders run concurrently, so recording order alone would not be stable.
   */
  flush(): string[];
}

/** Options of {@link createTimeline}. */
export interface TimelineOptions {
  /** The engine's clock. */
  now: () => Date;
  /** Orders in the order they should be listed. */
  orders: readonly string[];
  /** Task names in the order they should be listed. */
  tasks: readonly string[];
  /** Show milliseconds (wall-clock runs, where instants are not round). */
  milliseconds?: boolean;
}

/**
 * Creates an empty timeline that counts from the engine's current time.
 *
 * @param options The engine's clock and the listing order of orders and tasks.
 * @returns The timeline.
 */
export function createTimeline(options: TimelineOptions): Timeline {
  const start = options.now().getTime();
  const all: (Note & { seq: number })[] = [];
  let flushed = 0;
  const rank = (list: readonly string[], value: string | undefined) =>
    value === undefined ? -1 : list.indexOf(value);
  return {
    start,
    note(order, task, kind, text) {
      all.push({ at: options.now().getTime(), order, task, kind, text, seq: all.length });
    },
    notes() {
      return all.map(({ seq: _seq, ...note }) => note);
    },
    flush() {
      const batch = all.slice(flushed);
      flushed = all.length;
      batch.sort((a, b) =>
        a.at - b.at ||
        rank(options.orders, a.order) - rank(options.orders, b.order) ||
        rank(options.tasks, a.task) - rank(options.tasks, b.task) ||
        a.seq - b.seq
      );
      return batch.map((n) => formatNote(n, start, options.milliseconds ?? false));
    },
  };
}

/**
 * Formats an engine instant relative to the start, e.g. `+24:00:00` or `+00:00:01.250`.
 *
 * @param at The instant, ms since the epoch.
 * @param start The timeline's start.
 * @param milliseconds Whether to show milliseconds.
 * @returns The offset.
 */
export function formatOffset(at: number, start: number, milliseconds: boolean): string {
  const ms = Math.max(0, at - start);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const base = `+${pad(h)}:${pad(m)}:${pad(s)}`;
  return milliseconds ? `${base}.${pad(ms % 1000, 3)}` : base;
}

function formatNote(note: Note, start: number, milliseconds: boolean): string {
  const time = formatOffset(note.at, start, milliseconds);
  if (note.order === undefined) return `${time}  ${note.kind.padEnd(9)} ${note.text}`;
  const who = `${note.order.padEnd(4)} ${(note.task ?? "").padEnd(14)}`;
  return `${time}  ${who} ${note.kind.padEnd(9)} ${note.text}`.trimEnd();
}

/** A one-line status on stderr that rewrites itself; silent when stderr is not a terminal. */
export interface Progress {
  /** Replaces the line. */
  update(text: string): void;
  /** Erases the line, so normal output continues on a clean line. */
  clear(): void;
}

/**
 * Creates a progress line on stderr.
 *
 * @param enabled Whether to draw at all; default: when stderr is a terminal.
 * @returns The progress line.
 */
export function createProgress(enabled: boolean = Deno.stderr.isTerminal()): Progress {
  const encoder = new TextEncoder();
  let shown = false;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  return {
    update(text) {
      if (!enabled) return;
      const width = Math.max(20, (safeColumns() ?? 80) - 1);
      write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
      shown = true;
    },
    clear() {
      if (!enabled || !shown) return;
      write("\r\x1b[2K");
      shown = false;
    },
  };
}

function safeColumns(): number | undefined {
  try {
    const { columns } = Deno.consoleSize();
    // Pseudo-terminals without a size report 0 columns.
    return columns > 0 ? columns : undefined;
  } catch {
    return undefined;
  }
}

/** A progress line that draws nothing, for tests and pipes. */
export const silentProgress: Progress = { update() {}, clear() {} };
