import assert from "node:assert/strict";
import { MockEngine } from "../../testing/mod.ts";

const ROOT = new URL("../../", import.meta.url);
const SECRET = "example-signing-secret";

/** Collects the child's stderr, where Deno.serve prints its "Listening on" line. */
function watchStderr(stderr: ReadableStream<Uint8Array>): {
  port: Promise<number>;
  text: Promise<string>;
} {
  let resolvePort!: (port: number) => void;
  let rejectPort!: (err: Error) => void;
  const port = new Promise<number>((resolve, reject) => {
    resolvePort = resolve;
    rejectPort = reject;
  });
  const text = (async () => {
    let seen = "";
    for await (const chunk of stderr.pipeThrough(new TextDecoderStream())) {
      seen += chunk;
      const match = /Listening on https?:\/\/[^:]+:(\d+)\//.exec(seen);
      if (match) resolvePort(Number(match[1]));
    }
    rejectPort(new Error(`the example exited before listening; stderr: ${seen}`));
    return seen;
  })();
  return { port, text };
}

Deno.test("examples/deploy_push.ts serves push requests from the mock engine over HTTP", async () => {
  await using engine = new MockEngine({ clock: "real" });
  await using listener = await engine.listen();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "examples/deploy_push.ts"],
    cwd: ROOT,
    env: {
      HATCHET_CLIENT_TOKEN: engine.token,
      HATCHET_CLIENT_HOST_PORT: listener.hostPort,
      HATCHET_CLIENT_TLS_STRATEGY: "none",
      HATCHET_CLIENT_NAMESPACE: "",
      HATCHET_PUSH_SIGNING_SECRET: SECRET,
      PORT: "0",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = watchStderr(child.stderr);
  try {
    const port = await stderr.port;
    await using endpoint = await engine.addPushEndpoint({
      url: `http://127.0.0.1:${port}`,
      signingSecret: SECRET,
    });
    assert.deepEqual(endpoint.actions, ["deploy-orders:validate", "deploy-orders:receipt"]);

    const ok = await engine.client.runs.trigger("deploy-orders", { orderId: "o-1", amount: 12.5 });
    const okResult = await ok.result();
    assert.equal(okResult.status, "COMPLETED");
    assert.deepEqual(okResult.outputs, {
      validate: { cents: 1250 },
      receipt: { text: "Order o-1: 1250 cents" },
    });
    const validateRun = engine.taskRuns(ok.id).find((t) => t.taskName === "validate")!;
    assert.deepEqual(engine.logs(validateRun.id).map((l) => l.message), ["Validating order o-1"]);

    const bad = await engine.client.runs.trigger("deploy-orders", { orderId: "o-2", amount: 0 });
    const badResult = await bad.result();
    assert.equal(badResult.status, "FAILED");
    assert.equal(
      badResult.errors.validate,
      `request delivery to "http://127.0.0.1:${port}/hatchet/trigger" returned status 422`,
    );
    const badRun = engine.taskRuns(bad.id).find((t) => t.taskName === "validate")!;
    const lines = engine.logs(badRun.id).map((l) => `${l.level} ${l.message.split("\n")[0]}`);
    assert.deepEqual(lines, [
      "INFO Validating order o-2",
      "ERROR NonRetryableError: Amount must be positive, received 0",
    ]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    const text = await stderr.text;
    assert.doesNotMatch(text, /error/i, text);
  }
});

Deno.test("README's Deno Deploy section shows examples/deploy_push.ts as it is", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const example = await Deno.readTextFile(new URL("examples/deploy_push.ts", ROOT));
  const section = readme.slice(readme.indexOf("## Deno Deploy"));
  const match = /```ts ignore\n([\s\S]*?)```/.exec(section);
  assert.ok(match, "the section has a ts block");
  assert.equal(match[1], example);
});
