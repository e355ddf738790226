// gRPC's message framing, shared by the native transport (reading responses) and the mock
// engine's listener (reading requests): a flag byte (bit 0: compressed), a 4-byte big-endian
// length, then the message bytes.

/** One framed message as received: its compressed flag and its bytes. */
export interface Envelope {
  compressed: boolean;
  body: Uint8Array;
}

/**
 * Frames one uncompressed message.
 *
 * @param body The encoded message.
 * @returns The flag byte, the length and the message.
 * @example
 * ```ts
 * import { encodeEnvelope } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...encodeEnvelope(new Uint8Array([7, 8]))], [0, 0, 0, 0, 2, 7, 8]);
 * ```
 */
export function encodeEnvelope(body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(5 + body.byteLength);
  new DataView(out.buffer).setUint32(1, body.byteLength);
  out.set(body, 5);
  return out;
}

/**
 * Cuts a body that arrives in chunks into framed messages.
 *
 * @example
 * ```ts
 * import { EnvelopeSplitter } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * const splitter = new EnvelopeSplitter();
 * splitter.push(new Uint8Array([0, 0, 0, 0, 2, 7]));
 * assert.equal(splitter.next(), undefined);
 * splitter.push(new Uint8Array([8, 1, 0, 0]));
 * assert.deepEqual([...splitter.next()!.body], [7, 8]);
 * assert.equal(splitter.pending, true); // the start of a compressed message
 * ```
 */
export class EnvelopeSplitter {
  #buffer: Uint8Array = new Uint8Array(0);

  /** Whether bytes of an unfinished message are held. */
  get pending(): boolean {
    return this.#buffer.byteLength > 0;
  }

  /**
   * Adds the next chunk of the body.
   *
   * @param chunk The bytes.
   */
  push(chunk: Uint8Array): void {
    if (this.#buffer.byteLength === 0) {
      this.#buffer = chunk;
      return;
    }
    const joined = new Uint8Array(this.#buffer.byteLength + chunk.byteLength);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.byteLength);
    this.#buffer = joined;
  }

  /**
   * Takes the next whole message.
   *
   * @returns The message, or undefined until more bytes arrive.
   */
  next(): Envelope | undefined {
    const buffer = this.#buffer;
    if (buffer.byteLength < 5) return undefined;
    const length = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength).getUint32(1);
    if (buffer.byteLength < 5 + length) return undefined;
    this.#buffer = buffer.subarray(5 + length);
    return { compressed: (buffer[0] & 1) !== 0, body: buffer.subarray(5, 5 + length) };
  }
}
