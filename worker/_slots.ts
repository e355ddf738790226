// A counting semaphore for worker slots. The engine never assigns more than the registered
// slots, but after a reconnect it may re-send work the worker still holds, so extra starts wait
// here instead of overcommitting.

/** One held slot; `release()` is idempotent. */
export interface SlotLease {
  release(): void;
}

/** A pool of `size` slots. */
export interface SlotPool {
  /** Resolves with a lease once a slot is free. */
  acquire(): Promise<SlotLease>;
  /** Slots in use. */
  readonly used: number;
}

/** Creates a pool of `size` slots. */
export function createSlotPool(size: number): SlotPool {
  let used = 0;
  const waiting: (() => void)[] = [];

  const lease = (): SlotLease => {
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        const next = waiting.shift();
        if (next) next();
        else used--;
      },
    };
  };

  return {
    acquire() {
      if (used < size) {
        used++;
        return Promise.resolve(lease());
      }
      return new Promise((resolve) => waiting.push(() => resolve(lease())));
    },
    get used() {
      return used;
    },
  };
}
