/**
 * Padding plaintexts to a few size buckets so ciphertext lengths leak little
 * (mirrors `protocol/padding.py`, protocol.md 8.4).
 *
 * Scheme (ISO/IEC 7816-4): append one 0x80 byte, then zero bytes up to the smallest
 * bucket that fits. Unpadding strips trailing zeros and the 0x80 marker, and refuses
 * anything else, so every padded length is exactly a bucket size.
 */

import { EnvelopeError } from "./errors.js";

export const BUCKETS: readonly number[] = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
export const MAX_PLAINTEXT = 65536 - 1;

/**
 * Pad `data` to the smallest bucket holding `data.length + 1` bytes, at least `floor`.
 *
 * A `floor` above the first bucket (a bucket itself) hides more: a device-link offer
 * pads to 8192 bytes at least, whatever number of rooms it lists.
 * Throws `EnvelopeError` (`msg.too_large`) past the largest bucket.
 */
export function pad(data: Uint8Array, floor: number = BUCKETS[0]!): Uint8Array {
  const need = data.length + 1;
  for (const size of BUCKETS) {
    if (need <= size && size >= floor) {
      const out = new Uint8Array(size);
      out.set(data);
      out[data.length] = 0x80;
      return out;
    }
  }
  throw new EnvelopeError(`a message is at most ${MAX_PLAINTEXT} bytes before padding`, "msg.too_large");
}

/** Inverse of `pad`; throws `EnvelopeError` (`msg.bad_padding`) on anything it did not make. */
export function unpad(data: Uint8Array): Uint8Array {
  return unpadView(data).slice();
}

/** @internal `unpad` as a view into `data`, for a caller that owns `data` and copies nothing. */
export function unpadView(data: Uint8Array): Uint8Array {
  if (!BUCKETS.includes(data.length)) throw new EnvelopeError("padded length is not a bucket size", "msg.bad_padding");
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  if (end === 0 || data[end - 1] !== 0x80) throw new EnvelopeError("padding marker missing", "msg.bad_padding");
  return data.subarray(0, end - 1);
}
