// The two ConnectErrors every room answers bad requests with. Owns no state.

import { Code, ConnectError } from "@connectrpc/connect";

/** An `INVALID_ARGUMENT` error. */
export function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** A `NOT_FOUND` error. */
export function notFound(message: string): ConnectError {
  return new ConnectError(message, Code.NotFound);
}
