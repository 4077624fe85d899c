import { describe, expect, it } from "vitest";

import { fromHex, hex } from "../src/bytes.js";
import { cryptoReady } from "../src/crypto.js";
import { HearthError } from "../src/errors.js";
import { RootSeed } from "../src/keys.js";
import {
  canonicalOrigin,
  InviteKey,
  signAuth,
  signDelete,
  signErase,
  signOp,
  signReport,
  signSupportRequest,
  verifyAuth,
  verifyDelete,
  verifyErase,
  verifyInviteRead,
  verifyReport,
  verifySupportRequest,
} from "../src/signing.js";
import { decodeJson } from "../src/wire/codec.js";
import type { OpContent, ReportContent, SupportRequestContent } from "../src/wire/schema.gen.js";
import { detRng } from "./detrng.js";
import { checkSigned } from "./signed.js";
import { vectors } from "./vectors.js";

await cryptoReady();

const doc = vectors("signatures");

function code(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    if (exc instanceof HearthError) return exc.code;
    throw exc;
  }
  return "accepted";
}

const CONTEXTS = ["CTX_OP", "CTX_BINDING", "CTX_INVITE", "CTX_INVITE_READ", "CTX_MSG", "CTX_DELETE", "CTX_ERASE", "CTX_GENESIS", "CTX_AUTH", "CTX_REPORT", "CTX_SUPPORT"];

describe("signatures.json", () => {
  it("has one vector per context (CTX_RISK_ALERT is in risk.json)", () => {
    expect(doc.vectors.map((v: any) => v.context).sort()).toEqual([...CONTEXTS].sort());
  });

  it.each<[string, any]>(doc.vectors.map((v: any): [string, any] => [v.context, v]))("%s: payload and signature", (_c, v) => {
    checkSigned(v);
  });

  // The signer: the vectors' "alice" (DetRng("root/alice")) in the vectors' room.
  const byContext = Object.fromEntries(doc.vectors.map((v: any) => [v.context, v]));
  const room: string = byContext.CTX_OP.json.room;
  const keys = new RootSeed(detRng("root/alice")(32)).roomKeys(room);
  const sigOf = (ctx: string) => byContext[ctx].signature as string;

  it("signs each statement to the vectors' bytes with signing.ts", () => {
    expect(hex(keys.signing.publicKey)).toBe(byContext.CTX_OP.public_key);
    const op = decodeJson<OpContent>("OpContent", byContext.CTX_OP.json);
    expect(hex(signOp(keys, { index: op.index, prev: op.prev, at: op.at, body: op.body }).sig)).toBe(sigOf("CTX_OP"));
    expect(hex(keys.binding())).toBe(sigOf("CTX_BINDING"));

    const rng = detRng("signatures");
    rng(16); // the genesis nonce
    const invite = new InviteKey(rng(32));
    expect(hex(invite.publicKey)).toBe(byContext.CTX_INVITE.public_key);
    const proof = byContext.CTX_INVITE.json;
    expect(hex(invite.prove({ room, index: proof.index, joiner: proof.joiner, boxKey: keys.boxPublic }))).toBe(sigOf("CTX_INVITE"));
    const read = byContext.CTX_INVITE_READ.json;
    expect(hex(invite.proveRead({ room, reader: read.reader, at: read.at }))).toBe(sigOf("CTX_INVITE_READ"));

    const del = decodeJson<any>("DeleteContent", byContext.CTX_DELETE.json);
    const request = signDelete(keys, { target: del.target, sender: del.sender, device: del.device, counter: del.counter, at: del.at });
    expect(hex(request.sig)).toBe(sigOf("CTX_DELETE"));
    const erase = signErase(keys, byContext.CTX_ERASE.json);
    expect(hex(erase.sig)).toBe(sigOf("CTX_ERASE"));

    const auth = decodeJson<any>("AuthContent", byContext.CTX_AUTH.json);
    const authSig = signAuth(keys, { origin: auth.origin, challenge: auth.challenge, expiresAt: auth.expires_at });
    expect(hex(authSig)).toBe(sigOf("CTX_AUTH"));

    const report = decodeJson<ReportContent>("ReportContent", byContext.CTX_REPORT.json);
    expect(hex(signReport(keys, report).sig)).toBe(sigOf("CTX_REPORT"));
    const support = decodeJson<SupportRequestContent>("SupportRequestContent", byContext.CTX_SUPPORT.json);
    expect(hex(signSupportRequest(keys, support).sig)).toBe(sigOf("CTX_SUPPORT"));
  });

  it("verifies each statement, and refuses a tampered one with Python's code", () => {
    const flip = (s: string) => {
      const b = fromHex(s);
      b[0]! ^= 1;
      return b;
    };
    const del = { content: decodeJson<any>("DeleteContent", byContext.CTX_DELETE.json), sig: fromHex(sigOf("CTX_DELETE")) };
    expect(code(() => verifyDelete(del))).toBe("accepted");
    expect(code(() => verifyDelete({ ...del, sig: flip(sigOf("CTX_DELETE")) }))).toBe("msg.bad_signature");
    expect(code(() => verifyDelete({ ...del, content: { ...del.content, counter: 8 } }))).toBe("msg.bad_signature");
    const erase = { content: decodeJson<any>("EraseContent", byContext.CTX_ERASE.json), sig: fromHex(sigOf("CTX_ERASE")) };
    expect(code(() => verifyErase(erase))).toBe("accepted");
    expect(code(() => verifyErase({ ...erase, sig: flip(sigOf("CTX_ERASE")) }))).toBe("msg.bad_signature");
    const report = { content: decodeJson<any>("ReportContent", byContext.CTX_REPORT.json), sig: fromHex(sigOf("CTX_REPORT")) };
    expect(code(() => verifyReport(report))).toBe("accepted");
    expect(code(() => verifyReport({ ...report, content: { ...report.content, reason: "spam" } }))).toBe("msg.bad_signature");
    const support = { content: decodeJson<any>("SupportRequestContent", byContext.CTX_SUPPORT.json), sig: fromHex(sigOf("CTX_SUPPORT")) };
    expect(code(() => verifySupportRequest(support))).toBe("accepted");
    expect(code(() => verifySupportRequest({ ...support, sig: flip(sigOf("CTX_SUPPORT")) }))).toBe("msg.bad_signature");
    // A signer whose id is not a canonical key spelling signs nothing.
    const bad = keys.member.slice(0, -1) + "d";
    expect(code(() => verifyErase({ ...erase, content: { ...erase.content, member: bad } }))).toBe("msg.bad_signature");

    const auth = decodeJson<any>("AuthContent", byContext.CTX_AUTH.json);
    const answer = { key: auth.key, origin: auth.origin, challenge: auth.challenge, expiresAt: auth.expires_at, sig: fromHex(sigOf("CTX_AUTH")) };
    expect(code(() => verifyAuth(answer))).toBe("accepted");
    expect(code(() => verifyAuth({ ...answer, origin: "https://other.example" }))).toBe("auth.bad_signature");
    expect(code(() => verifyAuth({ ...answer, key: bad }))).toBe("auth.bad_signature");

    const read = byContext.CTX_INVITE_READ.json;
    const inviteKey = fromHex(byContext.CTX_INVITE_READ.public_key);
    const readReq = { inviteKey, room, reader: read.reader, at: read.at, sig: fromHex(sigOf("CTX_INVITE_READ")) };
    expect(code(() => verifyInviteRead(readReq))).toBe("accepted");
    expect(code(() => verifyInviteRead({ ...readReq, at: read.at + 1 }))).toBe("auth.bad_signature");
    expect(code(() => verifyInviteRead({ ...readReq, inviteKey: inviteKey.subarray(1) }))).toBe("auth.bad_signature");
  });

  it("refuses an invite secret of the wrong size and never prints one", () => {
    expect(() => new InviteKey(new Uint8Array(31))).toThrow(RangeError);
    const invite = InviteKey.generate();
    expect(String(invite)).toBe("InviteKey(<secret>)");
    expect(invite.publicKey).toHaveLength(32);
    expect(invite.secret).toHaveLength(32);
  });
});

describe("origins (protocol.md 9.1)", () => {
  it.each<[string, any]>(doc.origins.map((o: any): [string, any] => [o.url, o]))("signatures.json: %s", (url, o) => {
    if ("origin" in o) expect(canonicalOrigin(url)).toBe(o.origin);
    else expect(code(() => canonicalOrigin(url))).toBe(o.error);
  });

  // What Python's canonical_origin gives for each (generated with protocol.signing
  // on Python 3.11): null where it raises auth.bad_origin. urlsplit's corners, so that
  // both SDKs agree on every URL a person may configure.
  const PYTHON: [string, string | null][] = [
  ["https://relay.example", "https://relay.example"],
  ["  https://relay.example/  ", "https://relay.example"],
  ["\thttps://relay.example\n", "https://relay.example"],
  ["https://relay.example:", "https://relay.example"],
  ["https://relay.example:0", "https://relay.example:0"],
  ["https://relay.example:443", "https://relay.example"],
  ["http://relay.example:443", "http://relay.example:443"],
  ["https://relay.example:65535", "https://relay.example:65535"],
  ["https://relay.example:65536", null],
  ["https://relay.example:+80", null],
  ["https://relay.example: 80", null],
  ["https://relay.example:8_0", null],
  ["https://relay.example:\u0668\u0660", null],
  ["https://@relay.example", null],
  ["https://a:b@relay.example", null],
  ["https://relay.example@", null],
  ["HTTP://EXAMPLE.COM", "http://example.com"],
  ["https://xn--bcher-kva.example", "https://xn--bcher-kva.example"],
  ["https://b\u00fccher.example", null],
  ["https://\u212aelvin.example", "https://kelvin.example"],
  ["https://[::1]", "https://[::1]"],
  ["https://[::1]:443", "https://[::1]"],
  ["https://[::FFFF:1.2.3.4]:80", "https://[::ffff:1.2.3.4]:80"],
  ["https://[fe80::1%25eth0]:8443", "https://[fe80::1%25eth0]:8443"],
  ["https://[1.2.3.4]", null],
  ["https://[::1", null],
  ["https://::1]", null],
  ["https://[v1.x]", "https://v1.x"],
  ["https://[vz.x]", null],
  ["https://[::1::2]", null],
  ["https://[1:2:3:4:5:6:7:8]", "https://[1:2:3:4:5:6:7:8]"],
  ["https://[1:2:3:4:5:6:7:8:9]", null],
  ["https://[1:2:3:4:5:6:7::]", "https://[1:2:3:4:5:6:7::]"],
  ["https://[::1:2:3:4:5:6:7]", "https://[::1:2:3:4:5:6:7]"],
  ["https://[1::2:3:4:5:6:7:8]", null],
  ["https://[12345::]", null],
  ["https://[::ffff:01.2.3.4]", null],
  ["https://[::ffff:256.2.3.4]", null],
  ["https://[:1::]", null],
  ["https:relay.example", null],
  ["https:/relay.example", null],
  ["//relay.example", null],
  ["relay.example", null],
  ["https:///x", null],
  ["https://?x", null],
  ["https://#x", null],
  ["ht-tp://relay.example", null],
  ["1http://relay.example", null],
  ["https://relay.example/path?q#f", "https://relay.example"],
  ["https://relay.example?x", "https://relay.example"],
  ["https://relay.example#x", "https://relay.example"],
  ["https://RELAY.example.:8080/", "https://relay.example.:8080"],
  ["https://relay.example:00443", "https://relay.example"],
  ["https://r\u00e9lay.example", null],
  ["https://[::1]x:80", "https://[::1]:80"],
  ["https://[::1]\u00e9:80", "https://[::1]:80"],
  ["https://a@b@relay.example", null],
  ["\u0000https://relay.example", "https://relay.example"],
  ["https://relay.ex\tample", "https://relay.example"],
  ["https://relay.example\u001c", "https://relay.example"],
  ["https://relay.example\u0085", "https://relay.example"],
  ["https://[::1%]", null],
  ["https://[::1%a%b]", null],
  ["https://[]", null],
  ["https://[::]:1", "https://[::]:1"],
  ["https://[v1.]", null],
  ["https://[V1.x]", null],
  ["https://[::1]:", "https://[::1]"],
  ["https://relay.example:80:90", null],
  ["https://[::1]:80:90", null],
  ];

  it.each(PYTHON)("as Python: %j", (url, origin) => {
    if (origin !== null) expect(canonicalOrigin(url)).toBe(origin);
    else expect(code(() => canonicalOrigin(url))).toBe("auth.bad_origin");
  });
});
