/**
 * Thrown by a durable call when the engine's event log recorded a different operation at the
 * same position: a replayed durable task did not issue the same durable calls in the same order
 * as the invocation that recorded them. The task attempt fails (and is retried as its retry
 * policy says); the message names what the log holds and what the code asked for.
 *
 * @example
 * ```ts
 * import { NonDeterminismError } from "@hatchet-deno/sdk";
 * import assert from "node:assert/strict";
 *
 * const err = new NonDeterminismError("3f0e7a43-4b6c-4f36-9d58-2a4c6a1b0c11", 2, 1, {
 *   expected: "sleep(10s)",
 *   received: "memo",
 * });
 * assert.equal(err.nodeId, 2);
 * assert.match(err.message, /expected: sleep\(10s\)/);
 * ```
 */
export class NonDeterminismError extends Error {
  /** The durable task run whose replay diverged. */
  readonly taskRunId: string;
  /** The log position (node) of the conflict. */
  readonly nodeId: number;
  /** The log branch of the conflict. */
  readonly branchId: number;

  /**
   * Creates the error for a conflict at `nodeId:branchId`.
   *
   * @param taskRunId The durable task run's external id.
   * @param nodeId The conflicting node.
   * @param branchId The conflicting branch.
   * @param detail What the log holds (`expected`) and what the code asked for (`received`), or
   *   the engine's own message.
   */
  constructor(
    taskRunId: string,
    nodeId: number,
    branchId: number,
    detail: { expected: string; received: string } | { engineMessage: string },
  ) {
    const text = "engineMessage" in detail
      ? detail.engineMessage
      : `expected: ${detail.expected}, received: ${detail.received}`;
    super(
      `Non-determinism in durable task run ${
        JSON.stringify(taskRunId)
      } at node ${nodeId}:${branchId}: ${text}`,
    );
    this.name = "NonDeterminismError";
    this.taskRunId = taskRunId;
    this.nodeId = nodeId;
    this.branchId = branchId;
  }
}
