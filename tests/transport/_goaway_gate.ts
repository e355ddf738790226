// The GOAWAY gate any Deno upgrade must pass (hatchet-protocol.md §9.1): per HTTP stack, 10
// rounds of 2,000 calls, each round cut by a server GOAWAY and ended by a client close after
// many streams. On Deno 2.9.4–2.9.6 either event aborts the whole process, so reaching the
// assertions is the point. One file per stack, so `deno test --parallel` runs them side by side.
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { type HttpStack, resolveConfig } from "../../transport/config.ts";
import { type ClosableTransport, createGrpcTransport } from "../../transport/grpc_transport.ts";
import { Dispatcher } from "../../transport/services.ts";
import { startTestServer, type TestServer } from "./_grpc_server.ts";
import { testToken } from "./_jwt.ts";

/** The bearer token the test clients send. */
export const TOKEN: string = testToken({ sub: "tenant-1" });
const ROUNDS = 10;
const CALLS = 2_000;
const CONCURRENCY = 50;
// Every STREAM_EVERY-th call is a short server stream, so sessions carry 100+ streams of both kinds.
const STREAM_EVERY = 8;

/** A client of `server` over `stack`. */
export function connect(stack: HttpStack, server: TestServer): ClosableTransport {
  return createGrpcTransport(
    resolveConfig({ token: TOKEN, hostPort: server.hostPort, tls: "none", http: stack, env: {} }),
  );
}

/** `calls` unary calls and short server streams on one client, `CONCURRENCY` at a time. */
async function busy(client: ClosableTransport, calls: number): Promise<number> {
  const dispatcher = createClient(Dispatcher, client.transport);
  let ok = 0;
  for (let i = 0; i < calls; i += CONCURRENCY) {
    const batch = Array.from({ length: Math.min(CONCURRENCY, calls - i) }, async (_, j) => {
      if ((i + j) % STREAM_EVERY === 0) {
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

/** Registers the gate's test for one stack. */
export function goawayGate(stack: HttpStack): void {
  Deno.test(
    `createGrpcTransport() over ${stack} survives ${ROUNDS} rounds of ${CALLS} calls, a server GOAWAY and a client close`,
    async () => {
      await using server = await startTestServer();
      for (let round = 0; round < ROUNDS; round++) {
        const client = connect(stack, server);
        try {
          assert.equal(await busy(client, CALLS / 2), CALLS / 2);
          // Alternate a graceful GOAWAY (grpc-go's max connection age, or a restart) with an
          // abrupt one; the client moves to a new connection either way.
          await server.goaway({ graceful: round % 2 === 0 });
          // A unary call first: one refused under the GOAWAY is sent again, so the client is on a
          // new connection before streams start (a refused stream fails, for its owner to retry).
          const version = await createClient(Dispatcher, client.transport).getVersion({});
          assert.equal(version.version, "v0.0.0-test");
          assert.equal(await busy(client, CALLS / 2), CALLS / 2);
        } finally {
          // Closing a session that carried 100+ streams once killed a node:http2 server.
          await client.close();
        }
      }
      // The server outlived every GOAWAY and client close, and still answers a fresh client.
      const client = connect(stack, server);
      try {
        const version = await createClient(Dispatcher, client.transport).getVersion({});
        assert.equal(version.version, "v0.0.0-test");
      } finally {
        await client.close();
      }
      const calls = server.events.filter((e) => e.kind === "call").length;
      assert.equal(calls, ROUNDS * (CALLS + 1) + 1);
    },
  );
}
