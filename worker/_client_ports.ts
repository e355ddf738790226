// Which engine ports stand behind which client. Kept apart from client.ts so that code which
// only needs the lookup (the push handler) does not load the gRPC transports.

import type { EnginePorts } from "../transport/ports.ts";

const portsByClient = new WeakMap<object, EnginePorts>();

/** Records the ports a client built by `createClientFromTransport` talks through. */
export function registerEnginePorts(client: object, ports: EnginePorts): void {
  portsByClient.set(client, ports);
}

/**
 * The engine ports behind a client, for the worker. Not part of the public API.
 *
 * @throws {TypeError} When `client` was not made by `createClient` or `MockEngine`.
 */
export function enginePortsOf(client: object): EnginePorts {
  const ports = portsByClient.get(client);
  if (!ports) {
    throw new TypeError(
      "Expected a HatchetClient from createClient() or MockEngine.client, received another object",
    );
  }
  return ports;
}
