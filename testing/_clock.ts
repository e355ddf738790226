// The engine clock: every deadline the mock engine keeps (sleeps, timeouts, retries, schedule
// timeouts) is a timer here, so the virtual clock can fire them in time order without waiting.

/** A scheduled callback. Cancel it with `EngineClock.cancel`. */
export interface EngineTimer {
  readonly at: number;
  readonly seq: number;
  cancelled: boolean;
  readonly fn: () => void;
}

/** Which clock the engine runs on. */
export type ClockMode = "virtual" | "real";

/** Engine time in epoch milliseconds, virtual or real, plus a timer queue over it. */
export class EngineClock {
  readonly mode: ClockMode;
  #now: number;
  #timers: EngineTimer[] = [];
  #seq = 0;
  #realTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #onFire: () => void;

  /**
   * @param mode `"virtual"`: time moves only when `setNow` is called; `"real"`: wall time.
   * @param startMs The virtual clock's start instant.
   * @param onFire Called after timers fired on the real clock, so the engine can account activity.
   */
  constructor(mode: ClockMode, startMs: number, onFire: () => void) {
    this.mode = mode;
    this.#now = startMs;
    this.#onFire = onFire;
  }

  /** The current engine time in epoch milliseconds. */
  now(): number {
    return this.mode === "virtual" ? this.#now : Date.now();
  }

  /** Schedules `fn` at engine time `at` (epoch ms). */
  at(at: number, fn: () => void): EngineTimer {
    const timer: EngineTimer = { at, seq: this.#seq++, cancelled: false, fn };
    this.#timers.push(timer);
    this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.#arm();
    return timer;
  }

  /** Cancels a timer; a no-op for `undefined` or a timer that already fired. */
  cancel(timer: EngineTimer | undefined): void {
    if (!timer || timer.cancelled) return;
    timer.cancelled = true;
    const i = this.#timers.indexOf(timer);
    if (i >= 0) this.#timers.splice(i, 1);
    this.#arm();
  }

  /** The instant of the earliest pending timer at or before `limit`, if any. */
  nextDue(limit: number): number | undefined {
    const first = this.#timers[0];
    return first && first.at <= limit ? first.at : undefined;
  }

  /** Moves the virtual clock to `ms` (never backwards). */
  setNow(ms: number): void {
    if (this.mode !== "virtual") throw new Error("Cannot move a real clock");
    if (ms > this.#now) this.#now = ms;
  }

  /** Fires every timer due at the current time, in time order, including ones added meanwhile. */
  fireDue(): number {
    let fired = 0;
    const now = this.now();
    for (;;) {
      const first = this.#timers[0];
      if (!first || first.at > now) break;
      this.#timers.shift();
      first.cancelled = true;
      fired++;
      first.fn();
    }
    this.#arm();
    return fired;
  }

  /** Drops every timer and stops the real-clock alarm. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) t.cancelled = true;
    this.#timers = [];
    if (this.#realTimer !== undefined) clearTimeout(this.#realTimer);
    this.#realTimer = undefined;
  }

  #arm(): void {
    if (this.mode !== "real" || this.#closed) return;
    if (this.#realTimer !== undefined) clearTimeout(this.#realTimer);
    this.#realTimer = undefined;
    const first = this.#timers[0];
    if (!first) return;
    // setTimeout overflows above 2^31-1 ms; a far deadline just re-arms when the alarm rings.
    const delay = Math.min(Math.max(0, first.at - Date.now()), 2 ** 31 - 1);
    this.#realTimer = setTimeout(() => {
      this.#realTimer = undefined;
      if (this.fireDue() > 0) this.#onFire();
      else this.#arm();
    }, delay);
  }
}
