// One conformance suite for both HTTP/2 stacks: every RPC kind, h2c and TLS, against a real
// gRPC server on 127.0.0.1 (node:http2 + Connect handlers, answering like grpc-go).
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { type HttpStack, resolveConfig } from "../../transport/config.ts";
import { type ClosableTransport, createGrpcTransport } from "../../transport/grpc_transport.ts";
import { Dispatcher, V1Dispatcher } from "../../transport/services.ts";
import {
  noiseText,
  startTestServer,
  type TestServer,
  type TestServerOptions,
} from "./_grpc_server.ts";
import { createTestCerts, type TestCerts } from "./_tls.ts";
import { testToken } from "./_jwt.ts";

const TOKEN = testToken({ sub: "tenant-1", server_url: "http://localhost:8080" });
const BEARER = `bearer ${TOKEN}`;

type Security = "h2c" | "tls" | "mtls";

let certsPromise: Promise<TestCerts> | undefined;
function certs(): Promise<TestCerts> {
  certsPromise ??= createTestCerts({ serverNames: ["engine.internal"] }).then((c) => {
    globalThis.addEventListener("unload", () => Deno.removeSync(c.dir, { recursive: true }));
    return c;
  });
  return certsPromise;
}

interface Harness extends AsyncDisposable {
  server: TestServer;
  client: ClosableTransport;
  dispatcher: ReturnType<typeof createClient<typeof Dispatcher>>;
  durable: ReturnType<typeof createClient<typeof V1Dispatcher>>;
}

async function harness(
  stack: HttpStack,
  security: Security,
  serverOptions?: Omit<TestServerOptions, "tls">,
): Promise<Harness> {
  const c = security === "h2c" ? undefined : await certs();
  const server = await startTestServer({
    ...serverOptions,
    tls: c === undefined ? undefined : {
      cert: c.serverCert,
      key: c.serverKey,
      ca: c.caCert,
      requireClientCert: security === "mtls",
    },
  });
  const config = resolveConfig({
    token: TOKEN,
    hostPort: server.hostPort,
    tls: security === "h2c" ? "none" : security,
    tlsRootCa: c?.caCertFile,
    tlsCert: security === "mtls" ? c?.clientCert : undefined,
    tlsKey: security === "mtls" ? c?.clientKeyFile : undefined,
    http: stack,
    env: {},
  });
  const client = createGrpcTransport(config);
  return {
    server,
    client,
    dispatcher: createClient(Dispatcher, client.transport),
    durable: createClient(V1Dispatcher, client.transport),
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConnectError, `expected a ConnectError, got ${e}`);
    return e;
  }
  assert.fail("expected the call to fail");
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** A bidi request stream the test feeds by hand. */
function requestQueue<T>(): { iterable: AsyncIterable<T>; push(v: T): void; end(): void } {
  const items: T[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  return {
    iterable: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (items.length > 0) {
            yield items.shift()!;
            continue;
          }
          if (ended) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
    },
    push(v) {
      items.push(v);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
  };
}

const CALL_ENDING_CODES = [Code.Unavailable, Code.Internal, Code.Canceled, Code.Unknown];

for (const stack of ["native", "node"] as const) {
  for (const security of ["h2c", "tls"] as const) {
    const on = `over ${stack} ${security}`;

    Deno.test(`createGrpcTransport() carries a unary call with the bearer token ${on}`, async () => {
      await using h = await harness(stack, security);
      const res = await h.dispatcher.getVersion({}, { timeoutMs: 5_000 });
      assert.equal(res.version, "v0.0.0-test");
      assert.deepEqual(h.server.events, [
        {
          kind: "call",
          method: "GetVersion",
          authorization: BEARER,
          detail: "content-type=application/grpc+proto te=trailers grpc-timeout=5000m",
        },
      ]);
    });

    Deno.test(`createGrpcTransport() maps a unary error to its code and message ${on}`, async () => {
      await using h = await harness(stack, security);
      const err = await rejection(
        h.dispatcher.getVersion({}, { headers: { "x-test-error": String(Code.NotFound) } }),
      );
      assert.equal(err.code, Code.NotFound);
      assert.equal(err.rawMessage, "requested failure");
      // The call after a failed one still works on the same connection.
      assert.equal((await h.dispatcher.getVersion({})).version, "v0.0.0-test");
    });

    Deno.test(`createGrpcTransport() ends a unary call at its deadline ${on}`, async () => {
      await using h = await harness(stack, security);
      const err = await rejection(
        h.dispatcher.getVersion({}, { timeoutMs: 200, headers: { "x-test-hold": "1" } }),
      );
      assert.equal(err.code, Code.DeadlineExceeded);
      // The server learns that the client gave up, so its handler does not hang on.
      await h.server.waitFor((e) => e.kind === "abort" && e.method === "GetVersion");
    });

    Deno.test(`createGrpcTransport() cancels a unary call on abort ${on}`, async () => {
      await using h = await harness(stack, security);
      const abort = new AbortController();
      const call = h.dispatcher.getVersion({}, {
        signal: abort.signal,
        headers: { "x-test-hold": "1" },
      });
      await h.server.waitFor((e) => e.kind === "call" && e.method === "GetVersion");
      abort.abort();
      const err = await rejection(call);
      assert.equal(err.code, Code.Canceled);
      await h.server.waitFor((e) => e.kind === "abort" && e.method === "GetVersion");
    });

    Deno.test(`createGrpcTransport() ends a server stream at its deadline ${on}`, async () => {
      await using h = await harness(stack, security);
      const it = h.dispatcher.listenV2({ workerId: "hold" }, { timeoutMs: 300 })[
        Symbol.asyncIterator
      ]();
      assert.equal((await it.next()).value?.actionId, "action-0");
      const err = await rejection(it.next());
      assert.equal(err.code, Code.DeadlineExceeded);
      await h.server.waitFor((e) => e.kind === "abort" && e.method === "ListenV2");
    });

    Deno.test(`createGrpcTransport() decodes a gzip-compressed unary response ${on}`, async () => {
      await using h = await harness(stack, security);
      let encoding: string | null = null;
      const res = await h.dispatcher.getVersion({}, {
        headers: { "x-test-version-length": "20000" },
        onHeader: (hd) => (encoding = hd.get("grpc-encoding")),
      });
      assert.equal(encoding, "gzip");
      assert.equal(res.version, "v".repeat(20_000));
    });

    Deno.test(`createGrpcTransport() reads a unary response that spans many reads ${on}`, async () => {
      await using h = await harness(stack, security);
      for (const length of [1_000, 300_000]) {
        const res = await h.dispatcher.getVersion({}, {
          headers: { "x-test-version-noise": String(length) },
        });
        assert.equal(res.version, noiseText(length));
      }
    });

    Deno.test(`createGrpcTransport() streams server messages in order ${on}`, async () => {
      await using h = await harness(stack, security);
      const actions = await collect(h.dispatcher.listenV2({ workerId: "count:5" }));
      assert.deepEqual(actions.map((a) => a.actionId), [
        "action-0",
        "action-1",
        "action-2",
        "action-3",
        "action-4",
      ]);
      assert.deepEqual(h.server.events.map((e) => [e.kind, e.authorization]), [
        ["call", BEARER],
        ["end", BEARER],
      ]);
    });

    Deno.test(
      `createGrpcTransport() reports a server-stream error sent before any message ${on}`,
      async () => {
        await using h = await harness(stack, security);
        const seen: string[] = [];
        const err = await rejection((async () => {
          for await (
            const a of h.dispatcher.listenV2({ workerId: `fail:0:${Code.PermissionDenied}` })
          ) {
            seen.push(a.actionId);
          }
        })());
        assert.deepEqual(seen, []);
        assert.equal(err.code, Code.PermissionDenied);
        assert.equal(err.rawMessage, "stream failed");
      },
    );

    Deno.test(
      `createGrpcTransport() handles a server-stream error that follows messages ${on}`,
      async () => {
        await using h = await harness(stack, security);
        const seen: string[] = [];
        const outcome = await (async () => {
          for await (const a of h.dispatcher.listenV2({ workerId: `fail:2:${Code.Unavailable}` })) {
            seen.push(a.actionId);
          }
          return "end";
        })().catch((e) => e);
        assert.deepEqual(seen, ["action-0", "action-1"]);
        if (stack === "node") {
          assert.ok(outcome instanceof ConnectError);
          assert.equal(outcome.code, Code.Unavailable);
          assert.equal(outcome.rawMessage, "stream failed");
        } else {
          // The documented blind spot of fetch: the status in the trailers is not readable, so
          // the stream simply ends; callers of long-lived streams reconnect on an end.
          assert.equal(outcome, "end");
        }
      },
    );

    Deno.test(`createGrpcTransport() decodes gzip-compressed responses ${on}`, async () => {
      await using h = await harness(stack, security);
      const big = `count:2:${"x".repeat(8192)}`;
      let encoding: string | null = null;
      const actions = await collect(
        h.dispatcher.listenV2({ workerId: big }, {
          onHeader: (hd) => (encoding = hd.get("grpc-encoding")),
        }),
      );
      assert.equal(encoding, "gzip");
      assert.deepEqual(actions.map((a) => [a.actionId, a.actionPayload]), [
        ["action-0", big],
        ["action-1", big],
      ]);
    });

    Deno.test(`createGrpcTransport() echoes a bidi stream in order ${on}`, async () => {
      await using h = await harness(stack, security);
      const requests = requestQueue<{ taskId: string; signalKey: string }>();
      const replies = h.durable.listenForDurableEvent(requests.iterable)[Symbol.asyncIterator]();
      // Each reply arrives before the next request is sent: a real full-duplex exchange.
      const got: string[] = [];
      for (const key of ["a", "b", "c"]) {
        requests.push({ taskId: "task-1", signalKey: key });
        const r = await replies.next();
        assert.equal(r.done, false);
        got.push(
          `${r.value.taskId}/${r.value.signalKey}/${new TextDecoder().decode(r.value.data)}`,
        );
      }
      requests.end();
      assert.deepEqual(await replies.next(), { done: true, value: undefined });
      assert.deepEqual(got, ["task-1/a/a", "task-1/b/b", "task-1/c/c"]);
      const ended = await h.server.waitFor((e) => e.kind === "end");
      assert.deepEqual(ended, {
        kind: "end",
        method: "ListenForDurableEvent",
        authorization: BEARER,
      });
    });

    Deno.test(`createGrpcTransport() reports a bidi error from the server ${on}`, async () => {
      await using h = await harness(stack, security);
      const requests = requestQueue<{ taskId: string; signalKey: string }>();
      requests.push({ taskId: "task-1", signalKey: "fail" });
      const err = await rejection(collect(h.durable.listenForDurableEvent(requests.iterable)));
      assert.equal(err.code, Code.FailedPrecondition);
      assert.equal(err.rawMessage, "bad signal key");
      requests.end();
    });

    Deno.test(
      `createGrpcTransport() cancels a server stream on abort and the server sees it ${on}`,
      async () => {
        await using h = await harness(stack, security);
        const abort = new AbortController();
        const it = h.dispatcher.listenV2({ workerId: "hold" }, { signal: abort.signal })[
          Symbol.asyncIterator
        ]();
        assert.equal((await it.next()).value?.actionId, "action-0");
        const pending = it.next();
        abort.abort();
        const err = await rejection(pending);
        assert.equal(err.code, Code.Canceled);
        const seen = await h.server.waitFor((e) => e.kind === "abort");
        assert.deepEqual(seen, {
          kind: "abort",
          method: "ListenV2",
          authorization: BEARER,
          detail: String(Code.Canceled),
        });
      },
    );

    Deno.test(
      `createGrpcTransport() cancels a bidi stream on abort and the server sees it ${on}`,
      async () => {
        await using h = await harness(stack, security);
        const abort = new AbortController();
        const requests = requestQueue<{ taskId: string; signalKey: string }>();
        const replies = h.durable.listenForDurableEvent(requests.iterable, { signal: abort.signal })
          [
            Symbol.asyncIterator
          ]();
        requests.push({ taskId: "t", signalKey: "first" });
        assert.equal((await replies.next()).value?.signalKey, "first");
        abort.abort();
        const err = await rejection(replies.next());
        assert.equal(err.code, Code.Canceled);
        const seen = await h.server.waitFor((e) => e.kind === "abort");
        assert.equal(seen.method, "ListenForDurableEvent");
        requests.end();
      },
    );

    Deno.test(
      `createGrpcTransport() survives a server GOAWAY and new calls work ${on}`,
      async () => {
        await using h = await harness(stack, security);
        const it = h.dispatcher.listenV2({ workerId: "hold" })[Symbol.asyncIterator]();
        assert.equal((await it.next()).value?.actionId, "action-0");

        // Graceful GOAWAY (a grpc-go restart): new calls go to a fresh connection.
        await h.server.goaway({ graceful: true });
        for (let i = 0; i < 3; i++) {
          assert.equal((await h.dispatcher.getVersion({})).version, "v0.0.0-test");
        }
        assert.equal(h.server.sessionCount(), 2);

        // Then the old session and the new one are torn down under the open stream.
        const pending = it.next().then((r) => r, (e) => e);
        await h.server.goaway({ graceful: false });
        const outcome = await pending;
        if (outcome instanceof ConnectError) {
          assert.ok(CALL_ENDING_CODES.includes(outcome.code), `unexpected code ${outcome.code}`);
        } else {
          assert.deepEqual(outcome, { done: true, value: undefined });
        }
        assert.equal((await h.dispatcher.getVersion({})).version, "v0.0.0-test");
        assert.deepEqual(
          (await collect(h.dispatcher.listenV2({ workerId: "count:2" }))).map((a) => a.actionId),
          ["action-0", "action-1"],
        );
      },
    );

    Deno.test(
      `ClosableTransport.close() fails open streams and later calls with canceled ${on}`,
      async () => {
        await using h = await harness(stack, security);
        const it = h.dispatcher.listenV2({ workerId: "hold" })[Symbol.asyncIterator]();
        assert.equal((await it.next()).value?.actionId, "action-0");
        const pending = it.next();
        await h.client.close();
        const err = await rejection(pending);
        assert.equal(err.code, Code.Canceled);
        assert.equal(err.rawMessage, "the transport was closed");
        const later = await rejection(h.dispatcher.getVersion({}));
        assert.equal(later.code, Code.Canceled);
        assert.equal(later.rawMessage, "the transport was closed");
        await h.server.waitFor((e) => e.kind === "abort");
      },
    );
  }

  Deno.test(`createGrpcTransport() speaks mutual TLS over ${stack}`, async () => {
    await using h = await harness(stack, "mtls");
    assert.equal((await h.dispatcher.getVersion({})).version, "v0.0.0-test");
    const requests = requestQueue<{ taskId: string; signalKey: string }>();
    requests.push({ taskId: "t", signalKey: "x" });
    requests.end();
    const replies = await collect(h.durable.listenForDurableEvent(requests.iterable));
    assert.deepEqual(replies.map((r) => r.signalKey), ["x"]);
  });

  Deno.test(`createGrpcTransport() fails when the server does not trust us over ${stack}`, async () => {
    const c = await certs();
    await using server = await startTestServer({
      tls: { cert: c.serverCert, key: c.serverKey, ca: c.caCert, requireClientCert: true },
    });
    const config = resolveConfig({
      token: TOKEN,
      hostPort: server.hostPort,
      tlsRootCa: c.caCert,
      http: stack,
      env: {},
    });
    const client = createGrpcTransport(config);
    try {
      const err = await rejection(createClient(Dispatcher, client.transport).getVersion({}));
      assert.ok(CALL_ENDING_CODES.includes(err.code), `unexpected code ${err.code}`);
    } finally {
      await client.close();
    }
  });
}

Deno.test("createGrpcTransport() rejects a certificate from an unknown CA", async () => {
  const c = await certs();
  await using server = await startTestServer({ tls: { cert: c.serverCert, key: c.serverKey } });
  for (const http of ["native", "node"] as const) {
    // No root CA: the system roots do not know the test CA.
    const config = resolveConfig({ token: TOKEN, hostPort: server.hostPort, http, env: {} });
    const client = createGrpcTransport(config);
    try {
      const err = await rejection(createClient(Dispatcher, client.transport).getVersion({}));
      assert.ok(CALL_ENDING_CODES.includes(err.code), `${http}: unexpected code ${err.code}`);
    } finally {
      await client.close();
    }
  }
  assert.deepEqual(server.events, []);
});

Deno.test("createGrpcTransport() checks the certificate against tlsServerName on node", async () => {
  const c = await certs();
  await using server = await startTestServer({ tls: { cert: c.serverCert, key: c.serverKey } });
  const config = resolveConfig({
    token: TOKEN,
    hostPort: server.hostPort,
    tlsRootCa: c.caCert,
    tlsServerName: "engine.internal",
    http: "node",
    env: {},
  });
  const client = createGrpcTransport(config);
  try {
    assert.equal(
      (await createClient(Dispatcher, client.transport).getVersion({})).version,
      "v0.0.0-test",
    );
  } finally {
    await client.close();
  }
  const wrong = createGrpcTransport(resolveConfig({
    token: TOKEN,
    hostPort: server.hostPort,
    tlsRootCa: c.caCert,
    tlsServerName: "other.internal",
    http: "node",
    env: {},
  }));
  try {
    await rejection(createClient(Dispatcher, wrong.transport).getVersion({}));
  } finally {
    await wrong.close();
  }
});

Deno.test(
  "createGrpcTransport() sees a status sent in trailers after no message only on node",
  async () => {
    for (const stack of ["native", "node"] as const) {
      await using h = await harness(stack, "h2c", { statusInTrailers: true });
      const err = await rejection(
        h.dispatcher.getVersion({}, { headers: { "x-test-error": String(Code.NotFound) } }),
      );
      if (stack === "node") {
        assert.equal(err.code, Code.NotFound);
      } else {
        // fetch cannot read trailers; an empty body without a status is never taken for OK.
        assert.equal(err.code, Code.Unknown);
        assert.equal(
          err.rawMessage,
          "the server sent its status in HTTP/2 trailers, which fetch cannot read",
        );
      }
    }
  },
);
