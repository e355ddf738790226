// The request side of a bidi stream: items pushed synchronously, consumed by the transport as an
// async iterable; end() completes it, so the transport half-closes the stream.

/** An unbounded push queue read as an async iterable by exactly one consumer. */
export interface RequestQueue<T> extends AsyncIterable<T> {
  /** Appends an item; ignored after `end()`. */
  push(item: T): void;
  /** Completes the iterable once the buffered items are read. */
  end(): void;
}

/** Creates an empty {@link RequestQueue}. */
export function createRequestQueue<T>(): RequestQueue<T> {
  // A head index instead of shift(): thousands of waits can be queued while a stream reconnects.
  let buffer: T[] = [];
  let head = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  async function* read(): AsyncGenerator<T, void, undefined> {
    try {
      while (true) {
        if (head < buffer.length) {
          const item = buffer[head++];
          if (head === buffer.length) {
            buffer = [];
            head = 0;
          }
          yield item;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => wake = resolve);
      }
    } finally {
      ended = true;
      buffer = [];
      head = 0;
    }
  }
  return {
    push(item: T): void {
      if (ended) return;
      buffer.push(item);
      notify();
    },
    end(): void {
      ended = true;
      notify();
    },
    [Symbol.asyncIterator]: read,
  };
}
