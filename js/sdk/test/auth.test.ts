/** The canonical origin and the challenge answer (src/auth.ts), against the vectors and Python itself. */

import { spawnSync } from "node:child_process";

import { beforeAll, describe, expect, it } from "vitest";

import { canonicalOrigin, memberOf, signAuth, signerOf, verifyAuth } from "../src/auth.js";
import { fromBase64, fromHex, hex } from "../src/bytes.js";
import { CTX_AUTH, SigningKey, cryptoReady, verify } from "../src/crypto.js";
import { HearthError } from "../src/errors.js";
import { canonical, decodeJson } from "../src/wire/codec.js";
import type { AuthContent } from "../src/wire/schema.gen.js";
import { pythonCommand } from "./relay.js";
import { REPO, vectors } from "./vectors.js";

beforeAll(() => cryptoReady());

interface OriginCase {
  url: string;
  origin?: string;
  error?: string;
}

function originOrError(url: string): OriginCase {
  try {
    return { url, origin: canonicalOrigin(url) };
  } catch (exc) {
    if (exc instanceof HearthError) return { url, error: exc.code };
    throw exc;
  }
}

/**
 * URLs where a reader other than Python's urlsplit would answer differently: case,
 * default ports, leading zeros, user info, brackets and what may stand in them,
 * stray whitespace and controls, non-ASCII that folds to ASCII, and ports that are
 * not ASCII digits.
 */
const TRICKY = [
  " HTTPS://Relay.Example:443/hearth/ ",
  "https://@relay.example",
  "https://u:p@relay.example",
  "http://relay.example:",
  "http://relay.example:+80",
  "http://relay.example:8:9",
  "http://relay.example:0080",
  "http://relay.example:65535",
  "http://relay.example:65536",
  "HTTP://RELAY.EXAMPLE:0",
  "HtTpS://X.Y:443",
  "http://[::1",
  "http://::1]",
  "http://[127.0.0.1]/",
  "http://[v1.x]:81",
  "http://[vz.x]",
  "http://[FE80::1%Eth0]:80",
  "http://[fe80::1%25eth0]",
  "http://[::1%]",
  "http://abc[::1]:80",
  "http://[::ffff:1.2.3.4]:1",
  "http://[1:2:3:4:5:6:7:8]",
  "http://[1:2:3:4:5:6:7:8:9]",
  "http://[1:2:3:4:5:6:1.2.3.4]",
  "http://[1:2:3:4:5:6:7:1.2.3.4]",
  "http://[::1::2]",
  "http://[:::1]",
  "http://[::]",
  "http://[1::]",
  "http://[::1.2.3]",
  "http://[::1.2.3.04]",
  "http://[::256.1.1.1]",
  "http://[12345::1]",
  "http://[0001:2::]",
  "http://[00001::]",
  "http://[::g]",
  "http://\u212aelvin.example",
  "http://b\u00fccher.example",
  "http://relay.example:\uff18\uff10",
  "http://relay.example:\u0668\u0660",
  "http://relay.example\ufeff",
  "http://relay.example\u0085",
  "\u3000http://relay.example\u3000",
  "\x00\x01http://relay.example\x1c",
  "ht\ttp://rel\nay.example:4\r43",
  "relay.example",
  "//relay.example",
  "https//relay.example",
  "http:relay.example",
  "1http://x",
  "h-t.t+p://x",
  "http://exa mple.com",
  "http://relay.example\\x",
  "http://a@b@relay.example",
  "https://relay.example:443#x",
  "https://relay.example?x",
];

describe("canonicalOrigin", () => {
  it("gives every origin of the vectors, and refuses their non-origins", () => {
    const cases = vectors<{ origins: OriginCase[] }>("signatures").origins;
    expect(cases.length).toBeGreaterThanOrEqual(10);
    for (const c of cases) expect(originOrError(c.url)).toEqual(c);
  });

  it("reads every tricky URL as protocol.signing.canonical_origin does", () => {
    const script = [
      "import json, sys",
      "from protocol.errors import HearthError",
      "from protocol.signing import canonical_origin",
      "out = []",
      "for url in json.load(sys.stdin):",
      "    try:",
      "        out.append({'url': url, 'origin': canonical_origin(url)})",
      "    except HearthError as exc:",
      "        out.append({'url': url, 'error': exc.code})",
      "print(json.dumps(out))",
    ].join("\n");
    const run = spawnSync(pythonCommand(), ["-c", script], { cwd: REPO, input: JSON.stringify(TRICKY), encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const python = JSON.parse(run.stdout) as OriginCase[];
    expect(python.filter((c) => c.origin !== undefined).length).toBeGreaterThan(15);
    expect(python.filter((c) => c.error !== undefined).length).toBeGreaterThan(15);
    expect(TRICKY.map(originOrError)).toEqual(python);
  });
});

describe("signAuth", () => {
  it("signs the canonical AuthContent of the vectors under CTX_AUTH", () => {
    const cases = vectors<{ vectors: Array<{ type: string; json: unknown; public_key: string; signed_bytes: string; signature: string }> }>(
      "signatures",
    ).vectors.filter((v) => v.type === "AuthContent");
    expect(cases.length).toBeGreaterThan(0);
    for (const v of cases) {
      const content = decodeJson<AuthContent>("AuthContent", v.json);
      expect(hex(CTX_AUTH) + hex(canonical("AuthContent", content))).toBe(v.signed_bytes);
      verify(fromHex(v.public_key), CTX_AUTH, canonical("AuthContent", content), fromHex(v.signature));
      const answer = { origin: content.origin, challenge: content.challenge, expiresAt: content.expires_at };
      expect(() => verifyAuth(content.key, answer, fromHex(v.signature))).not.toThrow();
    }
  });

  it("answers as the key's member, and nobody else's signature passes", () => {
    const key = new SigningKey(new Uint8Array(32).fill(7));
    const other = new SigningKey(new Uint8Array(32).fill(8));
    const answer = { origin: "https://relay.example", challenge: fromBase64("2pAGod9gxU9mR7o7bLHXKoDmOjwpZSPoZx4nsYuPhy0="), expiresAt: 1_767_225_660_000 };
    const sig = signAuth(key, answer);
    expect(signAuth(signerOf(key), answer)).toEqual(sig); // Ed25519 is deterministic
    verifyAuth(memberOf(key), answer, sig);
    for (const [member, bad] of [
      [memberOf(other), sig],
      [memberOf(key), signAuth(other, answer)],
      [memberOf(key), signAuth(key, { ...answer, origin: "https://other.example" })],
      [memberOf(key), signAuth(key, { ...answer, expiresAt: answer.expiresAt + 1 })],
    ] as const) {
      expect(() => verifyAuth(member, answer, bad)).toThrow(expect.objectContaining({ code: "auth.bad_signature" }));
    }
  });
});
