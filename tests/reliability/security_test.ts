// Secrets and exposure: the token never shows in logs, errors, inspected objects or the demo's
// output; plaintext beyond loopback warns once; the mock engine's listener binds 127.0.0.1 only
// and refuses calls without its token.

import assert from "node:assert/strict";
import { Code, ConnectError, createClient as createRpcClient } from "@connectrpc/connect";
import { createClient, createWorker, type HatchetClient, workflow } from "../../mod.ts";
import { MockEngine } from "../../testing/mod.ts";
import { createNativeTransport } from "../../transport/native_transport.ts";
import { createNodeTransport } from "../../transport/node_transport.ts";
import { Dispatcher } from "../../transport/services.ts";
import { recordingLogger } from "../worker/_helpers.ts";
import { networkClient, portOf, STACKS } from "./_harness.ts";

/** Every printable form of `value` a program might log. */
function forms(value: unknown): string[] {
  const out = [
    Deno.inspect(value, { depth: 10, showHidden: true, getters: true }),
    Deno.inspect(value, { depth: 10 }),
    String(value),
  ];
  try {
    out.push(JSON.stringify(value) ?? "");
  } catch {
    // Not every object is JSON; its other forms still count.
  }
  return out;
}

/** The token itself, and its signature, which alone would be enough to forge nothing but still leaks. */
function secretsOf(token: string): string[] {
  return [token, token.split(".")[2]].filter((s) => s.length > 0);
}

function assertNoSecret(what: string, text: string, token: string): void {
  for (const secret of secretsOf(token)) {
    assert.ok(!text.includes(secret), `${what} shows the token: ${text.slice(0, 400)}`);
  }
}

/** Captures console output while `fn` runs. */
async function captureConsole(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const saved = { log: console.log, warn: console.warn, error: console.error, info: console.info };
  const record = (...args: unknown[]) => lines.push(args.map((a) => Deno.inspect(a)).join(" "));
  Object.assign(console, { log: record, warn: record, error: record, info: record });
  try {
    await fn();
  } finally {
    Object.assign(console, saved);
  }
  return lines;
}

for (const http of STACKS) {
  Deno.test(`createClient() over ${http}, its config, a worker and their errors never show the token`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen();
    const token = engine.token;
    const printed = await captureConsole(async () => {
      await using client = networkClient(engine, server.hostPort, http);
      const wf = workflow({ name: "secret" });
      wf.task({ name: "t", fn: () => ({ ok: true }) });
      // The default logger (console): its reconnect warnings are captured too.
      const worker = createWorker(client, { name: "w", workflows: [wf] });
      const objects: [string, unknown][] = [
        ["client", client],
        ["client.config", client.config],
        ["idle worker", worker],
      ];
      await worker.start();
      objects.push(["running worker", worker]);
      await (await engine.client.runs.trigger(wf, {})).result();
      engine.dropStreams();
      const again = await (await engine.client.runs.trigger(wf, {})).result();
      assert.equal(again.status, "COMPLETED");
      await worker.stop();
      objects.push(["stopped worker", worker]);
      for (const [what, value] of objects) {
        for (const form of forms(value)) assertNoSecret(what, form, token);
      }
      // The token is still what the transport sends.
      assert.equal(client.config.token, token);
    });
    assert.ok(printed.some((l) => /reconnecting the action stream/.test(l)), printed.join("\n"));
    for (const line of printed) assertNoSecret("console output", line, token);
  });

  Deno.test(`Worker.start() errors over ${http} never show the token they were refused for`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen();
    await using stranger = new MockEngine();
    await using client = networkClient(engine, server.hostPort, http, { token: stranger.token });
    const wf = workflow({ name: "refused" });
    wf.task({ name: "t", fn: () => ({}) });
    const rec = recordingLogger();
    const worker = createWorker(client, { name: "w", workflows: [wf], logger: rec.logger });
    const err = await worker.start().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof Error);
    assert.match(err.message, /unauthenticated: invalid auth token$/);
    for (let e: unknown = err; e instanceof Error; e = e.cause) {
      for (const form of [...forms(e), e.message, e.stack ?? ""]) {
        assertNoSecret(`error ${e.name}`, form, stranger.token);
        assertNoSecret(`error ${e.name}`, form, engine.token);
      }
    }
    for (const line of [...rec.warnings, ...rec.errors]) {
      assertNoSecret("worker log", line, stranger.token);
    }
  });
}

Deno.test("MockEngine and its in-memory client never show the token when inspected", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  // `engine.token` is a public field by design (tests hand it to clients), so JSON.stringify()
  // of the engine shows it; what a log line of the engine prints does not.
  for (const form of [Deno.inspect(engine, { depth: 10, showHidden: true }), String(engine)]) {
    assertNoSecret("engine", form, engine.token);
  }
  const objects: [string, unknown][] = [
    ["engine.client", engine.client],
    ["engine.client.config", engine.client.config],
    ["listener", server],
  ];
  for (const [what, value] of objects) {
    for (const form of forms(value)) assertNoSecret(what, form, engine.token);
  }
  assert.equal(
    Deno.inspect(engine, { breakLength: Infinity }),
    `MockEngine { tenantId: "${engine.tenantId}", token: "[redacted]", listeners: [ "${server.hostPort}" ] }`,
  );
});

Deno.test("createClient() errors for a malformed token never quote it", () => {
  const bad = [
    "not-a-jwt-secret-value",
    "aGVhZGVy.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJl",
    `e30.${btoa("[1,2]").replace(/=+$/, "")}.sig-secret`,
  ];
  for (const token of bad) {
    assert.throws(
      () => createClient({ token, hostPort: "127.0.0.1:7070", tls: "none", env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal(err.name, "ConfigError");
        for (const form of [...forms(err), err.message]) {
          for (const part of token.split(".")) {
            if (part.length > 3) assert.ok(!form.includes(part), `${form} quotes ${part}`);
          }
        }
        return true;
      },
    );
  }
});

Deno.test("examples/demo.ts prints no token, in memory or against an engine that refuses it", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  await using stranger = new MockEngine();
  const run = async (args: string[], env: Record<string, string>) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "examples/demo.ts", ...args],
      cwd: new URL("../../", import.meta.url),
      env: { NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return { code: out.code, text: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
  };
  const jwt = /eyJ[\w-]+\.[\w-]*\.?/;

  const mock = await run([], {});
  assert.equal(mock.code, 0, mock.text);
  assert.doesNotMatch(mock.text, jwt);
  assert.doesNotMatch(mock.text, /bearer|grpc_broadcast_address/i);

  const live = await run(["--engine"], {
    HATCHET_CLIENT_TOKEN: stranger.token,
    HATCHET_CLIENT_HOST_PORT: server.hostPort,
    HATCHET_CLIENT_TLS_STRATEGY: "none",
  });
  assert.equal(live.code, 1, live.text);
  assert.match(live.text, /unauthenticated/);
  assertNoSecret("the demo's output", live.text, stranger.token);
  assert.doesNotMatch(live.text, jwt);
});

Deno.test("createClient() defaults to TLS and warns exactly once for plaintext beyond loopback", async () => {
  await using engine = new MockEngine();
  const clients: HatchetClient[] = [];
  const printed = await captureConsole(() => {
    clients.push(createClient({ token: engine.token, hostPort: "10.20.30.40:7070", env: {} }));
    for (const hostPort of ["127.0.0.1:7070", "localhost:7070", "security-test.invalid:7070"]) {
      clients.push(createClient({ token: engine.token, hostPort, tls: "none", env: {} }));
    }
    clients.push(
      createClient({
        token: engine.token,
        hostPort: "security-test.invalid:7070",
        tls: "none",
        env: {},
      }),
    );
    return Promise.resolve();
  });
  try {
    assert.equal(clients[0].config.tls.strategy, "tls");
    assert.deepEqual(printed, [
      Deno.inspect(
        'Hatchet client: TLS strategy "none" sends the API token in plaintext to security-test.invalid:7070; use "tls" beyond localhost',
      ),
    ]);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

Deno.test("MockEngine.listen() binds 127.0.0.1 only", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  assert.match(server.hostPort, /^127\.0\.0\.1:\d+$/);
  const port = portOf(server.hostPort);
  const ok = await Deno.connect({ hostname: "127.0.0.1", port });
  ok.close();
  // Another loopback address reaches the same host, but not a socket bound to 127.0.0.1.
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.2", port }),
    Deno.errors.ConnectionRefused,
  );
});

for (const http of STACKS) {
  Deno.test(`MockEngine.listen() refuses unary and streaming calls without a token over ${http}`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen();
    const baseUrl = `http://${server.hostPort}`;
    // No auth interceptor: no authorization header at all.
    const bare = http === "native"
      ? createNativeTransport({ baseUrl })
      : createNodeTransport({ baseUrl });
    try {
      const dispatcher = createRpcClient(Dispatcher, bare.transport);
      const unauthenticated = (err: unknown) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, Code.Unauthenticated);
        assert.equal(err.rawMessage, "invalid auth token");
        return true;
      };
      await assert.rejects(
        dispatcher.register({ workerName: "intruder", actions: [] }),
        unauthenticated,
      );
      await assert.rejects(
        (async () => {
          for await (const _ of dispatcher.listenV2({ workerId: "w" })) {
            // Nothing may arrive.
          }
        })(),
        unauthenticated,
      );
    } finally {
      await bare.close();
    }
    assert.deepEqual(engine.workers(), []);
    assert.deepEqual(engine.rpcLog(), [
      { method: "Register", summary: { workerName: "intruder" }, error: "unauthenticated" },
      { method: "ListenV2", summary: { workerId: "w" }, error: "unauthenticated" },
    ]);
  });
}
