import type { Transport } from "@connectrpc/connect";
import { type ClientConfig, type ClientOptions, resolveConfig } from "../transport/config.ts";
import { createEnginePorts } from "../transport/connection.ts";
import { createGrpcTransport } from "../transport/grpc_transport.ts";
import { describeValue } from "../transport/describe.ts";
import type { JsonObject } from "../transport/types.ts";
import { createRunsRuntime } from "../runs/runs_client.ts";
import { startOutgoingSpan } from "../observability/_tracing.ts";
import { registerEnginePorts } from "./_client_ports.ts";
import type { BulkPushItem, HatchetClient, PushOptions } from "./hatchet_client.ts";

export type {
  BulkPushItem,
  BulkTriggerItem,
  EventsClient,
  HatchetClient,
  PushOptions,
  RunEvent,
  RunFilter,
  RunRef,
  RunResult,
  RunsClient,
  ScheduledRun,
  StreamChunk,
  TriggerOptions,
  WorkflowRef,
} from "./hatchet_client.ts";
export { enginePortsOf, runsRuntimeOf } from "./_client_ports.ts";

/**
 * Creates a client for a Hatchet engine. Configuration comes from `options`, then the
 * `HATCHET_CLIENT_*` environment, then the token's claims.
 *
 * @param options Token, address, TLS, namespace and HTTP stack.
 * @returns A client; close it (or `await using`) when done.
 * @throws {ConfigError} When the configuration is missing or invalid.
 * @example
 * ```ts
 * import { createClient } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * await using engine = new MockEngine();
 * const server = await engine.listen();
 * await using client = createClient({ token: engine.token, hostPort: server.hostPort, tls: "none", env: {} });
 * console.assert(client.config.hostPort === server.hostPort);
 * await server.close();
 * ```
 */
export function createClient(options?: ClientOptions): HatchetClient {
  const config = resolveConfig(options);
  const { transport, close } = createGrpcTransport(config);
  return createClientFromTransport(config, transport, close);
}

const MAX_BULK_PUSH = 1_000;

/**
 * Builds a client over an existing Connect transport (the mock engine's in-memory one, say).
 * Not part of the public API.
 */
export function createClientFromTransport(
  config: ClientConfig,
  transport: Transport,
  close: () => Promise<void> = () => Promise.resolve(),
): HatchetClient {
  const ports = createEnginePorts(transport);
  const runs = createRunsRuntime(ports, {
    applyNamespace: (name) => config.applyNamespace(name),
    startSpan: startOutgoingSpan,
  });
  let closed: Promise<void> | undefined;
  const closeOnce = () => closed ??= runs.close().then(close);

  const pushInput = (key: string, payload: JsonObject, options: PushOptions | undefined) => {
    if (typeof key !== "string" || key === "") {
      throw new TypeError(
        `Event key must be a non-empty string, received ${JSON.stringify(key)}`,
      );
    }
    if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
      throw new TypeError(
        `Event payload must be a JSON object, received ${describeValue(payload)}`,
      );
    }
    return {
      key: config.applyNamespace(key),
      payload: JSON.stringify(payload),
      eventTimestamp: new Date(),
      additionalMetadata: options?.additionalMetadata &&
        JSON.stringify(options.additionalMetadata),
      priority: options?.priority,
      scope: options?.scope,
    };
  };

  const client: HatchetClient = {
    config,
    events: {
      async push(key, payload, options) {
        const input = pushInput(key, payload, options);
        const span = startOutgoingSpan(`events.push ${input.key}`, options?.additionalMetadata, {
          "hatchet.event_key": input.key,
        });
        try {
          const pushed = await span.run(() =>
            ports.events.push({
              ...input,
              additionalMetadata: span.metadata && JSON.stringify(span.metadata),
            })
          );
          span.setId("hatchet.event_id", pushed.eventId);
          span.end();
          return pushed;
        } catch (err) {
          span.end(err);
          throw err;
        }
      },
      async bulkPush(events: BulkPushItem[]) {
        if (!Array.isArray(events)) {
          throw new TypeError(
            `events.bulkPush(): expected an array of events, received ${describeValue(events)}`,
          );
        }
        const inputs = events.map((e, i) => {
          if (e === null || typeof e !== "object") {
            throw new TypeError(
              `events.bulkPush(): events[${i}] must be { key, payload, options? }, received ${
                describeValue(e)
              }`,
            );
          }
          return pushInput(e.key, e.payload, e.options);
        });
        const out: { eventId: string }[] = [];
        for (let i = 0; i < inputs.length; i += MAX_BULK_PUSH) {
          out.push(...await ports.events.bulkPush(inputs.slice(i, i + MAX_BULK_PUSH)));
        }
        return out;
      },
    },
    runs: runs.client,
    close: closeOnce,
    [Symbol.asyncDispose]: closeOnce,
  };
  registerEnginePorts(client, ports, runs);
  return client;
}
