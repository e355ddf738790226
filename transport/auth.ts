// The bearer token every call to the engine carries, and the interceptor chain of the
// transports that run calls themselves.
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

/** What an interceptor wraps: one call, unary or streaming. */
export type CallFn = Parameters<Interceptor>[0];

/**
 * Wraps `call` in `interceptors` as Connect does: the first one is the outermost.
 *
 * @param interceptors The interceptors, outermost first.
 * @param call The call they wrap.
 * @returns The wrapped call.
 * @example
 * ```ts
 * import { authInterceptor, intercepted } from "./auth.ts";
 * import assert from "node:assert/strict";
 * const call = intercepted([authInterceptor("t0k")], (req) => {
 *   assert.equal(req.header.get("authorization"), "bearer t0k");
 *   return Promise.resolve({} as never);
 * });
 * await call({ header: new Headers() } as never);
 * ```
 */
export function intercepted(interceptors: Interceptor[], call: CallFn): CallFn {
  let next = call;
  for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i](next);
  return next;
}
