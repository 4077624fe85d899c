/**
 * Canonical MessagePack and JSON for every wire structure (protocol.md 2.2 and 2.3).
 *
 * Both directions are driven by the schema that `scripts/gen_ts_schema.py` writes
 * from the Python structures, so field order, defaults, tags and bounds cannot
 * drift between the SDKs:
 *
 * - `canonical(name, value)` writes msgspec's bytes exactly: a map per structure,
 *   tag first, every field present in declaration order, shortest integers, `bin`
 *   for bytes. What is signed or hashed always goes through here, never through
 *   bytes that arrived.
 * - `decodeJson(name, text)` and `decodeMsgpack(name, bytes)` are as strict as
 *   msgspec's decoders: wrong types, out-of-bound values, missing required fields
 *   and unknown tags are `DecodeError` (`wire.malformed`) naming the failing path;
 *   another protocol version in a `v` field is `wire.version`. Keys may come in any
 *   order, defaults fill in, unknown keys are ignored.
 * - `toJson(name, value)` writes JSON with every field, `bytes` as padded base64.
 *
 * Values are plain objects with the fields of the interfaces in `schema.gen.ts`.
 */


import { fromBase64, toBase64 } from "../bytes.js";
import { DecodeError } from "../errors.js";
import { readMsgpack, WireFloat } from "./msgpack.js";
import { SCHEMA } from "./schema.gen.js";
import type { StructDef, TypeDef } from "./types.js";

/** This implementation's protocol version (protocol.md 1.2). */
export const PROTOCOL_VERSION = 2;

type Mode = "json" | "msgpack";

function def(name: string): StructDef {
  const d = SCHEMA[name];
  if (d === undefined) throw new TypeError(`no wire structure is called ${name}`);
  return d;
}

// -- canonical MessagePack ----------------------------------------------------

class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  u16(n: number): void {
    this.room(2);
    this.view.setUint16(this.length, n);
    this.length += 2;
  }

  u32(n: number): void {
    this.room(4);
    this.view.setUint32(this.length, n);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  int(v: number | bigint): void {
    // Every integer-valued double is exact, 2^53 included: the protocol bounds counts at 2^53 (le=2**53).
    if (typeof v === "number") {
      if (!Number.isInteger(v)) throw new TypeError(`not an integer: ${v}`);
      // What fits in 32 bits, without a BigInt per integer; the rest takes the path below.
      if (v >= 0) {
        if (v < 128) return this.byte(v);
        if (v < 256) return (this.byte(0xcc), this.byte(v));
        if (v < 65536) return (this.byte(0xcd), this.u16(v));
        if (v < 4294967296) return (this.byte(0xce), this.u32(v));
      } else {
        if (v >= -32) return this.byte(v & 0xff);
        if (v >= -128) return (this.byte(0xd0), this.byte(v & 0xff));
        if (v >= -32768) return (this.byte(0xd1), this.u16(v & 0xffff));
        if (v >= -2147483648) return (this.byte(0xd2), this.u32(v >>> 0));
      }
    }
    const n = BigInt(v);
    if (n >= 0n) {
      if (n < 128n) this.byte(Number(n));
      else if (n < 256n) (this.byte(0xcc), this.byte(Number(n)));
      else if (n < 65536n) (this.byte(0xcd), this.u16(Number(n)));
      else if (n < 4294967296n) (this.byte(0xce), this.u32(Number(n)));
      else if (n < 18446744073709551616n) {
        this.byte(0xcf);
        this.room(8);
        this.view.setBigUint64(this.length, n);
        this.length += 8;
      } else throw new TypeError("integer out of range");
    } else {
      if (n >= -32n) this.byte(Number(n) & 0xff);
      else if (n >= -128n) (this.byte(0xd0), this.byte(Number(n) & 0xff));
      else if (n >= -32768n) (this.byte(0xd1), this.u16(Number(n) & 0xffff));
      else if (n >= -2147483648n) (this.byte(0xd2), this.u32(Number(n) >>> 0));
      else if (n >= -9223372036854775808n) {
        this.byte(0xd3);
        this.room(8);
        this.view.setBigInt64(this.length, n);
        this.length += 8;
      } else throw new TypeError("integer out of range");
    }
  }

  str(s: string): void {
    // Ids, field names and tags are ASCII: copied as they are, without an encoder call
    // (most of what a room log's bytes hold). Anything else goes through TextEncoder.
    const len = s.length;
    if (len < 256) {
      const head = len < 32 ? 1 : 2;
      this.room(head + len);
      const buf = this.buf;
      const start = this.length + head;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[start + i] = c;
      }
      if (i === len) {
        if (head === 1) buf[this.length] = 0xa0 | len;
        else (buf[this.length] = 0xd9), (buf[this.length + 1] = len);
        this.length = start + len;
        return;
      }
    }
    const b = UTF8.encode(s);
    const n = b.length;
    if (n < 32) this.byte(0xa0 | n);
    else if (n < 256) (this.byte(0xd9), this.byte(n));
    else if (n < 65536) (this.byte(0xda), this.u16(n));
    else (this.byte(0xdb), this.u32(n));
    this.bytes(b);
  }

  /** Bytes already encoded (a field name, a header): short ones copied by hand, cheaper than `set`. */
  raw(b: Uint8Array): void {
    const n = b.length;
    if (n > 24) return this.bytes(b);
    this.room(n);
    const buf = this.buf;
    const at = this.length;
    for (let i = 0; i < n; i++) buf[at + i] = b[i]!;
    this.length = at + n;
  }

  bin(b: Uint8Array): void {
    const n = b.length;
    if (n < 256) (this.byte(0xc4), this.byte(n));
    else if (n < 65536) (this.byte(0xc5), this.u16(n));
    else (this.byte(0xc6), this.u32(n));
    this.bytes(b);
  }

  mapHeader(n: number): void {
    if (n < 16) this.byte(0x80 | n);
    else if (n < 65536) (this.byte(0xde), this.u16(n));
    else (this.byte(0xdf), this.u32(n));
  }

  arrayHeader(n: number): void {
    if (n < 16) this.byte(0x90 | n);
    else if (n < 65536) (this.byte(0xdc), this.u16(n));
    else (this.byte(0xdd), this.u32(n));
  }

  result(): Uint8Array {
    const out = this.buf.slice(0, this.length);
    this.length = 0;
    if (this.buf.length > 1 << 20) this.reset(); // one huge structure does not pin its buffer
    return out;
  }

  reset(): void {
    this.buf = new Uint8Array(1 << 16);
    this.view = new DataView(this.buf.buffer);
    this.length = 0;
  }
}

/** One writer for every `canonical` call (it never calls out while writing), so its buffer grows once. */
const WRITER = new Writer();

const UTF8 = new TextEncoder();

function fieldValue(value: Record<string, unknown>, field: { name: string; default?: unknown }, d: StructDef): unknown {
  const v = value[field.name];
  if (v !== undefined) return v;
  if ("default" in field) return field.default;
  throw new TypeError(`${d.name}.${field.name} is required`);
}

/** Writes one value of a known wire type. */
type Encoder = (w: Writer, value: unknown) => void;

/** The msgpack bytes of a string known when the schema loads: a field name or a tag. */
function strBytes(s: string): Uint8Array {
  const w = new Writer();
  w.str(s);
  return w.result();
}

const STRUCT_ENCODERS = new Map<StructDef, Encoder>();

/**
 * The encoder of structure `d`, built once: its map header, tag and field names as
 * ready bytes, and one encoder per field for its type. This is what `canonical` runs;
 * a commit's 50 shares are 50 small structures, so the per-field work is what counts.
 */
function structEncoder(d: StructDef): Encoder {
  let enc = STRUCT_ENCODERS.get(d);
  if (enc === undefined) {
    enc = buildStructEncoder(d);
    STRUCT_ENCODERS.set(d, enc);
  }
  return enc;
}

function buildStructEncoder(d: StructDef): Encoder {
  const fields = d.fields;
  const n = fields.length;
  const encoders = fields.map((f) => typeEncoder(f.type));
  const keys = fields.map((f) => strBytes(f.name));
  const tagged = d.tag !== null;
  const tag = d.tag === null ? null : strBytes(d.tag);
  const tagPair = d.tag !== null && d.tagField !== null ? concatBytes(strBytes(d.tagField), strBytes(d.tag)) : null;
  const object = (value: unknown): Record<string, unknown> => {
    if (typeof value !== "object" || value === null) throw new TypeError(`${d.name} must be an object`);
    return value as Record<string, unknown>;
  };
  if (d.arrayLike) {
    return (w, value) => {
      const v = object(value);
      w.arrayHeader(n + (tagged ? 1 : 0));
      if (tag !== null) w.raw(tag);
      for (let i = 0; i < n; i++) encoders[i]!(w, fieldValue(v, fields[i]!, d));
    };
  }
  if (!d.omitDefaults) {
    // Every field, in declaration order: the canonical form of every signed structure.
    const head = new Writer();
    head.mapHeader(n + (tagged ? 1 : 0));
    const prefix = tagPair === null ? head.result() : concatBytes(head.result(), tagPair);
    return (w, value) => {
      const v = object(value);
      w.raw(prefix);
      for (let i = 0; i < n; i++) {
        w.raw(keys[i]!);
        encoders[i]!(w, fieldValue(v, fields[i]!, d));
      }
    };
  }
  return (w, value) => {
    const v = object(value);
    const values = fields.map((f) => fieldValue(v, f, d));
    let present = 0;
    for (let i = 0; i < n; i++) if (!isDefault(fields[i]!, values[i])) present++;
    w.mapHeader(present + (tagged ? 1 : 0));
    if (tagPair !== null) w.raw(tagPair);
    for (let i = 0; i < n; i++) {
      if (isDefault(fields[i]!, values[i])) continue;
      w.raw(keys[i]!);
      encoders[i]!(w, values[i]);
    }
  };
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The encoder of one wire type. Scalars take their own writer call when the value
 * has the expected JavaScript type, and `writePlain` otherwise, as before: the bytes
 * are those of `writePlain` in every case.
 */
function typeEncoder(t: TypeDef): Encoder {
  switch (t.k) {
    case "ref": {
      let enc: Encoder | null = null; // resolved on first use: a structure may refer to itself
      return (w, value) => (enc ??= structEncoder(def(t.name)))(w, value);
    }
    case "union": {
      const others = t.types.filter((x) => x.k !== "ref" && x.k !== "none");
      const otherEncoders = new Map<TypeDef, Encoder>();
      return (w, value) => {
        if (value === null) return w.byte(0xc0);
        if (typeof value === "object" && !(value instanceof Uint8Array) && !Array.isArray(value)) {
          const d = pickRef(t.types, value);
          if (d !== null) return structEncoder(d)(w, value);
        }
        const other = others.find((x) => matches(x, value));
        if (other === undefined) throw new TypeError("value matches no member of the union");
        let enc = otherEncoders.get(other);
        if (enc === undefined) {
          enc = typeEncoder(other);
          otherEncoders.set(other, enc);
        }
        return enc(w, value);
      };
    }
    case "list": {
      let item: Encoder | null = null;
      return (w, value) => {
        const items = value as unknown[];
        item ??= typeEncoder(t.item);
        w.arrayHeader(items.length);
        for (const x of items) item(w, x);
      };
    }
    case "dict": {
      let key: Encoder | null = null;
      let val: Encoder | null = null;
      return (w, value) => {
        key ??= typeEncoder(t.key);
        val ??= typeEncoder(t.value);
        const entries = value instanceof Map ? [...value.entries()] : Object.entries(value as object);
        w.mapHeader(entries.length);
        for (const [k, v] of entries) {
          key(w, k);
          val(w, v);
        }
      };
    }
    case "str":
      return (w, value) => (typeof value === "string" ? w.str(value) : writePlain(w, value));
    case "bytes":
      return (w, value) => (value instanceof Uint8Array ? w.bin(value) : writePlain(w, value));
    case "int":
      return (w, value) => (typeof value === "number" || typeof value === "bigint" ? w.int(value) : writePlain(w, value));
    default:
      return writePlain;
  }
}

/** Whether a field holds its default, as msgspec's `omit_defaults` judges it. */
function isDefault(field: { default?: unknown }, value: unknown): boolean {
  if (!("default" in field)) return false;
  const d = field.default;
  if (Array.isArray(d) && Array.isArray(value)) return d.length === 0 && value.length === 0;
  if (d !== null && typeof d === "object") return false;
  return d === value;
}

/** The structures of a union, looked up once per union: a message body's has 19. */
interface UnionRefs {
  readonly defs: readonly StructDef[];
  /** The first structure with each tag, as `defs.find((d) => d.tag === tag)` would find it. */
  readonly byTag: ReadonlyMap<string | null, StructDef>;
}

const UNIONS = new WeakMap<readonly TypeDef[], UnionRefs>();

function unionRefs(types: readonly TypeDef[]): UnionRefs {
  let u = UNIONS.get(types);
  if (u === undefined) {
    const defs = types.filter((t): t is { k: "ref"; name: string } => t.k === "ref").map((t) => def(t.name));
    const byTag = new Map<string | null, StructDef>();
    for (const d of defs) if (!byTag.has(d.tag)) byTag.set(d.tag, d);
    u = { defs, byTag };
    UNIONS.set(types, u);
  }
  return u;
}

function pickRef(types: readonly TypeDef[], value: unknown): StructDef | null {
  const { defs, byTag } = unionRefs(types);
  if (defs.length === 0) return null;
  if (defs.length === 1) return defs[0]!;
  const tagField = defs[0]!.tagField;
  const tag = tagField === null ? undefined : (value as Record<string, unknown>)[tagField];
  const found = typeof tag === "string" ? byTag.get(tag) : undefined; // tags are strings: no other value finds one
  if (found === undefined) throw new TypeError(`no structure of this union has the tag ${String(tag)}`);
  return found;
}

function matches(t: TypeDef, value: unknown): boolean {
  switch (t.k) {
    case "str":
      return typeof value === "string";
    case "int":
      return typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value));
    case "bytes":
      return value instanceof Uint8Array;
    case "bool":
      return typeof value === "boolean";
    case "lit":
      return t.values.includes(value as string | number);
    case "list":
      return Array.isArray(value);
    case "dict":
      return typeof value === "object" && value !== null;
    default:
      return true;
  }
}

/** Encode a value with no schema: maps in insertion order, for `any` fields. */
function writePlain(w: Writer, value: unknown): void {
  if (value === null || value === undefined) return w.byte(0xc0);
  if (value === true) return w.byte(0xc3);
  if (value === false) return w.byte(0xc2);
  if (typeof value === "number" || typeof value === "bigint") return w.int(value);
  if (typeof value === "string") return w.str(value);
  if (value instanceof Uint8Array) return w.bin(value);
  if (Array.isArray(value)) {
    w.arrayHeader(value.length);
    for (const v of value) writePlain(w, v);
    return;
  }
  const entries = Object.entries(value as object);
  w.mapHeader(entries.length);
  for (const [k, v] of entries) {
    w.str(k);
    writePlain(w, v);
  }
}

/** Canonical MessagePack bytes of the wire structure `name`: what is hashed and signed. */
export function canonical(name: string, value: unknown): Uint8Array {
  const d = def(name);
  WRITER.length = 0; // a write that threw left its bytes behind
  structEncoder(d)(WRITER, value);
  return WRITER.result();
}

// -- decoding -----------------------------------------------------------------

function typeName(value: unknown, mode: Mode): string {
  if (value === null) return "null";
  if (typeof value === "string") return "str";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "bigint") return "int";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (value instanceof Uint8Array) return "bytes";
  if (value instanceof WireFloat) return "float";
  if (Array.isArray(value)) return "array";
  return mode === "json" ? "object" : "map";
}

function fail(message: string, path: string, code?: string): never {
  throw new DecodeError(`${message} - at \`${path}\``, code);
}

function expected(what: string, value: unknown, path: string, mode: Mode): never {
  fail(`Expected \`${what}\`, got \`${typeName(value, mode)}\``, path);
}

/** Python's `re.search` treats `$` as "end, or before a final newline"; so does this. */
const PATTERNS = new Map<string, RegExp>();
function pattern(p: string): RegExp {
  let re = PATTERNS.get(p);
  if (re === undefined) {
    re = new RegExp(p.endsWith("$") && !p.endsWith("\\$") ? p.slice(0, -1) + "\\n?$" : p, "u");
    PATTERNS.set(p, re);
  }
  return re;
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Typed arrays up to this size live inside V8's heap: copying one is a small allocation. */
const SMALL_BYTES = 64;

function decodeValue(t: TypeDef, value: unknown, path: string, mode: Mode, field: string): unknown {
  switch (t.k) {
    case "str": {
      if (typeof value !== "string") expected("str", value, path, mode);
      // Bounds count code points, and a string of L UTF-16 units has between L/2 and L of
      // them: only a string near a bound needs counting (a 1 KiB text never does).
      const units = value.length;
      if ((t.max !== undefined && units > t.max) || (t.min !== undefined && units < 2 * t.min)) {
        const n = codePoints(value);
        if (t.min !== undefined && n < t.min) fail(`Expected \`str\` of length >= ${t.min}`, path);
        if (t.max !== undefined && n > t.max) fail(`Expected \`str\` of length <= ${t.max}`, path);
      }
      if (t.pattern !== undefined && !pattern(t.pattern).test(value)) {
        fail(`Expected \`str\` matching regex ${JSON.stringify(t.pattern)}`, path);
      }
      return value;
    }
    case "int": {
      let n: number;
      if (typeof value === "bigint") {
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
          if (t.le !== undefined && value > BigInt(t.le)) fail(`Expected \`int\` <= ${t.le}`, path);
          if (t.ge !== undefined && value < BigInt(t.ge)) fail(`Expected \`int\` >= ${t.ge}`, path);
          return value;
        }
        n = Number(value);
      } else if (typeof value === "number" && Number.isInteger(value)) {
        n = value;
      } else expected("int", value, path, mode);
      if (t.ge !== undefined && n < t.ge) fail(`Expected \`int\` >= ${t.ge}`, path);
      if (t.le !== undefined && n > t.le) fail(`Expected \`int\` <= ${t.le}`, path);
      return n;
    }
    case "bytes": {
      let b: Uint8Array;
      if (mode === "json") {
        if (typeof value !== "string") expected("bytes", value, path, mode);
        try {
          b = fromBase64(value);
        } catch {
          fail("Invalid base64 encoded string", path);
        }
      } else {
        if (!(value instanceof Uint8Array)) expected("bytes", value, path, mode);
        // MessagePack's decoder gives views into the input. A small field (an id, a
        // key, a nonce) is copied, cheap inside V8's heap, so that it never keeps a
        // whole decrypted plaintext or frame alive; a large one stays a view.
        b = value.length <= SMALL_BYTES ? value.slice() : value;
      }
      if (t.min !== undefined && b.length < t.min) fail(`Expected \`bytes\` of length >= ${t.min}`, path);
      if (t.max !== undefined && b.length > t.max) fail(`Expected \`bytes\` of length <= ${t.max}`, path);
      return b;
    }
    case "bool":
      if (typeof value !== "boolean") expected("bool", value, path, mode);
      return value;
    case "none":
      if (value !== null) expected("null", value, path, mode);
      return null;
    case "any":
    case "raw":
      return value;
    case "lit": {
      if (t.values.includes(value as string | number)) return value;
      if (typeof value === "bigint" && t.values.includes(Number(value))) return Number(value);
      const ints = t.values.every((v) => typeof v === "number");
      if (ints && field === "v" && (typeof value === "number" || typeof value === "bigint")) {
        fail(
          `protocol version ${String(value)} is not understood here: this implementation speaks version ${PROTOCOL_VERSION}`,
          path,
          "wire.version",
        );
      }
      if (ints ? typeof value !== "number" : typeof value !== "string") expected(ints ? "int" : "str", value, path, mode);
      fail(`Invalid enum value ${typeof value === "string" ? `'${value}'` : String(value)}`, path);
    }
    // falls through: fail() never returns
    case "list": {
      if (!Array.isArray(value)) expected("array", value, path, mode);
      if (t.min !== undefined && value.length < t.min) fail(`Expected \`array\` of length >= ${t.min}`, path);
      if (t.max !== undefined && value.length > t.max) fail(`Expected \`array\` of length <= ${t.max}`, path);
      return value.map((item, i) => decodeValue(t.item, item, `${path}[${i}]`, mode, ""));
    }
    case "dict": {
      const entries = dictEntries(value, path, mode);
      if (t.min !== undefined && entries.length < t.min) fail(`Expected \`object\` of length >= ${t.min}`, path);
      if (t.max !== undefined && entries.length > t.max) fail(`Expected \`object\` of length <= ${t.max}`, path);
      // No prototype: a key "__proto__" from the wire is a key like any other,
      // never the object's prototype.
      const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const [k, v] of entries) {
        const key = decodeValue(t.key, k, `${path}[...]`, mode, "") as string;
        out[key] = decodeValue(t.value, v, `${path}[${JSON.stringify(k)}]`, mode, "");
      }
      return out;
    }
    case "ref":
      return decodeStruct(def(t.name), value, path, mode, false);
    case "union":
      return decodeUnion(t.types, value, path, mode, field);
  }
}

function dictEntries(value: unknown, path: string, mode: Mode): [unknown, unknown][] {
  if (value instanceof Map) return [...value.entries()];
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    expected(mode === "json" ? "object" : "map", value, path, mode);
  }
  return Object.entries(value);
}

function decodeUnion(types: readonly TypeDef[], value: unknown, path: string, mode: Mode, field: string): unknown {
  if (value === null) {
    if (types.some((t) => t.k === "none")) return null;
  }
  const { defs, byTag } = unionRefs(types);
  const isObject = typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
  if (defs.length > 0 && isObject) {
    if (defs.length === 1) return decodeStruct(defs[0]!, value, path, mode, false);
    const tagField = defs[0]!.tagField!;
    const tag = (value as Record<string, unknown>)[tagField];
    if (tag === undefined) fail(`Object missing required field \`${tagField}\``, path);
    if (typeof tag !== "string") expected("str", tag, `${path}.${tagField}`, mode);
    const d = byTag.get(tag);
    if (d === undefined) fail(`Invalid value '${tag}'`, `${path}.${tagField}`);
    return decodeStruct(d, value, path, mode, true);
  }
  for (const t of types) {
    if (t.k === "none" || t.k === "ref") continue;
    if (t.k === "int" && (typeof value === "number" || typeof value === "bigint")) return decodeValue(t, value, path, mode, field);
    if (t.k === "str" && typeof value === "string") return decodeValue(t, value, path, mode, field);
    if (t.k === "bytes" && (mode === "json" ? typeof value === "string" : value instanceof Uint8Array)) {
      return decodeValue(t, value, path, mode, field);
    }
    if (t.k === "bool" && typeof value === "boolean") return value;
    if (t.k === "list" && Array.isArray(value)) return decodeValue(t, value, path, mode, field);
    if (t.k === "lit" && t.values.includes(value as string | number)) return value;
    if ((t.k === "dict" && isObject) || t.k === "any" || t.k === "raw") return decodeValue(t, value, path, mode, field);
  }
  const names = types.map((t) => (t.k === "ref" ? "object" : t.k === "none" ? "null" : t.k === "list" ? "array" : t.k));
  fail(`Expected \`${names.join(" | ")}\`, got \`${typeName(value, mode)}\``, path);
}

function decodeStruct(d: StructDef, value: unknown, path: string, mode: Mode, tagChecked: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (d.arrayLike) {
    if (!Array.isArray(value)) expected("array", value, path, mode);
    let i = 0;
    if (d.tag !== null) {
      if (value[0] !== d.tag) fail(`Invalid value '${String(value[0])}'`, `${path}[0]`);
      i = 1;
    }
    const n = d.fields.length;
    const given = value.length - i;
    for (let f = 0; f < n; f++) {
      const field = d.fields[f]!;
      if (f < given) out[field.name] = decodeValue(field.type, value[f + i], `${path}[${f + i}]`, mode, field.name);
      else if ("default" in field) out[field.name] = cloneDefault(field.default, field.type, mode);
      else fail(`Expected \`array\` of at least length ${n + i}, got ${value.length}`, path);
    }
    if (given > n && d.forbidUnknown) fail(`Expected \`array\` of at most length ${n + i}, got ${value.length}`, path);
    return out;
  }
  let source: Record<string, unknown>;
  if (value instanceof Map) source = Object.fromEntries(value);
  else if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    expected(mode === "json" ? "object" : "map", value, path, mode);
  } else source = value as Record<string, unknown>;
  if (d.tag !== null && d.tagField !== null) {
    if (!tagChecked) {
      const tag = source[d.tagField];
      if (tag === undefined) fail(`Object missing required field \`${d.tagField}\``, path);
      if (tag !== d.tag) fail(`Invalid value '${String(tag)}'`, `${path}.${d.tagField}`);
    }
    out[d.tagField] = d.tag;
  }
  for (const field of d.fields) {
    const v = Object.prototype.hasOwnProperty.call(source, field.name) ? source[field.name] : undefined;
    if (v !== undefined) out[field.name] = decodeValue(field.type, v, `${path}.${field.name}`, mode, field.name);
    else if ("default" in field) out[field.name] = cloneDefault(field.default, field.type, mode);
    else fail(`Object missing required field \`${field.name}\``, path);
  }
  if (d.forbidUnknown) {
    const known = new Set(d.fields.map((f) => f.name));
    if (d.tagField !== null) known.add(d.tagField);
    for (const k of Object.keys(source)) if (!known.has(k)) fail(`Object contains unknown field \`${k}\``, path);
  }
  return out;
}

function cloneDefault(value: unknown, t: TypeDef, _mode: Mode): unknown {
  if (value === null || typeof value !== "object") {
    if (typeof value === "string" && t.k === "bytes") return fromBase64(value);
    return value;
  }
  if (Array.isArray(value) && value.length === 0) return []; // the usual default (`skipped`), without structuredClone's cost
  return structuredClone(value);
}

/** Decode JSON text (or an already parsed JSON value) into the wire structure `name`. */
export function decodeJson<T>(name: string, text: string | unknown): T {
  let value: unknown = text;
  if (typeof text === "string") {
    try {
      value = JSON.parse(text);
    } catch (exc) {
      throw new DecodeError(`JSON is malformed: ${(exc as Error).message}`);
    }
  }
  return decodeStruct(def(name), value, "$", "json", false) as T;
}

/** Decode MessagePack (leniently: any field order, non-shortest forms) into `name`. */
export function decodeMsgpack<T>(name: string, data: Uint8Array): T {
  return decodeStruct(def(name), readMsgpack(data), "$", "msgpack", false) as T;
}

function jsonValue(t: TypeDef, value: unknown): unknown {
  switch (t.k) {
    case "bytes":
      return toBase64(value as Uint8Array);
    case "int":
      return typeof value === "bigint" ? value : value;
    case "ref":
      return jsonStruct(def(t.name), value);
    case "list":
      return (value as unknown[]).map((v) => jsonValue(t.item, v));
    case "dict": {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as object)) out[k] = jsonValue(t.value, v);
      return out;
    }
    case "union": {
      if (value === null) return null;
      if (typeof value === "object" && !(value instanceof Uint8Array) && !Array.isArray(value)) {
        const d = pickRef(t.types, value);
        if (d !== null) return jsonStruct(d, value);
      }
      const other = t.types.find((x) => x.k !== "ref" && x.k !== "none" && matches(x, value));
      return other === undefined ? value : jsonValue(other, value);
    }
    default:
      return value instanceof Uint8Array ? toBase64(value) : value;
  }
}

function jsonStruct(d: StructDef, value: unknown): unknown {
  const v = value as Record<string, unknown>;
  if (d.arrayLike) {
    const out: unknown[] = d.tag !== null ? [d.tag] : [];
    for (const f of d.fields) out.push(jsonValue(f.type, fieldValue(v, f, d)));
    return out;
  }
  const out: Record<string, unknown> = {};
  if (d.tag !== null && d.tagField !== null) out[d.tagField] = d.tag;
  for (const f of d.fields) {
    const x = fieldValue(v, f, d);
    if (!(d.omitDefaults && isDefault(f, x))) out[f.name] = jsonValue(f.type, x);
  }
  return out;
}

/** The JSON value (ready for `JSON.stringify`) of the wire structure `name`. */
export function toJsonValue(name: string, value: unknown): unknown {
  return jsonStruct(def(name), value);
}

/** JSON text of the wire structure `name`, as requests and frames carry it. */
export function toJson(name: string, value: unknown): string {
  return JSON.stringify(toJsonValue(name, value), (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v));
}

/** Fill in defaults and order fields: a structure value as the decoder would give it. */
export function make<T>(name: string, fields: Partial<T> & Record<string, unknown>): T {
  const d = def(name);
  const out: Record<string, unknown> = {};
  if (d.tag !== null && d.tagField !== null) out[d.tagField] = d.tag;
  for (const f of d.fields) out[f.name] = fieldValue(fields, f, d);
  return out as T;
}
