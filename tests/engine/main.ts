// `deno task test:engine`: runs the conformance suite (suite.ts) against the engine that
// HATCHET_CLIENT_* points at, in a child Deno with the permissions a worker needs (see below).
// Without HATCHET_CLIENT_TOKEN it prints one line and exits 0.
//
//   HATCHET_CLIENT_TOKEN=... HATCHET_CLIENT_HOST_PORT=host:7077 HATCHET_CLIENT_TLS_STRATEGY=none \
//     deno task test:engine [--only=<scenario substring>] [--stack=native|node] [--no-official]
//
// HATCHET_TEST_CONCURRENCY (default 4) bounds how many scenarios run at once;
// HATCHET_TEST_ENGINE_RESTART is a shell command the "engine restart" scenario runs (skipped
// when unset).
//
// Unless --no-official is given, it first installs the official TypeScript and Python SDKs as
// `deno task test:official` does (tests/official/install.ts; npm and PyPI) for the scenario that
// measures our durable waits next to theirs (official_scenarios.ts); if that fails, the scenario
// measures ours alone and says why.

import { ConfigError, resolveConfig } from "../../transport/config.ts";
import { ensurePythonSdk, ensureTypeScriptSdk } from "../official/install.ts";
import { SIDE_BY_SIDE } from "./official_scenarios.ts";

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

const files = [config.tls.rootCa, config.tls.cert, config.tls.key].filter((f): f is string =>
  f !== undefined && !f.includes("-----BEGIN")
);
// The native stack sends requests over 16 KiB through a relay on a Unix socket in /tmp
// (transport/_nodelay_relay.ts), and Deno grants a Unix socket only by its exact path, which is
// new each time: so net is not narrowed to the engine's hosts, as a user's `-A` worker would not
// be. The suite still talks only to the configured engine.
const permissions = [
  "--allow-net",
  "--allow-write=/tmp",
  `--allow-env=${ENV_NAMES}`,
  `--allow-read=${["/tmp", ...files].join(",")}`,
];
const runs = Deno.env.get("HATCHET_TEST_ENGINE_RESTART") ? ["sh"] : [];

// The official SDKs, for the side-by-side scenario: run by the suite as child processes.
const official: Record<string, string> = {};
const onlyArg = Deno.args.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const wantOfficial = !Deno.args.includes("--no-official") &&
  (onlyArg === undefined || SIDE_BY_SIDE.toLowerCase().includes(onlyArg.toLowerCase()));
if (wantOfficial) {
  try {
    official.HATCHET_TEST_OFFICIAL_PYTHON = await ensurePythonSdk();
  } catch (err) {
    console.log(`official Python SDK not available: ${(err as Error).message.split("\n")[0]}`);
  }
  try {
    await ensureTypeScriptSdk();
    const out = await new Deno.Command("node", {
      args: ["-e", "process.stdout.write(process.execPath)"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) official.HATCHET_TEST_OFFICIAL_NODE = new TextDecoder().decode(out.stdout);
  } catch (err) {
    console.log(`official TypeScript SDK not available: ${(err as Error).message.split("\n")[0]}`);
  }
  runs.push(...Object.values(official));
}
if (runs.length > 0) permissions.push(`--allow-run=${runs.join(",")}`);
const suite = new URL("./suite.ts", import.meta.url).pathname;
const { code } = await new Deno.Command(Deno.execPath(), {
  args: ["run", ...permissions, suite, ...Deno.args.filter((a) => a !== "--no-official")],
  env: official,
  stdin: "null",
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(code);
