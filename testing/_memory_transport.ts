// The in-memory transport of MockEngine (`engine.client`, `engine.transport()`): calls the
// service handlers directly. Connect's router transport built web Headers, async-iterable chains
// and an abort per call, which made an in-memory trigger cost the engine more than the run it
// starts, and its streams let a message leave the engine's queue before the client took it, so
// an assignment could vanish when a worker re-opened its stream. Here a streamed message counts
// as delivered only once the client reads it; the rest stay queued when the client goes away.
// Messages cross as bytes both ways, so neither side can mutate what the other holds, as over a
// network, and a handler's error reaches the client as its code and message only.

import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { type CallFn, intercepted } from "../transport/auth.ts";
import { collectRoutes, type ServiceRegistry } from "./_listener.ts";

/** A transport to `routes` in this process, running `interceptors` on every call. */
export function createMemoryTransport(
  routes: (registry: ServiceRegistry) => void,
  interceptors: Interceptor[],
): Transport {
  const table = collectRoutes(routes);
  return {
    async stream(method, signal, _timeoutMs, header, input, contextValues) {
      const path = `/${method.parent.typeName}/${method.name}`;
      const route = table.get(path);
      const inputSchema: DescMessage = method.input;
      const outputSchema: DescMessage = method.output;
      const send = async (req: StreamRequest): Promise<StreamResponse> => {
        if (route === undefined) {
          throw new ConnectError(`${path} is not implemented`, Code.Unimplemented);
        }
        if (req.signal.aborted) throw ConnectError.from(req.signal.reason, Code.Canceled);
        // The handler's signal: aborts when the client does, and when the call ends.
        const call = new AbortController();
        const onAbort = () => call.abort(ConnectError.from(req.signal.reason, Code.Canceled));
        req.signal.addEventListener("abort", onAbort, { once: true });
        const requests = readUntilAborted(inputSchema, req.message, call.signal);
        const ctx = { requestHeader: req.header, signal: call.signal };
        // The handler runs now, as an engine handles a call when it arrives; its messages are
        // read as the client asks for them.
        let output: AsyncIterable<unknown>;
        try {
          if (method.methodKind === "server_streaming") {
            const first = await requests.next();
            if (first.done === true) {
              throw new ConnectError("expected one request message", Code.InvalidArgument);
            }
            output = route.handler(first.value, ctx) as AsyncIterable<unknown>;
          } else if (method.methodKind === "bidi_streaming") {
            output = route.handler(requests, ctx) as AsyncIterable<unknown>;
          } else {
            const single = route.handler(requests, ctx);
            output = (async function* () {
              yield await single;
            })();
          }
        } catch (err) {
          req.signal.removeEventListener("abort", onAbort);
          call.abort();
          await requests.return();
          throw wireError(err);
        }
        async function* responses(): AsyncGenerator<MessageShape<DescMessage>> {
          try {
            for await (const message of output) yield copy(outputSchema, message);
            if (req.signal.aborted) throw ConnectError.from(req.signal.reason, Code.Canceled);
          } catch (err) {
            if (req.signal.aborted) throw ConnectError.from(req.signal.reason, Code.Canceled);
            throw wireError(err);
          } finally {
            req.signal.removeEventListener("abort", onAbort);
            call.abort();
            await requests.return();
          }
        }
        return {
          stream: true,
          service: method.parent,
          method,
          header: new Headers(),
          message: responses(),
          trailer: new Headers(),
        };
      };
      const response = await intercepted(interceptors, send as CallFn)({
        ...requestCommon(method, header, contextValues, signal),
        stream: true,
        message: normalize(inputSchema, input),
      } as StreamRequest);
      return response as StreamResponse<typeof method.input, typeof method.output>;
    },
    async unary(method, signal, _timeoutMs, header, input, contextValues) {
      const path = `/${method.parent.typeName}/${method.name}`;
      const inputSchema: DescMessage = method.input;
      const outputSchema: DescMessage = method.output;
      const route = table.get(path);
      const send = async (req: UnaryRequest): Promise<UnaryResponse> => {
        if (route === undefined) {
          throw new ConnectError(`${path} is not implemented`, Code.Unimplemented);
        }
        if (req.signal.aborted) throw ConnectError.from(req.signal.reason, Code.Canceled);
        const request = copy(inputSchema, req.message);
        let output: unknown;
        try {
          output = await route.handler(request, { requestHeader: req.header, signal: req.signal });
        } catch (err) {
          // What the client of a real server sees: the code and message, nothing else.
          throw wireError(err);
        }
        return {
          stream: false,
          service: method.parent,
          method,
          header: new Headers(),
          message: copy(outputSchema, output),
          trailer: new Headers(),
        };
      };
      const response = await intercepted(interceptors, send as CallFn)({
        ...requestCommon(method, header, contextValues, signal),
        stream: false,
        message: create(method.input, input),
      } as UnaryRequest);
      return response as UnaryResponse<typeof method.input, typeof method.output>;
    },
  };
}

const NEVER = new AbortController().signal;

/** The fields of a call's request that interceptors see, whatever its kind. */
function requestCommon(
  method: DescMethod,
  header: HeadersInit | undefined,
  contextValues: ContextValues | undefined,
  signal: AbortSignal | undefined,
) {
  return {
    service: method.parent,
    method,
    requestMethod: "POST",
    url: `memory://engine/${method.parent.typeName}/${method.name}`,
    header: new Headers(header),
    contextValues: contextValues ?? createContextValues(),
    signal: signal ?? NEVER,
  };
}

/** What the client of a real server sees of a handler's error: its code and message only. */
function wireError(err: unknown): ConnectError {
  const error = ConnectError.from(err);
  return new ConnectError(error.rawMessage, error.code);
}

async function* normalize(
  schema: DescMessage,
  input: AsyncIterable<unknown>,
): AsyncGenerator<MessageShape<DescMessage>> {
  for await (const value of input) {
    yield create(schema, value as MessageInitShape<DescMessage>);
  }
}

/**
 * The client's request messages as the handler reads them: copies, ending when `signal` aborts
 * even while the client has nothing to send. `return()` ends the client's iterable too.
 */
function readUntilAborted(
  schema: DescMessage,
  source: AsyncIterable<unknown>,
  signal: AbortSignal,
): AsyncIterableIterator<unknown> & { return(): Promise<IteratorResult<unknown>> } {
  const it = source[Symbol.asyncIterator]();
  const ended: IteratorResult<unknown> = { done: true, value: undefined };
  // One waiter at a time, ended by the abort. (Racing each read against one long-lived "aborted"
  // promise would leave a reaction on it per message: a leak on a stream of many requests.)
  let waiting: ((result: IteratorResult<unknown>) => void) | undefined;
  signal.addEventListener("abort", () => waiting?.(ended), { once: true });
  let finished = false;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (finished || signal.aborted) return ended;
      const result = await new Promise<IteratorResult<unknown>>((resolve, reject) => {
        waiting = resolve;
        it.next().then(resolve, reject);
      });
      waiting = undefined;
      if (result.done === true || signal.aborted) return ended;
      return { done: false, value: copy(schema, result.value) };
    },
    return() {
      if (!finished) {
        finished = true;
        // The client's iterable may be waiting for its next message: do not wait for it.
        void it.return?.().catch(() => {});
      }
      return Promise.resolve(ended);
    },
  };
}

/** A copy through bytes of a message (or of the init shape `create` takes). */
function copy(schema: DescMessage, message: unknown): MessageShape<DescMessage> {
  const value = create(schema, message as MessageInitShape<DescMessage>);
  return fromBinary(schema, toBinary(schema, value));
}
