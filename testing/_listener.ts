// Serves the mock engine's services as real gRPC over HTTP/2 on 127.0.0.1. node:http2 rather
// than Deno.serve, because Deno.serve cannot send the trailers gRPC puts its status in.
//
// The gRPC framing is done here, on node:http2's stream API, instead of through Connect's
// server adapter: the adapter's generic pipeline (web Headers, async-iterable chains, one
// AbortSignal per call) cost the engine more CPU per task than the engine's own work, which
// capped what a benchmark could show of the SDKs on the other end. What a client sees is the
// same gRPC: length-prefixed protobuf messages, the status in trailers, and an error before any
// message as a Trailers-Only response (status in the headers), as grpc-go answers.
// Requests compressed with gzip or deflate are read (grpc-js clients such as the official SDK
// send gzip); responses go out uncompressed. A method not served is answered UNIMPLEMENTED once
// its request was read. Not served: other protocols than gRPC (answered 415) and server-side
// deadlines (clients keep their own).

import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { encodeEnvelope, type Envelope, EnvelopeSplitter } from "../transport/envelope.ts";
import { StreamQueue } from "./_stream_queue.ts";

/** What a handler may read of its call: the request headers and the call's signal. */
export interface CallContext {
  /** The request headers (names in lower case). */
  readonly requestHeader: { get(name: string): string | null };
  /** Aborts when the client goes away or the listener closes. */
  readonly signal: AbortSignal;
}

/** One RPC handler: a promise for unary calls, an async iterable for streaming ones. */
// deno-lint-ignore no-explicit-any
export type Handler = (request: any, ctx: CallContext) => unknown;

/**
 * Where services register their handlers: a Connect router (the in-memory transport) or this
 * listener. Handlers are typed with Connect's context but may read only what
 * {@link CallContext} has, which is all the listener gives them.
 */
export interface ServiceRegistry {
  service<S extends DescService>(service: S, implementation: Partial<ServiceImpl<S>>): unknown;
}

/** A running listener. */
export interface RunningListener {
  hostPort: string;
  close(): Promise<void>;
}

/** One served method and its handler. */
export interface Route {
  method: DescMethod;
  handler: Handler;
}

/** The handlers `routes` registers, by request path (`/<service type name>/<method>`). */
export function collectRoutes(routes: (registry: ServiceRegistry) => void): Map<string, Route> {
  const table = new Map<string, Route>();
  routes({
    service(service, implementation) {
      const handlers = implementation as Record<string, Handler | undefined>;
      for (const method of service.methods) {
        const handler = handlers[method.localName];
        if (handler !== undefined) {
          table.set(`/${service.typeName}/${method.name}`, {
            method,
            handler: handler.bind(implementation),
          });
        }
      }
    },
  });
  return table;
}

/** Starts a listener on 127.0.0.1 (`port` 0 picks a free one), TLS when `tls` is given. */
export async function startListener(
  routes: (registry: ServiceRegistry) => void,
  port: number,
  tls: { cert: string; key: string } | undefined,
): Promise<RunningListener> {
  const table = collectRoutes(routes);
  const streams = new Set<http2.ServerHttp2Stream>();
  const server = tls
    ? http2.createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: false })
    : http2.createServer({});
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    streams.add(stream);
    stream.on("close", () => streams.delete(stream));
    // A reset from the client surfaces as an error on the stream; the call just ends.
    stream.on("error", () => {});
    serveCall(table, stream, headers);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    // A client that vanishes mid-session must not take the test process down.
    session.on("error", () => {});
  });
  server.on("error", () => {});
  // Raw sockets too: a TLS socket can outlive its session, and server.close() waits for it.
  const sockets = new Set<{ destroy(): void; once(e: "close", f: () => void): void }>();
  server.on("connection", (socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: Error & { code?: string }) => {
      reject(
        err.code === "EADDRINUSE" ? new Error(`127.0.0.1:${port} is already in use`) : err,
      );
    });
    server.listen(port, "127.0.0.1", () => {
      server.removeAllListeners("error");
      server.on("error", () => {});
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    hostPort: `127.0.0.1:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.close();
        // Long-lived streams (ListenV2, durable events) would hold their session open forever:
        // cancel them so the handlers end and the sessions can finish.
        for (const stream of streams) {
          if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        }
        // An engine that goes away takes its connections with it. Without this, a bidi stream
        // whose reset the client has not acted on yet keeps its session, and the "closed"
        // listener goes on serving it. One macrotask turn lets the GOAWAY and resets go out.
        setTimeout(() => {
          for (const session of sessions) session.destroy();
          for (const socket of sockets) socket.destroy();
        }, 0);
      });
      return closing;
    },
  };
}

/** A signal nothing aborts: unary calls finish in one turn, and request queues are ended. */
const NEVER_ABORTED = new AbortController().signal;

function serveCall(
  table: Map<string, Route>,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
): void {
  const contentType = headers["content-type"] ?? "";
  if (headers[":method"] !== "POST" || !/^application\/grpc(\+proto)?(;|$)/.test(contentType)) {
    stream.respond({ ":status": 415 }, { endStream: true });
    return;
  }
  const path = headers[":path"] ?? "";
  const route = table.get(path);
  const response = new ResponseWriter(stream);
  if (route === undefined) {
    // Answered once the request is read (its end, or a first whole message of a stream the
    // client keeps open), as grpc-go does: an answer that overtakes the request's body made
    // grpc-python report INTERNAL instead of UNIMPLEMENTED.
    const unimplemented = new ConnectError(`${path} is not implemented`, Code.Unimplemented);
    const reader = new EnvelopeSplitter();
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      response.fail(unimplemented);
    };
    stream.on("data", (chunk: Uint8Array) => {
      reader.push(chunk);
      if (reader.next() !== undefined) answer();
    });
    stream.once("end", answer);
    return;
  }
  const requestHeader = {
    get(name: string): string | null {
      const value = headers[name];
      return typeof value === "string" ? value : Array.isArray(value) ? value.join(", ") : null;
    },
  };
  const { method, handler } = route;
  const reader = new EnvelopeSplitter();
  const encoding = requestHeader.get("grpc-encoding") ?? undefined;
  if (method.methodKind === "unary" || method.methodKind === "server_streaming") {
    stream.on("data", (chunk: Uint8Array) => reader.push(chunk));
    stream.once("end", async () => {
      let request;
      try {
        request = await singleRequest(method.input, reader, encoding);
      } catch (err) {
        response.fail(err);
        return;
      }
      if (method.methodKind === "unary") {
        respondUnary(
          response,
          method,
          () => handler(request, { requestHeader, signal: NEVER_ABORTED }),
        );
      } else {
        const abort = new AbortController();
        stream.once("close", () => abort.abort());
        let messages;
        try {
          messages = handler(request, { requestHeader, signal: abort.signal });
        } catch (err) {
          response.fail(err);
          return;
        }
        respondStream(response, method, messages);
      }
    });
    return;
  }
  // Client and bidi streaming: the handler reads requests as they arrive.
  const abort = new AbortController();
  const bodies = new StreamQueue<Envelope>();
  stream.on("data", (chunk: Uint8Array) => {
    reader.push(chunk);
    for (let body; (body = reader.next()) !== undefined;) bodies.push(body);
  });
  stream.once("end", () => bodies.end(cutShort(reader)));
  stream.once("close", () => {
    bodies.end();
    abort.abort();
  });
  // The queue is ended by the stream, never aborted: requests that arrived are all read.
  const requests = (async function* () {
    for await (const body of bodies.drain(NEVER_ABORTED)) {
      yield await decode(method.input, body, encoding);
    }
  })();
  let result;
  try {
    result = handler(requests, { requestHeader, signal: abort.signal });
  } catch (err) {
    bodies.end();
    response.fail(err);
    return;
  }
  if (method.methodKind === "client_streaming") {
    respondUnary(response, method, () => result);
  } else {
    respondStream(response, method, result as AsyncIterable<unknown>);
  }
}

async function respondUnary(
  response: ResponseWriter,
  method: DescMethod,
  call: () => unknown,
): Promise<void> {
  try {
    const message = await call();
    response.write(encode(method.output, message));
    response.finish();
  } catch (err) {
    response.fail(err);
  }
}

async function respondStream(
  response: ResponseWriter,
  method: DescMethod,
  messages: unknown,
): Promise<void> {
  try {
    for await (const message of messages as AsyncIterable<unknown>) {
      if (response.gone) break;
      if (!response.write(encode(method.output, message))) await response.drained();
    }
    response.finish();
  } catch (err) {
    response.fail(err);
  }
}

/** Frames a handler's output (a message, or the init shape `create` takes). */
function encode(schema: DescMessage, message: unknown): Uint8Array {
  return encodeEnvelope(toBinary(schema, create(schema, message as MessageInitShape<DescMessage>)));
}

/** Request encodings the listener reads (the official SDK's grpc-js sends gzip). */
const DECOMPRESSORS: Record<string, CompressionFormat> = { gzip: "gzip", deflate: "deflate" };

async function decode(
  schema: DescMessage,
  envelope: Envelope,
  encoding: string | undefined,
): Promise<unknown> {
  let body = envelope.body;
  if (envelope.compressed) {
    const format = DECOMPRESSORS[encoding ?? ""];
    if (format === undefined) {
      throw new ConnectError(
        `compressed request messages in grpc-encoding ${JSON.stringify(encoding ?? "identity")}` +
          ` are not supported (gzip and deflate are)`,
        Code.Unimplemented,
      );
    }
    try {
      const stream = new Blob([body as Uint8Array<ArrayBuffer>]).stream()
        .pipeThrough(new DecompressionStream(format));
      body = new Uint8Array(await new Response(stream).arrayBuffer());
    } catch (err) {
      throw new ConnectError(
        `cannot decompress a ${encoding} request message: ${(err as Error).message}`,
        Code.InvalidArgument,
      );
    }
  }
  try {
    return fromBinary(schema, body);
  } catch (err) {
    throw new ConnectError(
      `cannot decode ${schema.typeName}: ${(err as Error).message}`,
      Code.InvalidArgument,
    );
  }
}

function singleRequest(
  schema: DescMessage,
  reader: EnvelopeSplitter,
  encoding: string | undefined,
): Promise<unknown> {
  const envelope = reader.next();
  if (envelope === undefined || reader.next() !== undefined || reader.pending) {
    throw new ConnectError("expected exactly one request message", Code.InvalidArgument);
  }
  return decode(schema, envelope, encoding);
}

/** An error when the request body ended inside a message. */
function cutShort(reader: EnvelopeSplitter): ConnectError | undefined {
  return reader.pending
    ? new ConnectError("the request ended inside a message", Code.InvalidArgument)
    : undefined;
}

/** Writes one call's response: headers with the first message, the status last. */
class ResponseWriter {
  #stream: http2.ServerHttp2Stream;
  #headersSent = false;
  #ended = false;

  constructor(stream: http2.ServerHttp2Stream) {
    this.#stream = stream;
  }

  /** Whether the client is gone (reset, or the listener closed). */
  get gone(): boolean {
    return this.#stream.closed || this.#stream.destroyed;
  }

  /** Writes a message; false when the caller should wait for {@link drained}. */
  write(envelope: Uint8Array): boolean {
    if (this.#ended || this.gone) return true;
    if (!this.#headersSent) {
      this.#headersSent = true;
      this.#stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
        waitForTrailers: true,
      });
    }
    return this.#stream.write(envelope);
  }

  /** Resolves when the stream can take more, or is gone. */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#stream.off("drain", done);
        this.#stream.off("close", done);
        resolve();
      };
      this.#stream.once("drain", done);
      this.#stream.once("close", done);
    });
  }

  /** Ends the call with OK. */
  finish(): void {
    this.#end("0", undefined);
  }

  /** Ends the call with the error's status (UNKNOWN for anything but a ConnectError). */
  fail(err: unknown): void {
    const error = err instanceof ConnectError ? err : undefined;
    const code = error?.code ?? Code.Unknown;
    const message = error?.rawMessage ?? (err instanceof Error ? err.message : String(err));
    this.#end(String(code), message);
  }

  #end(status: string, message: string | undefined): void {
    if (this.#ended || this.gone) return;
    this.#ended = true;
    const trailers: http2.OutgoingHttpHeaders = { "grpc-status": status };
    if (message !== undefined && message !== "") trailers["grpc-message"] = percentEncode(message);
    if (!this.#headersSent) {
      // Trailers-Only: the status rides in the headers of an empty response.
      this.#headersSent = true;
      this.#stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, {
        endStream: true,
      });
      return;
    }
    this.#stream.once("wantTrailers", () => this.#stream.sendTrailers(trailers));
    this.#stream.end();
  }
}

/** gRPC's grpc-message encoding: printable ASCII except `%` as is, everything else as %XX. */
function percentEncode(message: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(message)) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
