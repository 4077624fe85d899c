/**
 * Byte helpers with exactly the protocol's spellings (protocol.md 2.1 and 2.2).
 *
 * Two base64 alphabets meet on the wire and must not be confused: `bytes` fields are
 * standard base64 *with* padding; ids are base64url *without* padding and have
 * exactly one spelling. Both decoders are strict and throw `DecodeError`
 * (`wire.malformed`) rather than guess. No Node-only API: these run in browsers.
 */

import { DecodeError } from "./errors.js";

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function table(alphabet: string): Int16Array {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
}
const STD_T = table(STD);
const URL_T = table(URL);

function encode(data: Uint8Array, alphabet: string, pad: boolean): string {
  let out = "";
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + alphabet[n & 63]!;
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i]! << 16;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + (pad ? "==" : "");
  } else if (rest === 2) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8);
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + (pad ? "=" : "");
  }
  return out;
}

function decode(text: string, t: Int16Array, what: string): Uint8Array {
  const bad = () => new DecodeError(`not ${what}: ${JSON.stringify(text.length > 60 ? text.slice(0, 60) + "…" : text)}`);
  if (text.length % 4 === 1) throw bad();
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? t[c]! : -1;
    if (v < 0) throw bad();
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw bad(); // non-zero unused bits: not the one spelling
  return out.subarray(0, o);
}

/** Standard base64 with padding, as `bytes` fields travel in JSON. */
export function toBase64(data: Uint8Array): string {
  return encode(data, STD, true);
}

/** Decode standard padded base64; refuses unpadded input and the url-safe alphabet. */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new DecodeError("base64 must be padded to a multiple of 4");
  let body = text;
  if (body.endsWith("==")) body = body.slice(0, -2);
  else if (body.endsWith("=")) body = body.slice(0, -1);
  return decode(body, STD_T, "standard base64");
}

/** base64url without padding: how ids are spelled. */
export function b64url(data: Uint8Array): string {
  return encode(data, URL, false);
}

/** Decode an id; refuses padding, foreign characters and any non-canonical spelling. */
export function b64urlDecode(text: string): Uint8Array {
  return decode(text, URL_T, "a canonical base64url id");
}

export function hex(data: Uint8Array): string {
  let out = "";
  for (const b of data) out += b.toString(16).padStart(2, "0");
  return out;
}

export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || /[^0-9a-fA-F]/.test(text)) throw new DecodeError("not hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const ENC = new TextEncoder();
const DEC = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return ENC.encode(text);
}

export function fromUtf8(data: Uint8Array): string {
  try {
    return DEC.decode(data);
  } catch {
    throw new DecodeError("not UTF-8");
  }
}

/** ASCII bytes of an id or context string (ids are ASCII by construction). */
export function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 127) throw new DecodeError("not ASCII");
    out[i] = c;
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** 8 bytes big-endian of a non-negative integer up to 2^53. */
export function u64be(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a u64 the protocol uses: ${value}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Byte-wise comparison, as Python compares `bytes`. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * String order as Python compares `str`: by code point. JavaScript's `<` compares
 * UTF-16 code units, which puts a character above U+FFFF (a surrogate pair, 0xD800..)
 * before U+E000..U+FFFF; the two orders agree on everything else, ids included.
 */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** A code unit's place in code point order: surrogates above U+E000..U+FFFF. */
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}
