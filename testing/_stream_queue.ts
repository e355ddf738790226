// The server side of one long-lived stream (ListenV2, ListenForDurableEvent): the engine pushes
// messages, the call drains them. `pending` counts messages pushed but not yet taken, which is
// what "an assignment not yet delivered" means for the virtual clock. The listener also queues a
// streaming call's request messages in one as they arrive.

/** A push-driven async queue that ends normally, with an error, or when `signal` aborts. */
export class StreamQueue<T> {
  #items: T[] = [];
  #waiter: (() => void) | undefined;
  #done = false;
  #aborted = false;
  #error: unknown = undefined;
  /** Whether the queue was ended (by `end`, or because the client went away). */
  get closed(): boolean {
    return this.#done;
  }
  /** Messages pushed and not yet taken. */
  get pending(): number {
    return this.#items.length;
  }

  /** Queues a message; ignored once the queue ended. */
  push(item: T): void {
    if (this.#done) return;
    this.#items.push(item);
    this.#wake();
  }

  /** Ends the stream after the queued messages, with `error` if given. */
  end(error?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#wake();
  }

  /**
   * Ends at once, with `error` if given: queued messages are not delivered and stay for
   * {@link undelivered}.
   */
  abort(error?: unknown): void {
    this.#aborted = true;
    this.end(error);
  }

  /** Takes the messages that were queued and never delivered (once the queue ended). */
  undelivered(): T[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }

  /** Yields messages until the queue ends or `signal` aborts. */
  async *drain(signal: AbortSignal): AsyncGenerator<T> {
    const onAbort = () => this.abort();
    // A client can give up before its handler runs: the signal is aborted already then, and
    // no abort event will come.
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (this.#items.length > 0 && !this.#aborted) {
          yield this.#items.shift()!;
          continue;
        }
        if (this.#done) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => this.#waiter = resolve);
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#done = true;
      this.#aborted = true;
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
