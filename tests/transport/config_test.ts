import assert from "node:assert/strict";
import {
  applyNamespace,
  type ClientConfig,
  ConfigError,
  normalizeNamespace,
  resolveConfig,
} from "../../transport/config.ts";
import { b64url, testToken } from "./_jwt.ts";
import { createTestCerts, type TestCerts } from "./_tls.ts";

const CLAIMS = {
  sub: "tenant-from-token",
  grpc_broadcast_address: "engine.example.com:7077",
  server_url: "https://engine.example.com",
};
const TOKEN = testToken(CLAIMS, "c2VjcmV0LXNpZ25hdHVyZS1kbzRub3RsZWFr");
const SIGNATURE = "c2VjcmV0LXNpZ25hdHVyZS1kbzRub3RsZWFr";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.name, "ConfigError");
    assert.ok(!e.message.includes(SIGNATURE), `token leaked into: ${e.message}`);
    return e;
  }
  assert.fail("expected a ConfigError");
}

/** Runs fn with console.warn silenced (the plaintext warning is tested on its own). */
function quiet<T>(fn: () => T): T {
  const original = console.warn;
  console.warn = () => {};
  try {
    return fn();
  } finally {
    console.warn = original;
  }
}

let certsPromise: Promise<TestCerts> | undefined;
function certs(): Promise<TestCerts> {
  certsPromise ??= createTestCerts().then((c) => {
    globalThis.addEventListener("unload", () => Deno.removeSync(c.dir, { recursive: true }));
    return c;
  });
  return certsPromise;
}

Deno.test("resolveConfig() takes tenant, address and server URL from the token claims", () => {
  const config = resolveConfig({ env: { HATCHET_CLIENT_TOKEN: TOKEN } });
  assert.equal(config.token, TOKEN);
  assert.equal(config.tenantId, "tenant-from-token");
  assert.equal(config.hostPort, "engine.example.com:7077");
  assert.equal(config.serverUrl, "https://engine.example.com");
  assert.deepEqual({ ...config.tls }, { strategy: "tls", serverName: "engine.example.com" });
  assert.equal(config.namespace, "");
  assert.equal(config.http, "native");
});

Deno.test("resolveConfig() reads HATCHET_CLIENT_HOST_PORT, _TLS_STRATEGY, _TLS_SERVER_NAME and _NAMESPACE", () => {
  const config = resolveConfig({
    env: {
      HATCHET_CLIENT_TOKEN: TOKEN,
      HATCHET_CLIENT_HOST_PORT: "localhost:7070",
      HATCHET_CLIENT_TLS_STRATEGY: "none",
      HATCHET_CLIENT_TLS_SERVER_NAME: "engine.internal",
      HATCHET_CLIENT_NAMESPACE: "Staging",
      HATCHET_CLIENT_TENANT_ID: "tenant-from-env",
      HATCHET_CLIENT_SERVER_URL: "http://localhost:8080",
    },
  });
  assert.equal(config.hostPort, "localhost:7070");
  assert.deepEqual({ ...config.tls }, { strategy: "none", serverName: "engine.internal" });
  assert.equal(config.namespace, "staging_");
  assert.equal(config.tenantId, "tenant-from-env");
  assert.equal(config.serverUrl, "http://localhost:8080");
});

Deno.test("resolveConfig() reads the TLS files named by HATCHET_CLIENT_TLS_*_FILE", async () => {
  const c = await certs();
  const config = resolveConfig({
    env: {
      HATCHET_CLIENT_TOKEN: TOKEN,
      HATCHET_CLIENT_TLS_STRATEGY: "mtls",
      HATCHET_CLIENT_TLS_ROOT_CA_FILE: c.caCertFile,
      HATCHET_CLIENT_TLS_CERT_FILE: c.clientCertFile,
      HATCHET_CLIENT_TLS_KEY_FILE: c.clientKeyFile,
    },
  });
  assert.equal(config.tls.strategy, "mtls");
  assert.equal(config.tls.rootCa, c.caCert);
  assert.equal(config.tls.cert, c.clientCert);
  assert.equal(config.tls.key, c.clientKey);
});

Deno.test("resolveConfig() accepts TLS material as PEM text or as a file path", async () => {
  const c = await certs();
  const config = resolveConfig({
    token: TOKEN,
    tls: "mtls",
    tlsRootCa: c.caCert,
    tlsCert: c.clientCertFile,
    tlsKey: c.clientKey,
    env: {},
  });
  assert.equal(config.tls.rootCa, c.caCert);
  assert.equal(config.tls.cert, c.clientCert);
  assert.equal(config.tls.key, c.clientKey);
});

Deno.test("resolveConfig() ignores client certificates unless the strategy is mtls", () => {
  const config = resolveConfig({
    token: TOKEN,
    env: {
      HATCHET_CLIENT_TLS_CERT_FILE: "/nonexistent/cert.pem",
      HATCHET_CLIENT_TLS_KEY_FILE: "/x",
    },
  });
  assert.deepEqual({ ...config.tls }, { strategy: "tls", serverName: "engine.example.com" });
});

Deno.test("resolveConfig() prefers options over the environment over the token", () => {
  const env = {
    HATCHET_CLIENT_TOKEN: testToken({ ...CLAIMS, sub: "env-tenant" }),
    HATCHET_CLIENT_HOST_PORT: "env-host:1111",
    HATCHET_CLIENT_TLS_STRATEGY: "mtls",
    HATCHET_CLIENT_TLS_SERVER_NAME: "env-name",
    HATCHET_CLIENT_NAMESPACE: "env",
  };
  const fromOptions = quiet(() =>
    resolveConfig({
      token: TOKEN,
      hostPort: "option-host:2222",
      tls: "none",
      tlsServerName: "option-name",
      namespace: "opt",
      http: "node",
      env,
    })
  );
  assert.equal(fromOptions.tenantId, "tenant-from-token");
  assert.equal(fromOptions.token, TOKEN);
  assert.equal(fromOptions.hostPort, "option-host:2222");
  assert.equal(fromOptions.tls.strategy, "none");
  assert.equal(fromOptions.tls.serverName, "option-name");
  assert.equal(fromOptions.namespace, "opt_");
  assert.equal(fromOptions.http, "node");

  const fromEnv = quiet(() =>
    resolveConfig({ env: { ...env, HATCHET_CLIENT_TLS_STRATEGY: "none" } })
  );
  assert.equal(fromEnv.tenantId, "env-tenant");
  assert.equal(fromEnv.hostPort, "env-host:1111");
  assert.equal(fromEnv.tls.serverName, "env-name");
  assert.equal(fromEnv.namespace, "env_");

  const fromToken = resolveConfig({ env: { HATCHET_CLIENT_TOKEN: env.HATCHET_CLIENT_TOKEN } });
  assert.equal(fromToken.hostPort, "engine.example.com:7077");
  assert.equal(fromToken.tls.serverName, "engine.example.com");
});

Deno.test("resolveConfig() treats blank environment variables as unset", () => {
  const config = resolveConfig({
    env: {
      HATCHET_CLIENT_TOKEN: TOKEN,
      HATCHET_CLIENT_HOST_PORT: "",
      HATCHET_CLIENT_NAMESPACE: " ",
    },
  });
  assert.equal(config.hostPort, "engine.example.com:7077");
  assert.equal(config.namespace, "");
});

Deno.test("resolveConfig() lets an explicit empty namespace override the environment", () => {
  const config = resolveConfig({
    token: TOKEN,
    namespace: "",
    env: { HATCHET_CLIENT_NAMESPACE: "dev" },
  });
  assert.equal(config.namespace, "");
});

Deno.test("resolveConfig() defaults the server name to the host, without IPv6 brackets", () => {
  assert.equal(
    resolveConfig({ token: TOKEN, hostPort: "[::1]:7070", env: {} }).tls.serverName,
    "::1",
  );
  assert.equal(
    resolveConfig({ token: TOKEN, hostPort: "127.0.0.1:7070", env: {} }).tls.serverName,
    "127.0.0.1",
  );
});

Deno.test("resolveConfig() accepts an unsecured token with an empty signature", () => {
  const token = `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(CLAIMS))}.`;
  assert.equal(resolveConfig({ token, env: {} }).tenantId, "tenant-from-token");
});

Deno.test("resolveConfig() throws ConfigError when there is no token", () => {
  assert.equal(
    configError(() => resolveConfig({ env: {} })).message,
    "No API token: set HATCHET_CLIENT_TOKEN or pass token",
  );
  assert.equal(
    configError(() => resolveConfig({ token: "", env: { HATCHET_CLIENT_TOKEN: "  " } })).message,
    "No API token: set HATCHET_CLIENT_TOKEN or pass token",
  );
});

Deno.test("resolveConfig() throws ConfigError for a token that is not a JWT", () => {
  const secret = "not-a-jwt-but-a-secret-value";
  const err = configError(() => resolveConfig({ token: secret, env: {} }));
  assert.equal(
    err.message,
    'Invalid token from the token option: expected a JWT (three base64url parts separated by "."), received 1 part(s) in 28 characters',
  );
  assert.ok(!err.message.includes(secret));
  const fromEnv = configError(() => resolveConfig({ env: { HATCHET_CLIENT_TOKEN: "a.b" } }));
  assert.match(fromEnv.message, /^Invalid token from HATCHET_CLIENT_TOKEN: expected a JWT/);
});

Deno.test("resolveConfig() throws ConfigError for JWT claims that are not JSON", () => {
  const notJson = `${b64url("{}")}.${b64url("{sub: tenant-secret")}.${SIGNATURE}`;
  const err = configError(() => resolveConfig({ token: notJson, env: {} }));
  assert.equal(err.message, "Invalid token from the token option: the JWT claims are not JSON");
  assert.ok(!err.message.includes("tenant-secret"));
  assert.equal(err.cause, undefined);

  const notObject = `${b64url("{}")}.${b64url("[1,2]")}.${SIGNATURE}`;
  assert.equal(
    configError(() => resolveConfig({ token: notObject, env: {} })).message,
    "Invalid token from the token option: the JWT claims are not a JSON object",
  );
  const notBase64 = `${b64url("{}")}.${b64url('{"sub":"x"}')}_\u00e9.${SIGNATURE}`;
  assert.match(
    configError(() => resolveConfig({ token: notBase64, env: {} })).message,
    /^Invalid token from the token option: expected a JWT/,
  );
  const noSub = testToken({ server_url: "x" });
  assert.equal(
    configError(() => resolveConfig({ token: noSub, env: {} })).message,
    'Invalid token from the token option: the JWT has no "sub" claim (the tenant id)',
  );
});

Deno.test("resolveConfig() throws ConfigError for a host:port that does not parse", () => {
  for (
    const bad of ["engine.example.com", "host:port", "host:0", "host:70000", ":7070", "http://h:1"]
  ) {
    assert.equal(
      configError(() => resolveConfig({ token: TOKEN, hostPort: bad, env: {} })).message,
      `Cannot parse the hostPort option: expected "host:port" e.g. "localhost:7070", received ${
        JSON.stringify(bad)
      }`,
    );
  }
  assert.equal(
    configError(() => resolveConfig({ token: TOKEN, env: { HATCHET_CLIENT_HOST_PORT: "nope" } }))
      .message,
    'Cannot parse HATCHET_CLIENT_HOST_PORT: expected "host:port" e.g. "localhost:7070", received "nope"',
  );
  const badClaim = testToken({ sub: "t", grpc_broadcast_address: "nohost" });
  assert.equal(
    configError(() => resolveConfig({ token: badClaim, env: {} })).message,
    `Cannot parse the token's "grpc_broadcast_address" claim: expected "host:port" e.g. "localhost:7070", received "nohost"`,
  );
});

Deno.test("resolveConfig() throws ConfigError when no address is configured anywhere", () => {
  assert.equal(
    configError(() => resolveConfig({ token: testToken({ sub: "t" }), env: {} })).message,
    'No engine address: set HATCHET_CLIENT_HOST_PORT or pass hostPort (the token has no "grpc_broadcast_address" claim)',
  );
});

Deno.test("resolveConfig() throws ConfigError for an unknown TLS strategy or HTTP stack", () => {
  assert.equal(
    configError(() => resolveConfig({ token: TOKEN, env: { HATCHET_CLIENT_TLS_STRATEGY: "ssl" } }))
      .message,
    'Unknown TLS strategy: expected "tls", "mtls" or "none", received "ssl"',
  );
  assert.equal(
    configError(() => resolveConfig({ token: TOKEN, http: "deno" as "native", env: {} })).message,
    'Unknown HTTP stack: expected "native" or "node", received "deno"',
  );
  // Case does not matter, like the environment conventions of the official SDKs.
  assert.equal(
    quiet(() => resolveConfig({ token: TOKEN, env: { HATCHET_CLIENT_TLS_STRATEGY: "None" } }))
      .tls.strategy,
    "none",
  );
});

Deno.test("resolveConfig() throws ConfigError naming a certificate file it cannot read", async () => {
  const err = configError(() =>
    resolveConfig({ token: TOKEN, env: { HATCHET_CLIENT_TLS_ROOT_CA_FILE: "/nonexistent/ca.pem" } })
  );
  assert.match(
    err.message,
    /^Cannot read TLS root CA file "\/nonexistent\/ca\.pem" \(HATCHET_CLIENT_TLS_ROOT_CA_FILE\): .*No such file/,
  );
  assert.ok(err.cause instanceof Deno.errors.NotFound);

  const c = await certs();
  const notPem = `${c.dir}/not_pem.txt`;
  await Deno.writeTextFile(notPem, "hello");
  assert.equal(
    configError(() =>
      resolveConfig({ token: TOKEN, tls: "mtls", tlsCert: notPem, tlsKey: c.clientKey, env: {} })
    )
      .message,
    `Cannot use TLS client certificate file ${
      JSON.stringify(notPem)
    } (TLS client certificate option): expected PEM ("-----BEGIN ..."), found none`,
  );
});

Deno.test("resolveConfig() throws ConfigError when mtls lacks a certificate or key", async () => {
  const c = await certs();
  assert.equal(
    configError(() => resolveConfig({ token: TOKEN, tls: "mtls", tlsCert: c.clientCert, env: {} }))
      .message,
    'TLS strategy "mtls" needs a client certificate and key: set HATCHET_CLIENT_TLS_CERT_FILE and HATCHET_CLIENT_TLS_KEY_FILE or pass tlsCert and tlsKey',
  );
});

function assertRedacted(config: ClientConfig, secret: string): void {
  const forms = [
    String(config),
    `${config}`,
    JSON.stringify(config),
    JSON.stringify({ nested: config }),
    Deno.inspect(config),
    Deno.inspect(config, { showHidden: true, depth: 10 }),
    Deno.inspect({ nested: config }),
    Deno.inspect(config.tls, { depth: 10 }),
    JSON.stringify(config.tls),
    Object.keys(config).join(","),
  ];
  for (const form of forms) {
    assert.ok(!form.includes(secret), `secret leaked into: ${form}`);
  }
}

Deno.test("ClientConfig never shows the token in String, JSON or inspect forms", () => {
  const config = resolveConfig({ token: TOKEN, env: {} });
  assertRedacted(config, TOKEN);
  assertRedacted(config, SIGNATURE);
  assert.equal(
    String(config),
    'ClientConfig(tenantId=tenant-from-token, hostPort=engine.example.com:7077, tls=tls, namespace="", http=native, token=[redacted])',
  );
  assert.deepEqual(JSON.parse(JSON.stringify(config)), {
    tenantId: "tenant-from-token",
    hostPort: "engine.example.com:7077",
    serverUrl: "https://engine.example.com",
    tls: { strategy: "tls", serverName: "engine.example.com" },
    namespace: "",
    http: "native",
    token: "[redacted]",
  });
  assert.match(Deno.inspect(config), /^ClientConfig \{/);
  assert.match(Deno.inspect(config), /token: "\[redacted\]"/);
  assert.equal(Object.keys(config).includes("token"), false);
  assert.equal(config.token, TOKEN);
});

Deno.test("ClientConfig never shows the mTLS client key", async () => {
  const c = await certs();
  const config = resolveConfig({
    token: TOKEN,
    tls: "mtls",
    tlsCert: c.clientCert,
    tlsKey: c.clientKey,
    env: {},
  });
  const keyBody = c.clientKey.split("\n")[1];
  assertRedacted(config, keyBody);
  assert.equal(config.tls.key, c.clientKey);
  assert.equal(
    (JSON.parse(JSON.stringify(config)) as { tls: { key: string } }).tls.key,
    "[redacted]",
  );
});

Deno.test("ClientConfig is frozen", () => {
  const config = resolveConfig({ token: TOKEN, env: {} });
  assert.throws(() => {
    (config as { hostPort: string }).hostPort = "evil:1";
  }, TypeError);
  assert.throws(() => {
    (config.tls as { strategy: string }).strategy = "none";
  }, TypeError);
});

Deno.test("normalizeNamespace() lower-cases and appends an underscore", () => {
  assert.equal(normalizeNamespace("Dev"), "dev_");
  assert.equal(normalizeNamespace("dev_"), "dev_");
  assert.equal(normalizeNamespace("TEAM_A"), "team_a_");
  assert.equal(normalizeNamespace(""), "");
  assert.equal(normalizeNamespace(undefined), "");
});

Deno.test("ClientConfig.applyNamespace() prefixes once", () => {
  const config = resolveConfig({ token: TOKEN, namespace: "Dev", env: {} });
  assert.equal(config.applyNamespace("orders"), "dev_orders");
  assert.equal(config.applyNamespace("dev_orders"), "dev_orders");
  assert.equal(applyNamespace("", "orders"), "orders");
  const { applyNamespace: detached } = config;
  assert.equal(detached("x"), "dev_x");
});

Deno.test("resolveConfig() warns once when plaintext goes beyond loopback", () => {
  const warnings: unknown[][] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args);
  try {
    resolveConfig({ token: TOKEN, tls: "none", hostPort: "127.0.0.1:7070", env: {} });
    resolveConfig({ token: TOKEN, tls: "none", hostPort: "localhost:7070", env: {} });
    resolveConfig({ token: TOKEN, tls: "none", hostPort: "[::1]:7070", env: {} });
    assert.deepEqual(warnings, []);
    resolveConfig({ token: TOKEN, tls: "none", hostPort: "plain.example.com:7070", env: {} });
    resolveConfig({ token: TOKEN, tls: "none", hostPort: "plain.example.com:7070", env: {} });
  } finally {
    console.warn = original;
  }
  assert.deepEqual(warnings, [[
    'Hatchet client: TLS strategy "none" sends the API token in plaintext to plain.example.com:7070; use "tls" beyond localhost',
  ]]);
});

async function probe(
  allowEnv: string | undefined,
  env: Record<string, string>,
  options: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const args = ["run", "--no-check", "--no-prompt", "--no-lock"];
  if (allowEnv !== undefined) {
    args.push(allowEnv === "*" ? "--allow-env" : `--allow-env=${allowEnv}`);
  }
  args.push(new URL("./_config_probe.ts", import.meta.url).pathname, JSON.stringify(options));
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

Deno.test("resolveConfig() reads Deno.env by default", async () => {
  const result = await probe("*", {
    HATCHET_CLIENT_TOKEN: TOKEN,
    HATCHET_CLIENT_HOST_PORT: "127.0.0.1:7070",
    HATCHET_CLIENT_TLS_STRATEGY: "none",
  });
  assert.deepEqual(result, {
    ok: {
      tenantId: "tenant-from-token",
      hostPort: "127.0.0.1:7070",
      serverUrl: "https://engine.example.com",
      tls: { strategy: "none", serverName: "127.0.0.1" },
      namespace: "",
      http: "native",
      token: "[redacted]",
    },
    tokenLength: TOKEN.length,
  });
});

Deno.test("resolveConfig() treats an unreadable environment as empty and says so", async () => {
  const denied = await probe(undefined, { HATCHET_CLIENT_TOKEN: TOKEN });
  assert.deepEqual(denied, {
    error: "ConfigError",
    message:
      "No API token: set HATCHET_CLIENT_TOKEN or pass token (the environment could not be read: run with --allow-env=HATCHET_CLIENT_TOKEN)",
  });
  // Explicit options need no permission at all.
  const explicit = await probe(undefined, { HATCHET_CLIENT_HOST_PORT: "ignored:1" }, {
    token: TOKEN,
    tls: "none",
    hostPort: "127.0.0.1:7070",
  });
  assert.equal((explicit.ok as { hostPort: string }).hostPort, "127.0.0.1:7070");
  // A scoped permission is enough.
  const scoped = await probe("HATCHET_CLIENT_TOKEN", {
    HATCHET_CLIENT_TOKEN: TOKEN,
    HATCHET_CLIENT_NAMESPACE: "unread",
  });
  assert.equal((scoped.ok as { namespace: string }).namespace, "");
  assert.equal((scoped.ok as { hostPort: string }).hostPort, "engine.example.com:7077");
});
