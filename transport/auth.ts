// The bearer token every call to the engine carries.
import type { Interceptor } from "@connectrpc/connect";

/**
 * An interceptor that sends `authorization: bearer <token>` on every call.
 *
 * @param token The API token, or a function returning it (read on each call).
 * @returns The interceptor.
 * @example
 * ```ts
 * import { authInterceptor } from "./auth.ts";
 * import assert from "node:assert/strict";
 * const seen: string[] = [];
 * const call = authInterceptor("t0k")(async (req) => {
 *   seen.push(req.header.get("authorization") ?? "");
 *   return {} as never;
 * });
 * await call({ header: new Headers() } as never);
 * assert.deepEqual(seen, ["bearer t0k"]);
 * ```
 */
export function authInterceptor(token: string | (() => string)): Interceptor {
  const read = typeof token === "string" ? () => token : token;
  return (next) => async (req) => {
    req.header.set("authorization", `bearer ${read()}`);
    return await next(req);
  };
}
