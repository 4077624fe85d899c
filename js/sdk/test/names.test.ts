import { describe, expect, it } from "vitest";

import { fromHex, fromUtf8 } from "../src/bytes.js";
import { cryptoReady } from "../src/crypto.js";
import { MAX_NAME_CHARS, memberName, nameSkeleton } from "../src/names.js";
import { checkSealed } from "./sealed.js";
import { vectors } from "./vectors.js";

await cryptoReady();

const doc = vectors("names");
const text = (h: string) => fromUtf8(fromHex(h));

function accepted(raw: string): boolean {
  try {
    memberName(raw);
  } catch (exc) {
    expect(exc).toBeInstanceOf(RangeError);
    return false;
  }
  return true;
}

describe("names.json", () => {
  it.each<[number, any]>(doc.vectors.map((v: any, i: number): [number, any] => [i, v]))("member.profile %i opens and seals to the same bytes", (_i, v) => {
    expect(checkSealed("names", v).body.type).toBe("member.profile");
  });

  it.each<[string, any]>(doc.names.map((c: any): [string, any] => [c.input, c]))("name %s", (_h, c) => {
    const raw = text(c.input);
    const nfc = text(c.nfc);
    expect(raw.normalize("NFC")).toBe(nfc);
    expect(accepted(raw)).toBe(c.accepted);
    if (c.accepted) expect(memberName(raw)).toBe(nfc);
  });

  it("exercises both outcomes", () => {
    const n = doc.names.filter((c: any) => c.accepted).length;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(doc.names.length);
  });

  it.each<[string, any]>(doc.skeletons.map((c: any): [string, any] => [c.name, c]))("skeleton %s", (_h, c) => {
    expect(nameSkeleton(text(c.name))).toBe(text(c.skeleton));
  });
});

describe("names as Python judges them", () => {
  // protocol.names.member_name and name_skeleton on Python 3.11 (Unicode 14) for each
  // input: whether it is accepted, and its skeleton. Case folding (ß, final sigma,
  // Cherokee, ligatures), Python's white space (U+0085, U+001C; not U+FEFF), format
  // characters, bidi controls, combining marks and the length limit after NFC.
  const PYTHON: [string, boolean, string][] = [
  ["Stra\u00dfe", true, "strasse"],
  ["STRASSE", true, "strasse"],
  ["\u03a3\u039f\u03a6\u0399\u0391\u03a3", true, "\u03c3o\u03c6la\u03c3"],
  ["\u03c3\u03bf\u03c6\u03b9\u03b1\u03c2", true, "\u03c3o\u03c6ia\u03c3"],
  ["\u13e3herokee", true, "\u13e3herokee"],
  ["\uabb3herokee", true, "\u13e3herokee"],
  ["\ufb01nn", true, "finn"],
  ["\uff46\uff49\uff4e\uff4e", true, "finn"],
  ["\uff33\uff41\uff4d", true, "sam"],
  ["Sam\ufe0f", true, "sam"],
  ["S\u200dam", true, "sam"],
  ["\ufeffSam", true, "sam"],
  ["Sam\ufeff", true, "sam"],
  ["\u0085Sam", false, "sam"],
  ["Sam\u001c", false, "sam"],
  ["\u00a0Sam", false, "sam"],
  ["Sam\u3000Lee", true, "sam lee"],
  ["Sam\u2028", false, "sam"],
  ["\u0301", false, "\u0301"],
  ["a\u0301", true, "\u00e1"],
  ["\u200b", false, ""],
  ["\u200ba", true, "a"],
  ["\u0399an", true, "lan"],
  ["\u0399\u0391\u039d", true, "lan"],
  ["vvill", true, "will"],
  ["VVILL", true, "wlll"],
  ["Barney", true, "bamey"],
  ["lnternet", true, "lntemet"],
  ["1nternet", true, "lntemet"],
  ["|nternet", true, "lntemet"],
  ["\u0405\u0430m", true, "sam"],
  ["\u0555\u054d", true, "ou"],
  ["\u0251lpha", true, "alpha"],
  ["\u0261ood", true, "good"],
  ["\u0131", true, "i"],
  ["\u0130stanbul", true, "i\u0307stanbul"],
  ["K\u212a", true, "kk"],
  ["\u01c5", true, "d\u017e"],
  ["\ufb00", true, "ff"],
  ["\u1f88", true, "\u1f00i"],
  ["\u0390", true, "\u0390"],
  ["\ud835\udd4a\ud835\udd52\ud835\udd5e", true, "sam"],
  ["\ue000x", false, "\ue000x"],
  ["x\ue000", false, "x\ue000"],
  ["\udb80\udc00", false, "\udb80\udc00"],
  ["a\u202ab", false, "ab"],
  ["a\u2066b", false, "ab"],
  ["a\u061cb", false, "ab"],
  ["tab\there", false, "tab here"],
  ["  ", false, ""],
  ["a  b\t\nc", false, "a b c"],
  ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\u0301", false, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\u0301"],
  ["\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5\u00c5", true, "\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5"],
  ["A\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030aA\u030a", true, "\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5\u00e5"],
  ["e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301", true, "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"],
  ["\ud83d\ude00", true, "\ud83d\ude00"],
  ["\ud83d\udc4d\ud83c\udffd", true, "\ud83d\udc4d\ud83c\udffd"],
  ["\ud83c\udff3\ufe0f\u200d\ud83c\udf08", true, "\ud83c\udff3\ud83c\udf08"],
  ["\u180e", false, ""],
  ["\u2800", true, "\u2800"],
  ["\u3164", true, "\u1160"],
  ["\u115f", true, "\u115f"],
  ["\u034f", false, "\u034f"],
  ["\u216b", true, "xll"],
  ["\u2460", true, "l"],
  ["\u338f", true, "kg"],
  ["Zoe\u0308", true, "zo\u00eb"],
  ["\u01c4emal", true, "d\u017eemal"],
  ];

  it.each(PYTHON)("%j", (raw, ok, skeleton) => {
    expect(accepted(raw)).toBe(ok);
    if (ok) expect(memberName(raw)).toBe(raw.normalize("NFC"));
    expect(nameSkeleton(raw)).toBe(skeleton);
  });

  it("limits names to 64 code points after NFC", () => {
    expect(MAX_NAME_CHARS).toBe(64);
    expect(accepted("\u{1F331}".repeat(64))).toBe(true);
    expect(accepted("\u{1F331}".repeat(65))).toBe(false);
  });
});
