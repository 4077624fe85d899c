/**
 * A strict MessagePack reader for what arrives over the wire and must decode as
 * msgspec decodes it (protocol.md 2.3: decoding is lenient about *form*, never about
 * content).
 *
 * Lenient, as msgspec is: any integer width (non-shortest forms included), maps
 * with keys in any order, floats of either width (the schema then refuses them where
 * an integer is expected). Strict, as msgspec is: a `str` must be valid UTF-8
 * (`Invalid UTF-8 encoded string`), `str` and `bin` stay apart (a string where bytes
 * are expected is refused by the schema, not read as bytes), extension types and
 * trailing bytes after the value are refused. A general-purpose decoder that maps
 * invalid UTF-8 to replacement characters would let a sender craft a plaintext one
 * SDK shows and the other refuses; this one refuses it in both.
 *
 * Integers beyond 2^53 come back as `bigint`, floats as `WireFloat`; byte strings are views into `data`.
 * Maps come back as objects without a prototype when every key is a string, else as
 * a `Map`. Every failure throws `DecodeError` (`wire.malformed`).
 */

import { DecodeError } from "../errors.js";

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A MessagePack float. The protocol has none; kept apart from numbers so that
 * `1.0` where an integer is expected is refused, as msgspec refuses it.
 */
export class WireFloat {
  constructor(readonly value: number) {}
}
const MAX_DEPTH = 256;

class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.data.length) throw new DecodeError("MessagePack data is malformed: truncated");
    this.pos = at + n;
    return at;
  }

  private u8(): number {
    return this.view.getUint8(this.need(1));
  }
  private u16(): number {
    return this.view.getUint16(this.need(2));
  }
  private u32(): number {
    return this.view.getUint32(this.need(4));
  }

  private uint64(): number | bigint {
    const n = this.view.getBigUint64(this.need(8));
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }

  private int64(): number | bigint {
    const n = this.view.getBigInt64(this.need(8));
    return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }

  private str(length: number): string {
    const at = this.need(length);
    try {
      return UTF8.decode(this.data.subarray(at, at + length));
    } catch {
      throw new DecodeError(`Invalid UTF-8 encoded string (at byte ${at})`);
    }
  }

  private bin(length: number): Uint8Array {
    const at = this.need(length);
    return this.data.subarray(at, at + length);
  }

  private array(length: number, depth: number): unknown[] {
    const out = new Array<unknown>(length > 65536 ? 0 : length);
    for (let i = 0; i < length; i++) out[i] = this.value(depth + 1);
    return out;
  }

  private map(length: number, depth: number): Record<string, unknown> | Map<unknown, unknown> {
    const entries: [unknown, unknown][] = [];
    let allStrings = true;
    for (let i = 0; i < length; i++) {
      const key = this.value(depth + 1);
      if (typeof key !== "string") allStrings = false;
      entries.push([key, this.value(depth + 1)]);
    }
    if (!allStrings) return new Map(entries); // the last of duplicate keys wins, as in msgspec
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of entries) out[k as string] = v;
    return out;
  }

  value(depth = 0): unknown {
    if (depth > MAX_DEPTH) throw new DecodeError("MessagePack data is malformed: nested too deeply");
    const b = this.u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xe0) === 0xa0) return this.str(b & 0x1f);
    if ((b & 0xf0) === 0x90) return this.array(b & 0x0f, depth);
    if ((b & 0xf0) === 0x80) return this.map(b & 0x0f, depth);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.u8());
      case 0xc5:
        return this.bin(this.u16());
      case 0xc6:
        return this.bin(this.u32());
      case 0xca:
        return new WireFloat(this.view.getFloat32(this.need(4)));
      case 0xcb:
        return new WireFloat(this.view.getFloat64(this.need(8)));
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return this.uint64();
      case 0xd0:
        return this.view.getInt8(this.need(1));
      case 0xd1:
        return this.view.getInt16(this.need(2));
      case 0xd2:
        return this.view.getInt32(this.need(4));
      case 0xd3:
        return this.int64();
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default: // 0xc1 (never used) and the extension types
        throw new DecodeError(`MessagePack data is malformed: type 0x${b.toString(16)} is not supported`);
    }
  }

  end(): void {
    if (this.pos !== this.data.length) {
      throw new DecodeError(`MessagePack data is malformed: trailing characters (byte ${this.pos})`);
    }
  }
}

/** The one MessagePack value in `data`, read strictly (see the module comment). */
export function readMsgpack(data: Uint8Array): unknown {
  const reader = new Reader(data);
  const value = reader.value();
  reader.end();
  return value;
}
