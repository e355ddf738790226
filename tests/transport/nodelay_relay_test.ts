// The relay that carries the native stack's large requests over a socket with Nagle off
// (transport/_nodelay_relay.ts), and the fallback where it cannot open.
import assert from "node:assert/strict";
import { createClient, createWorker, workflow } from "@hatchet-deno/sdk";
import { MockEngine } from "@hatchet-deno/sdk/testing";
import { openNoDelayRelay } from "../../transport/_nodelay_relay.ts";

Deno.test("openNoDelayRelay() relays h2c and TLS, the native stack sends only large requests through it, and close() removes it", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write=/tmp",
      "--allow-run=openssl",
      "--allow-env=HOME,PATH,DENO_DIR,XDG_CACHE_HOME",
      "tests/transport/_relay_probe.ts",
    ],
    cwd: new URL("../../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const seen = JSON.parse(new TextDecoder().decode(out.stdout));
  const direct = {
    opened: true,
    versions: ["v0.104.7", "v0.104.7", "v0.104.7"],
    socketWhileOpen: true,
    removedOnClose: true,
  };
  const client = {
    smallOk: true,
    bigEchoed: true,
    relaysAfterSmall: 0,
    relaysAfterBig: 1,
    relaysAfterClose: 0,
  };
  assert.deepEqual(seen, { h2c: direct, tls: direct, clientH2c: client, clientTls: client });
});

Deno.test("A relay's directory is removed when the process exits without close()", async () => {
  // The worker of a script that ends with Deno.exit() (or an uncaught error) never closes its
  // client: the relay's socket directory in /tmp must not stay behind. (`deno eval` runs with
  // every permission, as a worker run with -A.)
  const script = [
    `import { openNoDelayRelay } from ${
      JSON.stringify(new URL("../../transport/_nodelay_relay.ts", import.meta.url).href)
    };`,
    `const relay = openNoDelayRelay("127.0.0.1", 7070);`,
    `console.log(relay?.path ?? "");`,
    `Deno.exit(0);`,
  ].join("\n");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const path = new TextDecoder().decode(out.stdout).trim();
  assert.match(path, /^\/tmp\/hatchet-relay-[^/]+\/s$/);
  const dir = path.slice(0, -"/s".length);
  const left = await Deno.lstat(dir).then(() => true, () => false);
  assert.equal(left, false, `${dir} was left behind`);
});

Deno.test("openNoDelayRelay() declines without net permission for its socket", () => {
  // This runner has --allow-net=127.0.0.1,127.0.0.2, which grants no Unix socket.
  assert.equal(openNoDelayRelay("127.0.0.1", 7070), undefined);
});

Deno.test("The native stack sends 200 KB requests directly where the relay cannot open", async () => {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  await using client = createClient({
    token: engine.token,
    hostPort: server.hostPort,
    tls: "none",
    http: "native",
    env: {},
  });
  const wf = workflow<{ blob: string }>({ name: "big-io" });
  wf.task({ name: "echo", fn: (input) => ({ length: input.blob.length }) });
  await using worker = createWorker(client, { name: "w", workflows: [wf] });
  await worker.start();
  const blob = "ab".repeat(100_000);
  const result = await (await client.runs.trigger(wf, { blob })).result();
  assert.deepEqual(result.outputs.echo, { length: 200_000 });
});
