// The ConnectErrors rooms answer bad requests with. Owns no state.

import { Code, ConnectError } from "@connectrpc/connect";

/** An `INVALID_ARGUMENT` error. */
export function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** A `NOT_FOUND` error. */
export function notFound(message: string): ConnectError {
  return new ConnectError(message, Code.NotFound);
}

/** The `INTERNAL` error the engine answers when its database refuses a write. */
export function internal(): ConnectError {
  return new ConnectError("An internal error occurred.", Code.Internal);
}
