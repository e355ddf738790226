import assert from "node:assert/strict";
import { MockEngine } from "../../testing/mod.ts";
import { greet, runFirstWorker, shout } from "../../examples/first_worker.ts";

Deno.test("examples/first_worker.ts runFirstWorker() runs its workflow to completion on the mock engine", async () => {
  await using engine = new MockEngine();
  const out = await runFirstWorker(engine.client, "Ada");
  assert.deepEqual(out, { message: "HELLO, ADA!" });
  const runs = engine.taskRuns();
  assert.deepEqual(runs.map((r) => [r.taskName, r.status]), [
    [greet.name, "COMPLETED"],
    [shout.name, "COMPLETED"],
  ]);
  assert.deepEqual(engine.logs().map((l) => l.message), ["Greeting Ada (attempt 1)"]);
});
