// One unary call through the in-memory MockEngine transport: the cost every test RPC pays, and
// the floor under the engine's own work. The listener variant crosses real loopback gRPC.
import { createClient } from "../mod.ts";
import { MockEngine } from "../testing/mod.ts";
import { enginePortsOf } from "../worker/client.ts";

const engine = new MockEngine();
const memory = enginePortsOf(engine.client);
const server = await engine.listen();
const native = createClient({
  token: engine.token,
  hostPort: server.hostPort,
  tls: "none",
  env: {},
});
const node = createClient({
  token: engine.token,
  hostPort: server.hostPort,
  tls: "none",
  env: {},
  http: "node",
});
await enginePortsOf(native).dispatcher.getVersion();
await enginePortsOf(node).dispatcher.getVersion();

Deno.bench("GetVersion round trip, in memory", { group: "rpc", baseline: true }, async () => {
  await memory.dispatcher.getVersion();
});

Deno.bench("GetVersion round trip, loopback gRPC, native stack", { group: "rpc" }, async () => {
  await enginePortsOf(native).dispatcher.getVersion();
});

Deno.bench("GetVersion round trip, loopback gRPC, node stack", { group: "rpc" }, async () => {
  await enginePortsOf(node).dispatcher.getVersion();
});

globalThis.addEventListener("unload", () => {
  // deno bench has no afterAll; close what the benches shared so the process can exit.
  void Promise.all([native.close(), node.close(), server.close(), engine.close()]);
});
