// Serves the mock engine's router as real gRPC over HTTP/2 on 127.0.0.1. node:http2 rather
// than Deno.serve, because Deno.serve cannot send the trailers gRPC puts its status in.

import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

/** A running listener. */
export interface RunningListener {
  hostPort: string;
  close(): Promise<void>;
}

/** Starts a listener on 127.0.0.1 (`port` 0 picks a free one), TLS when `tls` is given. */
export async function startListener(
  routes: (router: ConnectRouter) => void,
  port: number,
  tls: { cert: string; key: string } | undefined,
): Promise<RunningListener> {
  const adapter = connectNodeAdapter({ routes });
  const requests = new Set<http2.Http2ServerResponse>();
  const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    requests.add(res);
    res.on("close", () => requests.delete(res));
    trailersOnlyErrors(res);
    adapter(req, res);
  };
  const server = tls
    ? http2.createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: false }, handler)
    : http2.createServer({}, handler);
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
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
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
        for (const res of requests) {
          if (!res.stream.closed) res.stream.close(http2.constants.NGHTTP2_CANCEL);
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

type WriteHead = (status: number, headers?: http2.OutgoingHttpHeaders) => unknown;
type AddTrailers = (trailers: http2.OutgoingHttpHeaders) => void;
type Passthrough = (...args: unknown[]) => unknown;

/**
 * Makes a response that ends before any message carry its status in the headers (a gRPC
 * "Trailers-Only" response), as grpc-go does. Connect always puts the status in trailers, and
 * a fetch-based client cannot read trailers, so without this it would see every early error as
 * `unknown`.
 */
function trailersOnlyErrors(res: http2.Http2ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as WriteHead;
  const write = res.write.bind(res) as Passthrough;
  const addTrailers = res.addTrailers.bind(res) as AddTrailers;
  const end = res.end.bind(res) as Passthrough;
  let deferred: { status: number; headers: http2.OutgoingHttpHeaders } | undefined;
  let wroteBody = false;
  const flush = () => {
    if (!deferred) return;
    const { status, headers } = deferred;
    deferred = undefined;
    writeHead(status, headers);
  };
  const patched = res as unknown as {
    writeHead: WriteHead;
    write: Passthrough;
    addTrailers: AddTrailers;
    end: Passthrough;
  };
  patched.writeHead = (status, headers) => {
    deferred = { status, headers: { ...headers } };
    return res;
  };
  patched.write = (...args) => {
    flush();
    wroteBody = true;
    return write(...args);
  };
  patched.addTrailers = (trailers) => {
    if (deferred && !wroteBody) Object.assign(deferred.headers, trailers);
    else addTrailers(trailers);
  };
  patched.end = (...args) => {
    flush();
    return end(...args);
  };
}
