// Push mode: Hatchet's HTTP operator POSTs each assigned task to an HTTPS endpoint and takes the
// response as the result, so tasks can run inside a `Deno.serve` handler (Deno Deploy) instead of
// a long-lived worker. Facts about the operator (pkg/operator/httpoperator in hatchet-dev/hatchet):
// every request is a POST signed with `X-Hatchet-Signature` (hex HMAC-SHA256 of the raw body);
// the healthcheck body is `{}` and its answer `{"actions": [...]}` routes those actions here; the
// trigger body is the protobuf JSON of an `AssignedAction`; a 2xx body is the task output (empty
// reads as `{}`); any other status, or a transport error, fails the attempt, always as retryable,
// and the engine keeps the status code only, not the body.
//
// Nothing on this path imports `node:`: it loads where only web APIs exist.

import { retryTransient } from "../transport/retry.ts";
import type { Context } from "../context/context.ts";
import { createContext, type TaskRunPort, truncateLogLine } from "../context/create_context.ts";
import { NonRetryableError, TaskCancelledError } from "../context/errors.ts";
import { createLogSender, type LogSender } from "../context/log_sender.ts";
import { parseAssignment, type TaskRunData } from "../context/parse_assignment.ts";
import { normalizeNamespace } from "../transport/config.ts";
import type { ActionKind, AssignedActionData, EnginePorts } from "../transport/ports.ts";
import type { JsonObject } from "../transport/types.ts";
import { enginePortsOf, runsRuntimeOf } from "./_client_ports.ts";
import { CALL_TIMEOUT_MS, engineTaskRunPort, messageOf } from "./_task_run_port.ts";
import { describeError, serializeOutput } from "./_outcome.ts";
import { actionIdOf, missingRateLimitError, putWorkflowInput } from "./_registration.ts";
import type { HatchetClient } from "./hatchet_client.ts";
import {
  definitionOf,
  type TaskDefinition,
  type Workflow,
  type WorkflowDefinition,
} from "./workflow.ts";

/** The header carrying the request signature, as the engine's HTTP operator sends it. */
export const SIGNATURE_HEADER = "X-Hatchet-Signature";

/** Default routes of {@link createPushHandler}. */
export const DEFAULT_PUSH_PATHS: Readonly<Required<PushPaths>> = Object.freeze({
  trigger: "/hatchet/trigger",
  healthcheck: "/hatchet/healthcheck",
});

/**
 * Where a push handler answers; each is the path of one of the operator's two URLs.
 *
 * @example
 * ```ts
 * import { createPushHandler, type PushPaths, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "pushed" });
 * wf.task({ name: "t", fn: () => ({ ok: true }) });
 * const paths: PushPaths = { trigger: "/api/hatchet/run", healthcheck: "/api/hatchet/health" };
 * await using engine = new MockEngine();
 * await using handler = createPushHandler({
 *   workflows: [wf],
 *   signingSecret: "s3cret",
 *   client: engine.client,
 *   paths,
 * });
 * // The engine's HTTP operator must be configured with the same paths.
 * await using _endpoint = await engine.addPushEndpoint({
 *   handler,
 *   signingSecret: "s3cret",
 *   paths,
 * });
 * const run = await engine.client.runs.trigger(wf, {});
 * assert.deepEqual((await run.result()).outputs.t, { ok: true });
 * ```
 */
export interface PushPaths {
  /** The operator's trigger endpoint; default `"/hatchet/trigger"`. */
  trigger?: string;
  /** The operator's healthcheck endpoint; default `"/hatchet/healthcheck"`. */
  healthcheck?: string;
}

/**
 * Options of {@link createPushHandler}.
 *
 * @example
 * ```ts
 * import { createPushHandler, type PushHandlerOptions, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "edge" });
 * wf.task({
 *   name: "t",
 *   fn: (_input, ctx) => ({ region: (ctx.lifespan as { region: string }).region }),
 * });
 * await using engine = new MockEngine({ namespace: "prod" });
 * const options: PushHandlerOptions<{ region: string }> = {
 *   workflows: [wf],
 *   signingSecret: "s3cret",
 *   client: engine.client, // registers the workflows and carries ctx.log() and friends
 *   async *lifespan() {
 *     yield { region: "eu" };
 *   },
 * };
 * await using handler = createPushHandler(options);
 * assert.deepEqual(handler.actions, ["prod_edge:t"]);
 * await using _endpoint = await engine.addPushEndpoint({ handler, signingSecret: "s3cret" });
 * const run = await engine.client.runs.trigger(wf, {});
 * assert.deepEqual((await run.result()).outputs.t, { region: "eu" });
 * ```
 */
export interface PushHandlerOptions<L = undefined> {
  /** The workflows whose tasks this endpoint runs. Durable tasks are not allowed. */
  // deno-lint-ignore no-explicit-any
  workflows: Workflow<any>[];
  /** The secret configured on the engine's HTTP operator; requests are verified with it. */
  signingSecret: string;
  /**
   * A client for the calls a context makes to the engine (`ctx.log`, `ctx.putStream`,
   * `ctx.refreshTimeout`, `ctx.releaseSlot`, `ctx.cancel`) and for registering the workflows
   * (`PutWorkflow`) before the first healthcheck answer. Without one those context calls fail
   * and the workflows must be registered by other means (a worker of the same workflows).
   */
  client?: HatchetClient;
  /**
   * Runs on the first task request; its yielded value is `ctx.lifespan` in every task. Resumed by
   * `handler.close()`, so code after the `yield` cleans up.
   */
  lifespan?: () => AsyncGenerator<L, void, void>;
  /** The two routes; default `"/hatchet/trigger"` and `"/hatchet/healthcheck"`. */
  paths?: PushPaths;
  /** The namespace of the action ids; default the client's namespace, else none. */
  namespace?: string;
}

/**
 * A request handler for `Deno.serve` that runs the tasks Hatchet's HTTP operator pushes to it.
 * Closing it waits for running tasks, delivers their logs and runs the lifespan cleanup.
 *
 * @example
 * ```ts
 * import { createPushHandler, type PushHandler, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow<{ n: number }>({ name: "inc" });
 * wf.task({ name: "inc", fn: (input) => ({ n: input.n + 1 }) });
 * await using engine = new MockEngine();
 * await using handler: PushHandler = createPushHandler({
 *   workflows: [wf],
 *   signingSecret: "s3cret",
 *   client: engine.client,
 * });
 * assert.deepEqual(handler.actions, ["inc:inc"]);
 * // An unsigned request is refused; the engine's signed ones are served.
 * const unsigned = await handler(
 *   new Request("http://localhost/hatchet/healthcheck", { method: "POST", body: "{}" }),
 * );
 * assert.equal(unsigned.status, 401);
 * await unsigned.body?.cancel();
 * await using _endpoint = await engine.addPushEndpoint({ handler, signingSecret: "s3cret" });
 * const run = await engine.client.runs.trigger(wf, { n: 1 });
 * assert.deepEqual((await run.result()).outputs.inc, { n: 2 });
 * ```
 */
export interface PushHandler extends AsyncDisposable {
  /**
   * Answers one request: the healthcheck route lists the actions, the trigger route runs a task.
   *
   * @param request The incoming request.
   * @returns The response for the engine.
   */
  (request: Request): Promise<Response>;
  /** The namespaced action ids the healthcheck advertises. */
  readonly actions: readonly string[];
  /** Stops taking tasks, waits for running ones and their logs, runs the lifespan cleanup. */
  close(): Promise<void>;
}

interface ActionEntry {
  task: TaskDefinition;
  workflow: WorkflowDefinition;
}

/** Why a request was not answered with 2xx; `status` is the HTTP status sent back. */
class Refusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "Refusal";
    this.status = status;
  }
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;
const ACTION_KINDS: readonly ActionKind[] = [
  "START_STEP_RUN",
  "CANCEL_STEP_RUN",
  "START_GET_GROUP_KEY",
  "START_BATCH",
];
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function jsonResponse(status: number, body: JsonObject, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body), { status, headers: h });
}

function refusalResponse(refusal: Refusal, headers?: HeadersInit): Response {
  return jsonResponse(refusal.status, { error: refusal.message, retryable: true }, headers);
}

function checkPath(value: unknown, which: string): string {
  if (typeof value !== "string" || !value.startsWith("/")) {
    throw new TypeError(
      `createPushHandler(): paths.${which} must be a path starting with "/", received ${
        JSON.stringify(value) ?? String(value)
      }`,
    );
  }
  return value;
}

/**
 * Creates the request handler of a push endpoint: give it to `Deno.serve`, and point an HTTP
 * operator of the engine at its two routes (`https://<host>/hatchet/trigger` and
 * `https://<host>/hatchet/healthcheck` by default) with the same signing secret.
 *
 * Every request must carry a valid `X-Hatchet-Signature` (checked in constant time with
 * WebCrypto before the body is parsed), else the answer is 401. The healthcheck answers
 * `{"actions": [...]}`; with a client it first registers the workflows, and answers 503 if that
 * fails. A task request runs the task with the same `Context` a worker gives and answers its
 * output (`{}` for none) with 200. Failures answer JSON `{ "error": ..., "retryable": ... }`:
 * 422 for a `NonRetryableError`, 500 for any other error of the task, 400 for a malformed
 * request, 404 for an action this handler does not run, 503 when the lifespan failed to start.
 * The engine's operator keeps only the status and retries every failure per the task's
 * `retries` (a `NonRetryableError` too: the operator has no way to say otherwise), so with a
 * client the handler also sends the error text as an `ERROR` log line. Log lines and stream
 * chunks are delivered before the response is returned.
 *
 * @param options Workflows, signing secret, client, lifespan, routes and namespace.
 * @returns The handler; `await using` it, or call `close()`, in tests.
 * @throws {TypeError} When `workflows` is empty or holds something that is not a workflow, a
 *   task is durable (durable waits are not supported in push mode), two tasks share an action
 *   id, the signing secret is empty, a path does not start with `/`, the two paths are equal,
 *   or `client` is not a client from `createClient()` or `MockEngine`.
 * @example
 * ```ts
 * import { createPushHandler, workflow } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 *
 * const hello = workflow<{ name: string }>({ name: "hello" });
 * hello.task({ name: "greet", fn: (input) => ({ message: `Hello, ${input.name}!` }) });
 * await using handler = createPushHandler({ workflows: [hello], signingSecret: "s3cret" });
 *
 * // What the engine sends: the body, signed with the shared secret.
 * const body = JSON.stringify({
 *   taskRunExternalId: "0b4f7c51-1d0c-4e5b-9a55-3f3f6c7b2a10",
 *   actionId: "hello:greet",
 *   taskName: "greet",
 *   actionPayload: JSON.stringify({ input: { name: "Ada" } }),
 * });
 * const key = await crypto.subtle.importKey(
 *   "raw", new TextEncoder().encode("s3cret"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
 * );
 * const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
 * const signature = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
 *
 * const response = await handler(
 *   new Request("http://localhost/hatchet/trigger", {
 *     method: "POST",
 *     headers: { "X-Hatchet-Signature": signature },
 *     body,
 *   }),
 * );
 * assert.equal(response.status, 200);
 * assert.deepEqual(await response.json(), { message: "Hello, Ada!" });
 * ```
 */
export function createPushHandler<L = undefined>(options: PushHandlerOptions<L>): PushHandler {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `createPushHandler() expects an options object, received ${String(options)}`,
    );
  }
  if (!Array.isArray(options.workflows) || options.workflows.length === 0) {
    throw new TypeError(
      `createPushHandler(): workflows must be a non-empty array, received ${
        Array.isArray(options.workflows) ? "[]" : String(options.workflows)
      }`,
    );
  }
  if (typeof options.signingSecret !== "string" || options.signingSecret === "") {
    throw new TypeError(
      `createPushHandler(): signingSecret must be a non-empty string, received ${
        typeof options.signingSecret === "string" ? '""' : String(options.signingSecret)
      }`,
    );
  }
  const triggerPath = checkPath(options.paths?.trigger ?? DEFAULT_PUSH_PATHS.trigger, "trigger");
  const healthPath = checkPath(
    options.paths?.healthcheck ?? DEFAULT_PUSH_PATHS.healthcheck,
    "healthcheck",
  );
  if (triggerPath === healthPath) {
    throw new TypeError(
      `createPushHandler(): paths.trigger and paths.healthcheck must differ, both are ${
        JSON.stringify(triggerPath)
      }`,
    );
  }
  const ports: EnginePorts | undefined = options.client === undefined
    ? undefined
    : enginePortsOf(options.client);
  const namespace = options.namespace !== undefined
    ? normalizeNamespace(options.namespace)
    : options.client?.config.namespace ?? "";

  const definitions = options.workflows.map((wf) => definitionOf(wf));
  const actions = new Map<string, ActionEntry>();
  for (const def of definitions) {
    const tasks = [...def.tasks, def.onSuccess, def.onFailure].filter((t) => t !== undefined);
    for (const task of tasks) {
      if (task.durable) {
        throw new TypeError(
          `createPushHandler(): task "${task.name}" of workflow "${def.name}" is durable, and durable waits are not supported in push mode: run it on a worker (createWorker)`,
        );
      }
      const id = actionIdOf(namespace, def.name, task.name);
      if (actions.has(id)) {
        throw new TypeError(
          `createPushHandler(): two tasks share the action id "${id}"; workflow names must differ after lower-casing`,
        );
      }
      actions.set(id, { task, workflow: def });
    }
  }
  const actionIds = Object.freeze([...actions.keys()]);

  const keyPromise = crypto.subtle.importKey(
    "raw",
    encoder.encode(options.signingSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const logSender: LogSender | undefined = ports ? createLogSender(ports.events) : undefined;
  // Stops retries of engine calls once the handler closes.
  const halt = new AbortController();
  const running = new Set<Promise<unknown>>();
  let closed = false;
  let closing: Promise<void> | undefined;
  let registered: Promise<void> | undefined;
  let lifespanStart: Promise<L> | undefined;
  let lifespanGen: AsyncGenerator<L, void, void> | undefined;

  // ---- request plumbing ---------------------------------------------------------------------

  async function readBody(request: Request): Promise<Uint8Array> {
    const declared = Number(request.headers.get("content-length") ?? "0");
    const tooLarge = new Refusal(413, `Request body exceeds ${MAX_BODY_BYTES} bytes`);
    if (declared > MAX_BODY_BYTES) throw tooLarge;
    if (request.body === null) return new Uint8Array();
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = request.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > MAX_BODY_BYTES) {
          await reader.cancel();
          throw tooLarge;
        }
        chunks.push(value);
      }
    } finally {
      reader.releaseLock();
    }
    const out = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  }

  async function verified(signature: string, body: Uint8Array): Promise<boolean> {
    // Only the shape of the header is checked here; the comparison itself happens inside
    // WebCrypto's HMAC verify, which takes the same time wherever the bytes differ.
    if (!/^[0-9a-fA-F]{64}$/.test(signature)) return false;
    const mac = new Uint8Array(32);
    for (let i = 0; i < 32; i++) mac[i] = parseInt(signature.slice(2 * i, 2 * i + 2), 16);
    return await crypto.subtle.verify("HMAC", await keyPromise, mac, body as BufferSource);
  }

  async function handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path !== triggerPath && path !== healthPath) {
      return refusalResponse(
        new Refusal(
          404,
          `No Hatchet push route at ${
            JSON.stringify(path)
          }: expected POST ${triggerPath} or ${healthPath}`,
        ),
      );
    }
    if (request.method !== "POST") {
      return refusalResponse(
        new Refusal(405, `${path} accepts POST only, received ${request.method}`),
        { allow: "POST" },
      );
    }
    const signature = request.headers.get(SIGNATURE_HEADER);
    if (signature === null || signature === "") {
      return refusalResponse(new Refusal(401, `Missing ${SIGNATURE_HEADER} header`));
    }
    try {
      const body = await readBody(request);
      if (!await verified(signature, body)) {
        return refusalResponse(
          new Refusal(
            401,
            `Invalid ${SIGNATURE_HEADER}: expected the hex HMAC-SHA256 of the body with the signing secret`,
          ),
        );
      }
      if (closed) return refusalResponse(new Refusal(503, "The push handler is closed"));
      return path === healthPath ? await healthcheck() : await trigger(body, request.signal);
    } catch (err) {
      if (err instanceof Refusal) return refusalResponse(err);
      throw err;
    }
  }

  // ---- healthcheck ----------------------------------------------------------------------------

  function register(): Promise<void> {
    if (!ports) return Promise.resolve();
    const attempt = registered ??= (async () => {
      for (const def of definitions) {
        const input = putWorkflowInput(def, namespace);
        const attempts = 3;
        try {
          await retryTransient(
            () => ports.admin.putWorkflow(input, { timeoutMs: CALL_TIMEOUT_MS }),
            { attempts, baseMs: 200, maxMs: 2_000, signal: halt.signal },
          );
        } catch (err) {
          throw missingRateLimitError(def, err, attempts) ?? err;
        }
      }
    })();
    // A failed registration is tried again on the next healthcheck.
    attempt.catch(() => {
      if (registered === attempt) registered = undefined;
    });
    return attempt;
  }

  async function healthcheck(): Promise<Response> {
    try {
      await register();
    } catch (err) {
      throw new Refusal(503, `Could not register the workflows: ${messageOf(err)}`);
    }
    return jsonResponse(200, { actions: [...actionIds] });
  }

  // ---- task runs -----------------------------------------------------------------------------

  function startLifespan(): Promise<L> {
    if (!options.lifespan) return Promise.resolve(undefined as L);
    const start = lifespanStart ??= (async () => {
      const gen = options.lifespan!();
      const first = await gen.next();
      if (first.done) {
        throw new TypeError("the lifespan generator returned without yielding a value");
      }
      lifespanGen = gen;
      return first.value;
    })();
    start.catch(() => {
      if (lifespanStart === start) lifespanStart = undefined;
    });
    return start;
  }

  function noEngine(what: string): Promise<never> {
    return Promise.reject(
      new Error(
        `Cannot ${what} in push mode without a client: pass createPushHandler({ client: createClient() })`,
      ),
    );
  }

  function taskRunPort(action: AssignedActionData, key: string): TaskRunPort {
    if (!ports || !logSender) {
      return {
        putLog: () => noEngine("send a log line"),
        putStream: () => noEngine("send a stream chunk"),
        refreshTimeout: () => noEngine("refresh the timeout"),
        releaseSlot: () => noEngine("release the slot"),
        cancel: () => noEngine("cancel the task run"),
      };
    }
    return engineTaskRunPort({
      ports,
      logSender,
      attemptKey: key,
      action,
      signal: halt.signal,
      warn: (message) => console.warn(`[hatchet] ${message}`),
      runs: options.client && runsRuntimeOf(options.client),
    });
  }

  async function trigger(body: Uint8Array, requestSignal: AbortSignal): Promise<Response> {
    let action: AssignedActionData;
    try {
      action = parseAction(JSON.parse(decoder.decode(body)));
    } catch (err) {
      throw new Refusal(400, `Malformed task request: ${messageOf(err)}`);
    }
    if (action.actionType !== "START_STEP_RUN") {
      throw new Refusal(
        400,
        `Unsupported action type ${action.actionType} for task run ${
          JSON.stringify(action.taskRunExternalId)
        }: a push handler runs START_STEP_RUN only`,
      );
    }
    const entry = actions.get(action.actionId.toLowerCase());
    if (!entry) {
      throw new Refusal(
        404,
        `No task for action id ${JSON.stringify(action.actionId)}: this handler runs ${
          actionIds.map((a) => JSON.stringify(a)).join(", ")
        }`,
      );
    }
    let data: TaskRunData;
    try {
      data = parseAssignment(action);
    } catch (err) {
      throw new Refusal(400, messageOf(err));
    }
    let lifespan: L;
    try {
      lifespan = await startLifespan();
    } catch (err) {
      throw new Refusal(503, `The lifespan failed to start: ${describeError(err)}`);
    }
    const run = runTask(action, entry, data, lifespan, requestSignal);
    running.add(run);
    try {
      return await run;
    } finally {
      running.delete(run);
    }
  }

  async function runTask(
    action: AssignedActionData,
    entry: ActionEntry,
    data: TaskRunData,
    lifespan: L,
    requestSignal: AbortSignal,
  ): Promise<Response> {
    const key = `${action.taskRunExternalId}/${action.retryCount}`;
    const controller = new AbortController();
    // The operator aborts its request when the engine cancels the run or the delivery times out.
    const onAbort = () => {
      if (!controller.signal.aborted) {
        controller.abort(new TaskCancelledError("engine", "the engine closed the request"));
      }
    };
    requestSignal.addEventListener("abort", onAbort, { once: true });
    try {
      if (requestSignal.aborted) onAbort();
      const port = taskRunPort(action, key);
      const ctx: Context<unknown, L> = createContext<unknown, L>(data, {
        port,
        workerId: "",
        lifespan,
        controller,
      });
      let response: Response;
      try {
        const value = await entry.task.fn(data.input, ctx);
        const out = serializeOutput(entry.task.name, value);
        response = out.ok
          ? new Response(out.payload === "" ? "{}" : out.payload, {
            status: 200,
            headers: { "content-type": "application/json; charset=utf-8" },
          })
          : failure(port, 500, out.message, true);
      } catch (err) {
        const nonRetryable = err instanceof NonRetryableError;
        response = failure(port, nonRetryable ? 422 : 500, describeError(err), !nonRetryable);
      }
      await logSender?.flush(key);
      return response;
    } finally {
      requestSignal.removeEventListener("abort", onAbort);
    }
  }

  function failure(port: TaskRunPort, status: number, text: string, retryable: boolean): Response {
    // The engine records the status code only; the log line is where the error text survives.
    if (ports) port.putLog(truncateLogLine(text), "ERROR").catch(() => {});
    return jsonResponse(status, { error: text, retryable });
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async function doClose(): Promise<void> {
    closed = true;
    while (running.size > 0) await Promise.allSettled([...running]);
    await logSender?.close();
    halt.abort();
    await registered?.catch(() => {});
    const gen = lifespanGen;
    lifespanGen = undefined;
    if (gen) {
      try {
        await gen.next();
        await gen.return(undefined);
      } catch (err) {
        console.error(
          `[hatchet] the push handler's lifespan cleanup failed: ${describeError(err)}`,
        );
      }
    }
  }

  const close = (): Promise<void> => closing ??= doClose();
  const handler = ((request: Request): Promise<Response> => handle(request)) as PushHandler;
  Object.defineProperties(handler, {
    actions: { value: actionIds, enumerable: true },
    close: { value: close },
    [Symbol.asyncDispose]: { value: close },
  });
  return handler;
}

// ---- protobuf JSON of AssignedAction ------------------------------------------------------------

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/**
 * Reads the protobuf JSON form of an `AssignedAction`. protojson writes the lowerCamelCase JSON
 * names and leaves out fields at their default (so `START_STEP_RUN`, the zero of the enum, never
 * appears, and a first attempt has no `retryCount`); parsers must also accept the original
 * snake_case names, integers as strings and enum numbers, so this does too.
 *
 * @param value The parsed request body.
 * @returns The assignment as the dispatcher port delivers it.
 * @throws {TypeError} When `value` is not an object, a field has the wrong type, or a required
 *   field (`taskRunExternalId`, `actionId`) is missing.
 */
export function parseAction(value: unknown): AssignedActionData {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`expected an AssignedAction JSON object, received ${kindOf(value)}`);
  }
  const obj = value as Record<string, unknown>;
  const raw = (name: string): unknown => {
    const v = obj[name] ?? obj[snake(name)];
    return v === null ? undefined : v;
  };
  const str = (name: string): string | undefined => {
    const v = raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      throw new TypeError(`"${name}" must be a string, received ${kindOf(v)}`);
    }
    return v;
  };
  const int = (name: string): number | undefined => {
    const v = raw(name);
    if (v === undefined) return undefined;
    const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) {
      throw new TypeError(`"${name}" must be an integer, received ${JSON.stringify(v)}`);
    }
    return n;
  };
  const required = (name: string): string => {
    const v = str(name);
    if (v === undefined || v === "") throw new TypeError(`"${name}" is missing`);
    return v;
  };
  const typeRaw = raw("actionType");
  let actionType: ActionKind;
  if (typeRaw === undefined) actionType = "START_STEP_RUN";
  else if (typeof typeRaw === "number" && ACTION_KINDS[typeRaw] !== undefined) {
    actionType = ACTION_KINDS[typeRaw];
  } else if (ACTION_KINDS.includes(typeRaw as ActionKind)) actionType = typeRaw as ActionKind;
  else {
    throw new TypeError(
      `"actionType" must be one of ${ACTION_KINDS.join(", ")}, received ${JSON.stringify(typeRaw)}`,
    );
  }
  return {
    tenantId: str("tenantId") ?? "",
    workflowRunId: str("workflowRunId") ?? "",
    jobId: str("jobId") ?? "",
    jobName: str("jobName") ?? "",
    jobRunId: str("jobRunId") ?? "",
    taskId: str("taskId") ?? "",
    taskRunExternalId: required("taskRunExternalId"),
    actionId: required("actionId"),
    actionType,
    actionPayload: str("actionPayload") ?? "",
    taskName: str("taskName") ?? "",
    retryCount: int("retryCount") ?? 0,
    additionalMetadata: str("additionalMetadata"),
    childWorkflowIndex: int("childWorkflowIndex"),
    childWorkflowKey: str("childWorkflowKey"),
    parentWorkflowRunId: str("parentWorkflowRunId"),
    priority: int("priority") ?? 0,
    workflowId: str("workflowId"),
    workflowVersionId: str("workflowVersionId"),
    durableTaskInvocationCount: int("durableTaskInvocationCount"),
    triggeringEventExternalId: str("triggeringEventExternalId"),
    triggeringEventKey: str("triggeringEventKey"),
  };
}
