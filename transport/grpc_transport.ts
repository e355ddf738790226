// One factory for both HTTP/2 stacks, so the client picks one from its configuration and the
// rest of the SDK only ever sees a Connect Transport.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { type ClientConfig, ConfigError } from "./config.ts";
import { authInterceptor } from "./auth.ts";
import { createNativeTransport } from "./native_transport.ts";
import { createNodeTransport } from "./node_transport.ts";

export { authInterceptor };

/** A Connect transport with the HTTP/2 connections behind it, which `close()` ends. */
export interface ClosableTransport {
  /** The Connect transport every typed client is built on. */
  readonly transport: Transport;
  /** Aborts calls in flight and closes the HTTP/2 connections; later calls fail with `canceled`. */
  close(): Promise<void>;
}

/** Options of {@linkcode createGrpcTransport}. */
export interface GrpcTransportOptions {
  /** Extra Connect interceptors, run after the auth interceptor. */
  interceptors?: Interceptor[];
  /**
   * Keepalive PING interval of the node stack (at least 5000, default 10000). The native stack
   * cannot send PINGs (fetch has no such knob); it answers the engine's own 30 s pings, and
   * the worker's 4 s heartbeats notice a dead connection.
   */
  pingIntervalMs?: number;
}

/**
 * Creates the gRPC transport for a resolved configuration: `config.http` picks Deno's fetch
 * (`"native"`) or node:http2 (`"node"`); TLS follows `config.tls`; every call carries the
 * bearer token.
 *
 * @param config The resolved client configuration.
 * @param options Extra interceptors and keepalive.
 * @returns The transport and its `close()`.
 * @throws {ConfigError} When `config.http` is `"native"` and the TLS server name differs from
 * the host: fetch takes the certificate name from the URL, so only the node stack can override
 * it.
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * import { createGrpcTransport } from "./grpc_transport.ts";
 * import assert from "node:assert/strict";
 * const claims = btoa(JSON.stringify({ sub: "t1" })).replace(/=+$/, "");
 * const config = resolveConfig({ token: `e30.${claims}.`, hostPort: "127.0.0.1:7070", tls: "none", env: {} });
 * const { transport, close } = createGrpcTransport(config);
 * assert.equal(typeof transport.unary, "function");
 * await close();
 * ```
 */
export function createGrpcTransport(
  config: ClientConfig,
  options?: GrpcTransportOptions,
): ClosableTransport {
  const token = () => config.token;
  const interceptors = [authInterceptor(token), ...(options?.interceptors ?? [])];
  const secure = config.tls.strategy !== "none";
  const baseUrl = `${secure ? "https" : "http"}://${config.hostPort}`;
  const host = new URL(baseUrl).hostname.replace(/^\[|\]$/g, "");
  const mtls = config.tls.strategy === "mtls";
  const serverName = secure && config.tls.serverName !== host ? config.tls.serverName : undefined;
  if (config.http === "node") {
    return createNodeTransport({
      baseUrl,
      interceptors,
      ca: config.tls.rootCa === undefined ? undefined : [config.tls.rootCa],
      cert: mtls ? config.tls.cert : undefined,
      key: mtls ? config.tls.key : undefined,
      serverName,
      pingIntervalMs: options?.pingIntervalMs,
    });
  }
  if (serverName !== undefined) {
    throw new ConfigError(
      `TLS server name ${JSON.stringify(serverName)} differs from the host ${
        JSON.stringify(host)
      }: the native HTTP stack cannot override it; connect to ${
        JSON.stringify(serverName)
      } or pass http: "node"`,
    );
  }
  return createNativeTransport({
    baseUrl,
    token,
    interceptors: options?.interceptors,
    caCerts: config.tls.rootCa === undefined ? undefined : [config.tls.rootCa],
    cert: mtls ? config.tls.cert : undefined,
    key: mtls ? config.tls.key : undefined,
  });
}
