// Which engine ports stand behind which client. Kept apart from client.ts so that code which
// only needs the lookup (the push handler) does not load the gRPC transports.

import type { EnginePorts } from "../transport/ports.ts";
import type { RunsRuntime } from "../runs/runs_client.ts";

const portsByClient = new WeakMap<object, EnginePorts>();
const runsByClient = new WeakMap<object, RunsRuntime>();

/** Records the ports (and runs runtime) a client built by `createClientFromTransport` uses. */
export function registerEnginePorts(client: object, ports: EnginePorts, runs?: RunsRuntime): void {
  portsByClient.set(client, ports);
  if (runs) runsByClient.set(client, runs);
}

/**
 * The runs runtime behind a client (children, run references), for the worker. Internal.
 *
 * @throws {TypeError} When `client` was not made by `createClient` or `MockEngine`.
 */
export function runsRuntimeOf(client: object): RunsRuntime {
  const runs = runsByClient.get(client);
  if (!runs) {
    throw new TypeError(
      "Expected a HatchetClient from createClient() or MockEngine.client, received another object",
    );
  }
  return runs;
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
