// Client configuration: explicit options first, then the HATCHET_CLIENT_* environment, then the
// claims of the token (hatchet-protocol.md §1.3–1.4). Resolution is synchronous and sends
// nothing, so a bad configuration fails before any connection is made.
//
// Missing --allow-env permission is treated as an empty environment, variable by variable, so
// `--allow-env=HATCHET_CLIENT_TOKEN,...` and explicit options both work; when something required
// is then missing, the ConfigError says the environment could not be read.

/**
 * How the client secures its connection to the engine.
 *
 * @example
 * ```ts
 * import type { TlsStrategy } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * // The in-memory client needs no TLS; a real engine beyond localhost wants "tls" or "mtls".
 * const strategy: TlsStrategy = engine.client.config.tls.strategy;
 * assert.equal(strategy, "none");
 * ```
 */
export type TlsStrategy = "tls" | "mtls" | "none";

/**
 * Which HTTP/2 stack carries gRPC: Deno's `fetch` (`"native"`) or `node:http2` (`"node"`).
 *
 * @example
 * ```ts
 * import { createClient, type HttpStack } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * await using server = await engine.listen();
 * const http: HttpStack = "node";
 * await using client = createClient({
 *   token: engine.token,
 *   hostPort: server.hostPort,
 *   tls: "none",
 *   http,
 *   env: {},
 * });
 * await client.events.push("ping", {});
 * assert.equal(client.config.http, "node");
 * assert.equal(engine.rpcLog()[0].method, "Push");
 * ```
 */
export type HttpStack = "native" | "node";

/**
 * Options of `createClient`; every field falls back to the environment, then the token.
 *
 * @example
 * ```ts
 * import { type ClientOptions, createClient } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * await using server = await engine.listen();
 * const options: ClientOptions = {
 *   token: engine.token,
 *   hostPort: server.hostPort,
 *   tls: "none",
 *   namespace: "Dev",
 *   env: {}, // read no HATCHET_CLIENT_* variables
 * };
 * await using client = createClient(options);
 * await client.events.push("ping", {});
 * assert.equal(client.config.namespace, "dev_");
 * assert.equal(engine.rpcLog()[0].summary?.key, "dev_ping");
 * ```
 */
export interface ClientOptions {
  /** API token (a JWT). Default: env `HATCHET_CLIENT_TOKEN`. */
  token?: string;
  /** gRPC `host:port`. Default: env `HATCHET_CLIENT_HOST_PORT`, else the token's `grpc_broadcast_address`. */
  hostPort?: string;
  /** Default: env `HATCHET_CLIENT_TLS_STRATEGY`, else `"tls"`. */
  tls?: TlsStrategy;
  /** Root CA as PEM text or a file path. Default: env `HATCHET_CLIENT_TLS_ROOT_CA_FILE`, else system roots. */
  tlsRootCa?: string;
  /** Client certificate (mTLS) as PEM text or a file path. Default: env `HATCHET_CLIENT_TLS_CERT_FILE`. */
  tlsCert?: string;
  /** Client key (mTLS) as PEM text or a file path. Default: env `HATCHET_CLIENT_TLS_KEY_FILE`. */
  tlsKey?: string;
  /** Name the server certificate must carry. Default: env `HATCHET_CLIENT_TLS_SERVER_NAME`, else the host of `hostPort`. */
  tlsServerName?: string;
  /** Prefix for workflow names, worker names and event keys. Default: env `HATCHET_CLIENT_NAMESPACE`. */
  namespace?: string;
  /** HTTP/2 stack; default `"native"`. */
  http?: HttpStack;
  /** The environment to read; defaults to `Deno.env`. Tests pass their own. */
  env?: Record<string, string | undefined>;
}

/**
 * Resolved TLS settings. The client key is a non-enumerable property.
 *
 * @example
 * ```ts
 * import { createClient, type TlsConfig } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * await using server = await engine.listen({ tls: true });
 * await using client = createClient({
 *   token: engine.token,
 *   hostPort: server.hostPort,
 *   tlsRootCa: server.caPem,
 *   env: {},
 * });
 * const tls: TlsConfig = client.config.tls;
 * assert.equal(tls.strategy, "tls");
 * assert.equal(tls.serverName, "127.0.0.1");
 * assert.equal(tls.rootCa, server.caPem);
 * await client.events.push("ping", {}); // over TLS, verified against the root CA
 * ```
 */
export interface TlsConfig {
  /** `"tls"`, `"mtls"` or `"none"` (plaintext h2c). */
  readonly strategy: TlsStrategy;
  /** Root CA (PEM) to trust; system roots when absent. */
  readonly rootCa?: string;
  /** Client certificate chain (PEM), for `"mtls"`. */
  readonly cert?: string;
  /** Client private key (PEM), for `"mtls"`. Not enumerable, so never serialised. */
  readonly key?: string;
  /** SNI and the name the server certificate must match. */
  readonly serverName: string;
}

/**
 * The resolved client configuration. Its string, JSON and inspect forms never show the token.
 *
 * @example
 * ```ts
 * import type { ClientConfig } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine({ namespace: "dev" });
 * const config: ClientConfig = engine.client.config;
 * assert.equal(config.tenantId, engine.tenantId);
 * assert.equal(config.applyNamespace("orders"), "dev_orders");
 * assert.equal(config.token, engine.token);
 * assert.equal(JSON.stringify(config).includes(engine.token), false);
 * assert.equal(String(config).includes(engine.token), false);
 * ```
 */
export interface ClientConfig {
  /** Tenant id (env `HATCHET_CLIENT_TENANT_ID`, else the token's `sub`). */
  readonly tenantId: string;
  /** gRPC address, `host:port`. */
  readonly hostPort: string;
  /** REST base URL (env `HATCHET_CLIENT_SERVER_URL`, else the token's `server_url`). */
  readonly serverUrl: string | undefined;
  /** TLS settings. */
  readonly tls: TlsConfig;
  /** Normalised namespace: lower case ending in `_`, or `""`. */
  readonly namespace: string;
  /** HTTP/2 stack. */
  readonly http: HttpStack;
  /** The API token, for the transport's auth header. A non-enumerable getter. */
  readonly token: string;
  /**
   * Prefixes `name` with the namespace unless it already starts with it.
   *
   * @param name A workflow name, worker name or event key.
   * @returns The namespaced name.
   */
  applyNamespace(name: string): string;
  /** A JSON form with the token (and client key) redacted. */
  toJSON(): Record<string, unknown>;
  /** A one-line summary without secrets. */
  toString(): string;
}

/**
 * The client configuration is missing or invalid. Its message names the setting at fault and
 * never contains the token.
 *
 * @example
 * ```ts
 * import { ConfigError, resolveConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => resolveConfig({ env: {} }), ConfigError);
 * ```
 */
export class ConfigError extends Error {
  /**
   * Creates a ConfigError.
   *
   * @param message What is wrong and how to fix it.
   * @param options The underlying error as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

const ENV_VARS = [
  "HATCHET_CLIENT_TOKEN",
  "HATCHET_CLIENT_HOST_PORT",
  "HATCHET_CLIENT_TLS_STRATEGY",
  "HATCHET_CLIENT_TLS_ROOT_CA_FILE",
  "HATCHET_CLIENT_TLS_CERT_FILE",
  "HATCHET_CLIENT_TLS_KEY_FILE",
  "HATCHET_CLIENT_TLS_SERVER_NAME",
  "HATCHET_CLIENT_NAMESPACE",
  "HATCHET_CLIENT_TENANT_ID",
  "HATCHET_CLIENT_SERVER_URL",
] as const;

type EnvVar = typeof ENV_VARS[number];

interface EnvReader {
  get(name: EnvVar): string | undefined;
  /** Variables that could not be read for lack of permission. */
  readonly denied: ReadonlySet<string>;
}

function envReader(env: Record<string, string | undefined> | undefined): EnvReader {
  const denied = new Set<string>();
  const blank = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v);
  if (env !== undefined) return { get: (name) => blank(env[name]), denied };
  return {
    get(name) {
      try {
        return blank(Deno.env.get(name));
      } catch (e) {
        if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
          denied.add(name);
          return undefined;
        }
        throw e;
      }
    },
    denied,
  };
}

function set(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

interface Claims {
  sub?: unknown;
  grpc_broadcast_address?: unknown;
  server_url?: unknown;
}

function decodeClaims(token: string, source: string): Claims {
  const parts = token.split(".");
  // Claims are read without verifying the signature, as the official SDKs do; an unsecured
  // token (`alg: none`) has an empty third part.
  if (
    parts.length !== 3 || parts[0] === "" || parts[1] === "" || !/^[\w-]*$/.test(parts.join(""))
  ) {
    throw new ConfigError(
      `Invalid token from ${source}: expected a JWT (three base64url parts separated by "."), ` +
        `received ${parts.length} part(s) in ${token.length} characters`,
    );
  }
  let text: string;
  try {
    const b64 = parts[1].replaceAll("-", "+").replaceAll("_", "/");
    const binary = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, "="));
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(binary, (c) => c.charCodeAt(0)),
    );
  } catch {
    throw new ConfigError(`Invalid token from ${source}: the JWT claims are not base64url`);
  }
  let claims: unknown;
  try {
    claims = JSON.parse(text);
  } catch {
    // The parser's message would quote part of the token, so it is not kept.
    throw new ConfigError(`Invalid token from ${source}: the JWT claims are not JSON`);
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw new ConfigError(`Invalid token from ${source}: the JWT claims are not a JSON object`);
  }
  return claims as Claims;
}

function claimString(claims: Claims, name: keyof Claims): string | undefined {
  const value = claims[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Splits `host:port` (IPv6 as `[::1]:7070`) and checks the port. */
function parseHostPort(hostPort: string, source: string): { host: string; port: number } {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@]+):(\d{1,5})$/.exec(hostPort);
  const port = m ? Number(m[2]) : NaN;
  if (m === null || port < 1 || port > 65535) {
    throw new ConfigError(
      `Cannot parse ${source}: expected "host:port" e.g. "localhost:7070", received ${
        JSON.stringify(hostPort)
      }`,
    );
  }
  return { host: m[1], port };
}

const PEM_MARK = "-----BEGIN";

/** PEM text as is, or the contents of the file it names. */
function loadPem(value: string, what: string, source: string): string {
  if (value.includes(PEM_MARK)) return value;
  let text: string;
  try {
    text = Deno.readTextFileSync(value);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ConfigError(
      `Cannot read ${what} file ${JSON.stringify(value)} (${source}): ${reason}`,
      {
        cause: e,
      },
    );
  }
  if (!text.includes(PEM_MARK)) {
    throw new ConfigError(
      `Cannot use ${what} file ${
        JSON.stringify(value)
      } (${source}): expected PEM ("${PEM_MARK} ..."), found none`,
    );
  }
  return text;
}

/**
 * Normalises a namespace the way Hatchet SDKs do: lower case, with a trailing `_`.
 *
 * @param namespace The namespace as configured.
 * @returns `""` for an empty or missing namespace, else e.g. `"dev_"` for `"Dev"`.
 * @example
 * ```ts
 * import { normalizeNamespace } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(normalizeNamespace("Dev"), "dev_");
 * assert.equal(normalizeNamespace("prod_"), "prod_");
 * assert.equal(normalizeNamespace(""), "");
 * ```
 */
export function normalizeNamespace(namespace: string | undefined): string {
  const ns = (namespace ?? "").trim().toLowerCase();
  if (ns === "") return "";
  return ns.endsWith("_") ? ns : `${ns}_`;
}

/**
 * Prefixes `name` with `namespace` unless it already starts with it.
 *
 * @param namespace A normalised namespace (see {@linkcode normalizeNamespace}).
 * @param name A workflow name, worker name or event key.
 * @returns The namespaced name.
 * @example
 * ```ts
 * import { applyNamespace } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(applyNamespace("dev_", "orders"), "dev_orders");
 * assert.equal(applyNamespace("dev_", "dev_orders"), "dev_orders");
 * assert.equal(applyNamespace("", "orders"), "orders");
 * ```
 */
export function applyNamespace(namespace: string, name: string): string {
  return namespace === "" || name.startsWith(namespace) ? name : namespace + name;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|::1)$/i;
const warnedPlaintext = new Set<string>();

const INSPECT = Symbol.for("Deno.customInspect");
const NODE_INSPECT = Symbol.for("nodejs.util.inspect.custom");

class ResolvedConfig implements ClientConfig {
  readonly tenantId: string;
  readonly hostPort: string;
  readonly serverUrl: string | undefined;
  readonly tls: TlsConfig;
  readonly namespace: string;
  readonly http: HttpStack;
  readonly #token: string;

  constructor(
    token: string,
    fields: Omit<ClientConfig, "token" | "applyNamespace" | "toJSON" | "toString">,
  ) {
    this.#token = token;
    this.tenantId = fields.tenantId;
    this.hostPort = fields.hostPort;
    this.serverUrl = fields.serverUrl;
    this.tls = fields.tls;
    this.namespace = fields.namespace;
    this.http = fields.http;
    // Bound, so it can be handed around as a plain function; not enumerable, so it stays out of
    // spreads and key lists.
    Object.defineProperty(this, "applyNamespace", {
      value: (name: string) => applyNamespace(this.namespace, name),
      enumerable: false,
    });
    Object.freeze(this);
  }

  get token(): string {
    return this.#token;
  }

  applyNamespace(name: string): string {
    return applyNamespace(this.namespace, name);
  }

  toJSON(): Record<string, unknown> {
    const tls: Record<string, unknown> = { strategy: this.tls.strategy };
    if (this.tls.rootCa !== undefined) tls.rootCa = this.tls.rootCa;
    if (this.tls.cert !== undefined) tls.cert = this.tls.cert;
    if (this.tls.key !== undefined) tls.key = "[redacted]";
    tls.serverName = this.tls.serverName;
    return {
      tenantId: this.tenantId,
      hostPort: this.hostPort,
      serverUrl: this.serverUrl,
      tls,
      namespace: this.namespace,
      http: this.http,
      token: "[redacted]",
    };
  }

  toString(): string {
    return `ClientConfig(tenantId=${this.tenantId}, hostPort=${this.hostPort}, tls=${this.tls.strategy}, ` +
      `namespace=${JSON.stringify(this.namespace)}, http=${this.http}, token=[redacted])`;
  }

  [INSPECT](inspect: (value: unknown, options?: unknown) => string, options?: unknown): string {
    const json = this.toJSON();
    const tls = { ...(json.tls as Record<string, unknown>) };
    // PEM blocks are public but long; a placeholder keeps logs readable.
    if (tls.rootCa !== undefined) tls.rootCa = "[PEM]";
    if (tls.cert !== undefined) tls.cert = "[PEM]";
    return `ClientConfig ${inspect({ ...json, tls }, options)}`;
  }

  [NODE_INSPECT](): string {
    return this.toString();
  }
}

/**
 * Resolves the client configuration from options, then the environment, then the token's claims.
 *
 * @param options Explicit settings; `env` replaces `Deno.env`.
 * @returns The resolved, frozen configuration.
 * @throws {ConfigError} When there is no token, the token is not a JWT with JSON claims, the
 * host:port does not parse, the TLS strategy or HTTP stack is unknown, mTLS lacks a
 * certificate or key, or a certificate file cannot be read.
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 * const claims = btoa(JSON.stringify({ sub: "tenant-1", grpc_broadcast_address: "127.0.0.1:7070" }));
 * const config = resolveConfig({ token: `e30.${claims.replace(/=+$/, "")}.`, tls: "none", env: {} });
 * assert.equal(config.tenantId, "tenant-1");
 * assert.equal(config.hostPort, "127.0.0.1:7070");
 * assert.equal(JSON.stringify(config).includes(config.token), false);
 * ```
 */
export function resolveConfig(options?: ClientOptions): ClientConfig {
  const env = envReader(options?.env);
  const deniedHint = () =>
    env.denied.size > 0
      ? ` (the environment could not be read: run with --allow-env=${[...env.denied].join(",")})`
      : "";

  let token = set(options?.token);
  let tokenSource = "the token option";
  if (token === undefined) {
    token = env.get("HATCHET_CLIENT_TOKEN");
    tokenSource = "HATCHET_CLIENT_TOKEN";
  }
  if (token === undefined) {
    throw new ConfigError(`No API token: set HATCHET_CLIENT_TOKEN or pass token${deniedHint()}`);
  }
  token = token.trim();
  const claims = decodeClaims(token, tokenSource);

  const tenantId = env.get("HATCHET_CLIENT_TENANT_ID") ?? claimString(claims, "sub");
  if (tenantId === undefined) {
    throw new ConfigError(
      `Invalid token from ${tokenSource}: the JWT has no "sub" claim (the tenant id)`,
    );
  }

  let hostPort = set(options?.hostPort);
  let hostPortSource = "the hostPort option";
  if (hostPort === undefined && (hostPort = env.get("HATCHET_CLIENT_HOST_PORT")) !== undefined) {
    hostPortSource = "HATCHET_CLIENT_HOST_PORT";
  }
  if (hostPort === undefined) {
    hostPort = claimString(claims, "grpc_broadcast_address");
    hostPortSource = 'the token\'s "grpc_broadcast_address" claim';
  }
  if (hostPort === undefined) {
    throw new ConfigError(
      `No engine address: set HATCHET_CLIENT_HOST_PORT or pass hostPort (the token has no "grpc_broadcast_address" claim)${deniedHint()}`,
    );
  }
  hostPort = hostPort.trim();
  const { host } = parseHostPort(hostPort, hostPortSource);

  const strategyRaw = set(options?.tls) ?? env.get("HATCHET_CLIENT_TLS_STRATEGY") ?? "tls";
  const strategy = strategyRaw.trim().toLowerCase();
  if (strategy !== "tls" && strategy !== "mtls" && strategy !== "none") {
    throw new ConfigError(
      `Unknown TLS strategy: expected "tls", "mtls" or "none", received ${
        JSON.stringify(strategyRaw)
      }`,
    );
  }

  const http = options?.http ?? "native";
  if (http !== "native" && http !== "node") {
    throw new ConfigError(
      `Unknown HTTP stack: expected "native" or "node", received ${JSON.stringify(http)}`,
    );
  }

  const serverName = (set(options?.tlsServerName) ?? env.get("HATCHET_CLIENT_TLS_SERVER_NAME") ??
    host.replace(/^\[|\]$/g, "")).trim();

  const tls: { -readonly [K in keyof TlsConfig]: TlsConfig[K] } = { strategy, serverName };
  if (strategy !== "none") {
    const pem = (option: string | undefined, name: EnvVar, what: string) => {
      const fromOption = set(option);
      if (fromOption !== undefined) return loadPem(fromOption, what, `${what} option`);
      const path = env.get(name);
      return path === undefined ? undefined : loadPem(path, what, name);
    };
    tls.rootCa = pem(options?.tlsRootCa, "HATCHET_CLIENT_TLS_ROOT_CA_FILE", "TLS root CA");
    if (strategy === "mtls") {
      const cert = pem(options?.tlsCert, "HATCHET_CLIENT_TLS_CERT_FILE", "TLS client certificate");
      const key = pem(options?.tlsKey, "HATCHET_CLIENT_TLS_KEY_FILE", "TLS client key");
      if (cert === undefined || key === undefined) {
        throw new ConfigError(
          'TLS strategy "mtls" needs a client certificate and key: set HATCHET_CLIENT_TLS_CERT_FILE ' +
            `and HATCHET_CLIENT_TLS_KEY_FILE or pass tlsCert and tlsKey${deniedHint()}`,
        );
      }
      tls.cert = cert;
      Object.defineProperty(tls, "key", { value: key, enumerable: false });
    }
  } else if (!LOOPBACK.test(host) && !warnedPlaintext.has(host)) {
    warnedPlaintext.add(host);
    console.warn(
      `Hatchet client: TLS strategy "none" sends the API token in plaintext to ${hostPort}; use "tls" beyond localhost`,
    );
  }
  if (tls.rootCa === undefined) delete tls.rootCa;
  Object.freeze(tls);

  // An explicit namespace, even "", wins over the environment.
  const namespace = normalizeNamespace(
    options?.namespace ?? env.get("HATCHET_CLIENT_NAMESPACE"),
  );
  const serverUrl = env.get("HATCHET_CLIENT_SERVER_URL") ?? claimString(claims, "server_url");

  return new ResolvedConfig(token, {
    tenantId,
    hostPort,
    serverUrl,
    tls,
    namespace,
    http,
  });
}

/** The environment variables {@linkcode resolveConfig} reads. */
export const CONFIG_ENV_VARS: readonly string[] = ENV_VARS;
