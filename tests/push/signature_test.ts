import assert from "node:assert/strict";
import { createPushHandler, workflow } from "../../mod.ts";
import { actionJson, pushRequest, SECRET, sign } from "./_helpers.ts";

let calls = 0;
const hello = workflow<{ name: string }>({ name: "hello" });
hello.task({
  name: "greet",
  fn: (input) => {
    calls++;
    return { message: `Hello, ${input.name}!` };
  },
});

function handler() {
  return createPushHandler({ workflows: [hello], signingSecret: SECRET });
}

Deno.test("sign() in the tests matches the engine's HMAC-SHA256 hex for a known vector", async () => {
  // printf '{}' | openssl dgst -sha256 -hmac super-secret
  assert.equal(
    await sign("{}", "super-secret"),
    "ebedab85d14ed2bc460bb681e2f006413db768b06a29243e6961bae101af7f00",
  );
});

Deno.test("createPushHandler() accepts a request signed as the engine signs it", async () => {
  await using h = createPushHandler({ workflows: [hello], signingSecret: "super-secret" });
  const response = await h(
    new Request("http://push.test/hatchet/healthcheck", {
      method: "POST",
      headers: {
        "X-Hatchet-Signature": "ebedab85d14ed2bc460bb681e2f006413db768b06a29243e6961bae101af7f00",
      },
      body: "{}",
    }),
  );
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { actions: ["hello:greet"] });
});

Deno.test("createPushHandler() runs a task when the trigger request is signed", async () => {
  await using h = handler();
  const before = calls;
  const response = await h(await pushRequest("/hatchet/trigger", actionJson({})));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
  assert.deepEqual(await response.json(), { message: "Hello, Ada!" });
  assert.equal(calls, before + 1);
});

Deno.test("createPushHandler() answers 401 and runs nothing when the body was tampered with", async () => {
  await using h = handler();
  const before = calls;
  const signed = actionJson({});
  const signature = await sign(signed, SECRET);
  const tampered = signed.replace("Ada", "Eve");
  const response = await h(await pushRequest("/hatchet/trigger", tampered, { signature }));
  assert.equal(response.status, 401);
  assert.deepEqual(await response.json(), {
    error:
      "Invalid X-Hatchet-Signature: expected the hex HMAC-SHA256 of the body with the signing secret",
    retryable: true,
  });
  assert.equal(calls, before);
});

Deno.test("createPushHandler() answers 401 when the request was signed with another secret", async () => {
  await using h = handler();
  const before = calls;
  for (const path of ["/hatchet/trigger", "/hatchet/healthcheck"]) {
    const response = await h(await pushRequest(path, actionJson({}), { secret: "wrong" }));
    assert.equal(response.status, 401, path);
    assert.match((await response.json()).error, /^Invalid X-Hatchet-Signature/);
  }
  assert.equal(calls, before);
});

Deno.test("createPushHandler() answers 401 when the signature header is missing", async () => {
  await using h = handler();
  for (const path of ["/hatchet/trigger", "/hatchet/healthcheck"]) {
    const response = await h(await pushRequest(path, "{}", { secret: null }));
    assert.equal(response.status, 401, path);
    assert.deepEqual(await response.json(), {
      error: "Missing X-Hatchet-Signature header",
      retryable: true,
    });
  }
});

Deno.test("createPushHandler() answers 401 for a signature that is not 64 hex digits", async () => {
  await using h = handler();
  const body = actionJson({});
  const good = await sign(body, SECRET);
  for (
    const signature of [good.slice(0, 62), good + "00", "zz" + good.slice(2), `sha256=${good}`]
  ) {
    const response = await h(await pushRequest("/hatchet/trigger", body, { signature }));
    assert.equal(response.status, 401, signature);
    await response.body?.cancel();
  }
});

Deno.test("createPushHandler() checks the signature before parsing the body", async () => {
  await using h = handler();
  const unsigned = await h(await pushRequest("/hatchet/trigger", "not json", { secret: "wrong" }));
  assert.equal(unsigned.status, 401);
  await unsigned.body?.cancel();
  const signed = await h(await pushRequest("/hatchet/trigger", "not json"));
  assert.equal(signed.status, 400);
  assert.match((await signed.json()).error, /^Malformed task request: /);
});

Deno.test("createPushHandler() answers 404 for other paths and 405 for other methods", async () => {
  await using h = handler();
  const other = await h(await pushRequest("/elsewhere", "{}"));
  assert.equal(other.status, 404);
  assert.equal(
    (await other.json()).error,
    'No Hatchet push route at "/elsewhere": expected POST /hatchet/trigger or /hatchet/healthcheck',
  );
  const get = await h(await pushRequest("/hatchet/healthcheck", "", { method: "GET" }));
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  assert.equal((await get.json()).error, "/hatchet/healthcheck accepts POST only, received GET");
});
