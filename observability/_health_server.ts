// The worker's HTTP health and metrics endpoint, for Kubernetes probes and Prometheus scrapes.

/** What the server asks the worker on each request. */
export interface HealthSource {
  /** True while the action stream is connected. */
  healthy(): boolean;
  /** The worker state, shown in the `/health` body. */
  state(): string;
  /** The Prometheus text of `/metrics`. */
  metrics(): string;
}

/** A running health server. */
export interface HealthServer {
  readonly hostname: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /health` (200 when healthy, 503 otherwise, with a small JSON body) and
 * `GET /metrics` (Prometheus text) on `hostname:port`.
 *
 * @param hostname Address to bind.
 * @param port Port to bind; 0 picks a free one.
 * @param source The worker's answers.
 * @returns The server, listening.
 */
export function startHealthServer(
  hostname: string,
  port: number,
  source: HealthSource,
): HealthServer {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname,
    port,
    signal: controller.signal,
    onListen() {},
  }, (req) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    if (path === "/health") {
      const ok = source.healthy();
      return Response.json({ status: ok ? "HEALTHY" : "UNHEALTHY", state: source.state() }, {
        status: ok ? 200 : 503,
      });
    }
    if (path === "/metrics") {
      return new Response(source.metrics(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    return new Response("not found\n", { status: 404 });
  });
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}
