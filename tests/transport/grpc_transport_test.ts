import assert from "node:assert/strict";
import { resolveConfig } from "../../transport/config.ts";
import { ConfigError } from "../../transport/config.ts";
import { authInterceptor, createGrpcTransport } from "../../transport/grpc_transport.ts";
import { createNativeTransport } from "../../transport/native_transport.ts";
import { createNodeTransport } from "../../transport/node_transport.ts";
import { testToken } from "./_jwt.ts";

const TOKEN = testToken({ sub: "tenant-1" });

Deno.test("authInterceptor() sets the bearer header on every call, reading the token each time", async () => {
  let token = "first";
  const seen: (string | null)[] = [];
  const call = authInterceptor(() => token)((req) => {
    seen.push(req.header.get("authorization"));
    return Promise.resolve({} as never);
  });
  await call({ header: new Headers({ authorization: "basic old" }) } as never);
  token = "second";
  await call({ header: new Headers() } as never);
  assert.deepEqual(seen, ["bearer first", "bearer second"]);
});

Deno.test("createGrpcTransport() refuses a TLS server name the native stack cannot honour", () => {
  const config = resolveConfig({
    token: TOKEN,
    hostPort: "127.0.0.1:7070",
    tlsServerName: "engine.internal",
    env: {},
  });
  assert.throws(() => createGrpcTransport(config), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(
      e.message,
      'TLS server name "engine.internal" differs from the host "127.0.0.1": the native HTTP stack cannot override it; connect to "engine.internal" or pass http: "node"',
    );
    assert.ok(!e.message.includes(TOKEN));
    return true;
  });
});

Deno.test("createGrpcTransport() accepts a server name equal to the host on native", async () => {
  const config = resolveConfig({
    token: TOKEN,
    hostPort: "localhost:7070",
    tlsServerName: "localhost",
    env: {},
  });
  const { close } = createGrpcTransport(config);
  await close();
});

Deno.test("createNodeTransport() rejects keepalive pings more often than every 5 s", () => {
  assert.throws(
    () => createNodeTransport({ baseUrl: "http://127.0.0.1:7070", pingIntervalMs: 1000 }),
    new RangeError("Cannot create transport: pingIntervalMs must be at least 5000, received 1000"),
  );
});

Deno.test("createNativeTransport() and createNodeTransport() reject bad URLs and half a key pair", () => {
  for (const create of [createNativeTransport, createNodeTransport]) {
    assert.throws(
      () => create({ baseUrl: "ftp://127.0.0.1:7070" }),
      new TypeError(
        'Cannot create transport: expected an http: or https: URL, received "ftp://127.0.0.1:7070"',
      ),
    );
    assert.throws(
      () => create({ baseUrl: "not a url" }),
      new TypeError(
        'Cannot create transport: expected e.g. "http://127.0.0.1:7070", received "not a url"',
      ),
    );
    assert.throws(
      () => create({ baseUrl: "https://127.0.0.1:7070", cert: "-----BEGIN CERTIFICATE-----" }),
      new TypeError(
        "Cannot create transport: mutual TLS needs both cert and key, received only cert",
      ),
    );
  }
});
