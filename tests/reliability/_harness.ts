// Shared pieces of the reliability tests: the two HTTP stacks, a client of a MockEngine
// listener, waiting for engine state without sleeping, and the one kind of repeat that
// at-least-once delivery allows.

import { createClient, type HatchetClient } from "../../mod.ts";
import type { MockEngine, RpcLogEntry } from "../../testing/mod.ts";

/** Both HTTP/2 stacks a client can use. */
export const STACKS = ["native", "node"] as const;

/** One of {@link STACKS}. */
export type Stack = typeof STACKS[number];

/** Options of {@link networkClient}. */
export interface NetworkClientOptions {
  /** Token to send instead of the engine's. */
  token?: string;
  /** `"tls"` to talk TLS (default plaintext h2c). */
  tls?: "tls" | "none";
  /** PEM of the CA to trust. */
  tlsRootCa?: string;
}

/** A real-gRPC client of `engine` at `hostPort` over the given stack, ignoring the environment. */
export function networkClient(
  engine: MockEngine,
  hostPort: string,
  http: Stack,
  options: NetworkClientOptions = {},
): HatchetClient {
  return createClient({
    token: options.token ?? engine.token,
    hostPort,
    tls: options.tls ?? "none",
    tlsRootCa: options.tlsRootCa,
    http,
    env: {},
  });
}

/** The port of a `127.0.0.1:<port>` address. */
export function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));
}

/**
 * Waits, in engine-quiet steps rather than sleeps, until `condition` holds. The watchdog only
 * turns a hang into a failure that says what never happened; it asserts nothing about speed.
 */
export async function until(
  engine: MockEngine,
  what: string,
  condition: () => boolean,
): Promise<void> {
  const giveUpAt = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > giveUpAt) throw new Error(`Never happened: ${what}`);
    await engine.settle();
  }
}

/** The RPC log entries of one method. */
export function calls(engine: MockEngine, method: string): RpcLogEntry[] {
  return engine.rpcLog().filter((e) => e.method === method);
}

/** How many times the worker asked the durable stream for `signalKey`. */
export function subscriptions(engine: MockEngine, signalKey: string): number {
  return calls(engine, "ListenForDurableEvent").filter((e) => e.summary?.signalKey === signalKey)
    .length;
}

/**
 * Drops each item equal to the one before it. A log line or stream chunk whose acknowledgement
 * was lost is sent again right away (one request in flight per attempt), so the only repeat
 * the protocol allows is an immediate one; collapsing those must give the sent sequence.
 */
export function collapseRepeats(items: string[]): string[] {
  return items.filter((item, i) => i === 0 || item !== items[i - 1]);
}

/** UTF-8 text of stream chunks. */
export function texts(chunks: Uint8Array[]): string[] {
  const decoder = new TextDecoder();
  return chunks.map((c) => decoder.decode(c));
}
