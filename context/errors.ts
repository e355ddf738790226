/**
 * Thrown by a task to fail its run without retrying it (`should_not_retry`).
 *
 * @example
 * ```ts
 * import { NonRetryableError } from "@hatchet-deno/sdk";
 * const err = new NonRetryableError("Card declined");
 * console.assert(err.name === "NonRetryableError");
 * ```
 */
export class NonRetryableError extends Error {
  /**
   * Creates the error.
   *
   * @param message Why the task failed.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NonRetryableError";
  }
}

/**
 * `ctx.taskOutput(task)` was asked for a parent that the engine skipped.
 *
 * @example
 * ```ts
 * import { TaskSkippedError } from "@hatchet-deno/sdk";
 * console.assert(new TaskSkippedError("charge").task === "charge");
 * ```
 */
export class TaskSkippedError extends Error {
  /** The skipped task's name. */
  readonly task: string;
  /**
   * Creates the error.
   *
   * @param task The skipped task's name.
   */
  constructor(task: string) {
    super(`Task "${task}" was skipped`);
    this.name = "TaskSkippedError";
    this.task = task;
  }
}

/**
 * `ctx.taskOutput(task)` was asked for a task whose output is not in this run's payload.
 *
 * @example
 * ```ts
 * import { TaskOutputMissingError } from "@hatchet-deno/sdk";
 * const err = new TaskOutputMissingError("charge", ["validate"]);
 * console.assert(err.message.includes("validate"));
 * ```
 */
export class TaskOutputMissingError extends Error {
  /** The task asked for. */
  readonly task: string;
  /**
   * Creates the error.
   *
   * @param task The task asked for.
   * @param present The parents whose outputs are present.
   */
  constructor(task: string, present: string[]) {
    super(
      `No output for task "${task}": parents present: ${
        present.length ? present.map((p) => `"${p}"`).join(", ") : "none"
      }`,
    );
    this.name = "TaskOutputMissingError";
    this.task = task;
  }
}

/**
 * The reason a cancelled task run's `ctx.signal` carries.
 *
 * @example
 * ```ts
 * import { TaskCancelledError } from "@hatchet-deno/sdk";
 * const err = new TaskCancelledError("engine");
 * console.assert(err.source === "engine");
 * ```
 */
export class TaskCancelledError extends Error {
  /** Who cancelled: the engine (`CANCEL_STEP_RUN`, timeout), the task itself, or the worker stopping. */
  readonly source: "engine" | "task" | "worker";
  /**
   * Creates the error.
   *
   * @param source Who cancelled.
   * @param detail Extra text for the message.
   */
  constructor(source: "engine" | "task" | "worker", detail?: string) {
    super(`Task run was cancelled by the ${source}${detail ? `: ${detail}` : ""}`);
    this.name = "TaskCancelledError";
    this.source = source;
  }
}
