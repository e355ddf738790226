// Your first worker: a two-task workflow, a worker that runs it, and a run triggered from the
// same program. With HATCHET_CLIENT_TOKEN set it talks to your engine; without, it starts an
// in-memory MockEngine so you can try it right away:
//
//   deno run -A examples/first_worker.ts Ada

import { createClient, createWorker, type HatchetClient, workflow } from "@hatchet-deno/sdk";
import { MockEngine } from "@hatchet-deno/sdk/testing";

/** The workflow's input. */
export type GreetInput = { name: string };

/** A workflow with two tasks: `shout` runs after `greet` and reads its output. */
export const greeting = workflow<GreetInput>({ name: "first-workflow" });

/** The first task: builds a greeting and logs what it does. */
export const greet = greeting.task({
  name: "greet",
  fn: (input, ctx) => {
    ctx.log(`Greeting ${input.name} (attempt ${ctx.attemptNumber})`);
    return { message: `Hello, ${input.name}!` };
  },
});

/** The second task: reads its parent's output, typed. */
export const shout = greeting.task({
  name: "shout",
  parents: [greet],
  fn: (_input, ctx) => ({ message: ctx.taskOutput(greet).message.toUpperCase() }),
});

/**
 * Starts a worker, triggers one run and waits for its result.
 *
 * @param client A client for the engine.
 * @param name Who to greet.
 * @returns The output of `shout`.
 */
export async function runFirstWorker(
  client: HatchetClient,
  name: string,
): Promise<{ message: string }> {
  await using worker = createWorker(client, { name: "first-worker", workflows: [greeting] });
  await worker.start();
  const run = await client.runs.trigger(greeting, { name });
  const result = await run.result();
  if (result.status !== "COMPLETED") {
    throw new Error(`The run ended ${result.status}: ${JSON.stringify(result.errors)}`);
  }
  return result.outputs.shout as { message: string };
}

if (import.meta.main) {
  const name = Deno.args[0] ?? "world";
  if (Deno.env.get("HATCHET_CLIENT_TOKEN")) {
    await using client = createClient();
    console.log((await runFirstWorker(client, name)).message);
  } else {
    await using engine = new MockEngine();
    console.log((await runFirstWorker(engine.client, name)).message);
  }
}
