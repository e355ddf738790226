/**
 * A dev server for any Hatchet SDK: serves a {@link MockEngine} as real gRPC on 127.0.0.1 in
 * wall-clock time, with the REST endpoints official SDKs call on a second port, prints the
 * `HATCHET_CLIENT_*` settings that reach it, and logs every RPC and REST call in one line.
 *
 * From a checkout: `deno task mock-engine [--port 7077] [--rest-port 0] [--tls]`. Once
 * published: `deno run -A jsr:@hatchet-deno/sdk/testing/serve [--port 7077] [--tls]`. Paste the
 * printed `export` lines into another shell and start a worker of any Hatchet SDK there. Ctrl-C
 * stops it.
 *
 * The token names both ports (`grpc_broadcast_address`, `server_url`). Of the REST API only what
 * official SDKs call in ordinary use is served (cancel, replay, run details and status, schedule,
 * worker pause); every other path answers 501. There is no dashboard.
 *
 * @example
 * ```ts
 * import { serve } from "./serve.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = await serve({ port: 0, write: () => {} });
 * assert.equal(server.env.HATCHET_CLIENT_HOST_PORT, server.hostPort);
 * assert.equal(server.env.HATCHET_CLIENT_TLS_STRATEGY, "none");
 * ```
 *
 * @module
 */

import { type EngineListener, MockEngine, type RpcLogEntry } from "./mock_engine.ts";

/** Options of {@link serve}. */
export interface ServeOptions {
  /** TCP port on 127.0.0.1; default 0 (a free port). The command line defaults to 7077. */
  port?: number;
  /** TCP port of the REST API on 127.0.0.1; default 0 (a free port). */
  restPort?: number;
  /**
   * Serve TLS with a throwaway CA, written to a temporary file that
   * `HATCHET_CLIENT_TLS_ROOT_CA_FILE` names; default plaintext HTTP/2 (h2c).
   */
  tls?: boolean;
  /** What `GetVersion` answers; default the mock engine's (`"v0.79.0"`). */
  version?: string;
  /** Receives every output line (settings, RPCs, engine notes); default `console.log`. */
  write?: (line: string) => void;
  /** How often new RPCs are looked for, in ms; default 100. */
  pollInterval?: number;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
}

/** A running dev server. Close it (or `await using`) to stop. */
export interface DevServer extends AsyncDisposable {
  /** The engine being served (clock `"real"`), for inspection. */
  readonly engine: MockEngine;
  /** `127.0.0.1:<port>`. */
  readonly hostPort: string;
  /** `http://127.0.0.1:<port>`: the REST API (also the token's `server_url`). */
  readonly restUrl: string;
  /**
   * The `HATCHET_CLIENT_*` settings that reach this server: `HATCHET_CLIENT_TOKEN`,
   * `HATCHET_CLIENT_HOST_PORT`, `HATCHET_CLIENT_TLS_STRATEGY`, and with TLS
   * `HATCHET_CLIENT_TLS_ROOT_CA_FILE`.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Resolves once the server stopped, by `close()` or the abort signal. */
  readonly closed: Promise<void>;
  /** Logs the RPCs not logged yet, closes the engine and its listener, removes the CA file. */
  close(): Promise<void>;
}

/**
 * Starts a dev server: a {@link MockEngine} on the wall clock, served as real gRPC on
 * 127.0.0.1. Writes the `export HATCHET_CLIENT_...=` lines first, then one line per RPC.
 *
 * @param options Port, TLS, where lines go, and an abort signal.
 * @returns The running server.
 * @throws {RangeError} When `port` is not an integer from 0 to 65535, or `pollInterval` is not
 *   positive.
 * @throws {Error} When the port is taken, or TLS certificates cannot be made.
 * @example
 * ```ts
 * import { createClient } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 * import { serve } from "./serve.ts";
 *
 * const lines: string[] = [];
 * await using server = await serve({ write: (line) => lines.push(line) });
 * await using client = createClient({
 *   token: server.env.HATCHET_CLIENT_TOKEN,
 *   hostPort: server.hostPort,
 *   tls: "none",
 *   env: {},
 * });
 * await client.events.push("hello", { from: "the docs" });
 * await server.close();
 * assert.ok(lines.some((line) => line.includes("Push")));
 * ```
 */
export async function serve(options?: ServeOptions): Promise<DevServer> {
  const port = options?.port ?? 0;
  const restPort = options?.restPort ?? 0;
  for (const [name, value] of [["port", port], ["restPort", restPort]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 65535) {
      throw new RangeError(
        `Invalid ${name}: expected an integer from 0 to 65535, received ${JSON.stringify(value)}`,
      );
    }
  }
  const pollInterval = options?.pollInterval ?? 100;
  if (!(pollInterval > 0)) {
    throw new RangeError(
      `Invalid pollInterval: expected a positive number of ms, received ${
        JSON.stringify(pollInterval)
      }`,
    );
  }
  const write = options?.write ?? ((line: string) => console.log(line));
  const engine = new MockEngine({
    clock: "real",
    ...(options?.version === undefined ? {} : { version: options.version }),
  });
  let listener: EngineListener;
  let caFile: string | undefined;
  try {
    listener = await engine.listen({ port, restPort, tls: options?.tls ?? false });
    if (listener.caPem !== undefined) {
      caFile = await Deno.makeTempFile({ prefix: "hatchet-mock-ca-", suffix: ".pem" });
      await Deno.writeTextFile(caFile, listener.caPem);
    }
  } catch (err) {
    await engine.close();
    if (caFile !== undefined) await Deno.remove(caFile).catch(() => {});
    throw err;
  }

  const env: Record<string, string> = {
    HATCHET_CLIENT_TOKEN: listener.token,
    HATCHET_CLIENT_HOST_PORT: listener.hostPort,
    HATCHET_CLIENT_TLS_STRATEGY: caFile === undefined ? "none" : "tls",
  };
  if (caFile !== undefined) env.HATCHET_CLIENT_TLS_ROOT_CA_FILE = caFile;

  write(
    `MockEngine serving gRPC on ${listener.hostPort} (${
      caFile === undefined ? "plaintext h2c" : "TLS"
    }) and REST on ${listener.restUrl}, wall-clock time. In another shell:`,
  );
  write("");
  for (const [name, value] of Object.entries(env)) write(`export ${name}=${value}`);
  write("");
  write("RPCs as they arrive (Ctrl-C stops):");

  // The engine offers no hook per RPC, so its log is read on a short interval; an entry is
  // stamped when first seen. It is written one poll later, which gives a unary call time to
  // record its error.
  const seenAt: Date[] = [];
  let writtenRpcs = 0;
  let writtenNotes = 0;
  const drain = (all: boolean) => {
    const rpcs = engine.rpcLog();
    const upTo = all ? rpcs.length : seenAt.length;
    const now = new Date();
    while (seenAt.length < rpcs.length) seenAt.push(now);
    for (; writtenRpcs < upTo; writtenRpcs++) {
      write(formatRpc(rpcs[writtenRpcs], seenAt[writtenRpcs]));
    }
    const notes = engine.engineLog();
    for (; writtenNotes < notes.length; writtenNotes++) {
      write(`${clockTime(now)}  engine: ${notes[writtenNotes]}`);
    }
  };
  const timer = setInterval(() => drain(false), pollInterval);

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => resolveClosed = resolve);
  let closing: Promise<void> | undefined;
  const onAbort = () => void server.close();
  const close = (): Promise<void> => {
    closing ??= (async () => {
      options?.signal?.removeEventListener("abort", onAbort);
      clearInterval(timer);
      try {
        await engine.close();
      } finally {
        drain(true);
        if (caFile !== undefined) await Deno.remove(caFile).catch(() => {});
        write("Stopped.");
        resolveClosed();
      }
    })();
    return closing;
  };
  const server: DevServer = {
    engine,
    hostPort: listener.hostPort,
    restUrl: listener.restUrl,
    env,
    closed,
    close,
    [Symbol.asyncDispose]: close,
  };
  if (options?.signal?.aborted) await close();
  else options?.signal?.addEventListener("abort", onAbort, { once: true });
  return server;
}

// Local wall-clock time with milliseconds, e.g. "14:03:07.250".
function clockTime(date: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${
    pad(date.getMilliseconds(), 3)
  }`;
}

function formatRpc(entry: RpcLogEntry, at: Date): string {
  const fields = Object.entries(entry.summary ?? {}).map(([key, value]) =>
    `${key}=${JSON.stringify(value)}`
  );
  const error = entry.error === undefined ? "" : `  -> ${entry.error}`;
  return `${clockTime(at)}  ${entry.method}${fields.length ? ` ${fields.join(" ")}` : ""}${error}`;
}

const USAGE = `Usage: deno task mock-engine [--port N] [--rest-port N] [--tls]
       deno run -A jsr:@hatchet-deno/sdk/testing/serve [--port N] [--rest-port N] [--tls]

Serves an in-memory Hatchet engine (MockEngine) over gRPC on 127.0.0.1, in wall-clock time,
and the REST endpoints official SDKs call on a second port (the token names both).

  --port N        gRPC port; default 7077 (0 picks a free one)
  --rest-port N   REST port; default 0 (a free one)
  --tls           serve gRPC over TLS with a throwaway CA written to a temporary file
  --help          show this help`;

/** The result of parsing the dev server's command line. */
export type ServeArgs =
  | { help: true }
  | { help: false; port: number; restPort: number; tls: boolean };

/**
 * Parses the dev server's command line.
 *
 * @param args `--port N` (or `--port=N`), `--rest-port N`, `--tls`, `--help`.
 * @returns The options, or `{ help: true }`.
 * @throws {TypeError} For an unknown argument or a missing port value.
 * @throws {RangeError} When the port is not an integer from 0 to 65535.
 * @example
 * ```ts
 * import { parseServeArgs } from "./serve.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseServeArgs(["--port", "9000", "--tls"]), {
 *   help: false,
 *   port: 9000,
 *   restPort: 0,
 *   tls: true,
 * });
 * assert.deepEqual(parseServeArgs([]), { help: false, port: 7077, restPort: 0, tls: false });
 * ```
 */
export function parseServeArgs(args: readonly string[]): ServeArgs {
  let port = 7077;
  let restPort = 0;
  let tls = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") return { help: true };
    if (arg === "--tls") {
      tls = true;
    } else if (/^--(rest-)?port(=|$)/.test(arg)) {
      const flag = arg.startsWith("--rest-port") ? "--rest-port" : "--port";
      const text = arg === flag ? args[++i] : arg.slice(flag.length + 1);
      if (text === undefined) throw new TypeError(`Missing value: ${flag} needs a number`);
      if (!/^\d+$/.test(text) || Number(text) > 65535) {
        throw new RangeError(
          `Invalid ${flag === "--port" ? "port" : "REST port"}: expected an integer from 0 to ` +
            `65535, received ${JSON.stringify(text)}`,
        );
      }
      if (flag === "--port") port = Number(text);
      else restPort = Number(text);
    } else {
      throw new TypeError(`Unknown argument: ${JSON.stringify(arg)}`);
    }
  }
  return { help: false, port, restPort, tls };
}

/**
 * The dev server's command line: serves until SIGINT (Ctrl-C) or SIGTERM, then stops cleanly.
 *
 * @param args See {@link parseServeArgs}.
 * @returns The exit code: 0 after a clean stop, 1 when the server cannot start, 2 on bad
 *   arguments.
 */
export async function main(args: readonly string[]): Promise<number> {
  let parsed: ServeArgs;
  try {
    parsed = parseServeArgs(args);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    console.log(USAGE);
    return 0;
  }
  const stop = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const onSignal = () => stop.abort();
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  try {
    const server = await serve({
      port: parsed.port,
      restPort: parsed.restPort,
      tls: parsed.tls,
      signal: stop.signal,
    });
    await server.closed;
    return 0;
  } catch (err) {
    const message = (err as Error).message;
    // One line: a taken port is the usual cause (7077 is also hatchet-lite's gRPC port).
    console.error(
      /is already in use$/.test(message)
        ? `Cannot start the mock engine: ${message} (another engine, e.g. hatchet-lite on 7077?);` +
          " stop it, or pass --port N (0 picks a free port)"
        : `Cannot start the mock engine: ${message.split("\n")[0]}`,
    );
    return 1;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
  }
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
