import { describe, expect, it } from "vitest";

import { compareStrings } from "../src/bytes.js";

describe("compareStrings", () => {
  it("orders by code point, as Python's sorted() does", () => {
    // U+1F331 (a surrogate pair in UTF-16) sorts after U+FF21 by code point,
    // before it by UTF-16 code unit.
    const words = ["\u{1F331}", "\uFF21", "b", "a", "ab", "\uE000", ""];
    expect([...words].sort(compareStrings)).toEqual(["", "a", "ab", "b", "\uE000", "\uFF21", "\u{1F331}"]);
    expect(compareStrings("x", "x")).toBe(0);
    expect(compareStrings("-", "_")).toBeLessThan(0);
  });
});
