// Decides which waiting durable attempts a worker evicts: those waiting longer than their
// policy's TTL, and, when waiting attempts hold every durable slot, the lowest-priority,
// longest-waiting one that allows capacity eviction. One timer for the whole worker: waits of
// one TTL expire in the order they began, so each TTL keeps an insertion-ordered set and only
// its head can be due.

import type { ResolvedEvictionPolicy } from "./eviction_policy.ts";

/** A durable attempt that may be evicted. */
export interface EvictionCandidate {
  readonly policy: ResolvedEvictionPolicy;
  /** Evicts the attempt (asynchronously); called at most once. */
  evict(reason: string): void;
}

/** What the manager keeps per tracked attempt. */
export interface EvictionTracker {
  /** The attempt's `onWaiting` callback (see `DurableRunOptions`). */
  onWaiting(waiting: boolean, what: string): void;
  /** Stops tracking (the attempt ended). */
  untrack(): void;
}

/** The worker's eviction scheduler. */
export interface EvictionManager {
  track(candidate: EvictionCandidate): EvictionTracker;
  /** Attempts currently waiting. */
  readonly waiting: number;
  /** Evicts every waiting attempt now (worker shutdown). */
  evictAllWaiting(reason: string): number;
  /** Stops the timer. */
  close(): void;
}

interface Entry {
  candidate: EvictionCandidate;
  depth: number;
  since: number;
  what: string;
  done: boolean;
}

/** Creates the scheduler for a worker with `capacity` durable slots. */
export function createEvictionManager(options: {
  capacity: number;
  capacityMinWaitMs?: number;
  now?: () => number;
}): EvictionManager {
  const capacity = options.capacity;
  const minWait = options.capacityMinWaitMs ?? 10_000;
  const now = options.now ?? Date.now;
  const byTtl = new Map<number, Set<Entry>>();
  const waitingAll = new Set<Entry>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Infinity;
  let closed = false;

  function evict(entry: Entry, reason: string): void {
    if (entry.done) return;
    entry.done = true;
    stopWaiting(entry);
    entry.candidate.evict(`${reason} while waiting on ${entry.what}`);
  }

  function stopWaiting(entry: Entry): void {
    if (!waitingAll.delete(entry)) return;
    byTtl.get(entry.candidate.policy.ttlMs)?.delete(entry);
  }

  function nextDue(): number {
    let at = Infinity;
    for (const set of byTtl.values()) {
      for (const head of set) {
        at = Math.min(at, head.since + head.candidate.policy.ttlMs);
        break;
      }
    }
    if (waitingAll.size >= capacity) {
      for (const e of waitingAll) {
        if (e.candidate.policy.allowCapacityEviction) at = Math.min(at, e.since + minWait);
      }
    }
    return at;
  }

  function schedule(): void {
    if (closed) return;
    const at = nextDue();
    if (at === timerAt) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    timerAt = at;
    if (at === Infinity) return;
    timer = setTimeout(tick, Math.max(0, at - now()));
  }

  function tick(): void {
    timer = undefined;
    timerAt = Infinity;
    const t = now();
    for (const [ttl, set] of byTtl) {
      for (const e of set) {
        if (e.since + ttl > t) break;
        evict(e, `Wait TTL (${ttl} ms) exceeded`);
      }
    }
    while (waitingAll.size >= capacity) {
      let best: Entry | undefined;
      for (const e of waitingAll) {
        if (!e.candidate.policy.allowCapacityEviction || e.since + minWait > t) continue;
        if (
          !best || e.candidate.policy.priority < best.candidate.policy.priority ||
          (e.candidate.policy.priority === best.candidate.policy.priority && e.since < best.since)
        ) best = e;
      }
      if (!best) break;
      evict(best, "Worker at capacity");
    }
    schedule();
  }

  return {
    track(candidate) {
      const entry: Entry = { candidate, depth: 0, since: 0, what: "", done: false };
      return {
        onWaiting(waiting, what) {
          if (entry.done) return;
          if (waiting) {
            if (entry.depth++ > 0) return;
            entry.since = now();
            entry.what = what;
            waitingAll.add(entry);
            let set = byTtl.get(candidate.policy.ttlMs);
            if (!set) byTtl.set(candidate.policy.ttlMs, set = new Set());
            set.add(entry);
            schedule();
          } else {
            if (entry.depth === 0 || --entry.depth > 0) return;
            stopWaiting(entry);
          }
        },
        untrack() {
          entry.done = true;
          stopWaiting(entry);
        },
      };
    },
    get waiting() {
      return waitingAll.size;
    },
    evictAllWaiting(reason) {
      const all = [...waitingAll];
      for (const e of all) evict(e, reason);
      return all.length;
    },
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
