import type { RpcCode } from "./ports.ts";

/**
 * An RPC to the engine failed. `code` is the gRPC status (as Connect names it, e.g.
 * `"unavailable"`, `"not_found"`), `method` the RPC path.
 *
 * @example
 * ```ts
 * import { RpcError } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 * const err = new RpcError("unavailable", "/Dispatcher/Heartbeat", "connection refused");
 * assert.equal(err.transient, true);
 * ```
 */
export class RpcError extends Error {
  /** The gRPC status code. */
  readonly code: RpcCode;
  /** The RPC path, e.g. `/Dispatcher/Register`. */
  readonly method: string;

  /**
   * Creates the error; the message reads `<method> failed with <code>: <detail>`.
   *
   * @param code The gRPC status code.
   * @param method The RPC path.
   * @param detail The server's or transport's message.
   * @param options The underlying error as `cause`.
   */
  constructor(code: RpcCode, method: string, detail: string, options?: ErrorOptions) {
    super(`${method} failed with ${code}: ${detail}`, options);
    this.name = "RpcError";
    this.code = code;
    this.method = method;
  }

  /** Whether retrying may succeed: `unavailable`, `internal`, `deadline_exceeded`, `unknown`, `aborted`, `resource_exhausted`. */
  get transient(): boolean {
    return isTransientCode(this.code);
  }
}

const TRANSIENT: ReadonlySet<RpcCode> = new Set<RpcCode>([
  "unavailable",
  "internal",
  "deadline_exceeded",
  "unknown",
  "aborted",
  "resource_exhausted",
]);

/** Whether a status code is worth retrying. */
export function isTransientCode(code: RpcCode): boolean {
  return TRANSIENT.has(code);
}

/** Whether an error is an `RpcError` worth retrying. */
export function isTransient(err: unknown): boolean {
  return err instanceof RpcError && err.transient;
}
