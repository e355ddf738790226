// A small real gRPC server for the transport tests: Connect handlers for three Hatchet methods
// (one of each RPC kind), served by node:http2 on 127.0.0.1 with a random port.
//
// By default it answers like grpc-go: a response with no message carries its status in the
// headers (Trailers-Only), which is what lets the fetch-based transport see errors. With
// `statusInTrailers: true` it uses connectNodeAdapter unchanged, which always sends the status
// in trailers, to show the native transport's documented blind spot.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ConnectRouter, createConnectRouter } from "@connectrpc/connect";
import {
  compressionGzip,
  connectNodeAdapter,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import {
  ActionType,
  AssignedActionSchema,
  Dispatcher,
  DurableEventSchema,
  GetVersionResponseSchema,
  V1Dispatcher,
} from "../../transport/services.ts";

/** What the server saw, in order. */
export interface ServerEvent {
  kind: "call" | "abort" | "end";
  method: string;
  authorization: string | null;
  detail?: string;
}

/** Options of {@linkcode startTestServer}. */
export interface TestServerOptions {
  /** Serve TLS with this leaf; `ca` + `requireClientCert` turn on mutual TLS. */
  tls?: { cert: string; key: string; ca?: string; requireClientCert?: boolean };
  /** Send every status in trailers (connectNodeAdapter as is) instead of Trailers-Only. */
  statusInTrailers?: boolean;
  /** Listen on this port instead of a random one (to restart a server in place). */
  port?: number;
}

/** A running test server. */
export interface TestServer extends AsyncDisposable {
  readonly port: number;
  /** `http://127.0.0.1:<port>` or `https://...`. */
  readonly baseUrl: string;
  readonly hostPort: string;
  readonly events: ServerEvent[];
  /** Resolves with the first event (past or future) that matches. */
  waitFor(predicate: (e: ServerEvent) => boolean): Promise<ServerEvent>;
  /** Number of HTTP/2 sessions currently open. */
  sessionCount(): number;
  /**
   * Sends GOAWAY on every open session. `graceful` (default) lets open streams finish, like a
   * grpc-go restart, and returns at once; otherwise the sessions are destroyed right after the
   * frame and it returns once they closed.
   */
  goaway(options?: { graceful?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/**
 * Behaviour of the test methods, driven by the request:
 * - `Dispatcher/GetVersion` (unary): header `x-test-error: <code>` makes it fail with that code;
 *   `x-test-hold` makes it wait for the client to go away; `x-test-version-length: N` answers a
 *   version of N characters (gzip-compressed above 1 KiB when the client accepts it);
 *   `x-test-version-noise: N` answers {@linkcode noiseText}(N), which gzip barely shrinks.
 * - `Dispatcher/ListenV2` (server stream), `workerId`: `count:N` sends N actions;
 *   `fail:N:<code>` sends N then fails; `hold` sends one then waits for the client to go away.
 * - `v1.V1Dispatcher/ListenForDurableEvent` (bidi): echoes each request as a DurableEvent whose
 *   data is the signal key; signal key `fail` ends the call with `failed_precondition`.
 */
function routes(events: ServerEvent[], notify: () => void) {
  const log = (e: ServerEvent) => {
    events.push(e);
    notify();
  };
  return (router: ConnectRouter) => {
    router.service(Dispatcher, {
      getVersion(_req, ctx) {
        const authorization = ctx.requestHeader.get("authorization");
        // What a grpc-go engine checks of a unary request: its content type and deadline.
        const detail = ["content-type", "te", "grpc-timeout"]
          .map((name) => `${name}=${ctx.requestHeader.get(name)}`).join(" ");
        log({ kind: "call", method: "GetVersion", authorization, detail });
        const code = ctx.requestHeader.get("x-test-error");
        if (code !== null) throw new ConnectError("requested failure", Number(code) as Code);
        if (ctx.requestHeader.has("x-test-hold")) {
          return new Promise<never>((_, reject) => {
            const gone = () => {
              log({ kind: "abort", method: "GetVersion", authorization });
              reject(ConnectError.from(ctx.signal.reason));
            };
            if (ctx.signal.aborted) gone();
            else ctx.signal.addEventListener("abort", gone, { once: true });
          });
        }
        const noise = Number(ctx.requestHeader.get("x-test-version-noise") ?? 0);
        if (noise > 0) return create(GetVersionResponseSchema, { version: noiseText(noise) });
        const size = Number(ctx.requestHeader.get("x-test-version-length") ?? 0);
        return create(GetVersionResponseSchema, {
          version: size > 0 ? "v".repeat(size) : "v0.0.0-test",
        });
      },
      async *listenV2(req, ctx) {
        const authorization = ctx.requestHeader.get("authorization");
        log({ kind: "call", method: "ListenV2", authorization, detail: req.workerId });
        const [mode, n, code] = req.workerId.split(":");
        const action = (i: number) =>
          create(AssignedActionSchema, {
            actionId: `action-${i}`,
            actionType: ActionType.START_STEP_RUN,
            actionPayload: req.workerId,
          });
        if (mode === "hold") {
          yield action(0);
          await new Promise<void>((resolve) => {
            if (ctx.signal.aborted) resolve();
            ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          });
          log({
            kind: "abort",
            method: "ListenV2",
            authorization,
            detail: ConnectError.from(ctx.signal.reason).code.toString(),
          });
          return;
        }
        for (let i = 0; i < Number(n); i++) yield action(i);
        if (mode === "fail") throw new ConnectError("stream failed", Number(code) as Code);
        log({ kind: "end", method: "ListenV2", authorization });
      },
    });
    router.service(V1Dispatcher, {
      async *listenForDurableEvent(reqs, ctx) {
        const authorization = ctx.requestHeader.get("authorization");
        log({ kind: "call", method: "ListenForDurableEvent", authorization });
        let finished = false;
        // Connect also aborts the signal when a call completes; only an early abort counts.
        ctx.signal.addEventListener("abort", () => {
          if (!finished) log({ kind: "abort", method: "ListenForDurableEvent", authorization });
        }, { once: true });
        for await (const req of reqs) {
          if (req.signalKey === "fail") {
            finished = true;
            throw new ConnectError("bad signal key", Code.FailedPrecondition);
          }
          yield create(DurableEventSchema, {
            taskId: req.taskId,
            signalKey: req.signalKey,
            data: new TextEncoder().encode(req.signalKey),
          });
        }
        finished = true;
        log({ kind: "end", method: "ListenForDurableEvent", authorization });
      },
    });
  };
}

function nodeHeaders(...sources: (Headers | undefined)[]): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const h of sources) h?.forEach((value, key) => (out[key] = value));
  return out;
}

/** Like connectNodeAdapter, but an empty response goes out as one Trailers-Only HEADERS frame. */
function trailersOnlyAdapter(
  routesFn: (router: ConnectRouter) => void,
): (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void {
  // gzip like grpc-go with the codec registered: used when the client accepts it.
  const router = createConnectRouter({
    connect: false,
    grpcWeb: false,
    acceptCompression: [compressionGzip],
  });
  routesFn(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = paths.get((req.url ?? "").split("?")[0]);
    if (handler === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, undefined);
    (async () => {
      const uRes = await handler(uReq);
      const it = uRes.body?.[Symbol.asyncIterator]();
      const first = await it?.next();
      if (it === undefined || first === undefined || first.done === true) {
        if (!res.stream.destroyed) {
          res.stream.respond(
            { ":status": uRes.status, ...nodeHeaders(uRes.header, uRes.trailer) },
            {
              endStream: true,
            },
          );
        }
        return;
      }
      const body: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]: () => {
          let sentFirst = false;
          return {
            next: () => {
              if (!sentFirst) {
                sentFirst = true;
                return Promise.resolve(first);
              }
              return it.next();
            },
            throw: (e: unknown) => it.throw?.(e) ?? Promise.reject(e),
            return: (v: unknown) => it.return?.(v) ?? Promise.resolve({ done: true, value: v }),
          };
        },
      };
      await universalResponseToNodeResponse({ ...uRes, body }, res);
    })().catch(() => {
      // A client that went away mid-response is normal in these tests.
    });
  };
}

/**
 * Starts a test server on 127.0.0.1 with a random port.
 *
 * @param options TLS and status placement.
 * @returns The running server; close it (or `await using`) at the end of the test.
 */
export async function startTestServer(options?: TestServerOptions): Promise<TestServer> {
  const events: ServerEvent[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const routesFn = routes(events, notify);
  const handler = options?.statusInTrailers
    ? connectNodeAdapter({ routes: routesFn, grpcWeb: false, connect: false })
    : trailersOnlyAdapter(routesFn);
  const tls = options?.tls;
  const server = tls === undefined ? http2.createServer(handler) : http2.createSecureServer({
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    requestCert: tls.requireClientCert ?? false,
    rejectUnauthorized: tls.requireClientCert ?? false,
  }, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {});
  });
  // Raw sockets too: a TLS server in Deno can keep one after its session is gone, and
  // server.close() would wait for it forever.
  const sockets = new Set<{ destroy(): void; once(e: "close", f: () => void): void }>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options?.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const scheme = tls === undefined ? "http" : "https";
  let closing: Promise<void> | undefined;

  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sessions) s.destroy();
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };

  return {
    port,
    baseUrl: `${scheme}://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    events,
    waitFor(predicate) {
      return new Promise((resolve, reject) => {
        // A watchdog, not a wait: it fails a test that would hang, and it keeps the event loop
        // alive while node:tls notices a peer that went away (Deno does not hold the loop open
        // for that).
        const watchdog = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`No matching server event in 10 s; saw ${JSON.stringify(events)}`));
        }, 10_000);
        const check = () => {
          const hit = events.find(predicate);
          if (hit !== undefined) {
            waiters.delete(check);
            clearTimeout(watchdog);
            resolve(hit);
          }
        };
        waiters.add(check);
        check();
      });
    },
    sessionCount: () => sessions.size,
    async goaway(goawayOptions) {
      const graceful = goawayOptions?.graceful ?? true;
      const closed: Promise<void>[] = [];
      for (const s of sessions) {
        if (s.destroyed || (graceful && s.closed)) continue;
        if (graceful) {
          // close() sends GOAWAY(NO_ERROR) and lets open streams run to their end.
          s.close();
        } else {
          closed.push(new Promise<void>((resolve) => s.once("close", () => resolve())));
          s.goaway(http2.constants.NGHTTP2_NO_ERROR);
          s.destroy();
        }
      }
      await Promise.all(closed);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * `length` letters from a fixed pseudo-random sequence: the same text on every call, which
 * compression cannot shrink much, so a response carrying it stays about that large on the wire.
 */
export function noiseText(length: number): string {
  let state = 1;
  let text = "";
  for (let i = 0; i < length; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    text += String.fromCharCode(97 + (state >>> 16) % 26);
  }
  return text;
}
