// Regression tests for GOAWAY handling. On Deno 2.9.4–2.9.6 nghttp2 aborts the whole process
// when a peer sends GOAWAY, and a node:http2 server dies when a client closes a session that
// carried 100+ streams (hatchet-protocol.md §9.1). If either happens here, the test run itself
// dies, so reaching the assertions is the point.
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { type HttpStack, resolveConfig } from "../../transport/config.ts";
import { type ClosableTransport, createGrpcTransport } from "../../transport/grpc_transport.ts";
import { Dispatcher } from "../../transport/services.ts";
import { startTestServer, type TestServer } from "./_grpc_server.ts";
import { testToken } from "./_jwt.ts";

const TOKEN = testToken({ sub: "tenant-1" });
const ROUNDS = 4;
const CALLS = 120;

function connect(stack: HttpStack, server: TestServer): ClosableTransport {
  return createGrpcTransport(
    resolveConfig({ token: TOKEN, hostPort: server.hostPort, tls: "none", http: stack, env: {} }),
  );
}

/** Many unary calls and short server streams on one connection, in small concurrent batches. */
async function busy(client: ClosableTransport): Promise<number> {
  const dispatcher = createClient(Dispatcher, client.transport);
  let ok = 0;
  for (let i = 0; i < CALLS; i += 20) {
    const batch = Array.from({ length: 20 }, async (_, j) => {
      if ((i + j) % 4 === 0) {
        let n = 0;
        for await (const _a of dispatcher.listenV2({ workerId: "count:2" })) n++;
        assert.equal(n, 2);
      } else {
        assert.equal((await dispatcher.getVersion({})).version, "v0.0.0-test");
      }
      ok++;
    });
    await Promise.all(batch);
  }
  return ok;
}

for (const stack of ["native", "node"] as const) {
  Deno.test(
    `createGrpcTransport() over ${stack} survives repeated server GOAWAY after many calls`,
    async () => {
      await using server = await startTestServer();
      const client = connect(stack, server);
      const dispatcher = createClient(Dispatcher, client.transport);
      try {
        for (let round = 0; round < ROUNDS; round++) {
          assert.equal(await busy(client), CALLS);
          // Alternate a grpc-go style graceful GOAWAY with an abrupt one.
          await server.goaway({ graceful: round % 2 === 0 });
          assert.equal((await dispatcher.getVersion({})).version, "v0.0.0-test");
        }
      } finally {
        await client.close();
      }
      const calls = server.events.filter((e) => e.kind === "call").length;
      assert.equal(calls, ROUNDS * (CALLS + 1));
    },
  );

  Deno.test(
    `ClosableTransport.close() over ${stack} after many streams leaves the server serving`,
    async () => {
      await using server = await startTestServer();
      for (let round = 0; round < ROUNDS; round++) {
        const client = connect(stack, server);
        try {
          assert.equal(await busy(client), CALLS);
        } finally {
          await client.close();
        }
      }
      // The server outlived every client close and still answers a fresh client.
      const client = connect(stack, server);
      try {
        const version = await createClient(Dispatcher, client.transport).getVersion({});
        assert.equal(version.version, "v0.0.0-test");
      } finally {
        await client.close();
      }
    },
  );
}

for (const stack of ["native", "node"] as const) {
  Deno.test(
    `createGrpcTransport() over ${stack} reconnects after the server restarts on the same port`,
    async () => {
      let server = await startTestServer();
      const port = server.port;
      const client = connect(stack, server);
      const dispatcher = createClient(Dispatcher, client.transport);
      try {
        for (let round = 0; round < ROUNDS; round++) {
          assert.equal((await dispatcher.getVersion({})).version, "v0.0.0-test");
          await server.close();
          server = await startTestServer({ port });
          // The first call may still meet the dead connection; it must fail as unavailable
          // (worth retrying), and a retry must reach the new server.
          const outcomes: string[] = [];
          for (let attempt = 0; attempt < 3; attempt++) {
            try {
              outcomes.push((await dispatcher.getVersion({})).version);
              break;
            } catch (e) {
              assert.ok(e instanceof ConnectError, String(e));
              assert.equal(e.code, Code.Unavailable, e.message);
              outcomes.push("unavailable");
            }
          }
          assert.equal(outcomes.at(-1), "v0.0.0-test", outcomes.join(","));
        }
      } finally {
        await client.close();
        await server.close();
      }
    },
  );
}
