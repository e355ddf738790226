// The conformance suite proper (main.ts starts it with narrow permissions): runs every scenario
// on both HTTP stacks, prints progress, the table (scenario × stack → pass/fail and the latency of
// the key step), the notes and failures, and `N passed, N failed, N skipped`. Exits 1 when any
// scenario failed.

import type { HttpStack } from "../../mod.ts";
import { formatMs, formatTable, runSuite, type ScenarioResult } from "./harness.ts";
import { scenarios } from "./scenarios.ts";

const args = Object.fromEntries(
  Deno.args.filter((a) => a.startsWith("--")).map((a) => {
    const [key, ...value] = a.slice(2).split("=");
    return [key, value.join("=")];
  }),
);
const stacks: HttpStack[] = args.stack ? [args.stack as HttpStack] : ["native", "node"];
const selected = args.only
  ? scenarios.filter((s) => s.name.toLowerCase().includes(args.only.toLowerCase()))
  : scenarios;
// Read one by one: the suite may read HATCHET_CLIENT_* and HATCHET_TEST_* only.
const env = Object.fromEntries(
  [
    ...[
      "TOKEN",
      "HOST_PORT",
      "TLS_STRATEGY",
      "TLS_ROOT_CA_FILE",
      "TLS_CERT_FILE",
      "TLS_KEY_FILE",
      "TLS_SERVER_NAME",
      "NAMESPACE",
      "TENANT_ID",
      "SERVER_URL",
    ].map((name) => `HATCHET_CLIENT_${name}`),
    "HATCHET_TEST_CONCURRENCY",
    "HATCHET_TEST_ENGINE_RESTART",
    "HATCHET_TEST_OFFICIAL_PYTHON",
    "HATCHET_TEST_OFFICIAL_NODE",
  ].map((name) => [name, Deno.env.get(name)]),
);
const concurrency = Number(env.HATCHET_TEST_CONCURRENCY ?? "4");
const runId = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);

console.log(
  `Conformance suite ${runId}: ${selected.length} scenarios × ${stacks.join(", ")} against ` +
    `${env.HATCHET_CLIENT_HOST_PORT ?? "the token's address"}, ${concurrency} at a time`,
);
const started = performance.now();
const progress = (r: ScenarioResult) =>
  console.log(
    `  ${r.status.padEnd(4)}  ${r.scenario} [${r.stack}] in ${formatMs(r.totalMs)}` +
      (r.error ? `: ${r.error.split("\n")[0]}` : ""),
  );
const results = await runSuite(selected, { stacks, env, concurrency, runId, onResult: progress });

console.log(`\n${formatTable(results, stacks)}\n`);
for (const r of results) {
  if (r.status !== "fail" && r.workerLog.length > 0) {
    r.notes.push(`the worker logged ${r.workerLog.length} warning(s): ${r.workerLog[0]}`);
  }
}
const notes = results.filter((r) => r.timings.length > 1 || r.notes.length > 0);
if (notes.length > 0) {
  console.log("Notes:");
  for (const r of notes) {
    const timings = r.timings.map((t) => `${t.label} ${formatMs(t.ms)}`).join(", ");
    console.log(
      `  ${r.scenario} [${r.stack}]: ${[timings, ...r.notes].filter(Boolean).join("; ")}`,
    );
  }
  console.log();
}
const failed = results.filter((r) => r.status === "fail");
for (const r of failed) {
  console.log(`FAILED ${r.scenario} [${r.stack}]\n  ${r.error?.replaceAll("\n", "\n  ")}`);
  for (const line of r.workerLog) console.log(`  worker ${line}`);
}
const count = (status: ScenarioResult["status"]) =>
  results.filter((r) => r.status === status).length;
console.log(
  `${count("pass")} passed, ${count("fail")} failed, ${count("skip")} skipped ` +
    `(${formatMs(performance.now() - started)})`,
);
Deno.exit(failed.length > 0 ? 1 : 0);
