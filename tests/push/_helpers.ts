// Test helpers for push mode: signing written independently of the handler (so a test checks
// the handler against the engine's rule, not against itself) and request builders.

const encoder = new TextEncoder();

/** The hex HMAC-SHA256 of `body` under `secret`, as the engine's HTTP operator signs requests. */
export async function sign(body: string | Uint8Array, secret: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes as BufferSource));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Options of {@link pushRequest}. */
export interface PushRequestOptions {
  /** Sign with this secret (default `SECRET`); `null` sends no signature header. */
  secret?: string | null;
  /** Send this signature instead of computing one. */
  signature?: string;
  /** HTTP method; default POST. */
  method?: string;
  /** Abort signal of the request. */
  signal?: AbortSignal;
}

/** The secret the tests share with their handlers. */
export const SECRET = "test-signing-secret";

/** A request to a handler's `path`, signed like the engine signs. */
export async function pushRequest(
  path: string,
  body: string,
  options: PushRequestOptions = {},
): Promise<Request> {
  const headers = new Headers({ "content-type": "application/json" });
  const secret = options.secret === undefined ? SECRET : options.secret;
  if (options.signature !== undefined) headers.set("X-Hatchet-Signature", options.signature);
  else if (secret !== null) headers.set("X-Hatchet-Signature", await sign(body, secret));
  const method = options.method ?? "POST";
  return new Request(`http://push.test${path}`, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : body,
    signal: options.signal,
  });
}

/** Fields of an `AssignedAction` in protobuf JSON, with defaults for a first attempt. */
export function actionJson(fields: Record<string, unknown>): string {
  return JSON.stringify({
    tenantId: "7a1f8c7e-0000-4000-8000-000000000001",
    workflowRunId: "7a1f8c7e-0000-4000-8000-000000000002",
    jobId: "7a1f8c7e-0000-4000-8000-000000000003",
    jobName: "greet",
    jobRunId: "7a1f8c7e-0000-4000-8000-000000000004",
    taskId: "7a1f8c7e-0000-4000-8000-000000000003",
    taskRunExternalId: "7a1f8c7e-0000-4000-8000-000000000004",
    actionId: "hello:greet",
    actionPayload: JSON.stringify({ input: { name: "Ada" }, parents: {} }),
    taskName: "greet",
    priority: 1,
    ...fields,
  });
}

/** A promise with its resolve function. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => resolve = res);
  return { promise, resolve };
}
