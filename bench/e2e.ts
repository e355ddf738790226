// End-to-end benchmark: our SDK side by side with the official Hatchet TypeScript SDK on one
// MockEngine served over gRPC on 127.0.0.1, plus the in-memory measurements (durable wait
// memory, a virtual day). Prints a table, then one JSON line as the last line of stdout.
//
//   deno task bench:e2e            # the full run (under 3 minutes on 2 cores)
//   deno task bench:e2e --smoke    # tiny counts, for CI: checks that everything runs
//
// Workers run in their own processes (ours: bench/_worker.ts, once per HTTP stack; the
// official SDK: bench/official/worker.mjs under Node), so each SDK has the engine's process to
// itself to talk to and the comparison includes no in-process shortcut. The runs of the SDKs
// alternate, so drift on a noisy machine hits all of them. Every wait has a deadline.

import { createClient, createWorker, UserEventCondition, workflow } from "../mod.ts";
import { MockEngine } from "../testing/mod.ts";
import { enginePortsOf } from "../worker/client.ts";
import { measureScheduleKeys } from "./_schedule_keys.ts";

/** How much work each measurement does. */
interface Counts {
  /** Untimed tasks each SDK runs first, so that every measured round runs warmed-up code. */
  warmupTasks: number;
  /** Rounds of the throughput comparison (each SDK runs once per round). */
  taskRounds: number;
  /** Trivial tasks per SDK and round. */
  tasks: number;
  /** Rounds of the log comparison. */
  logRounds: number;
  /** Lines our task logs per round (the rounds add up to the 50,000). */
  oursLogLines: number;
  /** Lines the official SDK's task logs per round (it sends one line per round trip). */
  officialLogLines: number;
  /** Wake-up samples. */
  wakeSamples: number;
  /** GetVersion round trips timed for the floor. */
  rttSamples: number;
  /** Concurrent durable waits for the memory measurement. */
  waits: number;
  /** Durable tasks waiting at once, evicted, for the worker's RSS. */
  evictedWaits: number;
  /** Durable tasks waiting at once, held by the worker, for its RSS per task. */
  heldWaits: number;
  /** Durable 24-hour sleeps timed under the virtual clock. */
  virtualDays: number;
  /** Runs queued behind concurrency limits before a worker starts, and their keys. */
  scheduleTasks: number;
  scheduleKeys: number;
}

const FULL: Counts = {
  warmupTasks: 1_000,
  taskRounds: 3,
  tasks: 2_000,
  logRounds: 2,
  oursLogLines: 10_000,
  officialLogLines: 1_000,
  wakeSamples: 200,
  rttSamples: 200,
  waits: 10_000,
  evictedWaits: 100_000,
  heldWaits: 10_000,
  virtualDays: 5,
  scheduleTasks: 10_000,
  scheduleKeys: 100,
};

const SMOKE: Counts = {
  warmupTasks: 5,
  taskRounds: 1,
  tasks: 20,
  logRounds: 1,
  oursLogLines: 50,
  officialLogLines: 10,
  wakeSamples: 10,
  rttSamples: 10,
  waits: 200,
  evictedWaits: 200,
  heldWaits: 100,
  virtualDays: 1,
  scheduleTasks: 200,
  scheduleKeys: 10,
};

/** The last line the harness prints. */
interface Results {
  tasks_per_s: { ours: number | null; ours_node: number | null; official: number | null };
  wake_ms: { p50: number | null; p99: number | null };
  wake_ms_legacy: { p50: number | null; p99: number | null };
  unary_rtt_ms: number | null;
  unary_200kb_ms: { native: number | null; node: number | null };
  log_lines_per_s: { ours: number | null; official: number | null };
  bytes_per_wait: number | null;
  rss_mb_100k_waits: number | null;
  rss_mb_100k_waits_pooled: number | null;
  virtual_day_ms: number | null;
  schedule_10k_keys_tasks_per_s: number | null;
}

const BENCH_DIR = new URL(".", import.meta.url);
const OFFICIAL_DIR = new URL("official/", BENCH_DIR);
const STARTUP_TIMEOUT_MS = 90_000;
const NPM_CI_TIMEOUT_MS = 150_000;

const smoke = Deno.args.includes("--smoke");
// `--only=wake,side,memory,day,schedule` runs a subset of the phases (side: tasks and logs), for
// profiling one of them; the JSON line then holds null for the others.
const PHASES = ["wake", "side", "memory", "day", "schedule"];
const onlyArg = Deno.args.find((a) => a.startsWith("--only="));
const only = onlyArg === undefined
  ? undefined
  : new Set(onlyArg.slice("--only=".length).split(","));
for (const phase of only ?? []) {
  if (!PHASES.includes(phase)) {
    throw new TypeError(`--only: expected some of ${PHASES.join(", ")}, received "${phase}"`);
  }
}
function phase(name: string): boolean {
  return only === undefined || only.has(name);
}
const counts = smoke ? SMOKE : FULL;
const notes: string[] = [];
const rows: string[][] = [];

function note(line: string): void {
  notes.push(line);
  console.error(`[bench] ${line}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank];
}

function round(value: number | null, digits: number): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Resolves when `check()` is true; false at the deadline. Polls every `everyMs`. */
async function until(check: () => boolean, deadline: number, everyMs = 2): Promise<boolean> {
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

// ---------------------------------------------------------------- worker processes

interface WorkerProcess {
  readonly label: string;
  readonly suffix: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** CPU seconds a process used so far (user + system), or null where /proc is missing. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Lines of a child's stream, with the first `ready` line resolved separately. */
function watchOutput(
  stream: ReadableStream<Uint8Array>,
  label: string,
  onReady: () => void,
  echo: boolean,
): Promise<void> {
  return (async () => {
    let buffered = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      buffered += text;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith("ready")) onReady();
        else if (echo && line.trim() !== "") console.error(`[${label}] ${line}`);
      }
    }
  })();
}

async function spawnWorker(
  label: string,
  suffix: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd?: URL,
): Promise<WorkerProcess> {
  const child = new Deno.Command(command, {
    args,
    env,
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => ready = resolve);
  const out = watchOutput(child.stdout, label, ready, true);
  const err = watchOutput(child.stderr, label, () => {}, true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const started = await Promise.race([
    readyPromise.then(() => true),
    child.status.then(() => false),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), STARTUP_TIMEOUT_MS)),
  ]);
  clearTimeout(timer);
  const stop = async () => {
    await child.stdin.close().catch(() => {});
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((resolve) => killTimer = setTimeout(() => resolve(false), 15_000)),
    ]);
    clearTimeout(killTimer);
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    }
    await Promise.allSettled([out, err]);
  };
  if (!started) {
    await stop();
    throw new Error(`${label} did not start within ${STARTUP_TIMEOUT_MS / 1000} s`);
  }
  return { label, suffix, pid: child.pid, stop };
}

/** Which peers run, and why a missing one is missing. */
interface OfficialSetup {
  available: boolean;
  reason?: string;
  nodeVersion?: string;
}

let nodeVersion: string | undefined;

async function commandWorks(command: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every executable of this name on PATH, in PATH order. Deno puts a `node` of its own on the
 * PATH of its children (its Node compatibility runs Deno), so candidates are checked.
 */
function findOnPath(name: string): string[] {
  const found: string[] = [];
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) found.push(`${dir}/${name}`);
    } catch { /* not here */ }
  }
  return found;
}

let nodePath: string | undefined;

async function prepareOfficial(): Promise<OfficialSetup> {
  let nodeVersion: string | undefined;
  const seen: string[] = [];
  for (const candidate of findOnPath("node")) {
    const version = await commandWorks(candidate, ["--version"]);
    if (version !== undefined && /^v\d+\./.test(version)) {
      nodePath = candidate;
      nodeVersion = version;
      break;
    }
    seen.push(candidate);
  }
  if (nodePath === undefined || nodeVersion === undefined) {
    const others = seen.length > 0 ? ` (only ${seen.join(", ")}, which is not Node.js)` : "";
    return { available: false, reason: `Node.js is not on PATH${others}` };
  }
  if (Number(/^v(\d+)/.exec(nodeVersion)![1]) < 20) {
    return { available: false, reason: `Node.js ${nodeVersion} is older than 20` };
  }
  const installed = new URL("node_modules/@hatchet-dev/typescript-sdk/package.json", OFFICIAL_DIR);
  try {
    await Deno.stat(installed);
    return { available: true, nodeVersion };
  } catch { /* not installed yet */ }
  if (smoke) {
    return {
      available: false,
      reason: "--smoke does not install it; run `deno task bench:e2e` once (npm ci)",
    };
  }
  const npm = findOnPath("npm")[0];
  // npm runs on the `node` first on its PATH: make that the one found above.
  const npmEnv = {
    PATH: `${nodePath.slice(0, nodePath.lastIndexOf("/"))}:${Deno.env.get("PATH")}`,
  };
  if (npm === undefined) {
    return { available: false, reason: "npm is not on PATH" };
  }
  note("installing the official SDK: npm ci in bench/official");
  const ci = new Deno.Command(npm, {
    env: npmEnv,
    args: ["ci", "--no-audit", "--no-fund", "--ignore-scripts"],
    cwd: OFFICIAL_DIR,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(NPM_CI_TIMEOUT_MS),
  });
  try {
    const out = await ci.output();
    if (!out.success) {
      const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
      return { available: false, reason: `npm ci failed: ${tail}` };
    }
  } catch (err) {
    return { available: false, reason: `npm ci failed: ${(err as Error).message}` };
  }
  return { available: true, nodeVersion };
}

// ---------------------------------------------------------------- measurements on the listener

/** Whether every task of the run finished (completed, failed or cancelled). */
function runFinished(engine: MockEngine, runId: string): boolean {
  const tasks = engine.taskRuns(runId);
  return tasks.length > 0 &&
    tasks.every((t) =>
      t.status === "COMPLETED" || t.status === "FAILED" || t.status === "CANCELLED"
    );
}

/** Throughput of one SDK, and the CPU the engine and the worker spent per task. */
interface TaskRound {
  rate: number;
  engineCpuMs: number | null;
  workerCpuMs: number | null;
}

async function measureTasks(
  engine: MockEngine,
  peer: WorkerProcess,
  n: number,
): Promise<TaskRound | null> {
  const workerName = `bench-${peer.suffix}`;
  const usedSlots = () =>
    engine.workers().filter((w) => w.name === workerName)
      .reduce((sum, w) => sum + Object.values(w.usedSlots).reduce((a, b) => a + b, 0), 0);
  const engineCpu0 = cpuSeconds(Deno.pid);
  const workerCpu0 = cpuSeconds(peer.pid);
  const t0 = performance.now();
  const refs = await Promise.all(
    Array.from({ length: n }, () => engine.client.runs.trigger(`bench-trivial-${peer.suffix}`, {})),
  );
  // The engine hands out queued tasks first in, first out, so once the last run finished and
  // the worker holds no slot, every earlier run finished too. Checked cheaply while the clock
  // runs; each run's status is verified once it stopped.
  const last = refs[refs.length - 1].id;
  const done = await until(
    () => usedSlots() === 0 && runFinished(engine, last),
    t0 + 120_000,
  );
  const seconds = (performance.now() - t0) / 1000;
  const engineCpu1 = cpuSeconds(Deno.pid);
  const workerCpu1 = cpuSeconds(peer.pid);
  const ids = new Set(refs.map((r) => r.id));
  const runs = engine.taskRuns().filter((t) => ids.has(t.workflowRunId));
  const completed = runs.filter((t) => t.status === "COMPLETED").length;
  if (!done || completed !== n) {
    note(
      `tasks (${peer.label}): ${completed} of ${n} runs completed${done ? "" : " within 120 s"}`,
    );
    return null;
  }
  const perTask = (a: number | null, b: number | null) =>
    a === null || b === null ? null : ((b - a) * 1000) / n;
  return {
    rate: n / seconds,
    engineCpuMs: perTask(engineCpu0, engineCpu1),
    workerCpuMs: perTask(workerCpu0, workerCpu1),
  };
}

async function measureLogs(
  engine: MockEngine,
  suffix: string,
  n: number,
): Promise<{ rate: number | null; inOrder: boolean }> {
  const t0 = performance.now();
  const ref = await engine.client.runs.trigger(`bench-log-${suffix}`, { n });
  const deadline = t0 + 150_000;
  const done = await until(() => runFinished(engine, ref.id), deadline, 5);
  const taskRunId = engine.taskRuns(ref.id)[0]?.id;
  // Our SDK merges a backlog of lines into rows joined with "\n" (the official SDK's rows hold
  // one line each, without a newline): count and check lines, not rows.
  const linesOf = (id: string) => engine.logs(id).flatMap((l) => l.message.split("\n"));
  // Polled every 10 ms while the engine serves the run: counts without splitting.
  const lineCount = (id: string) => {
    let count = 0;
    for (const { message } of engine.logs(id)) {
      for (let at = -1; (at = message.indexOf("\n", at + 1)) !== -1;) count++;
      count++;
    }
    return count;
  };
  // A task may report its result before its lines landed (the official SDK does not wait).
  const all = done && taskRunId !== undefined &&
    await until(() => lineCount(taskRunId) >= n, deadline, 10);
  const elapsed = performance.now() - t0;
  if (!all) {
    note(`logs (${suffix}): the engine did not hold all ${n} lines within 150 s`);
    return { rate: null, inOrder: false };
  }
  const lines = linesOf(taskRunId);
  const inOrder = lines.length === n && lines.every((line, i) => line === `line ${i}`);
  if (!inOrder) note(`logs (${suffix}): the engine holds the lines out of order`);
  return { rate: n / (elapsed / 1000), inOrder };
}

/**
 * Wake-up latency of a durable wait and the unary floor, in this process over loopback gRPC.
 * The engine's version picks the path: the DurableTask event log (default) or the legacy one.
 */
async function measureWake(
  engine: MockEngine,
  hostPort: string,
): Promise<{ p50: number; p99: number; rtt: number; bigRtt: number } | null> {
  const samples = counts.wakeSamples;
  const client = createClient({ token: engine.token, hostPort, tls: "none", env: {} });
  const ports = enginePortsOf(client);
  // Know when the engine acknowledged each registration: only then can the event match it.
  const registered = new Map<string, () => void>();
  const register = ports.durable.registerDurableEvent.bind(ports.durable);
  ports.durable.registerDurableEvent = async (req, options) => {
    await register(req, options);
    registered.get(req.signalKey)?.();
  };
  // On the event log the n-th wait_for ack of the run is the n-th registration.
  const durableTask = ports.durableTask.durableTask.bind(ports.durableTask);
  let acks = 0;
  ports.durableTask.durableTask = async function* (requests, options) {
    for await (const response of durableTask(requests, options)) {
      yield response;
      if (response.kind === "waitForAck") registered.get(`wake-${acks++}`)?.();
    }
  };
  const woke = new Map<number, (at: number) => void>();
  const wake = workflow({ name: "bench-wake" });
  wake.durableTask({
    name: "wake",
    executionTimeout: "1h",
    fn: async (_input, ctx) => {
      for (let i = 0; i < samples; i++) {
        await ctx.waitFor(`wake-${i}`, new UserEventCondition(`bench:wake:${i}`));
        woke.get(i)?.(performance.now());
      }
      return {};
    },
  });
  const worker = createWorker(client, { name: "bench-wake", workflows: [wake] });
  try {
    await worker.start();
    for (let i = 0; i < 20; i++) await ports.dispatcher.getVersion();
    const rtts: number[] = [];
    for (let i = 0; i < counts.rttSamples; i++) {
      const t = performance.now();
      await ports.dispatcher.getVersion();
      rtts.push(performance.now() - t);
    }
    // The same round trip with a 9,000-byte request (a PutLog for no task run, answered
    // NOT_FOUND): above 1 KiB, Deno's fetch used to wait out a delayed ACK (README, limits).
    const bigRtts: number[] = [];
    const big = "x".repeat(9_000);
    for (let i = 0; i < counts.rttSamples; i++) {
      const t = performance.now();
      await ports.events.putLog({
        taskRunExternalId: crypto.randomUUID(),
        createdAt: new Date(),
        message: big,
      }).catch(() => {});
      bigRtts.push(performance.now() - t);
    }

    const wakes: number[] = [];
    const registrations = Array.from({ length: samples }, (_, i) => {
      let resolve!: () => void;
      const p = new Promise<void>((r) => resolve = r);
      registered.set(`wake-${i}`, resolve);
      return p;
    });
    const wokeAt = Array.from(
      { length: samples },
      (_, i) => new Promise<number>((resolve) => woke.set(i, resolve)),
    );
    const run = await client.runs.trigger(wake, {});
    for (let i = 0; i < samples; i++) {
      const ok = await Promise.race([
        registrations[i].then(() => true),
        sleep(10_000).then(() => false),
      ]);
      if (!ok) {
        note(`wake: wait ${i} was not registered within 10 s`);
        return null;
      }
      const t0 = performance.now();
      await client.events.push(`bench:wake:${i}`, { i });
      const at = await Promise.race([wokeAt[i], sleep(10_000).then(() => -1)]);
      if (at < 0) {
        note(`wake: wait ${i} did not wake within 10 s`);
        return null;
      }
      wakes.push(at - t0);
    }
    await run.result({ signal: AbortSignal.timeout(10_000) });
    return {
      p50: median(wakes),
      p99: percentile(wakes, 0.99),
      rtt: median(rtts),
      bigRtt: median(bigRtts),
    };
  } finally {
    await worker.stop();
    await client.close();
  }
}

/**
 * One 200 KB unary call (`events.push` of a 200,000-character payload), p50 per HTTP stack, on
 * the same server. Requests past the 64 KiB flow-control window used to stall about 40 ms per
 * window on the native stack (Nagle against a delayed ACK; see transport/_nodelay_relay.ts).
 */
async function measureBigUnary(
  engine: MockEngine,
  hostPort: string,
): Promise<{ native: number; node: number }> {
  const payload = { blob: "x".repeat(200_000) };
  const out = { native: 0, node: 0 };
  for (const http of ["native", "node"] as const) {
    await using client = createClient({
      token: engine.token,
      hostPort,
      tls: "none",
      http,
      env: {},
    });
    for (let i = 0; i < 5; i++) await client.events.push("bench:big", payload);
    const times: number[] = [];
    for (let i = 0; i < counts.rttSamples / 4; i++) {
      const t = performance.now();
      await client.events.push("bench:big", payload);
      times.push(performance.now() - t);
    }
    out[http] = median(times);
  }
  return out;
}

// ---------------------------------------------------------------- in-memory measurements

async function measureWaitMemory(): Promise<number | null> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL("_wait_memory.ts", BENCH_DIR).pathname,
      String(counts.waits),
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output().catch((err) => {
    note(`bytes_per_wait: ${(err as Error).message}`);
    return undefined;
  });
  if (out === undefined) return null;
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  try {
    const result = JSON.parse(lines[lines.length - 1]);
    rows.push([
      "bytes_per_wait",
      `${result.bytes_per_wait} B`,
      `${counts.waits} concurrent waits in one durable task, in-memory engine, heap after GC; ` +
      `of which the engine keeps ${result.engine_bytes_per_wait} B, the worker ` +
      `${result.worker_bytes_per_wait} B`,
    ]);
    return result.bytes_per_wait;
  } catch {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
    note(`bytes_per_wait: the memory run failed: ${err}`);
    return null;
  }
}

/**
 * RSS growth of a worker process holding `n` durable tasks waiting at once: `evict` (the task's
 * policy evicts at once; the engine keeps them waiting) or `hold` (the worker keeps every
 * attempt). The engine runs in this process; the worker in its own, so its RSS is its alone.
 */
async function measureWaitsRss(
  n: number,
  mode: "evict" | "hold",
): Promise<{ growth: number; pooled: number; perTask: number } | null> {
  await using engine = new MockEngine();
  await using server = await engine.listen();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL("_waits_100k.ts", BENCH_DIR).pathname,
      server.hostPort,
      engine.token,
      String(n),
      mode,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const deadline = Date.now() + 600_000;
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const readLine = async (): Promise<string | undefined> => {
    while (!out.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) return undefined;
      out += value;
    }
    const i = out.indexOf("\n");
    const line = out.slice(0, i);
    out = out.slice(i + 1);
    return line;
  };
  const writer = child.stdin.getWriter();
  try {
    if (await readLine() !== "ready") throw new Error("the worker did not start");
    const client = createClient({
      token: engine.token,
      hostPort: server.hostPort,
      tls: "none",
      env: {},
    });
    try {
      for (let i = 0; i < n; i += 500) {
        const batch = Math.min(500, n - i);
        await Promise.all(
          Array.from({ length: batch }, () => client.runs.trigger("bench-100k", {})),
        );
      }
    } finally {
      await client.close();
    }
    const waiting = () =>
      engine.taskRuns().filter((t) =>
        mode === "evict"
          ? t.evicted
          : t.status === "RUNNING" && engine.durableEventLog(t.id).length > 0
      ).length;
    while (waiting() < n) {
      if (Date.now() > deadline) throw new Error(`only ${waiting()} of ${n} tasks waiting`);
      await sleep(500);
    }
    await writer.write(new TextEncoder().encode("measure\n"));
    const result = JSON.parse(await readLine() ?? "{}");
    if (typeof result.rss_growth_bytes !== "number") throw new Error("no measurement");
    return {
      growth: result.rss_growth_bytes,
      pooled: result.pooled_rss_growth_bytes,
      perTask: result.rss_growth_bytes / n,
    };
  } catch (err) {
    note(`rss (${mode}, ${n} tasks): ${(err as Error).message}`);
    return null;
  } finally {
    await writer.close().catch(() => {});
    try {
      child.kill();
    } catch {
      // Already exited.
    }
    await child.status;
    await lines.cancel().catch(() => {});
  }
}

async function measureVirtualDay(): Promise<number | null> {
  const day = workflow({ name: "bench-day" });
  day.durableTask({
    name: "sleep",
    executionTimeout: "48h",
    fn: async (_input, ctx) => {
      await ctx.sleepFor("24h");
      return {};
    },
  });
  const times: number[] = [];
  for (let i = 0; i < counts.virtualDays; i++) {
    await using engine = new MockEngine();
    await using worker = createWorker(engine.client, { name: "bench-day", workflows: [day] });
    await worker.start();
    const t0 = performance.now();
    const run = await engine.client.runs.trigger(day, {});
    await engine.advance("24h");
    const result = await run.result({ signal: AbortSignal.timeout(10_000) });
    times.push(performance.now() - t0);
    if (result.status !== "COMPLETED") {
      note(`virtual_day: the run ended ${result.status}`);
      return null;
    }
  }
  return median(times);
}

// ---------------------------------------------------------------- main

function fmt(value: number | null, unit: string, digits = 0): string {
  return value === null ? "n/a" : `${value.toFixed(digits)} ${unit}`;
}

function ratio(a: number | null, b: number | null): string {
  return a === null || b === null || b === 0 ? "" : ` (${(a / b).toFixed(1)}x official)`;
}

async function main(): Promise<Results> {
  const results: Results = {
    tasks_per_s: { ours: null, ours_node: null, official: null },
    wake_ms: { p50: null, p99: null },
    wake_ms_legacy: { p50: null, p99: null },
    unary_rtt_ms: null,
    unary_200kb_ms: { native: null, node: null },
    log_lines_per_s: { ours: null, official: null },
    bytes_per_wait: null,
    rss_mb_100k_waits: null,
    rss_mb_100k_waits_pooled: null,
    virtual_day_ms: null,
    schedule_10k_keys_tasks_per_s: null,
  };
  const startedAt = performance.now();
  const cpuPerTask = new Map<string, { engine: number | null; worker: number | null }>();
  const cpu = (label: string) => {
    const c = cpuPerTask.get(label);
    return c?.engine == null || c.worker == null
      ? ""
      : `; CPU per task: engine ${c.engine.toFixed(2)} ms, worker ${c.worker.toFixed(2)} ms`;
  };
  console.error(
    `[bench] ${smoke ? "smoke" : "full"} run: Deno ${Deno.version.deno}, ` +
      `${navigator.hardwareConcurrency} cores, ${Deno.build.os}/${Deno.build.arch}`,
  );

  await using engine = new MockEngine();
  await using server = await engine.listen();

  // 1. Wake-ups and the unary floor, before anything else loads the machine.
  const wake = !phase("wake") ? null : await measureWake(engine, server.hostPort).catch((err) => {
    note(`wake: ${(err as Error).message}`);
    return null;
  });
  let bigRtt: number | null = null;
  if (wake) {
    results.wake_ms = { p50: round(wake.p50, 3), p99: round(wake.p99, 3) };
    results.unary_rtt_ms = round(wake.rtt, 3);
    bigRtt = round(wake.bigRtt, 3);
  }
  // The same wake-ups on the legacy path: an engine that reports a version before v0.80.0.
  if (phase("wake")) {
    await using legacyEngine = new MockEngine({ version: "v0.79.0" });
    await using legacyServer = await legacyEngine.listen();
    const legacy = await measureWake(legacyEngine, legacyServer.hostPort).catch((err) => {
      note(`wake (legacy): ${(err as Error).message}`);
      return null;
    });
    if (legacy) {
      results.wake_ms_legacy = { p50: round(legacy.p50, 3), p99: round(legacy.p99, 3) };
    }
  }
  if (phase("wake")) {
    const big = await measureBigUnary(engine, server.hostPort).catch((err) => {
      note(`unary_200kb: ${(err as Error).message}`);
      return null;
    });
    if (big) results.unary_200kb_ms = { native: round(big.native, 3), node: round(big.node, 3) };
  }

  // 2. Worker processes for the side-by-side runs.
  const env: Record<string, string> = {
    HATCHET_CLIENT_TOKEN: engine.token,
    HATCHET_CLIENT_HOST_PORT: server.hostPort,
    HATCHET_CLIENT_TLS_STRATEGY: "none",
    // The official SDK prints every ctx.logger line at INFO; keep its console quiet.
    HATCHET_CLIENT_LOG_LEVEL: "ERROR",
    NO_COLOR: "1",
  };
  const official: OfficialSetup = phase("side")
    ? await prepareOfficial()
    : { available: false, reason: "not in --only" };
  nodeVersion = official.nodeVersion;
  if (!official.available && phase("side")) {
    note(`official SDK: not measured: ${official.reason}`);
  }
  const workerScript = new URL("_worker.ts", BENCH_DIR).pathname;
  const peers: WorkerProcess[] = [];
  try {
    if (!phase("side")) throw undefined;
    peers.push(
      await spawnWorker("ours", "ours", Deno.execPath(), [
        "run",
        "-A",
        workerScript,
        "ours",
        "native",
      ], env),
    );
    peers.push(
      await spawnWorker("ours_node", "ours-node", Deno.execPath(), [
        "run",
        "-A",
        workerScript,
        "ours-node",
        "node",
      ], env),
    );
    if (official.available) {
      try {
        peers.push(
          await spawnWorker(
            "official",
            "official",
            nodePath!,
            ["worker.mjs", "official"],
            env,
            OFFICIAL_DIR,
          ),
        );
      } catch (err) {
        note(`official SDK: not measured: ${(err as Error).message}`);
      }
    }

    // 3. Throughput, alternating the SDKs (and reversing the order every other round), after
    // an untimed warm-up of each: a first round otherwise also measures the JIT compiler.
    for (const peer of peers) await measureTasks(engine, peer, counts.warmupTasks);
    const rounds = new Map<string, TaskRound[]>();
    for (let r = 0; r < counts.taskRounds; r++) {
      const order = r % 2 === 0 ? peers : [...peers].reverse();
      for (const peer of order) {
        const round = await measureTasks(engine, peer, counts.tasks);
        if (round !== null) rounds.set(peer.label, [...(rounds.get(peer.label) ?? []), round]);
      }
    }
    const medianOf = (label: string, pick: (r: TaskRound) => number | null) => {
      const values = (rounds.get(label) ?? []).map(pick).filter((v): v is number => v !== null);
      return values.length > 0 ? median(values) : null;
    };
    results.tasks_per_s = {
      ours: round(medianOf("ours", (r) => r.rate), 0),
      ours_node: round(medianOf("ours_node", (r) => r.rate), 0),
      official: round(medianOf("official", (r) => r.rate), 0),
    };
    for (const label of ["ours", "ours_node", "official"]) {
      cpuPerTask.set(label, {
        engine: medianOf(label, (r) => r.engineCpuMs),
        worker: medianOf(label, (r) => r.workerCpuMs),
      });
    }

    // 4. Log lines, alternating ours (native stack) and the official SDK.
    const logPeers = peers.filter((p) => p.label === "ours" || p.label === "official");
    const logTotals = new Map<string, { lines: number; seconds: number; inOrder: boolean }>();
    for (let r = 0; r < counts.logRounds; r++) {
      const order = r % 2 === 0 ? logPeers : [...logPeers].reverse();
      for (const peer of order) {
        const n = peer.label === "ours" ? counts.oursLogLines : counts.officialLogLines;
        const { rate, inOrder } = await measureLogs(engine, peer.suffix, n);
        if (rate === null) continue;
        const total = logTotals.get(peer.label) ?? { lines: 0, seconds: 0, inOrder: true };
        logTotals.set(peer.label, {
          lines: total.lines + n,
          seconds: total.seconds + n / rate,
          inOrder: total.inOrder && inOrder,
        });
      }
    }
    const logRate = (label: string) => {
      const t = logTotals.get(label);
      return t && t.inOrder ? round(t.lines / t.seconds, 0) : null;
    };
    results.log_lines_per_s = { ours: logRate("ours"), official: logRate("official") };
  } catch (err) {
    if (err !== undefined) note(`side-by-side runs failed: ${(err as Error).message}`);
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
  }

  // 5. In memory: the heap cost of a pending wait, and a virtual day.
  if (phase("memory")) results.bytes_per_wait = await measureWaitMemory();
  if (phase("memory")) {
    const evicted = await measureWaitsRss(counts.evictedWaits, "evict");
    const held = await measureWaitsRss(counts.heldWaits, "hold");
    if (evicted) {
      results.rss_mb_100k_waits = round(evicted.growth / 1_048_576, 1);
      results.rss_mb_100k_waits_pooled = round(evicted.pooled / 1_048_576, 1);
      rows.push([
        "rss_mb_100k_waits",
        `${results.rss_mb_100k_waits} MB`,
        `worker RSS growth with ${counts.evictedWaits} durable tasks waiting (evicted at once), ` +
        `after a memory-reducing full GC; ${Math.round(evicted.perTask)} B per task`,
      ]);
      rows.push([
        "rss_mb_100k_waits_pooled",
        `${results.rss_mb_100k_waits_pooled} MB`,
        "the same, measured before that GC: with the pages V8 keeps pooled after the burst of " +
        "task starts",
      ]);
    }
    if (held) {
      rows.push([
        "bytes_per_held_task",
        `${Math.round(held.perTask)} B`,
        `worker RSS growth per durable task waiting without eviction (${counts.heldWaits} tasks)`,
      ]);
    }
  }
  if (phase("day")) {
    results.virtual_day_ms = round(
      await measureVirtualDay().catch((err) => {
        note(`virtual_day: ${(err as Error).message}`);
        return null;
      }),
      1,
    );
  }

  // 6. In memory: scheduling a deep queue held back by concurrency keys.
  if (phase("schedule")) {
    results.schedule_10k_keys_tasks_per_s = round(
      await measureScheduleKeys(counts.scheduleTasks, counts.scheduleKeys).catch((err) => {
        note(`schedule_10k_keys: ${(err as Error).message}`);
        return null;
      }),
      0,
    );
  }

  const t = results.tasks_per_s;
  const l = results.log_lines_per_s;
  rows.unshift(
    [
      "tasks_per_s ours (native)",
      fmt(t.ours, "/s"),
      `${counts.tasks} tasks x ${counts.taskRounds} rounds after a warm-up, median${
        ratio(t.ours, t.official)
      }${cpu("ours")}`,
    ],
    [
      "tasks_per_s ours (node)",
      fmt(t.ours_node, "/s"),
      `node:http2 stack${ratio(t.ours_node, t.official)}${cpu("ours_node")}`,
    ],
    [
      "tasks_per_s official",
      fmt(t.official, "/s"),
      `@hatchet-dev/typescript-sdk 1.33.2, Node ${nodeVersion ?? "?"}${cpu("official")}`,
    ],
    [
      "log_lines_per_s ours",
      fmt(l.ours, "/s"),
      `${counts.oursLogLines * counts.logRounds} lines, ctx.log() in a loop${
        ratio(l.ours, l.official)
      }`,
    ],
    [
      "log_lines_per_s official",
      fmt(l.official, "/s"),
      `${counts.officialLogLines * counts.logRounds} lines, await ctx.logger.info() in a loop`,
    ],
    [
      "wake_ms p50",
      fmt(results.wake_ms.p50, "ms", 2),
      `${counts.wakeSamples} samples: events.push() to waitFor() resolving (DurableTask event log)`,
    ],
    ["wake_ms p99", fmt(results.wake_ms.p99, "ms", 2), ""],
    [
      "wake_ms_legacy p50",
      fmt(results.wake_ms_legacy.p50, "ms", 2),
      "the same on the legacy RegisterDurableEvent path (engine v0.79.0)",
    ],
    ["wake_ms_legacy p99", fmt(results.wake_ms_legacy.p99, "ms", 2), ""],
    [
      "unary_rtt_ms",
      fmt(results.unary_rtt_ms, "ms", 2),
      "median GetVersion, same connection (the floor)",
    ],
    [
      "unary_rtt_ms, 9 KB request",
      fmt(bigRtt, "ms", 2),
      "median PutLog of 9,000 bytes, same connection (not in the JSON line)",
    ],
    [
      "unary_200kb_ms native",
      fmt(results.unary_200kb_ms.native, "ms", 2),
      "median events.push() of a 200 KB payload",
    ],
    [
      "unary_200kb_ms node",
      fmt(results.unary_200kb_ms.node, "ms", 2),
      "the same on the node:http2 stack (target: native <= 1.5x node)",
    ],
  );
  rows.push([
    "virtual_day_ms",
    fmt(results.virtual_day_ms, "ms", 1),
    `durable sleepFor("24h") under the virtual clock, median of ${counts.virtualDays}`,
  ]);
  rows.push([
    "schedule_10k_keys_tasks_per_s",
    fmt(results.schedule_10k_keys_tasks_per_s, "/s"),
    `${counts.scheduleTasks} runs queued across ${counts.scheduleKeys} GROUP_ROUND_ROBIN keys ` +
    `(maxRuns 1) before a 100-slot worker starts, in-memory engine`,
  ]);

  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c].length)));
  console.log("");
  console.log(`metric${" ".repeat(widths[0] - 6)}  ${"value".padStart(widths[1])}  notes`);
  for (const [name, value, detail] of rows) {
    console.log(`${name.padEnd(widths[0])}  ${value.padStart(widths[1])}  ${detail}`);
  }
  for (const line of notes) console.log(`note: ${line}`);
  console.log(
    `(${smoke ? "smoke" : "full"} run, ${((performance.now() - startedAt) / 1000).toFixed(0)} s, ` +
      `${navigator.hardwareConcurrency} cores)`,
  );
  return results;
}

const results = await main();
console.log(JSON.stringify(results));
