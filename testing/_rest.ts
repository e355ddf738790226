// The mock engine's REST API: the few endpoints of Hatchet's OpenAPI contract that official SDKs
// call in ordinary use (cancel and replay tasks, read a run and its status, schedule a run, pause
// a worker), served as HTTP/1.1 JSON on 127.0.0.1 beside the gRPC listener. Every other path is
// answered 501 with an `APIErrors` body naming it. Owns no engine state: it reads and changes
// the engine through `RestBackend`, and shapes the engine's answers as the contract's JSON.

import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject, JsonValue } from "../transport/types.ts";

/** The status of a task or a run, as the REST contract spells it (`V1TaskStatus`). */
export type RestStatus = "QUEUED" | "RUNNING" | "COMPLETED" | "CANCELLED" | "FAILED";

/** One task run of a run, as the engine reports it to REST. */
export interface RestTaskView {
  id: string;
  /** A small integer id, unique in the engine (`taskId`). */
  seq: number;
  stepId: string;
  name: string;
  actionId: string;
  status: RestStatus;
  retryCount: number;
  isDurable: boolean;
  input: JsonObject;
  output: JsonValue | undefined;
  error: string | undefined;
  createdAt: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
}

/** One step of the run's DAG, created or not (`WorkflowRunShapeItemForWorkflowRunDetails`). */
export interface RestShapeItem {
  taskExternalId: string;
  stepId: string;
  childrenStepIds: string[];
  taskName: string;
}

/** A workflow run, as the engine reports it to REST. */
export interface RestRunView {
  id: string;
  workflowId: string;
  workflowVersionId: string;
  workflowName: string;
  isDag: boolean;
  status: RestStatus;
  input: JsonObject;
  additionalMetadata: JsonObject;
  output: JsonObject;
  error: string | undefined;
  createdAt: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  parentTaskExternalId: string | undefined;
  /** The task runs the engine created (tasks still waiting for parents are not listed). */
  tasks: RestTaskView[];
  shape: RestShapeItem[];
}

/** A scheduled run, as the engine reports it to REST. */
export interface RestScheduleView {
  id: string;
  workflowId: string;
  workflowVersionId: string;
  workflowName: string;
  triggerAt: number;
  input: JsonObject;
  additionalMetadata: JsonObject;
  priority: number | undefined;
  createdAt: number;
}

/** A worker, as the engine reports it to REST. */
export interface RestWorkerView {
  id: string;
  name: string;
  actions: string[];
  paused: boolean;
  active: boolean;
  createdAt: number;
  lastHeartbeatAt: number | undefined;
}

/** What a cancel or replay request names: external ids, or a filter (`V1TaskFilter`). */
export type RestTaskTarget =
  | { externalIds: string[] }
  | {
    filter: {
      since: number;
      until: number | undefined;
      statuses: string[];
      workflowIds: string[];
      /** `key:value` pairs. */
      additionalMetadata: string[];
    };
  };

/** A REST call that cannot be served, with the status and message to answer. */
export class RestError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /**
   * @param status The HTTP status to answer.
   * @param message The `description` of the single `APIError`.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "RestError";
    this.status = status;
  }
}

/** What the REST API needs of the engine. Throwing a {@link RestError} answers its status. */
export interface RestBackend {
  readonly tenantId: string;
  /** Whether `token` is one the engine issued. */
  acceptsToken(token: string): boolean;
  /** Engine time in epoch ms. */
  now(): number;
  run(id: string): RestRunView | undefined;
  /** Cancels runs or task runs by external id or filter; returns the task run ids cancelled. */
  cancel(target: RestTaskTarget): string[];
  /** Replays runs or task runs by external id or filter; returns the task run ids replayed. */
  replay(target: RestTaskTarget): string[];
  schedule(workflowName: string, request: {
    input: JsonObject;
    additionalMetadata: JsonObject;
    triggerAt: number;
    priority: number | undefined;
  }): RestScheduleView;
  setWorkerPaused(workerId: string, paused: boolean): RestWorkerView;
  /** Records a served call in the engine's RPC log; `status` is the HTTP status answered. */
  record(method: string, summary: Record<string, string>, status: number): void;
}

/** A running REST server. */
export interface RunningRest {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  close(): Promise<void>;
}

const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const SEGMENT = "[^/]+";

interface RestRoute {
  method: string;
  /** The contract's path template, for the log and error messages. */
  template: string;
  pattern: RegExp;
  handle(params: string[], body: unknown, backend: RestBackend): unknown;
}

function route(
  method: string,
  template: string,
  handle: RestRoute["handle"],
): RestRoute {
  const source = template.replace(/\{[^}]+\}/g, () => `(${SEGMENT})`);
  return { method, template, pattern: new RegExp(`^${source}$`), handle };
}

function requireUuid(value: string, what: string): string {
  if (!new RegExp(`^${UUID}$`).test(value)) {
    throw new RestError(400, `Invalid ${what}: expected a UUID, received ${JSON.stringify(value)}`);
  }
  return value.toLowerCase();
}

function requireTenant(value: string, backend: RestBackend): void {
  requireUuid(value, "tenant");
  if (value.toLowerCase() !== backend.tenantId) {
    throw new RestError(403, `Forbidden: tenant ${value} is not this engine's tenant`);
  }
}

function object(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new RestError(400, `Invalid request body: expected a JSON object for ${what}`);
  }
  return body as Record<string, unknown>;
}

function jsonObject(value: unknown, field: string): JsonObject {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new RestError(400, `Invalid ${field}: expected a JSON object`);
  }
  return value as JsonObject;
}

function strings(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new RestError(400, `Invalid ${field}: expected an array of strings`);
  }
  return value;
}

function dateTime(value: unknown, field: string): number {
  const ms = typeof value === "string" ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw new RestError(
      400,
      `Invalid ${field}: expected a date-time string, received ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

/** The `externalIds` or the `filter` of a cancel or replay request (`V1CancelTaskRequest`). */
function taskTarget(body: unknown, what: string): RestTaskTarget {
  const request = object(body, what);
  const ids = request.externalIds;
  if (ids !== undefined && ids !== null) {
    if (request.filter !== undefined && request.filter !== null) {
      throw new RestError(400, `Invalid request: ${what} takes externalIds or a filter, not both`);
    }
    return {
      externalIds: strings(ids, "externalIds").map((id) => requireUuid(id, "external id")),
    };
  }
  if (request.filter === undefined || request.filter === null) {
    throw new RestError(400, `Invalid request: ${what} needs externalIds or a filter`);
  }
  const filter = object(request.filter, `the ${what} filter`);
  return {
    filter: {
      since: dateTime(filter.since, "filter.since"),
      until: filter.until === undefined || filter.until === null
        ? undefined
        : dateTime(filter.until, "filter.until"),
      statuses: strings(filter.statuses, "filter.statuses"),
      workflowIds: strings(filter.workflowIds, "filter.workflowIds"),
      additionalMetadata: strings(filter.additionalMetadata, "filter.additionalMetadata"),
    },
  };
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function meta(id: string, createdAt: number, updatedAt: number): JsonObject {
  return { id, createdAt: iso(createdAt)!, updatedAt: iso(updatedAt)! };
}

/** Drops `undefined` fields, which JSON would drop anyway; keeps the shapes readable here. */
function compact(fields: Record<string, unknown>): JsonObject {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out as JsonObject;
}

function duration(start: number | undefined, end: number | undefined): number | undefined {
  return start === undefined || end === undefined ? undefined : end - start;
}

function taskSummary(run: RestRunView, task: RestTaskView, tenantId: string): JsonObject {
  return compact({
    metadata: meta(task.id, task.createdAt, task.finishedAt ?? task.startedAt ?? task.createdAt),
    actionId: task.actionId,
    retryCount: task.retryCount,
    attempt: task.retryCount + 1,
    additionalMetadata: run.additionalMetadata,
    children: [],
    createdAt: iso(task.createdAt),
    displayName: task.name,
    duration: duration(task.startedAt, task.finishedAt),
    isDurable: task.isDurable,
    errorMessage: task.error,
    finishedAt: iso(task.finishedAt),
    input: task.input,
    numSpawnedChildren: 0,
    output: task.output === undefined || task.output === null ? {} : task.output,
    status: task.status,
    startedAt: iso(task.startedAt),
    stepId: task.stepId,
    taskExternalId: task.id,
    taskId: task.seq,
    taskInsertedAt: iso(task.createdAt),
    tenantId,
    type: run.isDag ? "DAG" : "TASK",
    workflowId: run.workflowId,
    workflowName: run.workflowName,
    workflowRunExternalId: run.id,
    workflowVersionId: run.workflowVersionId,
  });
}

function workflowRun(run: RestRunView, tenantId: string): JsonObject {
  return compact({
    metadata: meta(run.id, run.createdAt, run.finishedAt ?? run.startedAt ?? run.createdAt),
    status: run.status,
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    duration: duration(run.startedAt, run.finishedAt),
    tenantId,
    additionalMetadata: run.additionalMetadata,
    displayName: run.workflowName,
    workflowId: run.workflowId,
    output: run.output,
    errorMessage: run.error,
    workflowVersionId: run.workflowVersionId,
    input: run.input,
    createdAt: iso(run.createdAt),
    parentTaskExternalId: run.parentTaskExternalId,
  });
}

function findRun(id: string, backend: RestBackend): RestRunView {
  const run = backend.run(requireUuid(id, "workflow run id"));
  if (run === undefined) throw new RestError(404, `Workflow run not found: ${id}`);
  return run;
}

const ROUTES: RestRoute[] = [
  route("POST", "/api/v1/stable/tenants/{tenant}/tasks/cancel", ([tenant], body, backend) => {
    requireTenant(tenant, backend);
    return { ids: backend.cancel(taskTarget(body, "cancel")) };
  }),
  route("POST", "/api/v1/stable/tenants/{tenant}/tasks/replay", ([tenant], body, backend) => {
    requireTenant(tenant, backend);
    return { ids: backend.replay(taskTarget(body, "replay")) };
  }),
  route("GET", "/api/v1/stable/workflow-runs/{v1-workflow-run}", ([id], _body, backend) => {
    const run = findRun(id, backend);
    return {
      run: workflowRun(run, backend.tenantId),
      taskEvents: [],
      shape: run.shape,
      tasks: run.tasks.map((t) => taskSummary(run, t, backend.tenantId)),
    };
  }),
  route("GET", "/api/v1/stable/workflow-runs/{v1-workflow-run}/status", ([id], _b, backend) => {
    return findRun(id, backend).status;
  }),
  route(
    "POST",
    "/api/v1/tenants/{tenant}/workflows/{workflow}/scheduled",
    ([tenant, workflow], body, backend) => {
      requireTenant(tenant, backend);
      const request = object(body, "a scheduled run");
      const triggerAt = typeof request.triggerAt === "string" ? Date.parse(request.triggerAt) : NaN;
      if (Number.isNaN(triggerAt)) {
        throw new RestError(
          400,
          `Invalid triggerAt: expected a date-time string, received ${
            JSON.stringify(request.triggerAt)
          }`,
        );
      }
      const priority = request.priority;
      if (
        priority !== undefined && priority !== null &&
        !(Number.isInteger(priority) && (priority as number) >= 1 && (priority as number) <= 3)
      ) {
        throw new RestError(
          400,
          `Invalid priority: expected 1, 2 or 3, received ${JSON.stringify(priority)}`,
        );
      }
      const scheduled = backend.schedule(decodeURIComponent(workflow), {
        input: jsonObject(request.input, "input"),
        additionalMetadata: jsonObject(request.additionalMetadata, "additionalMetadata"),
        triggerAt,
        priority: typeof priority === "number" ? priority : undefined,
      });
      return compact({
        metadata: meta(scheduled.id, scheduled.createdAt, scheduled.createdAt),
        tenantId: backend.tenantId,
        workflowVersionId: scheduled.workflowVersionId,
        workflowId: scheduled.workflowId,
        workflowName: scheduled.workflowName,
        triggerAt: iso(scheduled.triggerAt),
        input: scheduled.input,
        additionalMetadata: scheduled.additionalMetadata,
        method: "API",
        priority: scheduled.priority,
      });
    },
  ),
  route("PATCH", "/api/v1/workers/{worker}", ([id], body, backend) => {
    const request = object(body, "a worker update");
    if (request.isPaused !== undefined && typeof request.isPaused !== "boolean") {
      throw new RestError(
        400,
        `Invalid isPaused: expected a boolean, received ${JSON.stringify(request.isPaused)}`,
      );
    }
    const worker = backend.setWorkerPaused(
      requireUuid(id, "worker id"),
      request.isPaused === true,
    );
    return compact({
      metadata: meta(worker.id, worker.createdAt, backend.now()),
      name: worker.name,
      type: "SELFHOSTED",
      lastHeartbeatAt: iso(worker.lastHeartbeatAt),
      actions: worker.actions,
      status: worker.paused ? "PAUSED" : worker.active ? "ACTIVE" : "INACTIVE",
    });
  }),
];

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function errors(status: number, description: string): Response {
  return Response.json({ errors: [{ description }] }, { status });
}

/** Answers one REST request. Exported for tests of the routing alone. */
export async function handleRest(request: Request, backend: RestBackend): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  const matched = ROUTES.filter((r) => r.method === request.method)
    .map((r) => ({ r, m: r.pattern.exec(path) }))
    .find(({ m }) => m !== null);
  const template = matched?.r.template ?? path;
  const logName = `${request.method} ${template}`;
  const answer = (response: Response, summary: Record<string, string> = {}) => {
    backend.record(logName, summary, response.status);
    return response;
  };
  if (matched === undefined) {
    await request.body?.cancel();
    return answer(
      errors(501, `Not implemented by the mock engine: ${request.method} ${path}`),
    );
  }
  const header = request.headers.get("authorization") ?? "";
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(header);
  const cookie = /(?:^|;\s*)hatchet[^=]*=([^;]+)/i.exec(request.headers.get("cookie") ?? "");
  const token = bearer?.[1] ?? cookie?.[1];
  if (token === undefined || !backend.acceptsToken(token)) {
    await request.body?.cancel();
    return answer(errors(401, "Unauthorized: invalid or missing API token"));
  }
  const params = matched.m!.slice(1).map((p) => decodeURIComponent(p));
  const summary: Record<string, string> = {};
  matched.r.template.match(/\{[^}]+\}/g)?.forEach((name, i) => {
    summary[name.slice(1, -1)] = params[i];
  });
  let body: unknown = undefined;
  if (request.method !== "GET") {
    const text = await request.text();
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        return answer(errors(400, "Invalid request body: not JSON"), summary);
      }
    }
  }
  try {
    return answer(Response.json(matched.r.handle(params, body, backend)), summary);
  } catch (err) {
    if (err instanceof RestError) return answer(errors(err.status, err.message), summary);
    // The engine's rooms throw gRPC statuses; the ones they use map onto HTTP.
    if (err instanceof ConnectError) {
      const status = err.code === Code.NotFound
        ? 404
        : err.code === Code.InvalidArgument
        ? 400
        : err.code === Code.Unimplemented
        ? 501
        : 500;
      return answer(errors(status, capitalize(err.rawMessage)), summary);
    }
    return answer(errors(500, (err as Error)?.message ?? String(err)), summary);
  }
}

/** Starts the REST server on 127.0.0.1 (`port` 0 picks a free one). */
export async function startRest(backend: RestBackend, port: number): Promise<RunningRest> {
  const ready = Promise.withResolvers<Deno.NetAddr>();
  const abort = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      signal: abort.signal,
      onListen: (addr) => ready.resolve(addr),
      onError: (err) => errors(500, (err as Error)?.message ?? String(err)),
    }, (request) => handleRest(request, backend));
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new Error(`127.0.0.1:${port} is already in use`);
    }
    throw err;
  }
  const addr = await ready.promise;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close() {
      closing ??= (async () => {
        abort.abort();
        await server.finished;
      })();
      return closing;
    },
  };
}
