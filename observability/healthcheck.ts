/**
 * Options of a worker's health and metrics endpoint (`createWorker(…, { healthcheck })`).
 *
 * @example
 * ```ts
 * import { createWorker, type HealthcheckOptions, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "probed" });
 * wf.task({ name: "t", fn: () => ({}) });
 * const healthcheck: HealthcheckOptions = { port: 0, hostname: "127.0.0.1" }; // 0: any free port
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf], healthcheck });
 * await worker.start();
 * const base = `http://127.0.0.1:${worker.healthcheckPort}`;
 * const health = await fetch(`${base}/health`);
 * assert.equal(health.status, 200);
 * assert.equal((await health.json()).status, "HEALTHY");
 * const metrics = await (await fetch(`${base}/metrics`)).text();
 * assert.match(metrics, /^hatchet_worker_slots_in_use\{kind="default"\} 0$/m);
 * ```
 */
export interface HealthcheckOptions {
  /** Port of `/health` and `/metrics`; default 8001 (0 picks a free port). */
  port?: number;
  /** Address to bind; default `"0.0.0.0"` (every interface, as a probe from outside needs). */
  hostname?: string;
}

/** A resolved healthcheck setting. */
export interface ResolvedHealthcheck {
  port: number;
  hostname: string;
}

const DEFAULT_PORT = 8001;
const DEFAULT_HOSTNAME = "0.0.0.0";

/**
 * Decides whether and where a worker serves `/health` and `/metrics`: the option when given
 * (`false` turns it off), else `HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED` (`true` or `1`) with
 * `HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT` and `HATCHET_CLIENT_WORKER_HEALTHCHECK_BIND_ADDRESS`,
 * the variables the official SDKs read.
 *
 * @param option The worker's `healthcheck` option.
 * @param env Reads one environment variable (`undefined` when unset or not permitted).
 * @param what Names the worker in error messages.
 * @returns Where to serve, or `undefined` for no server.
 * @throws {RangeError} When a port is not an integer from 0 to 65535.
 * @throws {TypeError} When the option is neither an object nor a boolean, or a hostname is empty.
 */
export function resolveHealthcheck(
  option: HealthcheckOptions | boolean | undefined,
  env: (name: string) => string | undefined,
  what: string,
): ResolvedHealthcheck | undefined {
  if (option === false) return undefined;
  if (option === undefined) {
    const enabled = env("HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED")?.trim().toLowerCase();
    if (enabled !== "true" && enabled !== "1") return undefined;
    const portText = env("HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT")?.trim();
    const port = portText === undefined || portText === "" ? DEFAULT_PORT : Number(portText);
    return {
      port: checkPort(port, `${what}: HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT`, portText),
      hostname: env("HATCHET_CLIENT_WORKER_HEALTHCHECK_BIND_ADDRESS")?.trim() || DEFAULT_HOSTNAME,
    };
  }
  if (option === true) return { port: DEFAULT_PORT, hostname: DEFAULT_HOSTNAME };
  if (option === null || typeof option !== "object") {
    throw new TypeError(
      `${what}: healthcheck must be an object or a boolean, received ${String(option)}`,
    );
  }
  const port = option.port ?? DEFAULT_PORT;
  const hostname = option.hostname ?? DEFAULT_HOSTNAME;
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(
      `${what}: healthcheck.hostname must be a non-empty string, received ${
        JSON.stringify(hostname)
      }`,
    );
  }
  return { port: checkPort(port, `${what}: healthcheck.port`, port), hostname };
}

function checkPort(port: number, what: string, received: unknown): number {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(
      `${what} must be an integer from 0 to 65535, received ${JSON.stringify(received)}`,
    );
  }
  return port;
}

/** Reads an environment variable, treating a missing `--allow-env` as unset. */
export function readEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
