// A durable task that waits without holding a worker thread: it sleeps ten minutes (the
// customer's chance to cancel), then waits up to a day for an approval event for its order.
// The engine keeps the sleep and the wait, so a retry or a worker restart resumes where it was.
//
// Run against an engine: HATCHET_CLIENT_TOKEN=... deno run -A examples/durable_approval.ts
// then push `order:approved` with `{"orderId": "o-42", "approver": "ana"}`.

import {
  createClient,
  createWorker,
  or,
  SleepCondition,
  UserEventCondition,
  workflow,
} from "@hatchet-deno/sdk";

/** The input of an approval run. */
export type ApprovalInput = { orderId: string };

/** The workflow the worker registers. */
export const approvals = workflow<ApprovalInput>({ name: "order-approval" });

/** The durable task: sleep, then wait for the matching approval or give up after 24 hours. */
export const approve = approvals.durableTask({
  name: "approve",
  // The execution timeout keeps running while the task waits, so it must outlast the waits.
  executionTimeout: "48h",
  fn: async (input, ctx) => {
    await ctx.sleepFor("10m");
    const result = await ctx.waitFor(
      "approval",
      or(
        new UserEventCondition("order:approved", {
          expression: `input.orderId == ${JSON.stringify(input.orderId)}`,
        }),
        new SleepCondition("24h"),
      ),
    );
    const approval = result.CREATE["order:approved"]?.[0] as { approver?: string } | undefined;
    return {
      orderId: input.orderId,
      approved: approval !== undefined,
      approver: approval?.approver ?? null,
    };
  },
});

if (import.meta.main) {
  await using client = createClient();
  await using worker = createWorker(client, { name: "approval-worker", workflows: [approvals] });
  await worker.start();
  const run = await client.runs.trigger(approvals, { orderId: "o-42" });
  console.log(`Started run ${run.id}; waiting for order:approved with orderId "o-42"`);
  console.log(await run.result());
}
