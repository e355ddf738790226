// Run by nodelay_relay_test.ts in a process of its own with `--allow-net` (Deno grants a Unix
// socket only by exact path, and the relay's path is new each time, so the test runner's narrow
// `--allow-net=127.0.0.1` never lets the relay open). It still only talks to 127.0.0.1. Prints
// one JSON line of what it saw.
import { createClient, createWorker, workflow } from "@hatchet-deno/sdk";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { openNoDelayRelay } from "../../transport/_nodelay_relay.ts";

/** A GetVersion request in gRPC framing: an empty message. */
const GET_VERSION = new Uint8Array([0, 0, 0, 0, 0]);

function relayDirs(): string[] {
  return [...Deno.readDirSync("/tmp")].map((e) => e.name).filter((n) =>
    n.startsWith("hatchet-relay-")
  ).sort();
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Three GetVersion calls through a relay opened directly. */
async function direct(tls: boolean) {
  await using engine = new MockEngine({ version: "v0.104.7" });
  await using server = await engine.listen({ tls });
  const [hostname, port] = server.hostPort.split(":");
  const relay = openNoDelayRelay(
    hostname,
    Number(port),
    tls ? { caCerts: server.caPem === undefined ? undefined : [server.caPem] } : undefined,
  );
  if (!relay) return { opened: false };
  const versions: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res: Response = await fetch(
      `http://${server.hostPort}/Dispatcher/GetVersion`,
      {
        method: "POST",
        client: relay.client,
        body: GET_VERSION,
        headers: {
          "content-type": "application/grpc",
          te: "trailers",
          authorization: `bearer ${engine.token}`,
        },
      },
    );
    const body = new Uint8Array(await res.arrayBuffer());
    versions.push(new TextDecoder().decode(body.subarray(7)));
  }
  const socketWhileOpen = await exists(relay.path);
  await relay.close();
  return {
    opened: true,
    versions,
    socketWhileOpen,
    removedOnClose: !(await exists(relay.path.replace(/\/s$/, ""))),
  };
}

/** A 200 KB input and output through a native client, and the relay directories it made. */
async function viaClient(tls: boolean) {
  const before = relayDirs();
  await using engine = new MockEngine();
  await using server = await engine.listen({ tls });
  const client = createClient({
    token: engine.token,
    hostPort: server.hostPort,
    tls: tls ? "tls" : "none",
    tlsRootCa: server.caPem,
    http: "native",
    env: {},
  });
  const wf = workflow<{ blob: string }>({ name: "big-io" });
  wf.task({ name: "echo", fn: (input) => ({ blob: input.blob }) });
  const worker = createWorker(engine.client, { name: "w", workflows: [wf] });
  await worker.start();
  const small = await (await client.runs.trigger(wf, { blob: "x" })).result();
  const afterSmall = relayDirs().filter((d) => !before.includes(d)).length;
  const blob = "ab".repeat(100_000);
  const result = await (await client.runs.trigger(wf, { blob })).result();
  const afterBig = relayDirs().filter((d) => !before.includes(d)).length;
  await worker.stop();
  await client.close();
  const afterClose = relayDirs().filter((d) => !before.includes(d)).length;
  return {
    smallOk: small.status === "COMPLETED",
    bigEchoed: (result.outputs.echo as { blob: string }).blob === blob,
    relaysAfterSmall: afterSmall,
    relaysAfterBig: afterBig,
    relaysAfterClose: afterClose,
  };
}

console.log(JSON.stringify({
  h2c: await direct(false),
  tls: await direct(true),
  clientH2c: await viaClient(false),
  clientTls: await viaClient(true),
}));
