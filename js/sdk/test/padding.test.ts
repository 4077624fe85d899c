import { describe, expect, it } from "vitest";

import { EnvelopeError } from "../src/errors.js";
import { BUCKETS, MAX_PLAINTEXT, pad, unpad, unpadView } from "../src/padding.js";

function code(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    expect(exc).toBeInstanceOf(EnvelopeError);
    return (exc as EnvelopeError).code;
  }
  return "accepted";
}

describe("padding (protocol.md 8.4)", () => {
  it("pads to the smallest bucket holding the data and its marker", () => {
    expect(pad(new Uint8Array(0)).length).toBe(256);
    expect(pad(new Uint8Array(255)).length).toBe(256);
    expect(pad(new Uint8Array(256)).length).toBe(512);
    expect(pad(new Uint8Array(MAX_PLAINTEXT)).length).toBe(65536);
    expect(pad(new Uint8Array(3), 8192).length).toBe(8192);
    expect(pad(new Uint8Array(9000), 8192).length).toBe(16384);
    const p = pad(Uint8Array.from([1, 0, 0]));
    expect([...p.subarray(0, 5)]).toEqual([1, 0, 0, 0x80, 0]);
  });

  it("unpads what it padded, trailing zeros of the data included", () => {
    for (const n of [0, 1, 255, 256, 1000, MAX_PLAINTEXT]) {
      const data = new Uint8Array(n).fill(0);
      if (n > 0) data[0] = 7;
      expect(unpad(pad(data))).toEqual(data);
    }
    expect(BUCKETS).toHaveLength(9);
  });

  it("refuses what it did not make, with Python's codes", () => {
    expect(code(() => pad(new Uint8Array(MAX_PLAINTEXT + 1)))).toBe("msg.too_large");
    expect(code(() => unpad(new Uint8Array(255)))).toBe("msg.bad_padding");
    expect(code(() => unpad(new Uint8Array(256)))).toBe("msg.bad_padding");
    const noMarker = new Uint8Array(256);
    noMarker[10] = 0x7f;
    expect(code(() => unpad(noMarker))).toBe("msg.bad_padding");
    const full = new Uint8Array(256).fill(1);
    expect(code(() => unpad(full))).toBe("msg.bad_padding");
  });

  it("unpads in place as a view, and as a copy of its own", () => {
    for (const n of [0, 1, 255, 256, 1000, MAX_PLAINTEXT]) {
      const data = new Uint8Array(n).fill(0);
      if (n > 0) data[0] = 7;
      const padded = pad(data);
      const view = unpadView(padded);
      const copy = unpad(padded);
      expect(view).toEqual(data);
      expect(copy).toEqual(data);
      expect(view.buffer).toBe(padded.buffer);
      expect(copy.buffer).not.toBe(padded.buffer);
    }
    for (const bad of [new Uint8Array(255), new Uint8Array(256), new Uint8Array(256).fill(1)]) {
      expect(code(() => unpadView(bad))).toBe(code(() => unpad(bad)));
    }
  });
});
