import assert from "node:assert/strict";
import { readWholeBody, WHOLE_BODY_FIRST_BYTES } from "../../transport/native_transport.ts";

/** A response whose body arrives in pieces of the given sizes, bytes numbered mod 251. */
function chunked(sizes: number[]): { response: Response; expected: Uint8Array } {
  const total = sizes.reduce((a, b) => a + b, 0);
  const expected = new Uint8Array(total).map((_, i) => i % 251);
  let offset = 0;
  const pieces = sizes.map((size) => expected.slice(offset, offset += size));
  const source: UnderlyingByteSource = {
    type: "bytes",
    pull(controller) {
      const next = pieces.shift();
      if (next !== undefined) {
        controller.enqueue(next);
        return;
      }
      controller.close();
      // A pending BYOB read settles (done) once its request is answered with no bytes.
      controller.byobRequest?.respond(0);
    },
  };
  const body = new ReadableStream(source);
  return { response: new Response(body), expected };
}

Deno.test("readWholeBody() returns every byte of a body that arrives in many pieces", async () => {
  const { response, expected } = chunked([1, 700, 5_000, 3, 65_536, 200_000, 17]);
  assert.deepEqual(await readWholeBody(response), expected);
  assert.equal(response.bodyUsed, true);
});

Deno.test("readWholeBody() reads a body of exactly the first buffer's size and one byte more", async () => {
  for (const size of [WHOLE_BODY_FIRST_BYTES, WHOLE_BODY_FIRST_BYTES + 1]) {
    const { response, expected } = chunked([size]);
    assert.deepEqual(await readWholeBody(response), expected);
  }
});

Deno.test("readWholeBody() returns no bytes for an empty or absent body", async () => {
  assert.equal((await readWholeBody(new Response(null))).byteLength, 0);
  assert.equal((await readWholeBody(chunked([]).response)).byteLength, 0);
});

Deno.test("readWholeBody() reads a body that is not a byte stream", async () => {
  const expected = new Uint8Array(3_000).map((_, i) => i % 251);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(expected.slice(0, 1_000));
      controller.enqueue(expected.slice(1_000));
      controller.close();
    },
  });
  assert.deepEqual(await readWholeBody(new Response(body)), expected);
});
