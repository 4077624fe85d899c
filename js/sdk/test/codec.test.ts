import { beforeAll, describe, expect, it } from "vitest";
import { encode as msgpackEncode } from "@msgpack/msgpack";

import { fromHex, hex, b64url, b64urlDecode, fromBase64, toBase64 } from "../src/bytes.js";
import { canonical, decodeJson, decodeMsgpack, toJson } from "../src/wire/codec.js";
import { DecodeError } from "../src/errors.js";
import { cryptoReady } from "../src/crypto.js";

beforeAll(() => cryptoReady());

const ROOM = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
const MEMBER = "RdE5tBRSqnojxRgevEl-KWnSGHpxvs4pgwdZRM3Dfcc";
const BOX = fromHex("4d6735970731c80293c01dbc4ef29c2a2fad6263df1c7a0cb23efe50922a4225");

describe("canonical bytes (protocol.md 2.4)", () => {
  it("encodes a Binding as the worked example", () => {
    const bytes = canonical("Binding", { room: ROOM, member: MEMBER, box_key: BOX });
    expect(bytes.length).toBe(134);
    expect(hex(bytes)).toBe(
      "83a4726f6f6dd920" + hex(new TextEncoder().encode(ROOM)) + "a66d656d626572d92b" +
        hex(new TextEncoder().encode(MEMBER)) + "a7626f785f6b6579c420" + hex(BOX),
    );
  });

  it("writes an integer in its shortest form", () => {
    const bytes = canonical("InviteProof", { room: ROOM, index: 300, joiner: MEMBER, box_key: BOX });
    expect(hex(bytes)).toContain("a5696e646578cd012c");
  });

  it("writes 2^53, the protocol's bound for counts, as uint64", () => {
    const bytes = canonical("InviteProof", { room: ROOM, index: 2 ** 53, joiner: MEMBER, box_key: BOX });
    expect(hex(bytes)).toContain("a5696e646578cf0020000000000000");
    const back = decodeJson<Record<string, unknown>>("InviteProof", { room: ROOM, index: 2 ** 53, joiner: MEMBER, box_key: toBase64(BOX) });
    expect(hex(canonical("InviteProof", back))).toBe(hex(bytes));
    expect(() => canonical("InviteProof", { room: ROOM, index: 1.5, joiner: MEMBER, box_key: BOX })).toThrow(TypeError);
  });

  it("writes every string with its shortest header, ASCII or not", () => {
    for (const n of [0, 1, 31, 32, 255, 256, 60_000]) {
      for (const text of ["a".repeat(n), "é" + "a".repeat(Math.max(0, n - 2)), "a".repeat(Math.max(0, n - 1)) + "\u{1f600}"]) {
        const bytes = canonical("Plaintext", { device: new Uint8Array(16), counter: 1, sent_at: 2, body: { type: "text", text } });
        expect(hex(bytes)).toContain("a474657874" + hex(msgpackEncode(text)) + "af636f6e74656e745f7761726e696e67");
        const back = decodeMsgpack<{ body: { text: string } }>("Plaintext", bytes);
        expect(back.body.text).toBe(text);
      }
    }
  });

  it("writes every default, nil included", () => {
    expect(hex(canonical("Policy", {}))).toBe(
      "85a46b696e64a567726f7570ab696e766974655f726f6c65a96d6f64657261746f72" +
        "ad73686172655f686973746f7279c2ab6d61785f6d656d62657273c0ae726574656e74696f6e5f64617973c0",
    );
  });

  it("puts a union member's tag first", () => {
    expect(hex(canonical("LeaveOp", {}))).toBe("81a474797065aa726f6f6d2e6c65617665");
  });

  it("encodes a nested tagged union", () => {
    const bytes = canonical("Plaintext", {
      device: new Uint8Array(16),
      counter: 1,
      sent_at: 1700000000001,
      body: { type: "text", text: "hi" },
    });
    expect(hex(bytes)).toBe(
      "84a6646576696365c41000000000000000000000000000000000a7636f756e74657201" +
        "a773656e745f6174cf0000018bcfe56801a4626f647984a474797065a474657874" +
        "a474657874a26869af636f6e74656e745f7761726e696e67c0a87265706c795f746fc0",
    );
  });

  it("round-trips through MessagePack and JSON", () => {
    const value = { device: new Uint8Array(16).fill(7), counter: 3, sent_at: 5, body: { type: "text", text: "hé" } };
    const bytes = canonical("Plaintext", value);
    const back = decodeMsgpack<Record<string, unknown>>("Plaintext", bytes);
    expect(hex(canonical("Plaintext", back))).toBe(hex(bytes));
    const json = decodeJson<Record<string, unknown>>("Plaintext", toJson("Plaintext", value));
    expect(hex(canonical("Plaintext", json))).toBe(hex(bytes));
  });
});

describe("strict decoding (protocol.md 2.2)", () => {
  it("names the failing path", () => {
    expect(() => decodeJson("Binding", { room: ROOM, member: MEMBER, box_key: 5 })).toThrow(
      /Expected `bytes`, got `int` - at `\$\.box_key`/,
    );
  });

  it("refuses a string where an integer is expected", () => {
    const err = (() => {
      try {
        decodeJson("InviteProof", { room: ROOM, index: "1", joiner: MEMBER, box_key: toBase64(BOX) });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).code).toBe("wire.malformed");
  });

  it("refuses unpadded and url-safe base64", () => {
    expect(fromBase64("YWI=")).toEqual(new TextEncoder().encode("ab"));
    expect(() => fromBase64("YWI")).toThrow(DecodeError);
    expect(() => fromBase64("__4A")).toThrow(DecodeError);
  });

  it("keeps one spelling per id", () => {
    const key = b64urlDecode(MEMBER);
    expect(b64url(key)).toBe(MEMBER);
    expect(() => b64urlDecode(MEMBER.slice(0, -1) + "d")).toThrow(DecodeError);
  });

  it("refuses an unknown tag and fills defaults", () => {
    expect(() => decodeJson("SignedOp", { content: { body: { type: "room.nope" } } })).toThrow(DecodeError);
    const p = decodeJson<Record<string, unknown>>("Policy", { kind: "buddy" });
    expect(p).toEqual({ kind: "buddy", invite_role: "moderator", share_history: false, max_members: null, retention_days: null });
  });
});

describe("the codec's fast paths agree with its general ones", () => {
  it("writes every integer up to 32 bits as the BigInt path writes it", () => {
    const edges = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53];
    for (const edge of edges) {
      for (const v of [edge, -edge, -edge - 1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1]) {
        const asNumber = canonical("InviteProof", { room: ROOM, index: v, joiner: MEMBER, box_key: BOX });
        const asBigInt = canonical("InviteProof", { room: ROOM, index: BigInt(v), joiner: MEMBER, box_key: BOX });
        expect([v, hex(asNumber)]).toEqual([v, hex(asBigInt)]);
      }
    }
    expect(hex(canonical("InviteProof", { room: ROOM, index: -0, joiner: MEMBER, box_key: BOX }))).toBe(
      hex(canonical("InviteProof", { room: ROOM, index: 0, joiner: MEMBER, box_key: BOX })),
    );
  });

  it("counts code points, not UTF-16 units, at a string's bounds", () => {
    const emoji = "\u{1f600}"; // one code point, two UTF-16 units
    const schedule = (start: string) => ({
      type: "schedule",
      title: "t",
      frequency: "weekly",
      start,
      timezone: "UTC",
      duration_minutes: 60,
    });
    const startOf = (text: string) => decodeJson<{ start: string }>("ScheduleBody", schedule(text)).start;
    // `start` is exactly 16 code points.
    expect(startOf(emoji.repeat(16))).toBe(emoji.repeat(16)); // 32 units
    expect(startOf(emoji.repeat(15) + "a")).toBe(emoji.repeat(15) + "a"); // 31 units
    expect(startOf("a".repeat(16))).toBe("a".repeat(16));
    expect(() => startOf(emoji.repeat(8))).toThrow(/length >= 16/); // 16 units, 8 code points
    expect(() => startOf(emoji.repeat(17))).toThrow(/length <= 16/);
    expect(() => startOf("a".repeat(15))).toThrow(/length >= 16/);
    // A text of 60,000 code points may take 120,000 units; one more code point may not.
    const text = (t: string) => decodeJson<{ text: string }>("TextBody", { type: "text", text: t }).text.length;
    expect(text(emoji.repeat(60_000))).toBe(120_000);
    expect(() => text(emoji.repeat(60_001))).toThrow(/length <= 60000/);
    expect(() => text("a".repeat(60_001))).toThrow(/length <= 60000/);
    // A name of one code point is at least one, though it is two units.
    expect(decodeJson<{ name: string }>("MemberProfileBody", { type: "member.profile", name: emoji }).name).toBe(emoji);
    expect(() => decodeJson("MemberProfileBody", { type: "member.profile", name: "" })).toThrow(/length >= 1/);
  });

  it("decodes each tagged union member by its tag, and gives every decode its own default list", () => {
    const plain = { device: toBase64(new Uint8Array(16)), counter: 1, sent_at: 0, body: { type: "reaction", target: "A".repeat(22), emoji: "x" } };
    const a = decodeJson<{ body: { type: string }; skipped: number[] }>("Plaintext", plain);
    const b = decodeJson<{ skipped: number[] }>("Plaintext", plain);
    expect(a.body.type).toBe("reaction");
    expect(a.skipped).toEqual([]);
    a.skipped.push(3);
    expect(b.skipped).toEqual([]);
    expect(() => decodeJson("Plaintext", { ...plain, body: { type: "nope" } })).toThrow(/Invalid value 'nope' - at `\$\.body\.type`/);
    expect(() => decodeJson("Plaintext", { ...plain, body: { type: 5 } })).toThrow(/Expected `str`, got `int`/);
    expect(() => canonical("Plaintext", { ...a, body: { type: "nope" } })).toThrow(/no structure of this union has the tag nope/);
  });
});

describe("dicts from the wire", () => {
  it("keep a __proto__ key as data, never as a prototype", () => {
    const text = '{"code": "x", "message": "m", "detail": {"__proto__": {"polluted": true}, "a": 1}}';
    const body = decodeJson<{ detail: Record<string, unknown> }>("ErrorBody", text);
    expect(Object.getPrototypeOf(body.detail)).toBeNull();
    expect(Object.keys(body.detail)).toEqual(["__proto__", "a"]);
    expect((body.detail as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});
