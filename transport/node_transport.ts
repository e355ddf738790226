// gRPC over node:http2 through Connect's Node transport. It sees trailers, so every status
// reaches the caller, but on Deno 2.9.4–2.9.6 nghttp2 can abort the process when a peer sends
// GOAWAY (hatchet-protocol.md §9.1); the project pins Deno 2.9.3, where it does not.
import type { SecureClientSessionOptions } from "node:http2";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { ClosableTransport } from "./grpc_transport.ts";
import { compressionGzipWeb } from "./native_transport.ts";

/** Options of {@linkcode createNodeTransport}. */
export interface NodeTransportOptions {
  /** `http://host:port` for h2c or `https://host:port` for TLS. */
  baseUrl: string;
  /** Connect interceptors run on every call, outermost first. */
  interceptors?: Interceptor[];
  /** Root certificates (PEM) to trust instead of Node's bundled roots. */
  ca?: string[];
  /** Client certificate chain (PEM) for mutual TLS; needs `key`. */
  cert?: string;
  /** Client private key (PEM) for mutual TLS; needs `cert`. */
  key?: string;
  /** SNI and the name the server certificate must match, when it differs from the URL host. */
  serverName?: string;
  /**
   * Interval of HTTP/2 keepalive PINGs, also sent on idle connections; default 10 s. grpc-go
   * servers answer pings more often than every 5 s with GOAWAY `too_many_pings`, so lower
   * values are rejected.
   */
  pingIntervalMs?: number;
  /** How long a PING may go unanswered before the connection counts as dead; default 60 s. */
  pingTimeoutMs?: number;
}

/** The smallest keepalive interval a grpc-go server tolerates (its enforcement `MinTime`). */
export const MIN_PING_INTERVAL_MS = 5_000;

/**
 * Creates a gRPC transport over node:http2 whose HTTP/2 session `close()` ends.
 *
 * @param options Address, TLS material, keepalive and interceptors.
 * @returns The transport and a `close()` that aborts open calls and closes the session.
 * @throws {TypeError} When `baseUrl` is not an `http:`/`https:` URL or only one of `cert`/`key`
 * is given.
 * @throws {RangeError} When `pingIntervalMs` is below 5000.
 *
 * @example
 * ```ts
 * import { createNodeTransport } from "./node_transport.ts";
 * import assert from "node:assert/strict";
 * const { transport, close } = createNodeTransport({ baseUrl: "http://127.0.0.1:7070" });
 * assert.equal(typeof transport.stream, "function");
 * await close();
 * ```
 */
export function createNodeTransport(options: NodeTransportOptions): ClosableTransport {
  let url: URL;
  try {
    url = new URL(options.baseUrl);
  } catch {
    throw new TypeError(
      `Cannot create transport: expected e.g. "http://127.0.0.1:7070", received "${options.baseUrl}"`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `Cannot create transport: expected an http: or https: URL, received "${options.baseUrl}"`,
    );
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError(
      "Cannot create transport: mutual TLS needs both cert and key, received only " +
        (options.cert === undefined ? "key" : "cert"),
    );
  }
  const pingIntervalMs = options.pingIntervalMs ?? 10_000;
  if (!(pingIntervalMs >= MIN_PING_INTERVAL_MS)) {
    throw new RangeError(
      `Cannot create transport: pingIntervalMs must be at least ${MIN_PING_INTERVAL_MS}, received ${pingIntervalMs}`,
    );
  }
  const baseUrl = url.href.replace(/\/$/, "");
  const nodeOptions: SecureClientSessionOptions = {};
  if (url.protocol === "https:") {
    // Deno's --cert and DENO_CERT do not reach node:tls, so TLS material is passed here.
    if (options.ca !== undefined) nodeOptions.ca = options.ca;
    if (options.cert !== undefined) nodeOptions.cert = options.cert;
    if (options.key !== undefined) nodeOptions.key = options.key;
    if (options.serverName !== undefined) nodeOptions.servername = options.serverName;
  }
  const sessionManager = new Http2SessionManager(baseUrl, {
    pingIntervalMs,
    pingIdleConnection: true,
    pingTimeoutMs: options.pingTimeoutMs ?? 60_000,
  }, nodeOptions);
  let closed = false;
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [closedGuard(() => closed), connectionRetry, ...(options.interceptors ?? [])],
    sessionManager,
    nodeOptions,
    acceptCompression: [compressionGzipWeb],
  });
  return {
    transport,
    close(): Promise<void> {
      if (!closed) {
        closed = true;
        sessionManager.abort(new ConnectError("the transport was closed", Code.Canceled));
      }
      return Promise.resolve();
    },
  };
}

function closedGuard(isClosed: () => boolean): Interceptor {
  return (next) => (req) => {
    // The session manager would quietly reconnect, so calls after close() are stopped here.
    if (isClosed()) throw new ConnectError("the transport was closed", Code.Canceled);
    return next(req);
  };
}

/** Failures where the server cannot have run the call: the request never got through. */
const NOT_SENT = /REFUSED_STREAM|^EPIPE$|ERR_HTTP2_GOAWAY_SESSION|ERR_HTTP2_INVALID_SESSION/;
/** Failures of the connection itself: a reconnect may help. */
const CONNECTION_LOST = /ECONNRESET|ECONNREFUSED|ERR_HTTP2_SESSION_ERROR/;

/** The Node error codes (and messages) along an error's cause chain. */
function nodeFailure(e: unknown): string {
  const parts: string[] = [];
  for (let err = e; err instanceof Error; err = err.cause) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string") parts.push(code);
    parts.push(err.message);
  }
  return parts.join("\n");
}

/**
 * A call that failed before the server could see it (a stream refused under GOAWAY, a write to
 * a connection the server already closed) is sent again when unary, since the request is at
 * hand; streams fail with `unavailable` (Connect says `internal`) so their owners reconnect.
 */
const connectionRetry: Interceptor = (next) => async (req) => {
  for (let attempt = 1;; attempt++) {
    try {
      return await next(req);
    } catch (e) {
      if (req.signal.aborted) throw e;
      const failure = nodeFailure(e);
      const lines = failure.split("\n");
      const notSent = lines.some((l) => NOT_SENT.test(l));
      if (notSent && !req.stream && attempt < 3) continue;
      if (notSent || lines.some((l) => CONNECTION_LOST.test(l))) {
        const detail = e instanceof Error ? e.message : String(e);
        throw new ConnectError(
          `connection lost: ${detail}`,
          Code.Unavailable,
          undefined,
          undefined,
          e,
        );
      }
      throw e;
    }
  }
};
