import assert from "node:assert/strict";
import { describeError, serializeOutput } from "../../worker/_outcome.ts";
import {
  registerInput,
  releaseVersion,
  supportsSlotConfig,
  versionAtLeast,
} from "../../worker/_registration.ts";

Deno.test("serializeOutput() sends objects as JSON and nothing as an empty payload", () => {
  assert.deepEqual(serializeOutput("t", { a: [1, "x"] }), { ok: true, payload: '{"a":[1,"x"]}' });
  assert.deepEqual(serializeOutput("t", undefined), { ok: true, payload: "" });
  assert.deepEqual(serializeOutput("t", null), { ok: true, payload: "" });
});

Deno.test("serializeOutput() refuses non-objects, cycles and U+0000 with a message", () => {
  assert.deepEqual(serializeOutput("t", 42), {
    ok: false,
    message: 'Task "t" must return a JSON object or nothing, received a number (42)',
  });
  assert.deepEqual(serializeOutput("t", [1]), {
    ok: false,
    message: 'Task "t" must return a JSON object or nothing, received an array',
  });
  assert.deepEqual(serializeOutput("t", "ok"), {
    ok: false,
    message: 'Task "t" must return a JSON object or nothing, received a string ("ok")',
  });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const c = serializeOutput("t", cyclic);
  assert.equal(c.ok, false);
  assert.match(
    (c as { message: string }).message,
    /^Task "t" returned an output that cannot be sent as JSON: it contains a cycle/,
  );
  assert.deepEqual(serializeOutput("t", { s: "a\u0000b" }), {
    ok: false,
    message:
      'Task "t" returned an output that cannot be sent as JSON: the output contains the character U+0000 in the value of "s", which the engine cannot store',
  });
});

Deno.test("describeError() gives name, message, stack frames and causes", () => {
  const err = new RangeError("bad", { cause: new Error("root") });
  const text = describeError(err);
  assert.match(text, /^RangeError: bad\n\s+at /);
  assert.match(text, /\nCaused by: Error: root/);
  assert.equal(describeError("boom"), 'Non-Error value thrown: "boom"');
  assert.equal(describeError({ code: 7 }), 'Non-Error value thrown: {"code":7}');
  assert.equal(describeError(undefined), "Non-Error value thrown: undefined");
  assert.equal(describeError(new Error("a\u0000b")).split("\n")[0], "Error: a\\u0000b");
});

Deno.test("registerInput() sends slot_config from v0.78.23 and slots before", () => {
  const base = {
    workerName: "w",
    actions: ["wf:a"],
    slots: 5,
    durableSlots: 7,
    hasDurable: true,
    hasDefault: true,
    labels: { zone: "eu", gpu: 1 },
    sdkVersion: "0.1.0",
  };
  const modern = registerInput({ ...base, engineVersion: "v0.79.44" });
  assert.deepEqual(modern.slotConfig, { default: 5, durable: 7 });
  assert.equal(modern.slots, undefined);
  assert.deepEqual(modern.labels, { zone: "eu", gpu: 1 });
  assert.deepEqual(modern.services, ["default"]);
  assert.equal(modern.runtimeInfo?.language, "TYPESCRIPT");
  const legacy = registerInput({ ...base, engineVersion: undefined });
  assert.equal(legacy.slotConfig, undefined);
  assert.equal(legacy.slots, 12);
  assert.equal(versionAtLeast("v0.78.23", [0, 78, 23]), true);
  assert.equal(versionAtLeast("v0.78.22", [0, 78, 23]), false);
  assert.equal(versionAtLeast("v1.0.0", [0, 78, 23]), true);
});

Deno.test("registerInput() sends slot_config to any engine that answers GetVersion", () => {
  const base = {
    workerName: "w",
    actions: ["wf:durable"],
    slots: 5,
    durableSlots: 7,
    hasDurable: true,
    hasDefault: false,
    labels: undefined,
    sdkVersion: "0.1.0",
  };
  // Source builds of hatchet-api report this; GetVersion answering at all means >= v0.78.27.
  for (const engineVersion of ["v0.1.0-alpha.0", "", "main-89d130f3", "v0.104.7"]) {
    const input = registerInput({ ...base, engineVersion });
    assert.deepEqual(input.slotConfig, { durable: 7 }, engineVersion);
    assert.equal(input.slots, undefined, engineVersion);
  }
  assert.equal(registerInput({ ...base, engineVersion: "v0.78.22" }).slots, 12);
  assert.equal(supportsSlotConfig(undefined), false);
  assert.deepEqual(releaseVersion("v0.104.7"), [0, 104, 7]);
  assert.equal(releaseVersion("v0.1.0-alpha.0"), undefined);
  assert.equal(versionAtLeast("v0.1.0-alpha.0", [0, 80, 0]), undefined);
  assert.equal(versionAtLeast(undefined, [0, 80, 0]), undefined);
});
