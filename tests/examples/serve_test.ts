import assert from "node:assert/strict";
import { createClient, createWorker, workflow } from "@hatchet-deno/sdk";
import { parseServeArgs, serve } from "../../testing/serve.ts";

const hello = workflow<{ name: string }>({ name: "serve-hello" });
hello.task({
  name: "greet",
  fn: (input, ctx) => {
    ctx.log(`Greeting ${input.name}`);
    return { message: `Hello, ${input.name}!` };
  },
});

Deno.test("serve() runs a worker and a task for a client over gRPC and logs each RPC", async () => {
  const lines: string[] = [];
  const server = await serve({ port: 0, write: (line) => lines.push(line) });
  try {
    assert.match(server.hostPort, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(Object.keys(server.env), [
      "HATCHET_CLIENT_TOKEN",
      "HATCHET_CLIENT_HOST_PORT",
      "HATCHET_CLIENT_TLS_STRATEGY",
    ]);
    assert.equal(server.env.HATCHET_CLIENT_TOKEN, server.engine.token);
    assert.equal(server.env.HATCHET_CLIENT_TLS_STRATEGY, "none");
    assert.deepEqual(lines.slice(1, 5), [
      "",
      `export HATCHET_CLIENT_TOKEN=${server.engine.token}`,
      `export HATCHET_CLIENT_HOST_PORT=${server.hostPort}`,
      "export HATCHET_CLIENT_TLS_STRATEGY=none",
    ]);
    await using client = createClient({
      token: server.env.HATCHET_CLIENT_TOKEN,
      hostPort: server.hostPort,
      tls: "none",
      env: {},
    });
    {
      await using worker = createWorker(client, { name: "serve-worker", workflows: [hello] });
      await worker.start();
      const run = await client.runs.trigger(hello, { name: "Ada" });
      const result = await run.result();
      assert.equal(result.status, "COMPLETED");
      assert.deepEqual(result.outputs.greet, { message: "Hello, Ada!" });
    }
    assert.deepEqual(server.engine.logs().map((l) => l.message), ["Greeting Ada"]);
  } finally {
    await server.close();
  }
  await server.closed;
  assert.equal(lines.at(-1), "Stopped.");
  const rpcs = lines.slice(lines.indexOf("RPCs as they arrive (Ctrl-C stops):") + 1, -1);
  for (const line of rpcs) assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} {2}[A-Z]\w+/);
  const methods = rpcs.map((l) => l.split(/\s+/)[1]);
  const expected = server.engine.rpcLog().map((e) => e.method);
  assert.deepEqual(methods, expected, "one line per RPC, in arrival order");
  for (
    const method of ["PutWorkflow", "Register", "ListenV2", "TriggerWorkflowRun", "PutLog"]
  ) {
    assert.ok(methods.includes(method), `${method} was logged`);
  }
  assert.ok(rpcs.some((l) => l.endsWith('  PutWorkflow name="serve-hello"')));
  assert.equal(
    rpcs.filter((l) => /SendStepActionEvent taskName="greet" .*eventType="COMPLETED"/.test(l))
      .length,
    1,
  );
});

Deno.test("serve({ tls: true }) writes the CA to a file the client settings name, and removes it", async () => {
  const server = await serve({ tls: true, write: () => {} });
  const caFile = server.env.HATCHET_CLIENT_TLS_ROOT_CA_FILE;
  try {
    assert.equal(server.env.HATCHET_CLIENT_TLS_STRATEGY, "tls");
    assert.match(await Deno.readTextFile(caFile), /^-----BEGIN CERTIFICATE-----/);
    // The printed settings are all a client needs.
    await using client = createClient({ env: server.env });
    const { eventId } = await client.events.push("tls:hello", { ok: true });
    assert.equal(typeof eventId, "string");
    assert.deepEqual(
      server.engine.rpcLog().map((e) => e.method),
      ["Push"],
    );
  } finally {
    await server.close();
  }
  await assert.rejects(Deno.stat(caFile), Deno.errors.NotFound);
});

Deno.test("serve() stops when its signal aborts", async () => {
  const controller = new AbortController();
  const lines: string[] = [];
  const server = await serve({ signal: controller.signal, write: (l) => lines.push(l) });
  controller.abort();
  await server.closed;
  assert.equal(lines.at(-1), "Stopped.");
  await server.close();
});

Deno.test("serve() rejects a port out of range", async () => {
  await assert.rejects(
    serve({ port: 70000, write: () => {} }),
    new RangeError("Invalid port: expected an integer from 0 to 65535, received 70000"),
  );
});

Deno.test("parseServeArgs() reads --port, --rest-port and --tls, and rejects what it does not know", () => {
  assert.deepEqual(parseServeArgs([]), { help: false, port: 7077, restPort: 0, tls: false });
  assert.deepEqual(parseServeArgs(["--port=0", "--tls", "--rest-port", "8123"]), {
    help: false,
    port: 0,
    restPort: 8123,
    tls: true,
  });
  assert.deepEqual(parseServeArgs(["--tls", "--help"]), { help: true });
  assert.throws(
    () => parseServeArgs(["--port"]),
    new TypeError("Missing value: --port needs a number"),
  );
  assert.throws(
    () => parseServeArgs(["--port", "x1"]),
    new RangeError('Invalid port: expected an integer from 0 to 65535, received "x1"'),
  );
  assert.throws(
    () => parseServeArgs(["--verbose"]),
    new TypeError('Unknown argument: "--verbose"'),
  );
});

/** Reads a child's stdout line by line. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const seen: string[] = [];
  return {
    seen,
    /** Resolves with the first line (new or seen) that matches. */
    async until(test: (line: string) => boolean): Promise<string> {
      for (;;) {
        const hit = seen.find(test);
        if (hit !== undefined) return hit;
        const { value, done } = await reader.read();
        if (done) throw new Error(`stdout ended before the line; got:\n${seen.join("\n")}`);
        buffer += value;
        const parts = buffer.split("\n");
        buffer = parts.pop()!;
        seen.push(...parts);
      }
    },
    async rest(): Promise<void> {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
      }
      seen.push(...buffer.split("\n").filter((l) => l !== ""));
    },
  };
}

Deno.test("testing/serve.ts on a port in use exits 1 with one line naming the port", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "testing/serve.ts", "--port", String(port)],
    cwd: new URL("../../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 1);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  assert.equal(
    new TextDecoder().decode(out.stderr),
    `Cannot start the mock engine: 127.0.0.1:${port} is already in use (another engine, e.g. ` +
      "hatchet-lite on 7077?); stop it, or pass --port N (0 picks a free port)\n",
  );
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`testing/serve.ts serves until ${signal}, then stops cleanly with exit code 0`, async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "testing/serve.ts", "--port", "0"],
      cwd: new URL("../../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const stdout = lineReader(child.stdout);
    const stderr = new Response(child.stderr).text();
    try {
      await stdout.until((l) => l.startsWith("RPCs as they arrive"));
      const env = Object.fromEntries(
        stdout.seen.filter((l) => l.startsWith("export ")).map((l) => {
          const [name, ...value] = l.slice("export ".length).split("=");
          return [name, value.join("=")];
        }),
      );
      assert.equal(env.HATCHET_CLIENT_TLS_STRATEGY, "none");
      assert.match(env.HATCHET_CLIENT_HOST_PORT, /^127\.0\.0\.1:\d+$/);
      await using client = createClient({ env });
      await client.events.push("cli:hello", { n: 1 });
      // The server logs the RPC within a poll or two; reading stdout awaits it.
      const line = await stdout.until((l) => l.includes("Push"));
      assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} {2}Push key="cli:hello"$/);
      child.kill(signal);
      await stdout.rest();
      const status = await child.status;
      assert.equal(status.code, 0, await stderr);
      assert.equal(stdout.seen.at(-1), "Stopped.");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await stderr;
    }
  });
}
