import { describe, expect, it } from "vitest";

import { ascii, concat, fromHex, hex, utf8 } from "../src/bytes.js";
import { AD_LINK, aeadEncrypt, BoxPrivateKey, boxShared, CTX_AUTH, cryptoReady, verify } from "../src/crypto.js";
import { pad } from "../src/padding.js";
import { HearthError, LinkError } from "../src/errors.js";
import { memberKey } from "../src/ids.js";
import {
  checkVerifiedHead,
  type Document,
  type Entry,
  LINK_PAD_FLOOR,
  LinkCode,
  merge,
  openAnswer,
  openDocument,
  openHello,
  openLink,
  padDocument,
  PersonalKeys,
  sealAnswer,
  sealDocument,
  sealHello,
  sealLink,
  shortCode,
  unpadDocument,
} from "../src/personal.js";
import { signAuth, verifyAuth } from "../src/signing.js";
import { canonical, decodeJson } from "../src/wire/codec.js";
import type { LinkPayload } from "../src/wire/schema.gen.js";
import { detRng } from "./detrng.js";
import { vectors } from "./vectors.js";

await cryptoReady();

const link = vectors("keys").device_link;

function code(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    if (exc instanceof HearthError) return exc.code;
    throw exc;
  }
  return "accepted";
}

describe("keys.json device_link (protocol.md 15.1)", () => {
  const h = fromHex;
  const code_ = LinkCode.parse(link.code);
  const hello = new BoxPrivateKey(h(link.hello_seed));
  const answer = new BoxPrivateKey(h(link.answer_seed));

  it("reads the code, derives the ids, the code key, the shared secret and the short code", () => {
    expect(hex(code_.secret)).toBe(link.secret);
    expect(code_.text).toBe(link.code);
    expect(new LinkCode(h(link.secret)).text).toBe(link.code);
    for (const seed of [h(link.hello_seed), h(link.answer_seed)]) {
      // Written clamped: a bit X25519 ignores must not pass unnoticed when edited.
      expect(seed[0]! & 7).toBe(0);
      expect(seed[31]! & 0xc0).toBe(0x40);
    }
    expect(hex(hello.publicKey)).toBe(link.hello_public);
    expect(hex(answer.publicKey)).toBe(link.answer_public);
    expect([code_.rendezvous, code_.answerRendezvous, code_.rootRendezvous]).toEqual([link.hello_id, link.answer_id, link.root_id]);
    expect(hex(code_.key())).toBe(link.code_key);
    expect(hex(boxShared(answer, h(link.hello_public)))).toBe(link.shared);
    expect(hex(boxShared(hello, h(link.answer_public)))).toBe(link.shared);
    expect(shortCode(code_, h(link.hello_public), h(link.answer_public))).toBe(link.short_code);
  });

  it("opens the hello, the answer and the root box", () => {
    expect(hex(openHello(code_, h(link.hello_box)).box_key)).toBe(link.hello_public);
    expect(hex(openAnswer(code_, h(link.answer_box)).box_key)).toBe(link.answer_public);
    const payload = openLink(code_, h(link.root_box), { answer, helloKey: h(link.hello_public) });
    expect(payload).toEqual(decodeJson<LinkPayload>("LinkPayload", link.payload));
    expect(h(link.root_box)).toHaveLength(24 + LINK_PAD_FLOOR + 16);
  });

  it("seals the three boxes to the vectors' bytes from their stream", () => {
    const rng = () => detRng("device-link/box");
    expect(hex(sealHello(code_, { type: "link.hello", box_key: hello.publicKey }, rng()))).toBe(link.hello_box);
    expect(hex(sealAnswer(code_, { type: "link.answer", box_key: answer.publicKey }, rng()))).toBe(link.answer_box);
    const payload = decodeJson<LinkPayload>("LinkPayload", link.payload);
    expect(hex(sealLink(code_, payload, { hello, answerKey: answer.publicKey, rng: rng() }))).toBe(link.root_box);
  });

  it("refuses a box under another code or id, a refusal and a bad hello key with Python's codes", () => {
    const other = LinkCode.generate();
    expect(code(() => openHello(other, h(link.hello_box)))).toBe("link.bad_box");
    expect(code(() => openAnswer(code_, h(link.hello_box)))).toBe("link.bad_box"); // the hello's id is not the answer's
    expect(code(() => openHello(code_, h(link.hello_box).subarray(0, 30)))).toBe("link.bad_box");
    const refused = sealLink(code_, { type: "link.refused" }, { hello, answerKey: answer.publicKey });
    expect(refused).toHaveLength(24 + LINK_PAD_FLOOR + 16);
    expect(code(() => openLink(code_, refused, { answer, helloKey: hello.publicKey }))).toBe("link.refused");
    const stranger = new BoxPrivateKey(new Uint8Array(32).fill(8));
    expect(code(() => openLink(code_, h(link.root_box), { answer: stranger, helloKey: hello.publicKey }))).toBe("link.bad_box");
    expect(code(() => openLink(code_, h(link.root_box), { answer, helloKey: new Uint8Array(32) }))).toBe("link.bad_box");
    // A hello box holds a hello: an answer sealed under the hello's key and id is none.
    const nonce = new Uint8Array(24);
    const answerValue = pad(canonical("LinkAnswer", { type: "link.answer", box_key: answer.publicKey }), 256);
    const wrongKind = concat(nonce, aeadEncrypt(code_.key(), nonce, answerValue, concat(AD_LINK, ascii(code_.rendezvous))));
    expect(code(() => openHello(code_, wrongKind))).toBe("link.bad_box");
  });
});

const PY = 
{"member": "QAp2xCiE-PDEctpNVCVriSVG2HelILvZkY7dsfj8PgY", "ids": {"rooms": "J4-xslNfjeyjcGGnL6FWIQ", "notes": "mBte3libcDw0o3cFqtA4Cw", "settings": "s46hGSQ9uusQtrJ0IZ8qng", "blocked": "7UXZDE7ednoBaxKhekZu4Q", "\u00e9\u540d\ud83c\udf31": "DmsZ3xzRAB70APLD0Gh56g"}, "doc_canonical": "81a7656e747269657384a16283a576616c7565c40101a2617405a6646576696365c41001010101010101010101010101010101a16183a576616c7565c0a2617407a6646576696365c41002020202020202020202020202020202a4f09f8cb183a576616c7565c400a2617401a6646576696365c41003030303030303030303030303030303a3efbca183a576616c7565c40178a2617402a6646576696365c41004040404040404040404040404040404", "sealed": "52c7039d23c3e9c362a4d9555887d5cf971db7ace2974ea9915566d82999db86922dfaa3135dd4ecc4f88df7bdba516b4c5f00da00e5a4ac3982aa834a11d8ede1bb59527752b3af5baaed4bc9413d94573d5e4bfdf1aa0a15a353390d0791806f24e90350a2a31dc0b166cff8117aaf4bdc31f73a0de4bc0148133a6c8fc5a39901f0c8cc3524cbc3b6a9ee9245c83a1507367686b48fe8d243cc894224b3f9a11bc53547307aa29b1d58b0579ed6b3fec88b509bf34594f5f3cbf61687387ea3d6986a3ee2e77586955dabcd4172d419e1a7ef3f8a071188f159968625b3536cab67b372a774a7045866b13de6937a3e9773fe988b81ba6973d808a5d82eef36ac7f66af0b53e3997c943b306e7fff2546683ff1b0e33c1d85abfc70865a4e16ea1d5fa70b3ff4", "merge_keep": "81a7656e747269657387a4676f6e6583a576616c7565c40465646974a2617404a6646576696365c41003030303030303030303030303030303d9246b7e30323032303230323032303230323032303230323032303230323032303230327e3583a576616c7565c4046d696e65a2617405a6646576696365c41002020202020202020202020202020202a16b83a576616c7565c406746865697273a2617405a6646576696365c41003030303030303030303030303030303a36e657783a576616c7565c4016ea2617403a6646576696365c41002020202020202020202020202020202a473616d6583a576616c7565c40173a2617401a6646576696365c41001010101010101010101010101010101a3efbca183a576616c7565c40172a2617402a6646576696365c41003030303030303030303030303030303a4f09f8cb183a576616c7565c4016ca2617402a6646576696365c41002020202020202020202020202020202", "merge_lww": "81a7656e747269657386a4676f6e6583a576616c7565c0a2617406a6646576696365c41002020202020202020202020202020202a16b83a576616c7565c406746865697273a2617405a6646576696365c41003030303030303030303030303030303a36e657783a576616c7565c4016ea2617403a6646576696365c41002020202020202020202020202020202a473616d6583a576616c7565c40173a2617401a6646576696365c41001010101010101010101010101010101a3efbca183a576616c7565c40172a2617402a6646576696365c41003030303030303030303030303030303a4f09f8cb183a576616c7565c4016ca2617402a6646576696365c41002020202020202020202020202020202", "merge_keep_rev": "81a7656e747269657387a4676f6e6583a576616c7565c40465646974a2617404a6646576696365c41003030303030303030303030303030303d9246b7e30323032303230323032303230323032303230323032303230323032303230327e3583a576616c7565c4046d696e65a2617405a6646576696365c41002020202020202020202020202020202a16b83a576616c7565c406746865697273a2617405a6646576696365c41003030303030303030303030303030303a36e657783a576616c7565c4016ea2617403a6646576696365c41002020202020202020202020202020202a473616d6583a576616c7565c40173a2617401a6646576696365c41001010101010101010101010101010101a3efbca183a576616c7565c40172a2617402a6646576696365c41003030303030303030303030303030303a4f09f8cb183a576616c7565c4016ca2617402a6646576696365c41002020202020202020202020202020202", "codes": {"HL1-AAAA": "link.version", "hl3-xxxx": "link.version", "HL2": "link.bad_code", "HL2-0000000000000000000000000000000000000000": "link.bad_code", "HLX-abc": "link.bad_code", "": "link.bad_code", "HL2-UUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUU": "link.bad_code", "HL2-\u00e9": "link.bad_code", "XX2-0000": "link.bad_code"}}
;

describe("link codes as Python reads them", () => {
  it.each(Object.entries(PY.codes as Record<string, string>))("%j", (text, expected) => {
    expect(code(() => LinkCode.parse(text))).toBe(expected);
  });

  it("reads layout and aliases, and refuses a typo", () => {
    const c = LinkCode.generate();
    expect(hex(LinkCode.parse(c.text.toLowerCase().replaceAll("-", " ")).secret)).toBe(hex(c.secret));
    expect(hex(LinkCode.parse(c.text.replaceAll("0", "O").replaceAll("1", "l")).secret)).toBe(hex(c.secret));
    const last = c.text.at(-1) === "0" ? "1" : "0";
    expect(code(() => LinkCode.parse(c.text.slice(0, -1) + last))).toBe("link.bad_code");
    expect(String(c)).toBe("LinkCode(<secret>)");
    expect(JSON.stringify({ c })).not.toContain(hex(c.secret));
    expect(() => new LinkCode(new Uint8Array(21))).toThrow(RangeError);
    const e = (() => {
      try {
        LinkCode.parse("HL1-0000");
      } catch (exc) {
        return exc as LinkError;
      }
    })();
    expect(e).toBeInstanceOf(LinkError);
    expect(e!.message).toContain("format 1");
  });
});

describe("the personal store (protocol.md 15.2, 15.3)", () => {
  const keys = PersonalKeys.derive(Uint8Array.from({ length: 32 }, (_, i) => i));
  const E = (value: Uint8Array | null, at: number, d: number): Entry => ({ value, at, device: new Uint8Array(16).fill(d) });
  const doc: Document = {
    entries: { b: E(Uint8Array.of(1), 5, 1), a: E(null, 7, 2), "\u{1F331}": E(new Uint8Array(0), 1, 3), "\uFF21": E(utf8("x"), 2, 4) },
  };

  it("derives the owner key and document ids as Python does", () => {
    expect(keys.member).toBe(PY.member);
    for (const [name, id] of Object.entries(PY.ids as Record<string, string>)) expect(keys.documentId(name)).toBe(id);
    expect(String(keys)).toBe(`PersonalKeys(member=${PY.member})`);
    const challenge = new Uint8Array(32).fill(1);
    const sig = signAuth(keys, { origin: "https://relay.example", challenge, expiresAt: 9 });
    verifyAuth({ key: keys.member, origin: "https://relay.example", challenge, expiresAt: 9, sig });
    expect(() => verify(memberKey(keys.member), CTX_AUTH, new Uint8Array(1), sig)).toThrow();
  });

  it("seals a document to Python's bytes and opens it, bound to owner, id and version", () => {
    expect(hex(canonical("Document", doc))).toBe(PY.doc_canonical);
    const id = keys.documentId("notes");
    const box = sealDocument(keys, id, 3, doc, detRng("doc"));
    expect(hex(box)).toBe(PY.sealed);
    expect(openDocument(keys, id, 3, box)).toEqual(doc);
    expect(code(() => openDocument(keys, id, 4, box))).toBe("crypto.decrypt_failed");
    expect(code(() => openDocument(keys, keys.documentId("rooms"), 3, box))).toBe("crypto.decrypt_failed");
    expect(code(() => openDocument(PersonalKeys.derive(new Uint8Array(32)), id, 3, box))).toBe("crypto.decrypt_failed");
  });

  it("pads documents to powers of two and refuses damaged padding (crypto.bad_padding)", () => {
    expect(padDocument(new Uint8Array(0))).toHaveLength(256);
    expect(padDocument(new Uint8Array(256))).toHaveLength(512);
    expect(padDocument(new Uint8Array(5000))).toHaveLength(8192);
    expect(unpadDocument(padDocument(Uint8Array.of(1, 0)))).toEqual(Uint8Array.of(1, 0));
    expect(code(() => unpadDocument(new Uint8Array(384)))).toBe("crypto.bad_padding");
    expect(code(() => unpadDocument(new Uint8Array(128)))).toBe("crypto.bad_padding");
    expect(code(() => unpadDocument(new Uint8Array(256)))).toBe("crypto.bad_padding");
    expect(code(() => unpadDocument(new Uint8Array(256).fill(1)))).toBe("crypto.bad_padding");
  });

  it("merges three ways as Python does: later wins, an edit beats a removal, no edit lost", () => {
    const base: Document = { entries: { k: E(utf8("base"), 1, 1), gone: E(utf8("g"), 1, 1), same: E(utf8("s"), 1, 1) } };
    const local: Document = {
      entries: { k: E(utf8("mine"), 5, 2), gone: E(null, 6, 2), same: E(utf8("s"), 1, 1), "\u{1F331}": E(utf8("l"), 2, 2), new: E(utf8("n"), 3, 2) },
    };
    const remote: Document = {
      entries: { k: E(utf8("theirs"), 5, 3), gone: E(utf8("edit"), 4, 3), same: E(utf8("s"), 1, 1), "\uFF21": E(utf8("r"), 2, 3) },
    };
    expect(hex(canonical("Document", merge(base, local, remote, "keep")))).toBe(PY.merge_keep);
    expect(hex(canonical("Document", merge(base, local, remote, "lww")))).toBe(PY.merge_lww);
    expect(hex(canonical("Document", merge(base, remote, local, "keep")))).toBe(PY.merge_keep_rev);
    // One side changed: that side's; neither: as it was.
    const one: Document = { entries: { ...base.entries, k: E(utf8("new"), 2, 2) } };
    expect(merge(base, one, base, "keep").entries!.k).toEqual(E(utf8("new"), 2, 2));
    expect(merge(base, base, one, "lww").entries!.k).toEqual(E(utf8("new"), 2, 2));
    expect(merge(base, base, base, "keep")).toEqual({ entries: { gone: base.entries!.gone, k: base.entries!.k, same: base.entries!.same } });
  });
});

describe("checkVerifiedHead (protocol.md 15.1)", () => {
  const hashes = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
  const log = { index: 1, hashAt: (i: number) => hashes[i]! };
  it("passes a head the log holds, and raises Python's codes otherwise", () => {
    expect(code(() => checkVerifiedHead(log, { index: 1, head: hashes[1]! }))).toBe("accepted");
    expect(code(() => checkVerifiedHead(log, { index: 0, head: hashes[0]! }))).toBe("accepted");
    expect(code(() => checkVerifiedHead(log, { index: 2, head: hashes[1]! }))).toBe("log.behind_verified_head");
    expect(code(() => checkVerifiedHead(log, { index: 0, head: hashes[1]! }))).toBe("log.fork");
  });
});
