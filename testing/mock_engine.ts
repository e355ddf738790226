import type { Transport } from "@connectrpc/connect";
import { resolveConfig } from "../transport/config.ts";
import { parseDuration } from "../transport/duration.ts";
import { authInterceptor } from "../transport/grpc_transport.ts";
import type { RpcCode } from "../transport/ports.ts";
import type { DurationInput, JsonObject } from "../transport/types.ts";
import { createClientFromTransport, type HatchetClient } from "../worker/client.ts";
import {
  EngineCore,
  type RunInfo,
  type TaskRunInfo,
  type TaskStatus,
  type WorkerInfo,
} from "./_engine.ts";
import { startListener } from "./_listener.ts";
import { type RestBackend, type RestTaskTarget, startRest } from "./_rest.ts";
import type { DurableLogEntry, DurableLogEntryKind } from "./engine/durable_task.ts";
import { createMemoryTransport } from "./_memory_transport.ts";
import {
  createPushEndpoint,
  type PushDelivery,
  type PushEndpoint,
  type PushEndpointControl,
  type PushEndpointOptions,
} from "./_push.ts";
import { connectCode, type RpcLogEntry, ServiceState } from "./_services.ts";
import { testCertificates } from "./_tls.ts";
import { makeToken } from "./_token.ts";
import { ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  CancelTasksRequestSchema,
  ReplayTasksRequestSchema,
  TasksFilterSchema,
} from "../transport/services.ts";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";

export type { RunTrigger } from "./_engine.ts";
export type {
  DurableLogEntry,
  DurableLogEntryKind,
  PushDelivery,
  PushEndpoint,
  PushEndpointOptions,
  RpcLogEntry,
  RunInfo,
  TaskRunInfo,
  TaskStatus,
  WorkerInfo,
};

/**
 * Options of {@link MockEngine}.
 *
 * @example
 * ```ts
 * import { MockEngine, type MockEngineOptions } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const options: MockEngineOptions = {
 *   start: new Date("2026-06-01T09:00:00Z"),
 *   namespace: "test",
 * };
 * await using engine = new MockEngine(options);
 * await engine.advance("30m"); // the virtual clock moves only when told
 * assert.equal(engine.now().toISOString(), "2026-06-01T09:30:00.000Z");
 * assert.equal(engine.client.config.namespace, "test_");
 * ```
 */
export interface MockEngineOptions {
  /**
   * `"virtual"` (default): engine time stands still until `advance()` moves it, so sleeps,
   * timeouts and retries fire at once and in order. `"real"`: wall time and real timers.
   */
  clock?: "virtual" | "real";
  /**
   * What `GetVersion` answers; default `"v0.104.7"`, which selects the `DurableTask` event log
   * (served from v0.80.0, and for pre-releases such as `"v0.1.0-alpha.0"`). An older version,
   * e.g. `"v0.79.0"`, answers `DurableTask` with `UNIMPLEMENTED` and leaves the legacy
   * RegisterDurableEvent path; `null` answers `GetVersion` itself with `UNIMPLEMENTED`, as
   * engines before v0.78.27 do.
   */
  version?: string | null;
  /** The namespace of `engine.client`. */
  namespace?: string;
  /** Where the virtual clock starts; default 2026-01-01T00:00:00Z. */
  start?: Date;
  /**
   * How long a run triggered by `TriggerWorkflowRun` (`client.runs.trigger()`) takes to exist
   * after its id is returned; default 0. A real engine answers at once when its optimistic
   * scheduler takes the request and otherwise hands the run to its message queue, so the id
   * can come back before the run exists: until then `GetRunDetails` says `NOT_FOUND` and
   * nothing of the run is scheduled. Set this to test code against that.
   */
  triggerDelay?: DurationInput;
}

/**
 * Options of {@link MockEngine.listen}.
 *
 * @example
 * ```ts
 * import { type ListenOptions, MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * const options: ListenOptions = { port: 0, tls: true }; // a free port, TLS with a throwaway CA
 * await using server = await engine.listen(options);
 * assert.match(server.hostPort, /^127\.0\.0\.1:\d+$/);
 * assert.match(server.caPem ?? "", /^-----BEGIN CERTIFICATE-----/);
 * ```
 */
export interface ListenOptions {
  /** TCP port of the gRPC listener on 127.0.0.1; default 0 (a free port). */
  port?: number;
  /** TCP port of the REST API (HTTP/1.1) on 127.0.0.1; default 0 (a free port). */
  restPort?: number;
  /** Serve TLS with a throwaway CA (see `caPem`); default plaintext HTTP/2 (h2c). */
  tls?: boolean;
}

/**
 * A real gRPC listener of a {@link MockEngine}.
 *
 * @example
 * ```ts
 * import { createClient } from "@hatchet-deno/sdk";
 * import { type EngineListener, MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * await using server: EngineListener = await engine.listen();
 * await using client = createClient({
 *   token: engine.token,
 *   hostPort: server.hostPort,
 *   tls: "none",
 *   env: {},
 * });
 * await client.events.push("over-the-wire", {}); // real gRPC over HTTP/2 on 127.0.0.1
 * assert.deepEqual(engine.rpcLog().map((e) => e.method), ["Push"]);
 * ```
 */
export interface EngineListener extends AsyncDisposable {
  /** `127.0.0.1:<port>`, for `createClient({ hostPort })`. */
  readonly hostPort: string;
  /**
   * `http://127.0.0.1:<port>`: the REST endpoints official SDKs call (cancel, replay, run
   * details and status, schedule, worker pause); every other path answers 501.
   */
  readonly restUrl: string;
  /**
   * A token for this listener: `grpc_broadcast_address` is `hostPort` and `server_url` is
   * `restUrl`, so an SDK given only this token finds both. The engine accepts it.
   */
  readonly token: string;
  /** With `tls: true`, the PEM of the CA that signed the server certificate, for `tlsRootCa`. */
  readonly caPem?: string;
  /** Sends GOAWAY on every session, cancels open streams, stops REST and frees the ports. */
  close(): Promise<void>;
}

/**
 * A log line a task sent with `PutLog`.
 *
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { type LogEntry, MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "logger" });
 * wf.task({
 *   name: "t",
 *   fn: async (_input, ctx) => {
 *     await ctx.log("started", { level: "warn" });
 *     return {};
 *   },
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * const run = await engine.client.runs.trigger(wf, {});
 * await run.result();
 * const [entry]: LogEntry[] = engine.logs();
 * assert.equal(entry.taskRunId, engine.taskRuns(run.id)[0].id);
 * assert.deepEqual([entry.message, entry.level, entry.retryCount], ["started", "WARN", 0]);
 * assert.ok(entry.createdAt instanceof Date);
 * ```
 */
export interface LogEntry {
  /** The task run that logged it. */
  taskRunId: string;
  /** The line. */
  message: string;
  /** `INFO` (default), `DEBUG`, `WARN` or `ERROR`. */
  level: string;
  /** The time the worker stamped on it. */
  createdAt: Date;
  /** The attempt that logged it. */
  retryCount: number;
  /** The metadata object, when one was sent. */
  metadata?: JsonObject;
}

/**
 * Fault injection for reliability tests.
 *
 * @example
 * ```ts
 * import { RpcError } from "@hatchet-deno/sdk";
 * import { type EngineFaults, MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * const faults: EngineFaults = engine.faults;
 * faults.failNext("Push", "unavailable");
 * await assert.rejects(engine.client.events.push("k", {}), RpcError);
 * await engine.client.events.push("k", {}); // only the next call failed
 * faults.failNext("Push", "internal", 5);
 * faults.clear();
 * await engine.client.events.push("k", {});
 * assert.deepEqual(engine.rpcLog().map((e) => e.error ?? "ok"), ["unavailable", "ok", "ok"]);
 * ```
 */
export interface EngineFaults {
  /**
   * Makes the next `count` calls of `method` fail with `code` (after the token check).
   *
   * @param method Short method name, e.g. `"SendStepActionEvent"`, `"ListenV2"`.
   * @param code Status to fail with, e.g. `"unavailable"`.
   * @param count How many calls fail; default 1.
   * @throws {TypeError} When `code` is not a status code name.
   * @throws {RangeError} When `count` is not a positive integer.
   */
  failNext(method: string, code: RpcCode, count?: number): void;
  /** Drops every pending fault. */
  clear(): void;
}

/**
 * Options of {@link MockEngine.rpcLog}.
 *
 * @example
 * ```ts
 * import { createWorker, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type RpcLogOptions } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "quiet" });
 * wf.task({ name: "t", fn: () => ({}) });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
 * await worker.start();
 * await (await engine.client.runs.trigger(wf, {})).result();
 * // Heartbeats and the client's result calls depend on timing; leave them out to compare.
 * const options: RpcLogOptions = {
 *   omit: ["Heartbeat", "GetRunDetails", "SubscribeToWorkflowRuns"],
 * };
 * assert.deepEqual(engine.rpcLog(options).map((e) => e.method), [
 *   "GetVersion",
 *   "PutWorkflow",
 *   "Register",
 *   "ListenV2",
 *   "TriggerWorkflowRun",
 *   "SendStepActionEvent",
 *   "SendStepActionEvent",
 * ]);
 * ```
 */
export interface RpcLogOptions {
  /** Method names to leave out, e.g. `["Heartbeat", "GetRunDetails"]` (timing-dependent). */
  omit?: string[];
}

const DEFAULT_START = Date.UTC(2026, 0, 1);

/** A REST cancel or replay target as the CancelTasks / ReplayTasks request fields. */
function tasksRequest(target: RestTaskTarget) {
  if ("externalIds" in target) return { externalIds: target.externalIds };
  const f = target.filter;
  return {
    filter: create(TasksFilterSchema, {
      since: timestampFromMs(f.since),
      until: f.until === undefined ? undefined : timestampFromMs(f.until),
      statuses: f.statuses,
      workflowIds: f.workflowIds,
      additionalMetadata: f.additionalMetadata,
    }),
  };
}

/** How a REST call's HTTP error status reads in the RPC log. */
const HTTP_ERRORS: Record<number, RpcCode> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
  501: "unimplemented",
};
const ACK_TURNS = 8;

/**
 * An in-memory Hatchet engine for tests: the Dispatcher, EventsService, V1Dispatcher and
 * AdminService a worker talks to, with DAG scheduling, conditions (CEL), retries, timeouts,
 * slots, cancellation, durable waits, logs and stream events, on a virtual clock.
 *
 * `engine.client` reaches it in memory; `engine.listen()` serves the same services as real gRPC
 * on 127.0.0.1 so any Hatchet SDK can connect with `engine.token`.
 *
 * @example
 * ```ts
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * await using engine = new MockEngine();
 * const start = engine.now().getTime();
 * await engine.advance("24h");
 * assert.equal(engine.now().getTime() - start, 24 * 3600 * 1000);
 * ```
 */
export class MockEngine implements AsyncDisposable {
  #token: string;
  /** The tenant id (`sub` of the token). */
  readonly tenantId: string;
  /** Fault injection: make the next calls of an RPC fail. */
  readonly faults: EngineFaults;

  #core: EngineCore;
  #services: ServiceState;
  #namespace: string | undefined;
  #client: HatchetClient | undefined;
  #listeners = new Set<EngineListener>();
  #issuedAtMs: number;
  #pushEndpoints = new Set<PushEndpointControl>();
  #advancing: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;

  /**
   * Creates an engine with no workflows, workers or runs. Nothing listens on the network until
   * {@link MockEngine.listen} is called.
   *
   * @param options Clock, `GetVersion` answer, namespace and start instant.
   * @throws {TypeError} When `clock` is neither `"virtual"` nor `"real"`.
   */
  constructor(options?: MockEngineOptions) {
    const clock = options?.clock ?? "virtual";
    if (clock !== "virtual" && clock !== "real") {
      throw new TypeError(
        `Invalid clock: expected "virtual" or "real", received ${JSON.stringify(clock)}`,
      );
    }
    this.tenantId = crypto.randomUUID();
    const startMs = options?.start?.getTime() ?? DEFAULT_START;
    this.#core = new EngineCore({
      clock,
      startMs,
      version: options?.version === undefined ? "v0.104.7" : options.version,
      tenantId: this.tenantId,
      triggerDelayMs: options?.triggerDelay === undefined ? 0 : parseDuration(options.triggerDelay),
    });
    this.#issuedAtMs = clock === "virtual" ? startMs : Date.now();
    // Nothing listens until listen(): the addresses name port 0 on loopback, which no
    // connection reaches, rather than a real engine's defaults.
    this.#token = makeToken({
      sub: this.tenantId,
      grpc_broadcast_address: "127.0.0.1:0",
      server_url: "http://127.0.0.1:0",
    }, this.#issuedAtMs);
    this.#services = new ServiceState(this.#core, this.#token);
    this.#namespace = options?.namespace;
    const faults = this.#services.faults;
    this.faults = {
      failNext(method: string, code: RpcCode, count = 1): void {
        connectCode(code);
        if (!Number.isInteger(count) || count < 1) {
          throw new RangeError(`Fault count must be a positive integer, received ${count}`);
        }
        const queue = faults.get(method) ?? [];
        queue.push({ code, remaining: count });
        faults.set(method, queue);
      },
      clear(): void {
        faults.clear();
      },
    };
  }

  /**
   * A JWT this engine accepts (claims `sub`, `grpc_broadcast_address`, `server_url`). Once
   * {@link MockEngine.listen} was called, the token of the first open listener, whose addresses
   * name that listener's gRPC and REST ports; before, one whose addresses reach nothing. The
   * engine accepts every token it handed out.
   *
   * @returns The token.
   */
  get token(): string {
    const [first] = this.#listeners;
    return first?.token ?? this.#token;
  }

  /**
   * A client connected to this engine in memory (no network), created on first use. Closing
   * the engine closes it.
   */
  get client(): HatchetClient {
    if (!this.#client) {
      const config = resolveConfig({
        token: this.#token,
        hostPort: "127.0.0.1:7070",
        tls: "none",
        namespace: this.#namespace,
        env: {},
      });
      this.#client = createClientFromTransport(config, this.transport());
    }
    return this.#client;
  }

  /**
   * A Connect transport to this engine in memory, sending the engine's token. For SDK-internal
   * tests that build their own typed clients or ports. Not part of the public API (it exposes a
   * Connect type), hence hidden from the docs.
   *
   * @param options `token` to send instead of the engine's (`""` sends no header), for auth
   * tests.
   * @returns A new in-memory transport.
   * @ignore
   */
  transport(options?: { token?: string }): Transport {
    const token = options?.token ?? this.#token;
    return createMemoryTransport(
      (router) => this.#services.routes(router),
      token === "" ? [] : [authInterceptor(token)],
    );
  }

  /**
   * Serves this engine as real gRPC over HTTP/2 on 127.0.0.1.
   *
   * @param options Port (default: a free one) and TLS (default: plaintext h2c).
   * @returns The listener: its `hostPort`, `caPem` with TLS, and `close()`.
   * @throws {Error} When the port is taken, or TLS certificates cannot be created.
   * @example
   * ```ts
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * await using engine = new MockEngine();
   * await using server = await engine.listen();
   * assert.match(server.hostPort, /^127\.0\.0\.1:\d+$/);
   * ```
   */
  async listen(options?: ListenOptions): Promise<EngineListener> {
    if (this.#core.closed) throw new Error("Cannot listen: the mock engine is closed");
    const certs = options?.tls ? await testCertificates() : undefined;
    const running = await startListener(
      (router) => this.#services.routes(router),
      options?.port ?? 0,
      certs ? { cert: certs.certPem, key: certs.keyPem } : undefined,
    );
    let rest;
    try {
      rest = await startRest(this.#restBackend(), options?.restPort ?? 0);
    } catch (err) {
      await running.close();
      throw err;
    }
    const token = makeToken({
      sub: this.tenantId,
      grpc_broadcast_address: running.hostPort,
      server_url: rest.url,
    }, this.#issuedAtMs);
    this.#services.tokens.add(token);
    const listeners = this.#listeners;
    const listener: EngineListener = {
      hostPort: running.hostPort,
      restUrl: rest.url,
      token,
      ...(certs ? { caPem: certs.caPem } : {}),
      async close() {
        listeners.delete(listener);
        await Promise.all([running.close(), rest.close()]);
      },
      [Symbol.asyncDispose]() {
        return this.close();
      },
    };
    // The token is a credential: what logs and JSON show of the listener leaves it out.
    const shown = () => ({ hostPort: running.hostPort, restUrl: rest.url, token: "[redacted]" });
    Object.defineProperties(listener, {
      toJSON: { value: shown },
      [Symbol.for("Deno.customInspect")]: {
        value: (inspect: (value: unknown, options?: unknown) => string, options?: unknown) =>
          `EngineListener ${inspect(shown(), options)}`,
      },
    });
    listeners.add(listener);
    return listener;
  }

  #restBackend(): RestBackend {
    const core = this.#core;
    const services = this.#services;
    return {
      tenantId: this.tenantId,
      acceptsToken: (token) => services.tokens.has(token),
      now: () => core.clock.now(),
      run: (id) => core.restRun(id),
      cancel: (target) =>
        core.cancelTasks(create(CancelTasksRequestSchema, tasksRequest(target))).cancelledTasks,
      replay: (target) =>
        core.replayTasks(create(ReplayTasksRequestSchema, tasksRequest(target))).replayedTasks,
      schedule: (name, request) => core.scheduleRun(name, request),
      setWorkerPaused: (id, paused) => core.setWorkerPaused(id, paused),
      record: (method, summary, status) => {
        const entry: RpcLogEntry = { method };
        if (Object.keys(summary).length > 0) entry.summary = summary;
        const error = HTTP_ERRORS[status];
        if (status >= 400) entry.error = error ?? "unknown";
        services.log.push(entry);
        core.activity++;
      },
    };
  }

  /**
   * Adds an HTTP push endpoint, as Hatchet's HTTP operator does: a worker inside the engine that
   * POSTs each task routed to it to the endpoint, signed with `X-Hatchet-Signature` (hex
   * HMAC-SHA256 of the body under `signingSecret`), as the protobuf JSON of the
   * `AssignedAction`, and reports STARTED, then COMPLETED with the 2xx body (`{}` when empty) or
   * FAILED for any other status or a transport error (retried per the task's `retries`; the
   * error is the engine's message, without the body). Which actions it gets comes from its
   * healthcheck, polled once before this resolves (the engine's first poll comes after 5 s) and
   * then every `healthcheckInterval` on the engine clock; `settle()` and `advance()` wait for
   * each poll. A delivery counts as unacknowledged until the endpoint answers, so `settle()`
   * waits for quick tasks to finish; a delivery that runs past `requestTimeout` (engine clock)
   * fails. A cancelled task run aborts its request.
   *
   * @param options `url` of a running server (requested with `fetch`) or an in-memory
   *   `handler`, the signing secret, and optionally paths, timeouts, slots and a name.
   * @returns The endpoint: its worker id, advertised actions, deliveries, and `remove()`.
   * @throws {TypeError} When neither or both of `url` and `handler` are given, or the secret is
   *   empty.
   * @throws {RangeError} When a duration or the slot count is invalid.
   * @throws {Error} When the first healthcheck fails, or the engine is closed.
   * @example
   * ```ts
   * import { createPushHandler, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const hello = workflow<{ name: string }>({ name: "push-hello" });
   * hello.task({ name: "greet", fn: (input) => ({ message: `Hello, ${input.name}!` }) });
   *
   * await using engine = new MockEngine();
   * await using handler = createPushHandler({
   *   workflows: [hello],
   *   signingSecret: "s3cret",
   *   client: engine.client,
   * });
   * await using endpoint = await engine.addPushEndpoint({ handler, signingSecret: "s3cret" });
   * assert.deepEqual(endpoint.actions, ["push-hello:greet"]);
   * const run = await engine.client.runs.trigger(hello, { name: "Ada" });
   * assert.deepEqual((await run.result()).outputs.greet, { message: "Hello, Ada!" });
   * ```
   */
  async addPushEndpoint(options: PushEndpointOptions): Promise<PushEndpoint> {
    if (this.#core.closed || this.#closing) {
      throw new Error("Cannot add a push endpoint: the mock engine is closed");
    }
    const endpoints = this.#pushEndpoints;
    const control = await createPushEndpoint(
      this.#core,
      options,
      (removed) => endpoints.delete(removed),
    );
    endpoints.add(control);
    return control.endpoint;
  }

  /**
   * The engine's current time.
   *
   * @returns The virtual instant, or wall time with `clock: "real"`.
   */
  now(): Date {
    return new Date(this.#core.clock.now());
  }

  /**
   * Waits until the engine is quiet, moves the virtual clock forward by `duration` firing due
   * sleeps, timeouts, retries and schedule timeouts in time order (waiting until quiet after
   * each), then waits until quiet again. "Quiet" means no unary RPC in flight, no assignment or
   * durable event waiting to be written to its stream, and no engine activity over a macrotask
   * turn.
   *
   * @param duration How far to move, e.g. `"10s"`, `"24h"`, or milliseconds.
   * @throws {RangeError} When `duration` is not a duration.
   * @throws {Error} With `clock: "real"`, or after `close()`.
   * @example
   * ```ts
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * await using engine = new MockEngine({ start: new Date("2026-03-01T00:00:00Z") });
   * await engine.advance("90s");
   * assert.equal(engine.now().toISOString(), "2026-03-01T00:01:30.000Z");
   * ```
   */
  advance(duration: DurationInput): Promise<void> {
    const ms = parseDuration(duration);
    if (this.#core.clock.mode !== "virtual") {
      return Promise.reject(new Error('Cannot advance: the engine runs on clock "real"'));
    }
    if (this.#core.closed) {
      return Promise.reject(new Error("Cannot advance: the mock engine is closed"));
    }
    const step = this.#advancing.then(() => this.#advance(ms));
    this.#advancing = step.catch(() => {});
    return step;
  }

  async #advance(ms: number): Promise<void> {
    const clock = this.#core.clock;
    await this.settle();
    const target = clock.now() + ms;
    for (;;) {
      const next = clock.nextDue(target);
      if (next === undefined || this.#core.closed) break;
      clock.setNow(next);
      this.#core.fireDueTimers();
      await this.settle();
    }
    clock.setNow(target);
    this.#core.fireDueTimers();
    await this.settle();
  }

  /**
   * Waits until the engine is quiet: no unary RPC in flight, nothing waiting to be written to a
   * stream, and no engine activity over a macrotask turn.
   *
   * @returns When quiet.
   * @example
   * ```ts
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   *
   * await using engine = new MockEngine();
   * await engine.settle();
   * ```
   */
  async settle(): Promise<void> {
    const core = this.#core;
    let last = core.activity;
    let stableTurns = 0;
    // Two quiet turns in a row: a worker that reacts to a message often needs one turn to
    // get its next RPC started. A START_STEP_RUN counts as delivered once the worker sent an
    // RPC about that task run (STARTED, usually), or after ACK_TURNS quiet turns for clients
    // that never do.
    while (stableTurns < 2 || (core.awaitingAck() > 0 && stableTurns < ACK_TURNS)) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      const quiet = core.inFlight === 0 && core.pendingDeliveries() === 0;
      if (quiet && core.activity === last) stableTurns++;
      else stableTurns = 0;
      last = core.activity;
    }
    if (core.awaitingAck() > 0) core.forgetAwaitingAck();
  }

  /**
   * The log lines tasks sent, in arrival order.
   *
   * @param taskRunId Only this task run's lines.
   * @returns The lines.
   * @example
   * ```ts
   * import { createWorker, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const wf = workflow({ name: "logs-example" });
   * wf.task({
   *   name: "talk",
   *   fn: async (_input, ctx) => {
   *     await ctx.log("hello");
   *     await ctx.log("careful", { level: "warn" });
   *     return {};
   *   },
   * });
   * await using engine = new MockEngine();
   * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
   * await worker.start();
   * const run = await engine.client.runs.trigger(wf, {});
   * await run.result();
   * assert.deepEqual(engine.logs().map((l) => [l.message, l.level]), [
   *   ["hello", "INFO"],
   *   ["careful", "WARN"],
   * ]);
   * ```
   */
  logs(taskRunId?: string): LogEntry[] {
    return this.#core.logs(taskRunId).map((l) => {
      const entry: LogEntry = {
        taskRunId: l.taskRunId,
        message: l.message,
        level: l.level,
        createdAt: l.createdAt,
        retryCount: l.retryCount,
      };
      if (l.metadata !== undefined) entry.metadata = l.metadata;
      return entry;
    });
  }

  /**
   * The stream chunks a task run sent with `PutStreamEvent`, ordered by `event_index` (chunks
   * without an index last, in arrival order).
   *
   * @param taskRunId The task run.
   * @returns The chunks' bytes.
   */
  streamEvents(taskRunId: string): Uint8Array[] {
    return this.#core.streamEvents(taskRunId);
  }

  /**
   * Task runs, in creation order.
   *
   * @param workflowRunId Only this workflow run's tasks.
   * @returns One entry per task of each run, including ones still `PENDING`.
   * @example
   * ```ts
   * import { createWorker, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const wf = workflow({ name: "runs-example" });
   * const first = wf.task({ name: "first", fn: () => ({ n: 1 }) });
   * wf.task({ name: "second", parents: [first], fn: (_input, ctx) => ctx.taskOutput(first) });
   * await using engine = new MockEngine();
   * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
   * await worker.start();
   * const run = await engine.client.runs.trigger(wf, {});
   * await run.result();
   * assert.deepEqual(
   *   engine.taskRuns(run.id).map((t) => [t.taskName, t.status, t.output]),
   *   [["first", "COMPLETED", { n: 1 }], ["second", "COMPLETED", { n: 1 }]],
   * );
   * ```
   */
  taskRuns(workflowRunId?: string): TaskRunInfo[] {
    return this.#core.taskRuns(workflowRunId);
  }

  /**
   * A durable task's event log (the `DurableTask` path), by node: what each durable call
   * recorded and whether its result is in.
   *
   * @param taskRunId The durable task run.
   * @returns Its entries, empty for a task with none.
   * @example
   * ```ts
   * import { createWorker, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const wf = workflow({ name: "log-example" });
   * wf.durableTask({
   *   name: "t",
   *   fn: async (_input, ctx) => {
   *     await ctx.memo("config", () => ({ region: "eu" }));
   *     await ctx.sleepFor("10s");
   *     return {};
   *   },
   * });
   * await using engine = new MockEngine();
   * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
   * await worker.start();
   * const run = await engine.client.runs.trigger(wf, {});
   * await engine.advance("10s");
   * await run.result();
   * const [task] = engine.taskRuns(run.id);
   * assert.deepEqual(
   *   engine.durableEventLog(task.id).map((e) => [e.nodeId, e.kind, e.description, e.satisfied]),
   *   [[1, "MEMO", "memo", true], [2, "WAIT_FOR", "sleep(10s)", true]],
   * );
   * ```
   */
  durableEventLog(taskRunId: string): DurableLogEntry[] {
    return this.#core.durableEventLog(taskRunId);
  }

  /**
   * Workflow run ids, in trigger order.
   *
   * @returns The ids.
   */
  workflowRuns(): string[] {
    return this.#core.workflowRunIds();
  }

  /**
   * Workflow runs in creation order, with what created them and, for children, their parent
   * task run, index and key.
   *
   * @returns One entry per run.
   * @example
   * ```ts
   * import { createWorker, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const wf = workflow({ name: "nightly", onCrons: ["0 2 * * *"] });
   * wf.task({ name: "backup", fn: () => ({}) });
   * await using engine = new MockEngine({ start: new Date("2026-01-01T00:00:00Z") });
   * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
   * await worker.start();
   * await engine.advance("3h");
   * assert.deepEqual(engine.runs().map((r) => [r.triggeredBy, r.createdAt.toISOString()]), [
   *   ["cron", "2026-01-01T02:00:00.000Z"],
   * ]);
   * ```
   */
  runs(): RunInfo[] {
    return this.#core.runs();
  }

  /**
   * Scheduled runs (`runs.schedule()`) that have not fired yet, by time.
   *
   * @returns One entry per pending schedule.
   * @example
   * ```ts
   * import { createWorker, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const wf = workflow({ name: "reminder" });
   * wf.task({ name: "send", fn: () => ({}) });
   * await using engine = new MockEngine({ start: new Date("2026-01-01T00:00:00Z") });
   * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
   * await worker.start();
   * const at = new Date("2026-01-01T09:00:00Z");
   * const { id } = await engine.client.runs.schedule(wf, at, {});
   * assert.deepEqual(engine.schedules(), [{ id, workflowName: "reminder", triggerAt: at }]);
   * await engine.advance("9h");
   * assert.deepEqual(engine.schedules(), []);
   * assert.deepEqual(engine.runs().map((r) => r.triggeredBy), ["schedule"]);
   * ```
   */
  schedules(): { id: string; workflowName: string; triggerAt: Date }[] {
    return this.#core.schedules();
  }

  /**
   * Registered workers.
   *
   * @returns One entry per `Register` call.
   * @example
   * ```ts
   * import { createWorker, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const wf = workflow({ name: "workers-example" });
   * wf.task({ name: "t", fn: () => ({}) });
   * await using engine = new MockEngine();
   * await using worker = createWorker(engine.client, { name: "w1", workflows: [wf], slots: 4 });
   * await worker.start();
   * const [info] = engine.workers();
   * assert.equal(info.name, "w1");
   * assert.equal(info.slotConfig.default, 4);
   * ```
   */
  workers(): WorkerInfo[] {
    return this.#core.workers();
  }

  /**
   * The RPCs the engine received, in arrival order, for whole-sequence assertions. Each
   * `ListenForDurableEvent` subscription message is an entry of its own with a `signalKey`.
   *
   * @param options Methods to leave out.
   * @returns The entries (copies).
   * @example
   * ```ts
   * import { createWorker, workflow } from "@hatchet-deno/sdk";
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   * import assert from "node:assert/strict";
   *
   * const wf = workflow({ name: "log-example" });
   * wf.task({ name: "only", fn: () => ({}) });
   * await using engine = new MockEngine();
   * await using worker = createWorker(engine.client, { name: "w", workflows: [wf] });
   * await worker.start();
   * const run = await engine.client.runs.trigger(wf, {});
   * await run.result();
   * const events = engine.rpcLog().filter((e) => e.method === "SendStepActionEvent");
   * assert.deepEqual(events.map((e) => e.summary?.eventType), ["STARTED", "COMPLETED"]);
   * assert.equal(engine.rpcLog({ omit: ["Heartbeat"] })[0].method, "GetVersion");
   * ```
   */
  rpcLog(options?: RpcLogOptions): RpcLogEntry[] {
    const omit = new Set(options?.omit ?? []);
    return this.#services.log.filter((e) => !omit.has(e.method)).map((e) => structuredClone(e));
  }

  /**
   * The engine's own diagnostics: CEL expressions that failed, ignored stale events, tasks that
   * timed out waiting for a worker.
   *
   * @returns The lines, oldest first.
   */
  engineLog(): string[] {
    return this.#core.engineLog();
  }

  /**
   * Ends every open ListenV2/Listen and ListenForDurableEvent stream with `UNAVAILABLE`, as an
   * engine restart would. Workers are expected to reconnect.
   *
   * @example
   * ```ts
   * import { MockEngine } from "@hatchet-deno/sdk/testing";
   *
   * await using engine = new MockEngine();
   * engine.dropStreams(); // nothing is open yet: a no-op
   * ```
   */
  dropStreams(): void {
    this.#core.endStreams(
      new ConnectError("mock engine dropped the stream", connectCode("unavailable")),
    );
  }

  /**
   * Stops timers, ends open streams, closes listeners and the in-memory client. Idempotent.
   *
   * @returns When everything is closed.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#pushEndpoints].map((p) => p.abort()));
      this.#core.close();
      await Promise.all([...this.#listeners].map((l) => l.close()));
      await this.#client?.close();
    })();
    return this.#closing;
  }

  /**
   * What `Deno.inspect()` and `console.log()` show: the tenant and the listeners, with the token
   * redacted, so logging the engine never prints a credential.
   *
   * @param inspect Deno's inspect function.
   * @param options Deno's inspect options.
   * @returns The text.
   */
  [Symbol.for("Deno.customInspect")](
    inspect: (value: unknown, options?: unknown) => string,
    options?: unknown,
  ): string {
    const listeners = [...this.#listeners].map((l) => l.hostPort);
    return `MockEngine ${
      inspect({ tenantId: this.tenantId, token: "[redacted]", listeners }, options)
    }`;
  }

  /** Same as {@link MockEngine.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
