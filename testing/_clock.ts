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
  /** A binary min-heap by (at, seq); may hold cancelled timers (see `cancel`). */
  #timers: EngineTimer[] = [];
  #cancelled = 0;
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
    heapPush(this.#timers, timer);
    this.#arm();
    return timer;
  }

  /** Cancels a timer; a no-op for `undefined` or a timer that already fired. */
  cancel(timer: EngineTimer | undefined): void {
    if (!timer || timer.cancelled) return;
    // Left in the heap and dropped when it reaches the top: every task arms and cancels a
    // schedule and an execution timeout, and searching thousands of timers each time is what
    // made a busy engine slow.
    timer.cancelled = true;
    this.#cancelled++;
    if (this.#cancelled > 1024 && this.#cancelled * 2 > this.#timers.length) this.#compact();
    this.#arm();
  }

  /** The instant of the earliest pending timer at or before `limit`, if any. */
  nextDue(limit: number): number | undefined {
    const first = this.#first();
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
      const first = this.#first();
      if (!first || first.at > now) break;
      heapPop(this.#timers);
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
    this.#cancelled = 0;
    if (this.#realTimer !== undefined) clearTimeout(this.#realTimer);
    this.#realTimer = undefined;
  }

  /** The earliest live timer, after dropping cancelled ones from the top of the heap. */
  #first(): EngineTimer | undefined {
    const timers = this.#timers;
    while (timers.length > 0 && timers[0].cancelled) {
      heapPop(timers);
      this.#cancelled--;
    }
    return timers[0];
  }

  /** Rebuilds the heap without cancelled timers, so they cannot pile up. */
  #compact(): void {
    const live = this.#timers.filter((t) => !t.cancelled);
    this.#timers = [];
    for (const t of live) heapPush(this.#timers, t);
    this.#cancelled = 0;
  }

  #arm(): void {
    if (this.mode !== "real" || this.#closed) return;
    if (this.#realTimer !== undefined) clearTimeout(this.#realTimer);
    this.#realTimer = undefined;
    const first = this.#first();
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

function before(a: EngineTimer, b: EngineTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function heapPush(heap: EngineTimer[], timer: EngineTimer): void {
  let i = heap.push(timer) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i], heap[parent])) break;
    [heap[i], heap[parent]] = [heap[parent], heap[i]];
    i = parent;
  }
}

function heapPop(heap: EngineTimer[]): EngineTimer | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length === 0 || last === undefined) return top;
  heap[0] = last;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < heap.length && before(heap[l], heap[m])) m = l;
    if (r < heap.length && before(heap[r], heap[m])) m = r;
    if (m === i) break;
    [heap[i], heap[m]] = [heap[m], heap[i]];
    i = m;
  }
  return top;
}
