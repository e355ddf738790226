// Durable tasks on the DurableTask event log (engines from v0.80.0) against a real engine: eviction
// and restore, memo and children replayed across a retry, scoped waits with a lookback, and the
// wake-up latency of an event on the event log next to the legacy path. Appended to the registry
// in scenarios.ts.

import assert from "node:assert/strict";
import { type JsonObject, workflow } from "../../mod.ts";
import { InvocationEvictedError } from "../../durable/mod.ts";
import { enginePortsOf } from "../../worker/client.ts";
import { deferred, delay, formatMs, type Scenario, within } from "./harness.ts";

const evictRestore: Scenario = {
  name: "durable event log: eviction and restore",
  async run(client, ctx) {
    const key = ctx.name("evict:paid");
    const waiting = deferred<void>();
    const evicted = deferred<unknown>();
    const invocations: number[] = [];
    let resumedAt = 0;
    const wf = workflow<{ orderId: string }>({ name: ctx.name("evict") });
    wf.durableTask({
      name: "pay",
      evictionPolicy: { ttl: "1s" },
      fn: async (input, t) => {
        invocations.push(t.invocationCount);
        if (t.invocationCount === 1) waiting.resolve();
        try {
          const paid = await t.waitForEvent(key, {
            expression: `input.orderId == ${JSON.stringify(input.orderId)}`,
          });
          resumedAt = performance.now();
          return { paid, invocation: t.invocationCount };
        } catch (err) {
          evicted.resolve(err);
          throw err;
        }
      },
    });
    await ctx.startWorker([wf]);
    const run = await client.runs.trigger(wf, { orderId: "o-7" });
    await within(waiting.promise, ctx.signal, "the task to wait");
    // The worker evicts the attempt once it waited for the ttl: its wait ends with the eviction.
    const reason = await within(evicted.promise, ctx.signal, "the eviction");
    assert.ok(reason instanceof InvocationEvictedError, `reason: ${String(reason)}`);
    assert.match(reason.message, /invocation 1 was evicted: Wait TTL/);
    assert.deepEqual(invocations, [1]);
    const pushedAt = performance.now();
    await client.events.push(key, { orderId: "o-7", amount: 12 });
    const result = await run.result({ signal: ctx.signal });
    ctx.record("push→restored result", resumedAt - pushedAt);
    assert.equal(result.status, "COMPLETED", JSON.stringify(result.errors));
    // Restored with the next invocation count, the wait answered from the event log.
    assert.deepEqual(result.outputs.pay, { paid: { orderId: "o-7", amount: 12 }, invocation: 2 });
    assert.deepEqual(invocations, [1, 2]);
  },
};

const memoReplays: Scenario = {
  name: "durable event log: memo replays",
  async run(client, ctx) {
    let calls = 0;
    const seen: { attempt: number; value: JsonObject }[] = [];
    const wf = workflow({ name: ctx.name("memo") });
    wf.durableTask({
      name: "once",
      retries: 1,
      fn: async (_input, t) => {
        const value = await t.memo("token", () => {
          calls++;
          return { token: crypto.randomUUID(), call: calls };
        });
        seen.push({ attempt: t.attemptNumber, value });
        if (t.attemptNumber === 1) throw new Error("fail after the memo");
        return value;
      },
    });
    await ctx.startWorker([wf]);
    const run = await client.runs.trigger(wf, {});
    const result = await ctx.measure(
      "trigger→result, 2 attempts",
      () => run.result({ signal: ctx.signal }),
    );
    assert.equal(result.status, "COMPLETED", JSON.stringify(result.errors));
    assert.deepEqual(seen.map((s) => s.attempt), [1, 2]);
    assert.equal(calls, 1, "the memoized function ran again on the retry");
    assert.deepEqual(seen[1].value, seen[0].value);
    assert.deepEqual(result.outputs.once, seen[0].value);
  },
};

const lookback: Scenario = {
  name: "durable event log: waitForEvent lookback",
  async run(client, ctx) {
    const key = ctx.name("lookback:shipped");
    const scope = ctx.name("scope");
    const wf = workflow<{ scope: string }>({ name: ctx.name("lookback") });
    wf.durableTask({
      name: "shipped",
      fn: async (input, t) => ({
        event: await t.waitForEvent(key, { scope: input.scope, lookback: "5m" }),
      }),
    });
    await ctx.startWorker([wf]);
    // Both pushed before the task even exists: only the one with the wait's scope may match.
    await client.events.push(key, { which: "other scope" }, { scope: `${scope}-other` });
    await client.events.push(key, { which: "mine" }, { scope });
    const run = await client.runs.trigger(wf, { scope });
    const result = await ctx.measure("trigger→result", () => run.result({ signal: ctx.signal }));
    assert.equal(result.status, "COMPLETED", JSON.stringify(result.errors));
    assert.deepEqual(result.outputs.shipped, { event: { which: "mine" } });
  },
};

const childOnce: Scenario = {
  name: "durable event log: child spawned once across a replay",
  async run(client, ctx) {
    const childRuns: string[] = [];
    const child = workflow<{ n: number }>({ name: ctx.name("child") });
    child.task({
      name: "cube",
      fn: (input, t) => {
        childRuns.push(t.workflowRunId);
        return { cube: input.n ** 3 };
      },
    });
    const spawned: { attempt: number; id: string; output: unknown }[] = [];
    const parent = workflow({ name: ctx.name("parent") });
    parent.durableTask({
      name: "spawn",
      retries: 1,
      fn: async (_input, t) => {
        const ref = await t.spawnChild(child, { n: 3 });
        const done = await ref.result({ signal: t.signal });
        spawned.push({ attempt: t.attemptNumber, id: ref.id, output: done.outputs.cube });
        if (t.attemptNumber === 1) throw new Error("fail after the child finished");
        return { childId: ref.id, cube: done.outputs.cube as JsonObject };
      },
    });
    await ctx.startWorker([parent, child]);
    const run = await client.runs.trigger(parent, {});
    const result = await ctx.measure(
      "trigger→result, 2 attempts",
      () => run.result({ signal: ctx.signal }),
    );
    assert.equal(result.status, "COMPLETED", JSON.stringify(result.errors));
    assert.deepEqual(spawned.map((s) => s.attempt), [1, 2]);
    assert.equal(spawned[1].id, spawned[0].id, "the retry spawned another child");
    assert.deepEqual(result.outputs.spawn, { childId: spawned[0].id, cube: { cube: 27 } });
    // Give a second child the time it would take to run.
    await delay(2_000, ctx.signal);
    assert.deepEqual(childRuns, [spawned[0].id]);
  },
};

const wakeBothPaths: Scenario = {
  name: "durable wake: event log vs legacy",
  timeoutMs: 90_000,
  async run(client, ctx) {
    const samples = 3;
    // A second client whose worker sees a pre-v0.80.0 version picks the legacy path on the same
    // engine. Internal: the ports behind a client, patched as bench/e2e.ts does.
    const legacyClient = ctx.createClient({});
    const legacyPorts = enginePortsOf(legacyClient);
    let versionAsked = 0;
    legacyPorts.dispatcher.getVersion = () => {
      versionAsked++;
      return Promise.resolve("v0.79.0");
    };
    let registered = 0;
    const register = legacyPorts.durable.registerDurableEvent.bind(legacyPorts.durable);
    legacyPorts.durable.registerDurableEvent = (req, options) => {
      registered++;
      return register(req, options);
    };

    const declare = (path: string) => {
      const key = ctx.name(`wake:${path}`);
      const waiting = new Map<string, PromiseWithResolvers<void>>();
      const resumed = new Map<string, number>();
      const wf = workflow<{ id: string }>({ name: ctx.name(`wake-${path}`) });
      wf.durableTask({
        name: "wake",
        fn: async (input, t) => {
          waiting.get(input.id)?.resolve();
          const event = await t.waitForEvent(key, {
            expression: `input.id == ${JSON.stringify(input.id)}`,
          });
          resumed.set(input.id, performance.now());
          return { event };
        },
      });
      const measure = async (runClient: typeof client) => {
        const ms: number[] = [];
        for (let i = 0; i < samples; i++) {
          const id = `${path}-${i}`;
          const started = deferred<void>();
          waiting.set(id, started);
          const run = await runClient.runs.trigger(wf, { id });
          await within(started.promise, ctx.signal, `the ${path} task to wait`);
          // Leave the wait the time to be registered: neither path sees an earlier event here.
          await delay(1_500, ctx.signal);
          const pushedAt = performance.now();
          await runClient.events.push(key, { id });
          const result = await run.result({ signal: ctx.signal });
          assert.equal(result.status, "COMPLETED", JSON.stringify(result.errors));
          assert.deepEqual(result.outputs.wake, { event: { id } });
          ms.push(resumed.get(id)! - pushedAt);
        }
        return ms.sort((a, b) => a - b);
      };
      return { wf, measure };
    };

    const eventLog = declare("log");
    const legacy = declare("legacy");
    await ctx.startWorker([eventLog.wf]);
    await ctx.startWorker([legacy.wf], { client: legacyClient, warmUp: false });
    assert.ok(versionAsked > 0, "the legacy worker did not ask the patched GetVersion");

    const logMs = await eventLog.measure(client);
    const legacyMs = await legacy.measure(legacyClient);
    assert.ok(registered >= samples, `the legacy worker registered ${registered} durable events`);
    const median = (ms: number[]) => ms[Math.floor(ms.length / 2)];
    ctx.record(`push→resume, event log (median of ${samples})`, median(logMs));
    ctx.record(`push→resume, legacy (median of ${samples})`, median(legacyMs));
    ctx.note(
      `durable wake (${ctx.stack}): event log ${logMs.map(formatMs).join(", ")}; legacy ${
        legacyMs.map(formatMs).join(", ")
      }`,
    );
  },
};

/** The durable event-log scenarios, in table order. */
export const durableScenarios: readonly Scenario[] = [
  evictRestore,
  memoReplays,
  lookback,
  childOnce,
  wakeBothPaths,
];
