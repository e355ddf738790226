// A standalone task: a workflow of one task, declared in one call, whose run result is the task's
// own output. It is a Workflow, so createWorker, runs.trigger and children take it as one.

import type { Context, TaskRef } from "../context/context.ts";
import type { DurableContext } from "../durable/mod.ts";
import type { JsonObject } from "../transport/types.ts";
import type { HatchetClient, TriggerOptions } from "./hatchet_client.ts";
import { type TaskOptions, type Workflow, workflow, type WorkflowOptions } from "./workflow.ts";

/**
 * Options of {@link task}: the task's own options plus the workflow-level ones (`onEvents`,
 * `description`, `sticky`, `defaultPriority`, `version`). `concurrency` applies to the task.
 *
 * @example
 * ```ts
 * import { type StandaloneOptions, task } from "@hatchet-deno/sdk";
 * const options: StandaloneOptions<{ n: number }, { square: number }> = {
 *   name: "square",
 *   retries: 2,
 *   fn: (input) => ({ square: input.n * input.n }),
 * };
 * const square = task(options);
 * console.assert(square.name === "square");
 * ```
 */
export type StandaloneOptions<I, O> =
  & Omit<TaskOptions<I, O, Context<I>>, "parents" | "skipIf" | "waitFor">
  & Omit<WorkflowOptions, "name" | "concurrency" | "taskDefaults">
  & {
    /** Declares a durable task (its context can `waitFor` and `sleepFor`); default false. */
    durable?: false;
  };

/**
 * Options of {@link task} for a durable standalone task.
 *
 * @example
 * ```ts
 * import { type DurableStandaloneOptions, task } from "@hatchet-deno/sdk";
 * const options: DurableStandaloneOptions<{ [k: string]: never }, { slept: boolean }> = {
 *   name: "nap",
 *   durable: true,
 *   fn: async (_input, ctx) => {
 *     await ctx.sleepFor("1h");
 *     return { slept: true };
 *   },
 * };
 * console.assert(task(options).name === "nap");
 * ```
 */
export type DurableStandaloneOptions<I, O> =
  & Omit<TaskOptions<I, O, DurableContext<I>>, "parents" | "skipIf" | "waitFor">
  & Omit<WorkflowOptions, "name" | "concurrency" | "taskDefaults">
  & {
    /** Declares a durable task. */
    durable: true;
  };

/**
 * Options of {@link Standalone.run}.
 *
 * @example
 * ```ts
 * import type { StandaloneRunOptions } from "@hatchet-deno/sdk";
 * const options: StandaloneRunOptions = { priority: 3, signal: AbortSignal.timeout(60_000) };
 * console.assert(options.priority === 3);
 * ```
 */
export interface StandaloneRunOptions extends TriggerOptions {
  /** Stops waiting for the result (the run itself goes on). */
  signal?: AbortSignal;
}

/**
 * A standalone task: a workflow of one task. Hand it to `createWorker` and `runs.trigger` like
 * any workflow; {@link Standalone.run} returns the task's own output.
 *
 * @typeParam I The input type.
 * @typeParam O The output type.
 *
 * @example
 * ```ts
 * import { createWorker, type Standalone, task } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const add: Standalone<{ a: number; b: number }, { sum: number }> = task({
 *   name: "add",
 *   fn: (input: { a: number; b: number }) => ({ sum: input.a + input.b }),
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [add] });
 * await worker.start();
 * assert.deepEqual(await add.run(engine.client, { a: 2, b: 3 }), { sum: 5 });
 * ```
 */
export interface Standalone<I extends JsonObject = JsonObject, O = JsonObject> extends Workflow<I> {
  /** The one task, for `ctx.taskOutput` and conditions. */
  readonly ref: TaskRef<O>;
  /**
   * Triggers a run and waits for it.
   *
   * @param client The client to trigger with.
   * @param input The run's input.
   * @param options Metadata, priority, desired worker labels, and a signal to stop waiting.
   * @returns The task's output.
   * @throws {Error} When the run failed (the message carries the task's error) or was cancelled.
   */
  run(client: HatchetClient, input: I, options?: StandaloneRunOptions): Promise<O>;
}

/**
 * Declares a standalone task: a workflow holding one task of the same name.
 *
 * @param options The task's options, plus `onEvents`, `description`, `sticky`,
 *   `defaultPriority` and `version`; `durable: true` makes it a durable task.
 * @returns The declaration; adding tasks to it throws.
 * @throws {TypeError} As {@link workflow} and {@link Workflow.task} do.
 * @throws {RangeError} As {@link workflow} and {@link Workflow.task} do.
 * @example
 * ```ts
 * import { createWorker, task } from "@hatchet-deno/sdk";
 * import { MockEngine } from "@hatchet-deno/sdk/testing";
 * import assert from "node:assert/strict";
 *
 * const greet = task({
 *   name: "greet",
 *   fn: (input: { name: string }) => ({ text: `Hello, ${input.name}` }),
 * });
 * await using engine = new MockEngine();
 * await using worker = createWorker(engine.client, { name: "w", workflows: [greet] });
 * await worker.start();
 * assert.deepEqual(await greet.run(engine.client, { name: "Ada" }), { text: "Hello, Ada" });
 * // It is a workflow too: runs.trigger gives the usual RunResult.
 * const run = await engine.client.runs.trigger(greet, { name: "Bob" });
 * assert.deepEqual((await run.result()).outputs.greet, { text: "Hello, Bob" });
 * ```
 */
export function task<I extends JsonObject = JsonObject, O extends JsonObject | void = JsonObject>(
  options: StandaloneOptions<I, O> | DurableStandaloneOptions<I, O>,
): Standalone<I, O> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`task() expects an options object, received ${String(options)}`);
  }
  const {
    onEvents,
    description,
    sticky,
    defaultPriority,
    version,
    durable,
    ...taskOptions
  } = options as StandaloneOptions<I, O> & { durable?: boolean };
  for (const key of ["parents", "skipIf", "waitFor"]) {
    if (key in taskOptions) {
      throw new TypeError(
        `Standalone task ${
          JSON.stringify(taskOptions.name)
        }: ${key} only applies to a task inside a workflow`,
      );
    }
  }
  const wf = workflow<I>({
    name: taskOptions.name,
    onEvents,
    description,
    sticky,
    defaultPriority,
    version,
  });
  const ref = durable
    ? wf.durableTask(taskOptions as unknown as TaskOptions<I, O, DurableContext<I>>)
    : wf.task(taskOptions as TaskOptions<I, O, Context<I>>);
  const closed = (method: string) => () => {
    throw new TypeError(
      `Standalone task "${wf.name}" holds one task; ${method}() needs a workflow() declaration`,
    );
  };
  // The declaration object itself stays the one workflow() registered, so the worker finds it.
  return Object.assign(wf, {
    ref,
    task: closed("task"),
    durableTask: closed("durableTask"),
    onSuccess: closed("onSuccess"),
    async run(client: HatchetClient, input: I, runOptions?: StandaloneRunOptions): Promise<O> {
      const { signal, ...trigger } = runOptions ?? {};
      const run = await client.runs.trigger(wf, input, trigger);
      const result = await run.result({ signal });
      if (result.status === "COMPLETED") return result.outputs[ref.name] as O;
      const error = result.errors[ref.name];
      throw new Error(
        `Run ${run.id} of task "${wf.name}" ${
          result.status === "FAILED" ? "failed" : "was cancelled"
        }${error ? `: ${error}` : ""}`,
      );
    },
  }) as unknown as Standalone<I, O>;
}
