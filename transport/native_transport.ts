// gRPC over Deno's own fetch (hyper's HTTP/2 client, not nghttp2), so a GOAWAY from the engine
// cannot take the process down the way node:http2 can on some Deno releases
// (hatchet-protocol.md §9.1). No `node:` import may appear here.
//
// The one hole: fetch never exposes HTTP trailers. A gRPC status that arrives as a Trailers-Only
// response (the status sits in the response headers, which is how grpc-go and grpc-js answer an
// error before any message) is read normally. A status sent in trailers *after* messages is
// invisible, so a body that ends cleanly after at least one byte is read as OK; long-lived streams
// must treat an end as "reconnect". A body that ends with no bytes and no status in the headers
// is reported as `unknown`, since OK and an error cannot be told apart there.
import { type NoDelayRelay, openNoDelayRelay } from "./_nodelay_relay.ts";
import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
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
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import type {
  Compression,
  UniversalClientRequest,
  UniversalClientResponse,
} from "@connectrpc/connect/protocol";
import {
  createTransport,
  findTrailerError,
  requestHeaderWithCompression,
  validateResponseWithCompression,
} from "@connectrpc/connect/protocol-grpc";
import { authInterceptor, type CallFn, intercepted } from "./auth.ts";
import { encodeEnvelope, type Envelope, EnvelopeSplitter } from "./envelope.ts";
import type { ClosableTransport } from "./grpc_transport.ts";

/** Options of {@linkcode createNativeTransport}. */
export interface NativeTransportOptions {
  /** `http://host:port` for h2c (HTTP/2 with prior knowledge) or `https://host:port` for TLS. */
  baseUrl: string;
  /** The API token sent as `authorization: bearer <token>` on every call (read per call). */
  token?: () => string;
  /** Connect interceptors run on every call, outermost first, after the token is set. */
  interceptors?: Interceptor[];
  /** Extra root certificates (PEM) trusted besides the system roots. */
  caCerts?: string[];
  /** Client certificate chain (PEM) for mutual TLS; needs `key`. */
  cert?: string;
  /** Client private key (PEM) for mutual TLS; needs `cert`. */
  key?: string;
}

/**
 * Creates a gRPC transport over Deno's `fetch` with an HTTP/2-only client.
 *
 * @param options Address, TLS material and interceptors.
 * @returns The transport and a `close()` that ends its connections.
 * @throws {TypeError} When `baseUrl` is not an `http:` or `https:` URL, or only one of `cert`
 * and `key` is given.
 *
 * @example
 * ```ts
 * import { createNativeTransport } from "./native_transport.ts";
 * import assert from "node:assert/strict";
 * const { transport, close } = createNativeTransport({ baseUrl: "http://127.0.0.1:7070" });
 * assert.equal(typeof transport.unary, "function");
 * await close();
 * ```
 */
export function createNativeTransport(options: NativeTransportOptions): ClosableTransport {
  const url = parseBaseUrl(options.baseUrl);
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError(
      "Cannot create transport: mutual TLS needs both cert and key, received only " +
        (options.cert === undefined ? "key" : "cert"),
    );
  }
  // fetch takes SNI and the certificate name from the URL host and has no override, so the
  // factory sends configurations with a different TLS server name to the node stack.
  const baseUrl = url.href.replace(/\/$/, "");
  const tlsKey = options.cert !== undefined && options.key !== undefined
    ? { cert: options.cert, key: options.key }
    : {};
  const client = Deno.createHttpClient({
    http1: false,
    http2: true,
    caCerts: options.caCerts,
    ...tlsKey,
  });
  // Opened on the first large request, and only then: see _nodelay_relay.ts.
  let relay: NoDelayRelay | undefined | null;
  const largeClient = (): Deno.HttpClient | undefined => {
    if (relay === undefined) {
      const tls = url.protocol === "https:";
      const port = Number(url.port || (tls ? 443 : 80));
      relay = options.cert !== undefined ? null : openNoDelayRelay(
        url.hostname.replace(/^\[|\]$/g, ""),
        port,
        tls ? { caCerts: options.caCerts } : undefined,
      ) ?? null;
    }
    return relay?.client;
  };
  const http = createFetchH2Client(client, largeClient);
  const token = options.token;
  const interceptors = [
    ...(token === undefined ? [] : [authInterceptor(token)]),
    ...(options.interceptors ?? []),
  ];
  // Unary and server-streaming calls with nothing to intercept but the token build their
  // headers directly and skip Connect's client pipeline.
  const plainCalls = (options.interceptors ?? []).length === 0;
  const streaming = createTransport({
    httpClient: http.fetch,
    baseUrl,
    useBinaryFormat: true,
    interceptors,
    acceptCompression: ACCEPT_COMPRESSION,
    sendCompression: null,
    compressMinBytes: 1024,
    readMaxBytes: READ_MAX_BYTES,
    writeMaxBytes: 0xffffffff,
  });
  const transport: Transport = {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      http.unary(
        baseUrl,
        plainCalls && header === undefined ? { token } : { interceptors },
        method,
        signal,
        timeoutMs,
        header,
        input,
        contextValues,
      ),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      method.methodKind === "server_streaming" && plainCalls && header === undefined
        ? http.serverStream(baseUrl, token, method, signal, timeoutMs, input)
        : method.methodKind === "bidi_streaming" && method.parent.typeName === "v1.V1Dispatcher" &&
            plainCalls && header === undefined
        ? http.bidiStream(baseUrl, token, method, signal, timeoutMs, input)
        : streaming.stream(method, signal, timeoutMs, header, input, contextValues),
  };
  let closed: Promise<void> | undefined;
  return {
    transport,
    close(): Promise<void> {
      closed ??= http.close().finally(async () => {
        client.close();
        await relay?.close();
      });
      return closed;
    },
  };
}

const READ_MAX_BYTES = 0xffffffff;

function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(
      `Cannot create transport: expected e.g. "http://127.0.0.1:7070", received "${baseUrl}"`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `Cannot create transport: expected an http: or https: URL, received "${baseUrl}"`,
    );
  }
  return url;
}

const TRANSPORT_CLOSED = "the transport was closed";

/**
 * The calls over one fetch client: Connect's UniversalClientFn for streams, a direct unary call,
 * and a close() that aborts every call still in flight.
 */
function createFetchH2Client(
  client: Deno.HttpClient,
  largeClient: () => Deno.HttpClient | undefined,
) {
  const inFlight = new Set<AbortController>();
  let isClosed = false;

  async function fetchClient(req: UniversalClientRequest): Promise<UniversalClientResponse> {
    if (isClosed) throw new ConnectError(TRANSPORT_CLOSED, Code.Canceled);
    // Our own controller, linked to the call's, so close() can end calls too.
    const controller = new AbortController();
    const onAbort = () => controller.abort(req.signal?.reason);
    if (req.signal?.aborted) onAbort();
    req.signal?.addEventListener("abort", onAbort);
    inFlight.add(controller);
    const release = () => {
      inFlight.delete(controller);
      req.signal?.removeEventListener("abort", onAbort);
    };
    const body = req.body === undefined ? undefined : replayableBody(req.body);
    let res: Response;
    for (let attempt = 1;; attempt++) {
      try {
        res = await isolatedFetch(req.url, {
          method: req.method,
          headers: req.header,
          body: body?.stream(controller.signal) ?? null,
          signal: controller.signal,
          client,
          // A streamed request body needs half-duplex mode; the response can still arrive while
          // the request is being sent, which bidi streams rely on.
          duplex: "half",
        } as RequestInit);
        break;
      } catch (e) {
        // A stream the server refused (above the last stream id of its GOAWAY, or reset with
        // REFUSED_STREAM) was never processed, so it is sent again on a fresh connection.
        if (
          !controller.signal.aborted && attempt < MAX_ATTEMPTS && isRefusedStream(e) &&
          (body?.replayable ?? true)
        ) {
          continue;
        }
        release();
        throw networkError(e, controller.signal, "request");
      }
    }
    body?.commit();
    const trailer = new Headers();
    return {
      status: res.status,
      header: res.headers,
      trailer,
      body: readBody(res, trailer, controller.signal, release),
    };
  }

  // Unary calls skip Connect's generic client pipeline (a request body stream, async-iterable
  // envelope parsing, an abort per finished call): one encoded message goes out as the whole
  // body and the response is read in one piece. Interceptors, deadlines, the refused-stream
  // resend and the error mapping behave as on the streaming path.
  async function unary<I extends DescMessage, O extends DescMessage>(
    baseUrl: string,
    headers: UnaryHeaders,
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: MessageInitShape<I>,
    contextValues: ContextValues | undefined,
  ): Promise<UnaryResponse<I, O>> {
    const call = openCall(signal, timeoutMs);
    const send = async (req: UnaryRequest): Promise<UnaryResponse> => {
      const res = await post(
        req.url,
        "interceptors" in headers ? req.header : plainHeaders(timeoutMs, headers.token),
        encodeEnvelope(toBinary(method.input, req.message as MessageShape<I>)),
        req.signal,
      );
      let bytes: Uint8Array;
      try {
        const { headerError } = validateResponseWithCompression(
          ACCEPT_COMPRESSION,
          res.status,
          res.headers,
        );
        bytes = await readWholeBody(res);
        if (headerError !== undefined) throw headerError;
      } catch (e) {
        await res.body?.cancel().catch(() => {});
        throw networkError(e, req.signal, "response");
      }
      return {
        stream: false,
        service: method.parent,
        method,
        header: res.headers,
        message: await readUnaryMessage(method.output, bytes, res.headers),
        trailer: new Headers(),
      } as UnaryResponse<I, O>;
    };
    const next = intercepted("interceptors" in headers ? headers.interceptors : [], send as CallFn);
    try {
      const response = await next({
        stream: false,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: `${baseUrl}/${method.parent.typeName}/${method.name}`,
        header: "interceptors" in headers
          ? requestHeaderWithCompression(true, timeoutMs, header, ACCEPT_COMPRESSION, null)
          : UNUSED_HEADERS,
        contextValues: contextValues ?? createContextValues(),
        message: create(method.input, input),
        signal: call.signal,
      } as UnaryRequest);
      return response as UnaryResponse<I, O>;
    } catch (e) {
      throw call.error(e);
    } finally {
      call.end();
    }
  }

  /** One call's signal: aborted by the caller's signal, the deadline, or close(). */
  function openCall(signal: AbortSignal | undefined, timeoutMs: number | undefined) {
    const controller = new AbortController();
    const onAbort = () =>
      controller.abort(ConnectError.from(signal?.reason ?? "operation was aborted", Code.Canceled));
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort);
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    }, timeoutMs);
    inFlight.add(controller);
    return {
      signal: controller.signal,
      /** What the caller sees of `e`: once the call was aborted, the reason it was. */
      error(e: unknown): ConnectError {
        return controller.signal.aborted
          ? ConnectError.from(controller.signal.reason, Code.Canceled)
          : ConnectError.from(e);
      },
      end() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        inFlight.delete(controller);
      },
    };
  }

  /** Sends one request whose body is at hand, again on a fresh stream when it was refused. */
  async function post(
    url: string,
    headers: HeadersInit,
    body: Uint8Array<ArrayBuffer>,
    signal: AbortSignal,
  ): Promise<Response> {
    if (isClosed) throw new ConnectError(TRANSPORT_CLOSED, Code.Canceled);
    const relay = body.byteLength > SINGLE_WRITE_LIMIT ? largeClient() : undefined;
    for (let attempt = 1;; attempt++) {
      try {
        return await isolatedFetch(
          // The relay does the TLS, so the request to it is cleartext HTTP/2.
          relay === undefined ? url : url.replace(/^https:/, "http:"),
          {
            method: "POST",
            headers,
            // Through the relay Nagle is off, so the body needs no cutting.
            ...(relay === undefined ? requestBody(body) : { body }),
            signal,
            client: relay ?? client,
          } as RequestInit,
        );
      } catch (e) {
        if (!signal.aborted && attempt < MAX_ATTEMPTS && isRefusedStream(e)) continue;
        throw networkError(e, signal, "request");
      }
    }
  }

  // Server streams (the worker's action stream) get the same treatment: the request goes out
  // whole, and messages are cut from the response body as it arrives. As on Connect's path, a
  // body that ends cleanly after messages is OK (fetch cannot read trailers) and one that ends
  // with neither a message nor a status is reported as unknown.
  async function serverStream<I extends DescMessage, O extends DescMessage>(
    baseUrl: string,
    token: (() => string) | undefined,
    method: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    input: AsyncIterable<MessageInitShape<I>>,
  ): Promise<StreamResponse<I, O>> {
    let request: MessageInitShape<I> | undefined;
    for await (const message of input) {
      request = message;
      break;
    }
    const call = openCall(signal, timeoutMs);
    let res: Response;
    try {
      const message = create(method.input, request);
      res = await post(
        `${baseUrl}/${method.parent.typeName}/${method.name}`,
        plainHeaders(timeoutMs, token),
        encodeEnvelope(toBinary(method.input, message)),
        call.signal,
      );
      await rejectBadResponseHeaders(res);
    } catch (e) {
      call.end();
      throw call.error(e);
    }
    return {
      stream: true,
      service: method.parent,
      method,
      header: res.headers,
      message: responseMessages(method.output, res, call),
      trailer: new Headers(),
    } as StreamResponse<I, O>;
  }

  // (Only the durable streams: on this path the run subscription's fetch span, under OTEL_DENO,
  // ended up the parent of later trigger spans; that stream stays on Connect for now.)
  // The durable bidi streams (V1Dispatcher) too: Connect's streaming pipeline races every read of
  // the response against one promise that settles only when the call ends, which adds a
  // reaction to it per message: a worker's long-lived DurableTask stream kept every message it
  // ever received reachable. Here each request message is framed as the caller yields it, and
  // responses are cut from the body as it arrives, as for server streams.
  async function bidiStream<I extends DescMessage, O extends DescMessage>(
    baseUrl: string,
    token: (() => string) | undefined,
    method: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    input: AsyncIterable<MessageInitShape<I>>,
  ): Promise<StreamResponse<I, O>> {
    if (isClosed) throw new ConnectError(TRANSPORT_CLOSED, Code.Canceled);
    const call = openCall(signal, timeoutMs);
    const requests = input[Symbol.asyncIterator]();
    const stopRequests = () => {
      requests.return?.()?.catch?.(() => {});
    };
    call.signal.addEventListener("abort", stopRequests, { once: true });
    // The requests are pumped from here, in the caller's async context: pulled from inside
    // fetch, they would run in the context of Deno's fetch span (OTEL_DENO), and so would
    // whatever they wake.
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      cancel() {
        stopRequests();
      },
    });
    // An errored request body is what makes the HTTP/2 layer reset the stream on abort.
    call.signal.addEventListener("abort", () => {
      try {
        controller.error(call.signal.reason);
      } catch {
        // Already closed.
      }
    }, { once: true });
    void (async () => {
      try {
        for (;;) {
          const next = await requests.next();
          if (call.signal.aborted) return;
          if (next.done === true) {
            controller.close();
            return;
          }
          const message = create(method.input, next.value);
          controller.enqueue(encodeEnvelope(toBinary(method.input, message)));
        }
      } catch (e) {
        try {
          controller.error(e);
        } catch {
          // Already closed or errored.
        }
      }
    })();
    let res: Response;
    try {
      res = await fetch(`${baseUrl}/${method.parent.typeName}/${method.name}`, {
        method: "POST",
        headers: plainHeaders(timeoutMs, token),
        body,
        signal: call.signal,
        client,
        duplex: "half",
      } as RequestInit);
      await rejectBadResponseHeaders(res);
    } catch (e) {
      call.end();
      call.signal.removeEventListener("abort", stopRequests);
      stopRequests();
      throw call.error(networkError(e, call.signal, "request"));
    }
    const response = res;
    async function* messages(): AsyncGenerator<MessageShape<O>> {
      try {
        yield* responseMessages(method.output, response, call);
      } finally {
        call.signal.removeEventListener("abort", stopRequests);
        stopRequests();
      }
    }
    return {
      stream: true,
      service: method.parent,
      method,
      header: response.headers,
      message: messages(),
      trailer: new Headers(),
    } as StreamResponse<I, O>;
  }

  return {
    fetch: fetchClient,
    unary,
    serverStream,
    bidiStream,
    close(): Promise<void> {
      isClosed = true;
      const reason = new ConnectError(TRANSPORT_CLOSED, Code.Canceled);
      for (const controller of inFlight) controller.abort(reason);
      inFlight.clear();
      return Promise.resolve();
    },
  };
}

/**
 * The messages of a streaming response, cut from its body as it arrives: an incomplete last
 * envelope or an error status in the trailers ends it with that error, and every error is what
 * the call reports (`call.error`).
 */
async function* responseMessages<O extends DescMessage>(
  schema: O,
  response: Response,
  call: { signal: AbortSignal; end(): void; error(e: unknown): ConnectError },
): AsyncGenerator<MessageShape<O>> {
  const trailer = new Headers();
  const envelopes = new EnvelopeSplitter();
  try {
    for await (const chunk of readBody(response, trailer, call.signal, call.end)) {
      envelopes.push(chunk);
      for (let e; (e = envelopes.next()) !== undefined;) {
        yield await decodeMessage(schema, e, response.headers);
      }
    }
    if (envelopes.pending) {
      throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
    }
    const error = findTrailerError(trailer);
    if (error !== undefined) throw error;
  } catch (e) {
    throw call.error(e);
  }
}

async function* readBody(
  res: Response,
  trailer: Headers,
  signal: AbortSignal,
  release: () => void,
): AsyncGenerator<Uint8Array> {
  const reader = res.body?.getReader();
  let bytes = 0;
  let finished = false;
  try {
    while (reader !== undefined) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw networkError(e, signal, "response");
      }
      if (chunk.done) break;
      bytes += chunk.value.byteLength;
      yield chunk.value;
    }
    finished = true;
    if (!res.headers.has("grpc-status")) {
      if (bytes > 0) {
        trailer.set("grpc-status", "0");
      } else {
        trailer.set("grpc-status", String(Code.Unknown));
        trailer.set(
          "grpc-message",
          encodeURIComponent(
            "the server sent its status in HTTP/2 trailers, which fetch cannot read",
          ),
        );
      }
    }
  } finally {
    release();
    if (!finished && reader !== undefined) await reader.cancel().catch(() => {});
  }
}

/** First buffer {@linkcode readWholeBody} reads into; it doubles whenever a read fills it. */
export const WHOLE_BODY_FIRST_BYTES = 1024;

/**
 * The whole body of a response, read through a BYOB reader into a buffer that starts at
 * {@linkcode WHOLE_BODY_FIRST_BYTES} and doubles as needed (a body that is not a byte stream is
 * read with `arrayBuffer()`).
 *
 * Not `arrayBuffer()`: in Deno 2.9 that reads a fetch body natively in one piece, and with
 * many calls in flight against a gRPC server (which ends each response with trailers) the
 * process's C heap grows and is not given back. Measured with 100 calls in flight: 60,000
 * calls against a node:http2 server grew a process's RSS by about 250 MB read with
 * `arrayBuffer()` and by 60 MB read this way (most of it V8's heap); see rss_mb_100k_waits in
 * bench/e2e.ts.
 *
 * @param res The response; its body is consumed.
 * @returns The body's bytes (empty when it has none).
 * @example
 * ```ts
 * import { readWholeBody } from "./native_transport.ts";
 * import assert from "node:assert/strict";
 * const body = new Uint8Array(5_000).map((_, i) => i % 251);
 * assert.deepEqual(await readWholeBody(new Response(body)), body);
 * assert.equal((await readWholeBody(new Response(null))).byteLength, 0);
 * ```
 */
export async function readWholeBody(res: Response): Promise<Uint8Array<ArrayBuffer>> {
  if (res.body === null) return new Uint8Array(0);
  let reader: ReadableStreamBYOBReader;
  try {
    reader = res.body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream (a Response built in JS): nothing native to spare.
    return new Uint8Array(await res.arrayBuffer());
  }
  let buffer = new Uint8Array(WHOLE_BODY_FIRST_BYTES);
  let length = 0;
  for (;;) {
    if (length === buffer.byteLength) {
      const larger = new Uint8Array(buffer.byteLength * 2);
      larger.set(buffer);
      buffer = larger;
    }
    const { value, done } = await reader.read(buffer.subarray(length));
    // The read transfers the buffer it was given: what comes back is a view of it.
    if (value !== undefined) buffer = new Uint8Array(value.buffer);
    if (done) break;
    length += value.byteLength;
  }
  return buffer.subarray(0, length);
}

/** Throws what the response headers of a streaming call say is wrong, after dropping its body. */
async function rejectBadResponseHeaders(res: Response): Promise<void> {
  const { headerError } = validateResponseWithCompression(
    ACCEPT_COMPRESSION,
    res.status,
    res.headers,
  );
  if (headerError !== undefined) {
    await res.body?.cancel().catch(() => {});
    throw headerError;
  }
}

/** Maps a fetch failure to a ConnectError; an abort keeps the reason Connect gave it. */
function networkError(e: unknown, signal: AbortSignal, phase: string): unknown {
  if (signal.aborted) return signal.reason ?? e;
  if (e instanceof ConnectError) return e;
  // fetch says only "fetch failed"; the reason (refused, reset, an untrusted certificate) sits
  // in the innermost cause, after the URL, which the RPC error names already.
  let inner: unknown = e;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  const detail = (inner instanceof Error ? inner.message : String(inner))
    .replace(/^error sending request for url \([^)]*\): /, "");
  return new ConnectError(
    `HTTP/2 ${phase} failed: ${detail}`,
    Code.Unavailable,
    undefined,
    undefined,
    e,
  );
}

/**
 * Largest piece of a request body that reaches the socket in the same write as what precedes
 * it. Deno's fetch leaves Nagle's algorithm on (hyper-util's connector sets TCP_NODELAY off and
 * `Deno.createHttpClient` has no option for it until denoland/deno#35581), and its HTTP/2 layer
 * copies a DATA frame into its write buffer only below 1 KiB; a larger one goes out as a second
 * write, which Nagle holds until the engine's delayed ACK: about 40 ms on every request above
 * 1 KiB. Sent as pieces of at most this size, a request up to the 16 KiB write buffer leaves in
 * one write.
 */
export const SINGLE_WRITE_BYTES = 1000;

/**
 * Requests larger than this leave in more than one write whatever their pieces, so they go
 * through the relay of `_nodelay_relay.ts` where one can be opened.
 */
const SINGLE_WRITE_LIMIT = 16 * 1024;

/**
 * The fetch body of one encoded request: the bytes themselves when small, otherwise a stream of
 * pieces of at most {@link SINGLE_WRITE_BYTES} (see there why).
 *
 * @param body The encoded request.
 * @returns The `body` (and `duplex`, which a stream needs) of the fetch init.
 * @example
 * ```ts
 * import { requestBody } from "./native_transport.ts";
 * import assert from "node:assert/strict";
 * const small = requestBody(new Uint8Array(10));
 * assert.ok(small.body instanceof Uint8Array);
 * const big = requestBody(new Uint8Array(2_500).fill(7));
 * const pieces = await Array.fromAsync(big.body as ReadableStream<Uint8Array>);
 * assert.deepEqual(pieces.map((p) => p.length), [1000, 1000, 500]);
 * ```
 */
export function requestBody(
  body: Uint8Array<ArrayBuffer>,
): { body: BodyInit; duplex?: "half" } {
  if (body.byteLength <= SINGLE_WRITE_BYTES) return { body };
  let offset = 0;
  return {
    body: new ReadableStream<Uint8Array>({
      // Every piece is queued at once, so the HTTP/2 layer buffers them before it writes.
      start(controller) {
        for (; offset < body.byteLength; offset += SINGLE_WRITE_BYTES) {
          controller.enqueue(body.slice(offset, offset + SINGLE_WRITE_BYTES));
        }
        controller.close();
      },
    }),
    duplex: "half",
  };
}

/**
 * How a unary call gets its request headers: through Connect's header builder and the
 * interceptors (which may read and change them), or, with no interceptor but the token, as a
 * plain list. Building, validating and copying a web `Headers` per call was a tenth of a busy
 * worker's CPU.
 */
type UnaryHeaders = { interceptors: Interceptor[] } | { token: (() => string) | undefined };

/** The request of a call on the plain path carries these instead; nothing reads them. */
const UNUSED_HEADERS = new Headers();

let baseHeaders: [string, string][] | undefined;

/** The headers of a unary call on the plain path: the same ones Connect's builder sends. */
function plainHeaders(
  timeoutMs: number | undefined,
  token: (() => string) | undefined,
): [string, string][] {
  baseHeaders ??= [
    ...requestHeaderWithCompression(true, undefined, undefined, ACCEPT_COMPRESSION, null),
  ];
  const headers = [...baseHeaders];
  if (timeoutMs !== undefined) headers.push(["grpc-timeout", `${timeoutMs}m`]);
  if (token !== undefined) headers.push(["authorization", `bearer ${token()}`]);
  return headers;
}

/**
 * The one message of a unary response body. A body with no bytes and no status in the headers
 * is reported as on the streaming path: fetch cannot read trailers, so OK and an error cannot
 * be told apart there.
 */
async function readUnaryMessage<O extends DescMessage>(
  schema: O,
  bytes: Uint8Array,
  headers: Headers,
): Promise<MessageShape<O>> {
  if (bytes.byteLength === 0) {
    throw headers.has("grpc-status")
      ? new ConnectError(
        "protocol error: missing output message for unary method",
        Code.Unimplemented,
      )
      : new ConnectError(
        "the server sent its status in HTTP/2 trailers, which fetch cannot read",
        Code.Unknown,
      );
  }
  const envelopes = new EnvelopeSplitter();
  envelopes.push(bytes);
  const first = envelopes.next();
  if (first === undefined) {
    throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }
  if (envelopes.pending) {
    throw new ConnectError(
      "protocol error: received extra output message for unary method",
      Code.Unimplemented,
    );
  }
  return await decodeMessage(schema, first, headers);
}

/** Decodes one received message, gunzipping it when flagged (the only encoding we accept). */
async function decodeMessage<O extends DescMessage>(
  schema: O,
  envelope: Envelope,
  headers: Headers,
): Promise<MessageShape<O>> {
  let body = envelope.body;
  if (envelope.compressed) {
    const encoding = headers.get("grpc-encoding");
    if (encoding !== compressionGzipWeb.name) {
      throw new ConnectError(
        `protocol error: received compressed output without grpc-encoding (${encoding})`,
        Code.Internal,
      );
    }
    body = await compressionGzipWeb.decompress(body, READ_MAX_BYTES);
  }
  try {
    return fromBinary(schema, body);
  } catch (e) {
    throw new ConnectError(
      `parse binary: ${(e as Error).message}`,
      Code.Internal,
      undefined,
      undefined,
      e,
    );
  }
}

const MAX_ATTEMPTS = 3;
/** Request bytes kept for a resend; a longer prefix (a busy bidi stream) is not resent. */
const REPLAY_LIMIT = 4 * 1024 * 1024;

function isRefusedStream(e: unknown): boolean {
  // hyper reports a GOAWAY(NO_ERROR) refusal with the h2 reason text, and REFUSED_STREAM by
  // name; neither is exposed other than in the message.
  for (let err = e; err instanceof Error; err = err.cause) {
    if (/not a result of an error|refused stream/i.test(err.message)) return true;
  }
  return false;
}

interface ReplayableBody {
  /** Whether every byte pulled so far is still kept, so a new stream can resend it. */
  readonly replayable: boolean;
  /**
   * A stream of the whole body: the kept prefix, then the rest as it is produced. It errors when
   * `signal` aborts: fetch only resets the HTTP/2 stream once its request body is done, and a
   * bidi body may wait for the next message forever.
   */
  stream(signal: AbortSignal): ReadableStream<Uint8Array>;
  /** The request was accepted: stop keeping bytes. */
  commit(): void;
}

/**
 * Wraps a request body so that it can be sent again after a refused stream. Pulls from the
 * source one at a time; a stream always reads the kept prefix before pulling more, so a newer
 * stream never misses a chunk an older one pulled.
 */
function replayableBody(source: AsyncIterable<Uint8Array>): ReplayableBody {
  const it = source[Symbol.asyncIterator]();
  const kept: Uint8Array[] = [];
  let keptBytes = 0;
  let recording = true;
  let done = false;
  let pending: Promise<IteratorResult<Uint8Array>> | undefined;
  const pullSource = () =>
    pending ??= it.next().then((r) => {
      if (r.done === true) {
        done = true;
      } else if (recording && keptBytes + r.value.byteLength <= REPLAY_LIMIT) {
        kept.push(r.value);
        keptBytes += r.value.byteLength;
      } else {
        recording = false;
      }
      return r;
    }).finally(() => (pending = undefined));
  return {
    get replayable() {
      return recording;
    },
    commit() {
      recording = false;
    },
    stream(signal) {
      let index = 0;
      let onAbort: (() => void) | undefined;
      return new ReadableStream<Uint8Array>({
        start(controller) {
          onAbort = () => controller.error(signal.reason);
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort, { once: true });
        },
        async pull(controller) {
          for (;;) {
            if (signal.aborted) return;
            if (index < kept.length) {
              controller.enqueue(kept[index++]);
              return;
            }
            if (done) {
              signal.removeEventListener("abort", onAbort!);
              controller.close();
              return;
            }
            const r = await pullSource();
            if (signal.aborted) return;
            if (r.done === true) continue;
            if (index < kept.length && kept[index] === r.value) continue;
            controller.enqueue(r.value);
            return;
          }
        },
        // Connect ends the request iterable itself when the call ends (return() or throw()),
        // so a cancelled attempt must not end it: a resend may still need it.
        cancel() {
          if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
        },
      }, { highWaterMark: 0 });
    },
  };
}

/**
 * gzip through the web's CompressionStream, so responses the engine compresses still decode.
 * The node stack uses it too: Connect's node:zlib gzip fails in Deno ("Premature close") on
 * messages over a few hundred bytes.
 */
export const compressionGzipWeb: Compression = {
  name: "gzip",
  async compress(bytes: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new CompressionStream("gzip"),
    );
    return new Uint8Array(await new Response(stream).arrayBuffer());
  },
  async decompress(bytes: Uint8Array, readMaxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    const chunks: Uint8Array[] = [];
    let length = 0;
    try {
      for await (const chunk of stream) {
        length += chunk.byteLength;
        if (length > readMaxBytes) {
          throw new ConnectError(
            `message is larger than configured readMaxBytes ${readMaxBytes} after decompression`,
            Code.ResourceExhausted,
          );
        }
        chunks.push(chunk);
      }
    } catch (e) {
      if (e instanceof ConnectError) throw e;
      throw new ConnectError("decompression failed", Code.InvalidArgument, undefined, undefined, e);
    }
    const out = new Uint8Array(length);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  },
};

/** Response encodings the native stack accepts. */
const ACCEPT_COMPRESSION: Compression[] = [compressionGzipWeb];

// With OTEL_DENO=true, Deno 2.9.3 makes each fetch's span the current OpenTelemetry context of
// the code that called fetch, and it stays current after the await: every later span of that
// caller (a trigger, the next task) would hang below one finished fetch span. Called from a
// promise job, fetch sets its span in the job's context only. One microtask per call.
function isolatedFetch(input: string, init: RequestInit): Promise<Response> {
  return Promise.resolve().then(() => fetch(input, init));
}
