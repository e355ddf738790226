// Sits between createEnginePorts and MockEngine's in-memory transport, passing everything through
// untouched unless a test asks for one of three things the engine cannot show or do itself:
// the body and deadline of each unary request (the RPC log keeps only a summary), a clean (OK)
// end of the open streams (dropStreams() always ends them with UNAVAILABLE), and durable event
// bytes that are not JSON (the engine always encodes valid JSON). It wraps Connect's Transport,
// a third-party interface; our own ports and listener run unchanged on top of it.

import { create, type DescMessage, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";

/** A unary request as it went on the wire. */
export interface WireCall {
  /** The method's short name, e.g. `"RegisterDurableEvent"`. */
  method: string;
  /** The deadline the caller set, if any. */
  timeoutMs: number | undefined;
  /** The request in proto JSON form, with implicit (default) fields included. */
  body: JsonValue;
}

export interface WireTap {
  readonly transport: Transport;
  /** Unary requests, in call order. */
  readonly calls: WireCall[];
  /** Ends every stream open now with OK status, as a proxy's max connection age would. */
  endStreams(): void;
  /** Replaces the data of every durable event received from now on with `bytes`. */
  corruptDurableEvents(bytes: Uint8Array): void;
}

export function wireTap(inner: Transport): WireTap {
  const calls: WireCall[] = [];
  let endOpen = Promise.withResolvers<void>();
  let corrupt: Uint8Array | undefined;

  const transport: Transport = {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      calls.push({
        method: method.name,
        timeoutMs,
        body: toJson(
          method.input as DescMessage,
          create(method.input as DescMessage, input as Record<string, unknown>),
          { alwaysEmitImplicit: true },
        ),
      });
      return inner.unary(method, signal, timeoutMs, header, input, contextValues);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      // Captured before the call: the in-memory transport answers a stream's headers only with
      // its first message, and an end must reach a stream that has not answered yet too.
      const ended = endOpen.promise.then((): typeof END => END);
      const pending = inner.stream(method, signal, timeoutMs, header, input, contextValues);
      const durable = method.name === "ListenForDurableEvent";
      type Response = Awaited<typeof pending>;
      return Promise.race([pending, ended]).then((response): Response => {
        if (response === END) {
          // The engine's side ends once the caller half-closes; release the call then.
          pending.then((r) => r.message[Symbol.asyncIterator]().return?.()).catch(() => {});
          return {
            stream: true,
            service: method.parent,
            method,
            header: new Headers(),
            trailer: new Headers(),
            message: (async function* () {})(),
          } as unknown as Response;
        }
        return {
          ...response,
          message: endable(response.message, ended, (message) => {
            if (!durable || corrupt === undefined) return message;
            return { ...message, data: corrupt } as typeof message;
          }),
        };
      });
    },
  };

  return {
    transport,
    calls,
    endStreams(): void {
      endOpen.resolve();
      endOpen = Promise.withResolvers<void>();
    },
    corruptDurableEvents(bytes: Uint8Array): void {
      corrupt = bytes;
    },
  };
}

const END = Symbol("end");

function endable<T>(
  source: AsyncIterable<T>,
  end: Promise<typeof END>,
  map: (message: T) => T,
): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      const iterator = source[Symbol.asyncIterator]();
      let finished = false;
      try {
        while (true) {
          const next = await Promise.race([iterator.next(), end]);
          if (next === END) return;
          if (next.done) {
            finished = true;
            return;
          }
          yield map(next.value);
        }
      } finally {
        // Not awaited: a next() may still be pending, and it settles only once the caller has
        // half-closed its side, which it does after this generator returns.
        if (!finished) iterator.return?.().catch(() => {});
      }
    },
  };
}
