import assert from "node:assert/strict";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { authInterceptor } from "../../transport/grpc_transport.ts";
import { createNativeTransport } from "../../transport/native_transport.ts";
import { RunStatus } from "../../transport/services.ts";
import { MockEngine } from "../../testing/mod.ts";
import { clientsOf, json, listenDurable, startWorker, task, trigger, until } from "./_helpers.ts";

type Stack = (
  baseUrl: string,
  token: string,
  caPem?: string,
) => { transport: Transport; close(): Promise<void> };

const nodeStack: Stack = (baseUrl, token, caPem) => {
  const nodeOptions = caPem ? { ca: [caPem] } : {};
  const sessionManager = new Http2SessionManager(baseUrl, undefined, nodeOptions);
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [authInterceptor(token)],
    sessionManager,
    nodeOptions,
  });
  return {
    transport,
    close() {
      sessionManager.abort();
      return Promise.resolve();
    },
  };
};

const nativeStack: Stack = (baseUrl, token, caPem) =>
  createNativeTransport({
    baseUrl,
    interceptors: [authInterceptor(token)],
    caCerts: caPem ? [caPem] : undefined,
  });

async function basicSequence(engine: MockEngine, transport: Transport): Promise<void> {
  const c = clientsOf(transport);
  assert.equal((await c.dispatcher.getVersion({})).version, "v0.104.7");
  await c.admin.putWorkflow({
    name: "net",
    tasks: [task("net", "a"), task("net", "b", { parents: ["a"] })],
  });
  const worker = await startWorker(engine, c, "net-worker", ["net:a", "net:b"]);
  const runId = await trigger(c, "net", { v: 1 });
  const a = await worker.next();
  await c.events.putLog({ taskRunExternalId: a.taskRunExternalId, message: "in a", metadata: "" });
  await worker.complete(a, { a: 1 });
  const b = await worker.next();
  assert.deepEqual(JSON.parse(b.actionPayload).parents, { a: { a: 1 } });
  await worker.complete(b, { b: 2 });
  const details = await c.admin.getRunDetails({ externalId: runId });
  assert.equal(details.status, RunStatus.COMPLETED);
  assert.deepEqual(json(details.taskRuns.b.output!), { b: 2 });
  await worker.close();
  assert.deepEqual(engine.logs().map((l) => l.message), ["in a"]);
  assert.deepEqual(engine.rpcLog().map((e) => [e.method, e.error]), [
    ["GetVersion", undefined],
    ["PutWorkflow", undefined],
    ["Register", undefined],
    ["ListenV2", undefined],
    ["TriggerWorkflowRun", undefined],
    ["PutLog", undefined],
    ["SendStepActionEvent", undefined],
    ["SendStepActionEvent", undefined],
    ["GetRunDetails", undefined],
  ]);
}

for (const [name, stack] of [["node:http2", nodeStack], ["native fetch", nativeStack]] as const) {
  Deno.test(`MockEngine.listen() serves h2c gRPC to the ${name} stack`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen();
    assert.match(server.hostPort, /^127\.0\.0\.1:\d+$/);
    assert.equal(server.caPem, undefined);
    const { transport, close } = stack(`http://${server.hostPort}`, engine.token);
    try {
      await basicSequence(engine, transport);
    } finally {
      await close();
    }
  });

  Deno.test(`MockEngine.listen({ tls: true }) serves gRPC over TLS to the ${name} stack`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen({ tls: true });
    assert.match(server.caPem!, /^-----BEGIN CERTIFICATE-----/);
    const { transport, close } = stack(`https://${server.hostPort}`, engine.token, server.caPem);
    try {
      await basicSequence(engine, transport);
    } finally {
      await close();
    }
  });

  Deno.test(`MockEngine.listen() answers UNAUTHENTICATED over the network (${name})`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen();
    const { transport, close } = stack(`http://${server.hostPort}`, "wrong");
    try {
      await assert.rejects(clientsOf(transport).dispatcher.getVersion({}), (err: unknown) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, Code.Unauthenticated);
        assert.equal(err.rawMessage, "invalid auth token");
        return true;
      });
    } finally {
      await close();
    }
  });
}

Deno.test("MockEngine.listen() close() ends open streams and frees the port", async () => {
  await using engine = new MockEngine();
  const server = await engine.listen();
  const { transport, close } = nodeStack(`http://${server.hostPort}`, engine.token);
  const c = clientsOf(transport);
  const worker = await startWorker(engine, c, "w", []);
  await server.close();
  assert.ok(await worker.ended instanceof ConnectError, "the listen stream fails");
  await close();
  const port = Number(server.hostPort.split(":")[1]);
  await using again = await engine.listen({ port });
  assert.equal(again.hostPort, server.hostPort);
});

for (const [name, stack] of [["node:http2", nodeStack], ["native fetch", nativeStack]] as const) {
  Deno.test(`MockEngine.listen() delivers durable events on the bidi stream (${name})`, async () => {
    await using engine = new MockEngine();
    await using server = await engine.listen();
    const { transport, close } = stack(`http://${server.hostPort}`, engine.token);
    try {
      const c = clientsOf(transport);
      await c.admin.putWorkflow({
        name: "d",
        tasks: [task("d", "t", { isDurable: true, slotRequests: { durable: 1 }, timeout: "2h" })],
      });
      const worker = await startWorker(engine, c, "w", ["d:t"], { durable: 5 });
      await trigger(c, "d");
      const action = await worker.next();
      const taskId = action.taskRunExternalId;
      await c.durable.registerDurableEvent({
        taskId,
        signalKey: "sleep:1h-0",
        conditions: {
          sleepConditions: [{
            base: { readableDataKey: "sleep:1h", orGroupId: crypto.randomUUID() },
            sleepFor: "1h",
          }],
        },
      });
      const listener = listenDurable(c);
      listener.subscribe(taskId, "sleep:1h-0");
      await until(
        engine,
        () =>
          engine.rpcLog().some((e) =>
            e.summary?.signalKey === "sleep:1h-0" && e.method === "ListenForDurableEvent"
          ),
      );
      await engine.advance("1h");
      assert.deepEqual((await listener.next()).data, {
        CREATE: { "sleep:1h": [{ sleep_duration: "1h" }] },
      });
      await listener.close();
      await worker.complete(action);
      await worker.close();
    } finally {
      await close();
    }
  });
}

/** One raw HTTP/2 request to the listener, for what no gRPC client would send. */
async function rawRequest(
  hostPort: string,
  path: string,
  init: { contentType: string; body: Uint8Array; encoding?: string; authorization?: string },
): Promise<{ status: number; grpcStatus: string | null; grpcMessage: string | null }> {
  using client = Deno.createHttpClient({ http1: false, http2: true });
  const headers: Record<string, string> = { "content-type": init.contentType };
  if (init.encoding !== undefined) headers["grpc-encoding"] = init.encoding;
  if (init.authorization !== undefined) headers.authorization = init.authorization;
  const res = await fetch(`http://${hostPort}${path}`, {
    method: "POST",
    headers,
    body: init.body as Uint8Array<ArrayBuffer>,
    client,
  });
  await res.body?.cancel();
  return {
    status: res.status,
    grpcStatus: res.headers.get("grpc-status"),
    grpcMessage: res.headers.get("grpc-message"),
  };
}

Deno.test("MockEngine.listen() answers UNIMPLEMENTED for a method it does not serve", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const res = await rawRequest(server.hostPort, "/Dispatcher/NoSuchMethod", {
    contentType: "application/grpc",
    body: new Uint8Array([0, 0, 0, 0, 0]),
  });
  assert.deepEqual(res, {
    status: 200,
    grpcStatus: String(Code.Unimplemented),
    grpcMessage: "/Dispatcher/NoSuchMethod is not implemented",
  });
});

Deno.test("MockEngine.listen() reads gzip-compressed requests, as grpc-js sends them", async () => {
  await using engine = new MockEngine({ version: "v0.79.0" });
  await using server = await engine.listen();
  // An empty GetVersionRequest, gzip-compressed, behind a flagged envelope.
  const gzipped = new Uint8Array(
    await new Response(
      new Blob([new Uint8Array(0)]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  const body = new Uint8Array(5 + gzipped.length);
  body[0] = 1;
  new DataView(body.buffer).setUint32(1, gzipped.length);
  body.set(gzipped, 5);
  const ok = await rawRequest(server.hostPort, "/Dispatcher/GetVersion", {
    contentType: "application/grpc",
    encoding: "gzip",
    authorization: `bearer ${engine.token}`,
    body,
  });
  assert.equal(ok.grpcStatus, null); // a message, then the status in trailers
  assert.equal(ok.status, 200);
  const refused = await rawRequest(server.hostPort, "/Dispatcher/GetVersion", {
    contentType: "application/grpc",
    encoding: "snappy",
    body,
  });
  assert.deepEqual(refused, {
    status: 200,
    grpcStatus: String(Code.Unimplemented),
    grpcMessage: 'compressed request messages in grpc-encoding "snappy" are not supported' +
      " (gzip and deflate are)",
  });
  assert.deepEqual(engine.rpcLog(), [{ method: "GetVersion" }]);
});

Deno.test("MockEngine.listen() answers 415 to anything but gRPC", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const json = await rawRequest(server.hostPort, "/Dispatcher/GetVersion", {
    contentType: "application/json",
    body: new TextEncoder().encode("{}"),
  });
  assert.equal(json.status, 415);
  assert.deepEqual(engine.rpcLog(), []);
});

Deno.test("MockEngine.listen() answers INVALID_ARGUMENT for a body cut inside a message", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const res = await rawRequest(server.hostPort, "/Dispatcher/GetVersion", {
    contentType: "application/grpc",
    body: new Uint8Array([0, 0, 0, 0, 9, 1, 2]),
  });
  assert.equal(res.grpcStatus, String(Code.InvalidArgument));
  assert.equal(res.grpcMessage, "expected exactly one request message");
});
