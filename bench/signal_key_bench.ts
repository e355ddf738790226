// Signal keys are derived for every durable wait, and conditions converted to the wire form.
import { or, SleepCondition, UserEventCondition } from "../durable/conditions.ts";
import { sleepSignalKey } from "../durable/signal_key.ts";
import { toDurableConditions } from "../durable/to_conditions.ts";

Deno.bench("sleepSignalKey() of a duration string", { group: "durable", baseline: true }, () => {
  sleepSignalKey("10m", 3);
});

Deno.bench("sleepSignalKey() of milliseconds", { group: "durable" }, () => {
  sleepSignalKey(90_000, 0);
});

const approval = or(
  new UserEventCondition("order:approved", { expression: "input.orderId == 'o-1'" }),
  new SleepCondition("24h"),
);

Deno.bench("toDurableConditions() of or(event, sleep)", { group: "durable" }, () => {
  toDurableConditions([approval], "ns_");
});
