// Push mode, for Deno Deploy: Hatchet's HTTP operator POSTs each task to this server and takes
// the response as the result, so no long-lived worker is needed. Configure an HTTP operator on
// the engine with the trigger URL https://<your-app>/hatchet/trigger, the healthcheck URL
// https://<your-app>/hatchet/healthcheck and the same signing secret, then deploy:
//
//   HATCHET_CLIENT_TOKEN=... HATCHET_PUSH_SIGNING_SECRET=... deno run -A examples/deploy_push.ts

import { createClient, createPushHandler, NonRetryableError, workflow } from "@hatchet-deno/sdk";

const orders = workflow<{ orderId: string; amount: number }>({ name: "deploy-orders" });

const validate = orders.task({
  name: "validate",
  fn: (input, ctx) => {
    ctx.log(`Validating order ${input.orderId}`);
    if (!(input.amount > 0)) {
      throw new NonRetryableError(`Amount must be positive, received ${input.amount}`);
    }
    return { cents: Math.round(input.amount * 100) };
  },
});

orders.task({
  name: "receipt",
  parents: [validate],
  retries: 3,
  fn: (input, ctx) => ({
    text: `Order ${input.orderId}: ${ctx.taskOutput(validate).cents} cents`,
  }),
});

const handler = createPushHandler({
  workflows: [orders],
  signingSecret: Deno.env.get("HATCHET_PUSH_SIGNING_SECRET") ?? "",
  // Registers the workflow on the first healthcheck and carries ctx.log() to the engine.
  client: createClient(),
});

Deno.serve({ port: Number(Deno.env.get("PORT") ?? "8000") }, handler);
