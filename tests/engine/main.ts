// `deno task test:engine`: runs the conformance suite (suite.ts) against the engine that
// HATCHET_CLIENT_* points at, in a child Deno whose network permission names only that engine's
// gRPC and REST hosts. Without HATCHET_CLIENT_TOKEN it prints one line and exits 0.
//
//   HATCHET_CLIENT_TOKEN=... HATCHET_CLIENT_HOST_PORT=host:7077 HATCHET_CLIENT_TLS_STRATEGY=none \
//     deno task test:engine [--only=<scenario substring>] [--stack=native|node]
//
// HATCHET_TEST_CONCURRENCY (default 4) bounds how many scenarios run at once;
// HATCHET_TEST_ENGINE_RESTART is a shell command the "engine restart" scenario runs (skipped
// when unset).

import { ConfigError, resolveConfig } from "../../transport/config.ts";

const ENV_NAMES = "HATCHET_CLIENT_*,HATCHET_TEST_*";

if (!Deno.env.get("HATCHET_CLIENT_TOKEN")) {
  console.log(
    "test:engine skipped: HATCHET_CLIENT_TOKEN is not set, so no engine is configured " +
      "(set HATCHET_CLIENT_TOKEN and HATCHET_CLIENT_HOST_PORT to run the conformance suite)",
  );
  Deno.exit(0);
}

let config;
try {
  config = resolveConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`test:engine: bad configuration: ${err.message}`);
  Deno.exit(2);
}

const hosts = new Set([config.hostPort]);
if (config.serverUrl) hosts.add(new URL(config.serverUrl).host);
const files = [config.tls.rootCa, config.tls.cert, config.tls.key].filter((f): f is string =>
  f !== undefined && !f.includes("-----BEGIN")
);
const permissions = [
  `--allow-net=${[...hosts].join(",")}`,
  `--allow-env=${ENV_NAMES}`,
  ...(files.length > 0 ? [`--allow-read=${files.join(",")}`] : []),
  ...(Deno.env.get("HATCHET_TEST_ENGINE_RESTART") ? ["--allow-run=sh"] : []),
];
const suite = new URL("./suite.ts", import.meta.url).pathname;
const { code } = await new Deno.Command(Deno.execPath(), {
  args: ["run", ...permissions, suite, ...Deno.args],
  stdin: "null",
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(code);
