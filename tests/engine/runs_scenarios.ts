// The runs API against a real engine (issue 16): children, run events and streams, bulk
// triggers and pushes, schedules, crons and replay. Each scenario checks what a user relies on;
// scenarios.ts lists them with the others.

import assert from "node:assert/strict";
import { type JsonObject, NonRetryableError, type RunEvent, workflow } from "../../mod.ts";
import { deferred, delay, eventually, type Scenario, within } from "./harness.ts";

const children: Scenario = {
  name: "runs: spawnChild + runChild",
  async run(client, ctx) {
    const child = workflow<{ n: number }>({ name: ctx.name("child") });
    child.task({
      name: "square",
      fn: (input, t) => ({
        square: input.n * input.n,
        parent: t.parentWorkflowRunId ?? null,
        meta: (t.additionalMetadata ?? {}) as JsonObject,
      }),
    });
    const parent = workflow({ name: ctx.name("parent") });
    parent.task({
      name: "spawn",
      retries: 1,
      fn: async (_input, t) => {
        const keyed = await t.spawnChild(child, { n: 3 }, { key: "three" });
        const ran = await t.runChild(child, { n: 4 });
        // A retried attempt spawning the same key gets the run spawned the first time.
        if (t.retryCount === 0) throw new Error("first attempt fails after spawning");
        const first = await keyed.result({ signal: t.signal });
        return { keyedId: keyed.id, three: first.outputs.square, four: ran.outputs.square };
      },
    });
    await ctx.startWorker([parent, child]);
    const run = await client.runs.trigger(parent, {}, { additionalMetadata: { tenant: "acme" } });
    const result = await ctx.measure(
      "parent with 2 children",
      () => run.result({ signal: ctx.signal }),
    );
    assert.equal(result.status, "COMPLETED", JSON.stringify(result.errors));
    const out = result.outputs.spawn as {
      keyedId: string;
      three: { square: number; parent: string; meta: JsonObject };
      four: { square: number; parent: string; meta: JsonObject };
    };
    assert.equal(out.three.square, 9);
    assert.equal(out.four.square, 16);
    // The child's parentWorkflowRunId is the parent *task* run, as the engine sends it.
    assert.equal(out.three.parent, out.four.parent);
    assert.equal(out.three.meta.tenant, "acme", "the parent's metadata flows down");
    assert.equal(out.three.meta.hatchet__parent_workflow_run_id, run.id);
    assert.equal(out.three.meta.hatchet__parent_step_run_id, out.three.parent);
    const again = await client.runs.get(out.keyedId).result({ signal: ctx.signal });
    assert.equal((again.outputs.square as { square: number }).square, 9);
  },
};

const streamAndEvents: Scenario = {
  name: "runs: RunRef.stream + events",
  async run(client, ctx) {
    const chunks = Array.from({ length: 10 }, (_, i) => `part ${i}|`);
    const streamReady = deferred<void>();
    const eventsReady = deferred<void>();
    const ready = Promise.all([streamReady.promise, eventsReady.promise]).then(() => true);
    const wf = workflow({ name: ctx.name("stream") });
    wf.task({
      name: "talk",
      fn: async (_input, t) => {
        // The engine attaches a subscriber once the run reached its OLAP store (retried each
        // second) and keeps no chunk: ping until both readers have seen one.
        while (
          !await within(
            Promise.race([ready, delay(500).then(() => false)]),
            t.signal,
            "the readers to attach",
          )
        ) {
          t.putStream("ping|");
        }
        for (const chunk of chunks) t.putStream(chunk);
        return { sent: chunks.length };
      },
    });
    await ctx.startWorker([wf]);
    const run = await client.runs.trigger(wf, {});
    const streamed = (async () => {
      const got: { index: number; text: string }[] = [];
      for await (const chunk of run.stream({ signal: ctx.signal })) {
        if (chunk.text() === "ping|") streamReady.resolve();
        else got.push({ index: chunk.index ?? -1, text: chunk.text() });
      }
      return got;
    })();
    const evented = (async () => {
      const got: RunEvent[] = [];
      for await (const event of run.events({ signal: ctx.signal })) {
        if (event.type === "STREAM" && event.payload === "ping|") eventsReady.resolve();
        else got.push(event);
      }
      return got;
    })();
    const got = await ctx.measure("trigger → every chunk read", () => streamed);
    // In order, with consecutive indexes after the pings: nothing lost, nothing reordered.
    assert.deepEqual(got.map((c) => c.text), chunks);
    assert.deepEqual(got.map((c) => c.index), chunks.map((_, i) => got[0].index + i));
    const events = await evented;
    assert.deepEqual(
      events.filter((e) => e.type === "STREAM").map((e) => e.payload).join(""),
      chunks.join(""),
    );
    const last = events.at(-1)!;
    assert.equal(last.scope, "run");
    assert.equal(last.type, "COMPLETED");
    assert.ok(
      events.some((e) => e.scope === "task" && e.type === "COMPLETED"),
      `a task COMPLETED event among ${events.map((e) => `${e.scope}:${e.type}`).join(", ")}`,
    );
  },
};

const bulk: Scenario = {
  name: "runs: bulkTrigger + events.bulkPush",
  async run(client, ctx) {
    const key = ctx.name("bulk:event");
    const seen = new Set<string>();
    const allSeen = deferred<void>();
    const byEvent = workflow<{ tag: string }>({ name: ctx.name("bulk-event"), onEvents: [key] });
    byEvent.task({
      name: "note",
      fn: (input) => {
        seen.add(input.tag);
        if (seen.size === 3) allSeen.resolve();
        return { tag: input.tag };
      },
    });
    const wf = workflow<{ n: number }>({ name: ctx.name("bulk") });
    wf.task({ name: "triple", fn: (input) => ({ n: input.n * 3 }) });
    await ctx.startWorker([wf, byEvent]);
    const refs = await client.runs.bulkTrigger(
      wf,
      Array.from(
        { length: 20 },
        (_, n) => ({ input: { n }, options: { additionalMetadata: { n } } }),
      ),
    );
    assert.equal(refs.length, 20);
    assert.equal(new Set(refs.map((r) => r.id)).size, 20);
    const results = await ctx.measure(
      "20 bulk runs → results",
      () => Promise.all(refs.map((r) => r.result({ signal: ctx.signal }))),
    );
    assert.deepEqual(
      results.map((r) => r.outputs.triple),
      Array.from({ length: 20 }, (_, n) => ({ n: n * 3 })),
    );
    const pushed = await client.events.bulkPush(
      ["a", "b", "c"].map((tag) => ({ key, payload: { tag } })),
    );
    assert.equal(pushed.length, 3);
    assert.equal(new Set(pushed.map((p) => p.eventId)).size, 3);
    await within(allSeen.promise, ctx.signal, "the three event runs");
    assert.deepEqual([...seen].sort(), ["a", "b", "c"]);
  },
};

const schedule: Scenario = {
  name: "runs: schedule",
  async run(client, ctx) {
    const ran = deferred<{ at: number; input: JsonObject }>();
    const wf = workflow<{ note: string }>({ name: ctx.name("scheduled") });
    wf.task({
      name: "fire",
      fn: (input) => {
        ran.resolve({ at: Date.now(), input });
        return {};
      },
    });
    await ctx.startWorker([wf]);
    const at = new Date(Date.now() + 4_000);
    const scheduled = await client.runs.schedule(wf, at, { note: "later" });
    assert.match(scheduled.id, /^[0-9a-f-]{36}$/);
    assert.equal(scheduled.triggerAt.getTime(), at.getTime());
    const fired = await ctx.measure(
      "schedule 4 s ahead → task ran",
      () => within(ran.promise, ctx.signal, "the scheduled run"),
    );
    assert.deepEqual(fired.input, { note: "later" });
    // Scheduled runs are polled: it may run late, never early (a 1 s clock skew allowed).
    assert.ok(fired.at >= at.getTime() - 1_000, `ran ${at.getTime() - fired.at} ms early`);
  },
};

const cron: Scenario = {
  name: "runs: cron",
  timeoutMs: 100_000,
  async run(_client, ctx) {
    const ran = deferred<JsonObject>();
    const name = ctx.name("cron");
    const declare = (crons: string[]) => {
      const wf = workflow<JsonObject>({ name, onCrons: crons, cronInput: { from: "cron" } });
      wf.task({
        name: "tick",
        fn: (input) => {
          ran.resolve(input);
          return {};
        },
      });
      return wf;
    };
    await ctx.startWorker([declare(["* * * * *"])]);
    // Registering the workflow again without crons removes them, so nothing fires after the suite.
    ctx.defer(async () => {
      await ctx.startWorker([declare([])], { warmUp: false });
    });
    const input = await ctx.measure(
      "cron * * * * * → task ran",
      () => within(ran.promise, ctx.signal, "a cron run within 70 s"),
    );
    assert.deepEqual(input, { from: "cron" });
  },
};

const replay: Scenario = {
  name: "runs: replay",
  async run(client, ctx) {
    let attempts = 0;
    const replayed = deferred<void>();
    const wf = workflow({ name: ctx.name("replay") });
    wf.task({
      name: "flaky",
      fn: () => {
        attempts++;
        if (attempts === 1) throw new NonRetryableError("fails until replayed");
        replayed.resolve();
        return { attempts };
      },
    });
    await ctx.startWorker([wf]);
    const run = await client.runs.trigger(wf, {});
    const failed = await run.result({ signal: ctx.signal });
    assert.equal(failed.status, "FAILED");
    const replayedIds = await ctx.measure("replay → task ran again", async () => {
      // The engine replays only runs its OLAP store shows as finished: retry until it does.
      const ids = await eventually(async () => {
        const ids = await client.runs.replay([run.id]);
        assert.ok(ids.length > 0, "the engine replayed no task yet");
        return ids;
      }, ctx.signal);
      await within(replayed.promise, ctx.signal, "the replayed attempt");
      return ids;
    });
    assert.equal(replayedIds.length, 1);
    const result = await eventually(async () => {
      const r = await client.runs.get(run.id).result({ signal: ctx.signal });
      assert.equal(r.status, "COMPLETED");
      return r;
    }, ctx.signal);
    assert.deepEqual(result.outputs.flaky, { attempts: 2 });
  },
};

/** The runs scenarios, in table order. */
export const runsScenarios: readonly Scenario[] = [
  children,
  streamAndEvents,
  bulk,
  schedule,
  cron,
  replay,
];
