import type { Transport } from "@connectrpc/connect";
import { type ClientConfig, type ClientOptions, resolveConfig } from "../transport/config.ts";
import { createEnginePorts } from "../transport/connection.ts";
import { createGrpcTransport } from "../transport/grpc_transport.ts";
import type { EnginePorts, RunDetailsData } from "../transport/ports.ts";
import { RpcError } from "../transport/rpc_error.ts";
import { sleep } from "../transport/retry.ts";
import type { JsonObject } from "../transport/types.ts";
import { startOutgoingSpan } from "../observability/_tracing.ts";
import { registerEnginePorts } from "./_client_ports.ts";
import type { HatchetClient, RunRef, RunResult } from "./hatchet_client.ts";

export type {
  EventsClient,
  HatchetClient,
  PushOptions,
  RunRef,
  RunResult,
  RunsClient,
  TriggerOptions,
} from "./hatchet_client.ts";
export { enginePortsOf } from "./_client_ports.ts";

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

const MAX_POLL_MS = 1_000;

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
  let closed: Promise<void> | undefined;
  const closeOnce = () => closed ??= close();

  const client: HatchetClient = {
    config,
    events: {
      async push(key, payload, options) {
        if (typeof key !== "string" || key === "") {
          throw new TypeError(
            `Event key must be a non-empty string, received ${JSON.stringify(key)}`,
          );
        }
        const namespaced = config.applyNamespace(key);
        const span = startOutgoingSpan(`events.push ${namespaced}`, options?.additionalMetadata, {
          "hatchet.event_key": namespaced,
        });
        try {
          const pushed = await span.run(() =>
            ports.events.push({
              key: namespaced,
              payload: JSON.stringify(payload),
              eventTimestamp: new Date(),
              additionalMetadata: span.metadata && JSON.stringify(span.metadata),
              priority: options?.priority,
              scope: options?.scope,
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
    },
    runs: {
      async trigger(workflow, input, options) {
        const name = typeof workflow === "string" ? workflow : workflow.name;
        const workflowName = config.applyNamespace(name);
        const span = startOutgoingSpan(
          `runs.trigger ${workflowName}`,
          options?.additionalMetadata,
          {
            "hatchet.workflow_name": workflowName,
          },
        );
        try {
          const { workflowRunId } = await span.run(() =>
            ports.admin.triggerWorkflowRun({
              workflowName,
              input,
              additionalMetadata: span.metadata,
              priority: options?.priority,
            })
          );
          span.setId("hatchet.workflow_run_id", workflowRunId);
          span.end();
          return runRef(ports, workflowRunId);
        } catch (err) {
          span.end(err);
          throw err;
        }
      },
      async cancel(taskRunIds) {
        await ports.admin.cancelTasks(taskRunIds);
      },
    },
    close: closeOnce,
    [Symbol.asyncDispose]: closeOnce,
  };
  registerEnginePorts(client, ports);
  return client;
}

function runRef(ports: EnginePorts, id: string): RunRef {
  return {
    id,
    async result(options) {
      let delay = 5;
      for (;;) {
        options?.signal?.throwIfAborted();
        const details = await ports.admin.getRunDetails(id, { signal: options?.signal }).catch(
          (err) => {
            // The engine answers TriggerWorkflowRun before the run exists when its optimistic
            // scheduler is busy: NOT_FOUND here means "not visible yet", never "no such run".
            if (err instanceof RpcError && err.code === "not_found") return undefined;
            throw err;
          },
        );
        if (details?.done) return toRunResult(details);
        await sleep(delay, options?.signal);
        delay = Math.min(delay * 2, MAX_POLL_MS);
      }
    },
  };
}

function toRunResult(details: RunDetailsData): RunResult {
  const outputs: Record<string, JsonObject> = {};
  const errors: Record<string, string> = {};
  for (const task of Object.values(details.taskRuns)) {
    if (task.status === "COMPLETED") outputs[task.readableId] = task.output ?? {};
    if (task.status === "FAILED") errors[task.readableId] = task.error ?? "";
  }
  const status = details.status === "COMPLETED" || details.status === "FAILED"
    ? details.status
    : "CANCELLED";
  return { status, outputs, errors };
}
