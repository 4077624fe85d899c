/**
 * Crockford base32 (mirrors `protocol/base32.py`): how a secret is written for a
 * person to read and type. Reading forgives what cannot be wrong: lower case, `O`
 * for `0`, `I` and `L` for `1`, spaces and hyphens as layout.
 */

export const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

const DECODE = new Map<string, number>([...ALPHABET].map((c, i) => [c, i] as [string, number]));
DECODE.set("O", 0).set("I", 1).set("L", 1);
const LAYOUT = new Set([" ", "-", "\t", "\r", "\n"]);

/** A character outside the alphabet and its aliases; `char` is the first one. */
export class BadCharacter extends Error {
  constructor(readonly char: string) {
    super(`${JSON.stringify(char)} is not a Crockford base32 character`);
  }
}

function toBig(data: Uint8Array): bigint {
  let n = 0n;
  for (const b of data) n = (n << 8n) | BigInt(b);
  return n;
}

/** `data` as `len * 8 / 5` characters, big-endian (whole bytes of 5 bits only). */
export function encode(data: Uint8Array): string {
  const n = toBig(data);
  const chars = Math.floor((data.length * 8) / 5);
  let out = "";
  for (let i = 0; i < chars; i++) out += ALPHABET[Number((n >> BigInt(5 * (chars - 1 - i))) & 31n)]!;
  return out;
}

/** `text` in upper case without spaces and hyphens: what `decode` reads. */
export function normalize(text: string): string {
  let out = "";
  for (const c of text.toUpperCase()) if (!LAYOUT.has(c)) out += c;
  return out;
}

/** The `size` bytes that normalized `chars` spell (callers check the length first). */
export function decode(chars: string, size: number): Uint8Array {
  let n = 0n;
  for (const c of chars) {
    const v = DECODE.get(c);
    if (v === undefined) throw new BadCharacter(c);
    n = (n << 5n) | BigInt(v);
  }
  const out = new Uint8Array(size);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  if (n !== 0n) throw new RangeError(`more than ${size} bytes`);
  return out;
}
