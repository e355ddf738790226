// Regression tests for GOAWAY handling, native stack (node: goaway_node_test.ts). On Deno
// 2.9.4–2.9.6 nghttp2 aborts the whole process when a peer sends GOAWAY, and a node:http2 server
// dies when a client closes a session that carried 100+ streams (hatchet-protocol.md §9.1). If
// either happens here, the test run itself dies, so reaching the assertions is the point.
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Dispatcher } from "../../transport/services.ts";
import { startTestServer } from "./_grpc_server.ts";
import { connect, goawayGate } from "./_goaway_gate.ts";

const RESTARTS = 4;

goawayGate("native");

for (const stack of ["native", "node"] as const) {
  Deno.test(
    `createGrpcTransport() over ${stack} reconnects after the server restarts on the same port`,
    async () => {
      let server = await startTestServer();
      const port = server.port;
      const client = connect(stack, server);
      const dispatcher = createClient(Dispatcher, client.transport);
      try {
        for (let round = 0; round < RESTARTS; round++) {
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
