// The mock engine's HTTP operator: a worker inside the engine that POSTs each assignment to an
// HTTP endpoint and reports the outcome itself, as pkg/operator/httpoperator does in Hatchet.
// It polls the endpoint's healthcheck for the actions it handles, signs every request body with
// `X-Hatchet-Signature` (hex HMAC-SHA256 under the shared secret), sends the AssignedAction as
// protobuf JSON, and turns the answer into COMPLETED (the 2xx body, `{}` when empty) or FAILED
// (any other status or a transport error, always retryable, with the engine's own message and
// without the body). Events go straight into the engine core, not through the RPC services,
// as the real operator writes them to the engine's internals: they are not in `rpcLog()`.

import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { parseDuration } from "../transport/duration.ts";
import {
  ActionType,
  type AssignedAction,
  AssignedActionSchema,
  StepActionEventSchema,
  StepActionEventType,
  WorkerRegisterRequestSchema,
} from "../transport/services.ts";
import type { DurationInput } from "../transport/types.ts";
import type { EngineTimer } from "./_clock.ts";
import type { EngineCore } from "./_engine.ts";

/**
 * Options of `MockEngine.addPushEndpoint`: where the endpoint is and how to reach it.
 *
 * @example
 * ```ts
 * import { createPushHandler, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type PushEndpointOptions } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "pushed" });
 * wf.task({ name: "t", fn: () => ({ ok: true }) });
 * await using engine = new MockEngine();
 * await using handler = createPushHandler({
 *   workflows: [wf],
 *   signingSecret: "s3cret",
 *   client: engine.client,
 * });
 * const options: PushEndpointOptions = {
 *   handler,
 *   signingSecret: "s3cret",
 *   name: "edge",
 *   slots: 10,
 * };
 * await using _endpoint = await engine.addPushEndpoint(options);
 * assert.ok(engine.workers().some((w) => w.name === "edge" && w.slotConfig.default === 10));
 * const run = await engine.client.runs.trigger(wf, {});
 * assert.deepEqual((await run.result()).outputs.t, { ok: true });
 * ```
 */
export interface PushEndpointOptions {
  /**
   * The base URL of a running server, e.g. `http://127.0.0.1:8000`; the two paths are resolved
   * against it and requested with `fetch`. Give either `url` or `handler`.
   */
  url?: string;
  /** A request handler called in memory, e.g. the one `createPushHandler` returns. */
  handler?: (request: Request) => Response | Promise<Response>;
  /** The secret the operator signs each request body with. */
  signingSecret: string;
  /** The routes; default `"/hatchet/trigger"` and `"/hatchet/healthcheck"`. */
  paths?: { trigger?: string; healthcheck?: string };
  /** How long one delivery may take, on the engine clock; default `"60s"` (the engine's). */
  requestTimeout?: DurationInput;
  /** Interval between healthcheck polls, on the engine clock; default `"5s"` (the engine's). */
  healthcheckInterval?: DurationInput;
  /** Slots of the operator's worker; default 100 (the engine's). */
  slots?: number;
  /** The operator worker's name; default `"http-operator"`. */
  name?: string;
}

/**
 * One task request the operator sent, as `PushEndpoint.deliveries()` reports it.
 *
 * @example
 * ```ts
 * import { createPushHandler, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type PushDelivery } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "delivered" });
 * wf.task({ name: "t", fn: () => ({ n: 1 }) });
 * await using engine = new MockEngine();
 * await using handler = createPushHandler({
 *   workflows: [wf],
 *   signingSecret: "s3cret",
 *   client: engine.client,
 * });
 * await using endpoint = await engine.addPushEndpoint({ handler, signingSecret: "s3cret" });
 * await (await engine.client.runs.trigger(wf, {})).result();
 * const [delivery]: PushDelivery[] = endpoint.deliveries();
 * assert.deepEqual(
 *   [
 *     delivery.taskName,
 *     delivery.retryCount,
 *     delivery.status,
 *     JSON.parse(delivery.body),
 *     delivery.error,
 *   ],
 *   ["t", 0, 200, { n: 1 }, undefined],
 * );
 * ```
 */
export interface PushDelivery {
  /** The task run. */
  taskRunId: string;
  /** The task's name. */
  taskName: string;
  /** The attempt, 0-based. */
  retryCount: number;
  /** The response status; absent when no response came. */
  status?: number;
  /** The response body (empty when none came). */
  body: string;
  /** The error the engine recorded for a failed delivery; absent when it completed. */
  error?: string;
  /** True when the delivery was abandoned because the engine cancelled the task run. */
  cancelled?: boolean;
}

/**
 * An HTTP push endpoint of a `MockEngine`. Remove it, or close the engine, when done.
 *
 * @example
 * ```ts
 * import { createPushHandler, workflow } from "@hatchet-deno/sdk";
 * import { MockEngine, type PushEndpoint } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const wf = workflow({ name: "served" });
 * wf.task({ name: "t", fn: () => ({}) });
 * await using engine = new MockEngine();
 * await using handler = createPushHandler({
 *   workflows: [wf],
 *   signingSecret: "s3cret",
 *   client: engine.client,
 * });
 * const endpoint: PushEndpoint = await engine.addPushEndpoint({
 *   handler,
 *   signingSecret: "s3cret",
 * });
 * assert.deepEqual(endpoint.actions, ["served:t"]);
 * assert.deepEqual(await endpoint.healthcheck(), ["served:t"]);
 * assert.ok(engine.workers().some((w) => w.id === endpoint.workerId));
 * await endpoint.remove();
 * ```
 */
export interface PushEndpoint extends AsyncDisposable {
  /** The engine id of the operator's worker. */
  readonly workerId: string;
  /** The actions the last successful healthcheck advertised. */
  readonly actions: readonly string[];
  /**
   * The task requests sent so far, in the order they finished.
   *
   * @returns Copies of the records.
   */
  deliveries(): PushDelivery[];
  /**
   * Polls the healthcheck now (besides the periodic polls) and updates the routed actions.
   *
   * @returns The advertised actions.
   * @throws {Error} When the endpoint cannot be reached, answers a non-2xx status, or answers
   *   something other than `{"actions": [...]}`.
   */
  healthcheck(): Promise<string[]>;
  /**
   * Stops polling and taking tasks, waits for deliveries in flight, and takes the operator's
   * worker out of scheduling. Idempotent.
   */
  remove(): Promise<void>;
}

/** The engine-side handle: the public endpoint plus the hard stop `MockEngine.close` uses. */
export interface PushEndpointControl {
  readonly endpoint: PushEndpoint;
  /** Aborts deliveries in flight instead of waiting for them, then removes the endpoint. */
  abort(): Promise<void>;
}

const SIGNATURE_HEADER = "X-Hatchet-Signature";
const DEFAULT_TRIGGER = "/hatchet/trigger";
const DEFAULT_HEALTHCHECK = "/hatchet/healthcheck";
const IN_MEMORY_BASE = "http://push-endpoint.invalid";
const HEALTHCHECK_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const encoder = new TextEncoder();

class DeliveryStop extends Error {
  constructor(readonly kind: "cancelled" | "timeout" | "removed") {
    super(kind === "timeout" ? "context deadline exceeded" : `delivery ${kind}`);
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function durationMs(value: DurationInput | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new RangeError(`addPushEndpoint(): ${what}: ${(err as Error).message}`);
  }
  if (ms <= 0) {
    throw new RangeError(
      `addPushEndpoint(): ${what} must be positive, received ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

/**
 * Starts an HTTP operator on `core`: registers its worker, polls the healthcheck once (so the
 * endpoint is routed when this resolves) and then every `healthcheckInterval` on the engine
 * clock, and delivers the assignments routed to it.
 *
 * @param core The engine.
 * @param options Where the endpoint is and how to reach it.
 * @param onRemoved Called with the handle once the endpoint is removed.
 * @returns The engine-side handle.
 * @throws {TypeError} When neither or both of `url` and `handler` are given, or the secret is
 *   empty.
 * @throws {RangeError} When a duration or the slot count is invalid.
 * @throws {Error} When the first healthcheck fails.
 */
export async function createPushEndpoint(
  core: EngineCore,
  options: PushEndpointOptions,
  onRemoved: (control: PushEndpointControl) => void,
): Promise<PushEndpointControl> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`addPushEndpoint() expects an options object, received ${options}`);
  }
  if ((options.url === undefined) === (options.handler === undefined)) {
    throw new TypeError("addPushEndpoint(): give exactly one of url and handler");
  }
  if (options.handler !== undefined && typeof options.handler !== "function") {
    throw new TypeError(
      `addPushEndpoint(): handler must be a function, received ${typeof options.handler}`,
    );
  }
  if (typeof options.signingSecret !== "string" || options.signingSecret === "") {
    throw new TypeError(
      `addPushEndpoint(): signingSecret must be a non-empty string, received ${
        JSON.stringify(options.signingSecret) ?? String(options.signingSecret)
      }`,
    );
  }
  const slots = options.slots ?? 100;
  if (!Number.isInteger(slots) || slots <= 0) {
    throw new RangeError(`addPushEndpoint(): slots must be a positive integer, received ${slots}`);
  }
  const timeoutMs = durationMs(options.requestTimeout, 60_000, "requestTimeout");
  const intervalMs = durationMs(options.healthcheckInterval, 5_000, "healthcheckInterval");
  let base: URL;
  try {
    base = new URL(options.url ?? IN_MEMORY_BASE);
  } catch {
    throw new TypeError(`addPushEndpoint(): url must be an absolute URL, received ${options.url}`);
  }
  const triggerUrl = new URL(options.paths?.trigger ?? DEFAULT_TRIGGER, base).href;
  const healthUrl = new URL(options.paths?.healthcheck ?? DEFAULT_HEALTHCHECK, base).href;
  const name = options.name ?? "http-operator";
  const handler = options.handler;
  const httpClient = handler === undefined ? Deno.createHttpClient({}) : undefined;

  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(options.signingSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sign = async (body: string): Promise<string> =>
    hex(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body))));

  const { workerId } = core.register(
    create(WorkerRegisterRequestSchema, {
      workerName: name,
      actions: [],
      services: ["default"],
      slotConfig: { default: slots },
    }),
  );

  let actions: string[] = [];
  const records: PushDelivery[] = [];
  const inFlight = new Map<string, AbortController>();
  const pending = new Set<Promise<void>>();
  const stop = new AbortController();
  let pollTimer: EngineTimer | undefined;
  let removing: Promise<void> | undefined;

  function track(p: Promise<void>): void {
    pending.add(p);
    p.finally(() => pending.delete(p));
  }

  async function post(url: string, body: string, signal: AbortSignal): Promise<Response> {
    const init: RequestInit = {
      method: "POST",
      body,
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: await sign(body) },
      signal,
    };
    if (handler) {
      const request = new Request(url, init);
      return await raceAbort(Promise.resolve().then(() => handler(request)), signal);
    }
    return await fetch(url, { ...init, client: httpClient });
  }

  // ---- healthcheck ----------------------------------------------------------------------------

  async function healthcheck(): Promise<string[]> {
    // Counted as an RPC in flight, so settle() and advance() wait for the answer.
    core.inFlight++;
    core.activity++;
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error("context deadline exceeded")),
      HEALTHCHECK_TIMEOUT_MS,
    );
    const onStop = () => controller.abort(new Error("the push endpoint was removed"));
    stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      let response: Response;
      let text: string;
      try {
        response = await post(healthUrl, "{}", controller.signal);
        text = await raceAbort(response.text(), controller.signal);
      } catch (err) {
        throw new Error(
          `could not reach healthcheck endpoint "${healthUrl}": ${(err as Error).message}`,
        );
      }
      if (response.status < 200 || response.status >= 300) {
        throw new Error(
          `healthcheck endpoint "${healthUrl}" returned status ${response.status}: ${
            text.slice(0, 300)
          }`,
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new Error(`could not parse healthcheck response: ${(err as Error).message}`);
      }
      const list = (parsed as { actions?: unknown } | null)?.actions;
      if (!Array.isArray(list) || list.some((a) => typeof a !== "string")) {
        throw new Error(
          `could not parse healthcheck response: expected {"actions": [...strings]}, received ${
            text.slice(0, 300)
          }`,
        );
      }
      const next = [...list] as string[];
      const same = JSON.stringify([...next].sort()) === JSON.stringify([...actions].sort());
      if (!same && !core.closed && !stop.signal.aborted) {
        core.setWorkerActions(workerId, next);
        actions = next;
      }
      return [...next];
    } finally {
      clearTimeout(timer);
      stop.signal.removeEventListener("abort", onStop);
      core.inFlight--;
      core.activity++;
    }
  }

  function schedulePoll(): void {
    if (stop.signal.aborted || core.closed) return;
    pollTimer = core.clock.at(core.clock.now() + intervalMs, () => {
      pollTimer = undefined;
      track(
        healthcheck().then(
          () => {},
          (err) => core.note(`push endpoint ${name}: ${(err as Error).message}`),
        ).finally(schedulePoll),
      );
    });
  }

  // ---- deliveries -----------------------------------------------------------------------------

  function report(
    action: AssignedAction,
    eventType: StepActionEventType,
    payload: string,
  ): void {
    if (core.closed) return;
    try {
      core.sendStepActionEvent(create(StepActionEventSchema, {
        workerId,
        jobId: action.jobId,
        jobRunId: action.jobRunId,
        taskId: action.taskId,
        taskRunExternalId: action.taskRunExternalId,
        actionId: action.actionId,
        eventTimestamp: timestampFromMs(core.clock.now()),
        eventType,
        eventPayload: payload,
        retryCount: action.retryCount,
        shouldNotRetry: false,
      }));
    } catch (err) {
      core.note(
        `push endpoint ${name}: could not report ${
          StepActionEventType[eventType]
        } for task ${action.taskRunExternalId}: ${(err as Error).message}`,
      );
    }
  }

  async function deliver(action: AssignedAction): Promise<void> {
    const attempt = `${action.taskRunExternalId}/${action.retryCount}`;
    const controller = new AbortController();
    inFlight.set(attempt, controller);
    const record: PushDelivery = {
      taskRunId: action.taskRunExternalId,
      taskName: action.taskName,
      retryCount: action.retryCount,
      body: "",
    };
    // STARTED goes out before the request, so the run shows as running while the endpoint works.
    report(action, StepActionEventType.STEP_EVENT_TYPE_STARTED, "");
    core.awaitAck(action.taskRunExternalId);
    const timer = core.clock.at(
      core.clock.now() + timeoutMs,
      () => controller.abort(new DeliveryStop("timeout")),
    );
    let error: string | undefined;
    try {
      const response = await post(
        triggerUrl,
        toJsonString(AssignedActionSchema, action),
        controller.signal,
      );
      record.status = response.status;
      record.body = await raceAbort(response.text(), controller.signal);
      if (response.status < 200 || response.status >= 300) {
        error = `request delivery to "${triggerUrl}" returned status ${response.status}`;
      } else if (encoder.encode(record.body).byteLength > MAX_RESPONSE_BYTES) {
        error =
          `could not deliver request to "${triggerUrl}": response body exceeds ${MAX_RESPONSE_BYTES} bytes`;
      }
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      if (reason instanceof DeliveryStop && reason.kind !== "timeout") {
        // The engine already recorded the cancellation; a report now would contradict it.
        record.cancelled = true;
        records.push(record);
        return;
      }
      error = `could not deliver request to "${triggerUrl}": ${(reason as Error).message}`;
    } finally {
      core.clock.cancel(timer);
      inFlight.delete(attempt);
    }
    if (error !== undefined) {
      record.error = error;
      records.push(record);
      report(action, StepActionEventType.STEP_EVENT_TYPE_FAILED, error);
      return;
    }
    records.push(record);
    report(action, StepActionEventType.STEP_EVENT_TYPE_COMPLETED, record.body || "{}");
  }

  function onAction(action: AssignedAction): void {
    switch (action.actionType) {
      case ActionType.START_STEP_RUN:
        track(deliver(action));
        return;
      case ActionType.CANCEL_STEP_RUN:
        inFlight.get(`${action.taskRunExternalId}/${action.retryCount}`)?.abort(
          new DeliveryStop("cancelled"),
        );
        return;
      default:
        core.note(
          `push endpoint ${name}: skipped unsupported action ${
            ActionType[action.actionType]
          } for task ${action.taskRunExternalId}`,
        );
    }
  }

  async function listen(): Promise<void> {
    // A dropped stream (engine restart) is opened again, as the operator keeps its worker.
    while (!stop.signal.aborted && !core.closed) {
      const stream = core.openListen(workerId, "v1");
      try {
        for await (const action of stream.queue.drain(stop.signal)) onAction(action);
      } catch {
        // The stream was dropped; open it again.
      } finally {
        core.closeListen(workerId, stream);
      }
    }
  }

  // ---- removal --------------------------------------------------------------------------------

  function remove(abort: boolean): Promise<void> {
    removing ??= (async () => {
      stop.abort();
      core.clock.cancel(pollTimer);
      if (abort) { for (const c of inFlight.values()) c.abort(new DeliveryStop("removed")); }
      await listening;
      while (pending.size > 0) await Promise.allSettled([...pending]);
      if (!core.closed) {
        try {
          core.unsubscribe(workerId);
        } catch {
          // The worker is gone already.
        }
      }
      httpClient?.close();
      onRemoved(control);
    })();
    return removing;
  }

  const endpoint: PushEndpoint = {
    workerId,
    get actions() {
      return [...actions];
    },
    deliveries: () => records.map((r) => ({ ...r })),
    healthcheck,
    remove: () => remove(false),
    [Symbol.asyncDispose]: () => remove(false),
  };
  const control: PushEndpointControl = { endpoint, abort: () => remove(true) };

  const listening = listen();
  try {
    await healthcheck();
  } catch (err) {
    await remove(true);
    throw new Error(`Cannot add the push endpoint: ${(err as Error).message}`, { cause: err });
  }
  schedulePoll();
  return control;
}
