import { describe, expect, it } from "vitest";

import { concat, fromHex, hex } from "../src/bytes.js";
import { aeadEncrypt, cryptoReady, CTX_MSG, CTX_MSG_AD } from "../src/crypto.js";
import { checkEnvelope, checkPlace, type LogView, openMessage, sealMessage, verifySignature } from "../src/envelope.js";
import { EnvelopeError, ForkDetected, HearthError } from "../src/errors.js";
import { RootSeed } from "../src/keys.js";
import { BODY_TAGS, bodyStructName, messageKey, roomDeviceId } from "../src/messages.js";
import { pad } from "../src/padding.js";
import { canonical, make } from "../src/wire/codec.js";
import type { Envelope, EnvelopeHeader, Plaintext } from "../src/wire/schema.gen.js";
import { detRng } from "./detrng.js";
import { checkSealed } from "./sealed.js";
import { vectors } from "./vectors.js";

await cryptoReady();

const doc = vectors("messages");

describe("messages.json", () => {
  it.each<[number, any]>(doc.vectors.map((v: any, i: number): [number, any] => [i, v]))("message %i opens and seals to the same bytes", (_i, v) => {
    checkSealed("messages", v);
  });
});

function code(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    if (exc instanceof HearthError) return exc.code;
    throw exc;
  }
  return "accepted";
}

const ROOM = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const keys = new RootSeed(new Uint8Array(32).fill(3)).roomKeys(ROOM);
const secret = new Uint8Array(32).fill(5);
const head = new Uint8Array(32).fill(9);

function plaintext(body: unknown = make("TextBody", { text: "hi" })): Plaintext {
  return make<Plaintext>("Plaintext", { device: new Uint8Array(16).fill(1), counter: 1, sent_at: 5, body: body as Plaintext["body"] });
}

function sealed(p: Plaintext = plaintext()): Envelope {
  return sealMessage(keys, p, { epoch: 3, epochSecret: secret, headIndex: 4, head, rng: detRng("t") });
}

/** An envelope over arbitrary padded bytes, properly encrypted and signed. */
function raw(padded: Uint8Array): Envelope {
  const header = make<EnvelopeHeader>("EnvelopeHeader", {
    room: ROOM,
    epoch: 3,
    sender: keys.member,
    id: "AAAAAAAAAAAAAAAAAAAAAA",
    head_index: 4,
    head,
    nonce: new Uint8Array(24),
  });
  const hb = canonical("EnvelopeHeader", header);
  const ciphertext = aeadEncrypt(messageKey(secret), header.nonce, padded, concat(CTX_MSG_AD, hb));
  return { header, ciphertext, sig: keys.sign(CTX_MSG, concat(hb, ciphertext)) };
}

describe("opening (protocol.md 8.3)", () => {
  it("round-trips, and an earlier message id makes the same header id", () => {
    const env = sealed();
    expect(openMessage(env, { epochSecret: secret })).toEqual(plaintext());
    expect(openMessage(env, { epochSecret: new Uint8Array(32), key: messageKey(secret) })).toEqual(plaintext());
    const again = sealMessage(keys, plaintext(), { epoch: 3, epochSecret: secret, headIndex: 4, head, messageId: env.header.id });
    expect(again.header.id).toBe(env.header.id);
    expect(again.ciphertext.length).toBe(256 + 16);
  });

  it("draws the id and the nonce from the platform CSPRNG in one call, and opens", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const env = sealMessage(keys, plaintext(), { epoch: 3, epochSecret: secret, headIndex: 4, head });
      expect(env.header.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(env.header.nonce.length).toBe(24);
      expect(env.header.nonce.byteLength).toBe(env.header.nonce.buffer.byteLength); // a copy, not a view of the id's bytes
      seen.add(env.header.id).add(hex(env.header.nonce));
      expect(openMessage(env, { epochSecret: secret })).toEqual(plaintext());
    }
    expect(seen.size).toBe(100);
    // With an rng of the caller's, the id is drawn first and the nonce second, as Python does.
    const draws: number[] = [];
    const counting = (n: number) => (draws.push(n), new Uint8Array(n).fill(draws.length));
    const env = sealMessage(keys, plaintext(), { epoch: 3, epochSecret: secret, headIndex: 4, head, rng: counting });
    expect(draws).toEqual([16, 24]);
    expect(hex(env.header.nonce)).toBe("02".repeat(24));
  });

  it("gives a plaintext whose device id does not keep the decrypted buffer alive", () => {
    const opened = openMessage(sealed(), { epochSecret: secret });
    expect(opened.device.length).toBe(16);
    expect(opened.device.buffer.byteLength).toBe(16);
  });

  it("checks the signature before anything else", () => {
    const env = sealed();
    const flipped = Uint8Array.from(env.ciphertext);
    flipped[0]! ^= 1;
    expect(code(() => openMessage({ ...env, ciphertext: flipped }, { epochSecret: secret }))).toBe("msg.bad_signature");
    expect(code(() => openMessage({ ...env, header: { ...env.header, epoch: 4 } }, { epochSecret: secret }))).toBe("msg.bad_signature");
    const other = new RootSeed(new Uint8Array(32).fill(4)).roomKeys(ROOM).member;
    expect(code(() => verifySignature({ ...env, header: { ...env.header, sender: other } }))).toBe("msg.bad_signature");
    // A non-canonical spelling of the sender's key is another string, not another key.
    const bad = keys.member.slice(0, -1) + String.fromCharCode(keys.member.charCodeAt(42) + 1);
    expect(code(() => verifySignature({ ...env, header: { ...env.header, sender: bad } }))).toBe("msg.bad_signature");
  });

  it("refuses a wrong epoch secret, bad padding and malformed plaintext with Python's codes", () => {
    expect(code(() => openMessage(sealed(), { epochSecret: new Uint8Array(32) }))).toBe("msg.decrypt_failed");
    expect(code(() => openMessage(raw(new Uint8Array(256)), { epochSecret: secret }))).toBe("msg.bad_padding");
    expect(code(() => openMessage(raw(new Uint8Array(300)), { epochSecret: secret }))).toBe("msg.bad_padding");
    expect(code(() => openMessage(raw(pad(new Uint8Array([0xc1]))), { epochSecret: secret }))).toBe("msg.malformed");
    // A known tag whose fields do not decode is malformed, not unsupported.
    const known = hex(canonical("Plaintext", plaintext()));
    expect(known).toContain("a474657874a26869"); // "text": "hi"
    const broken = fromHex(known.replace("a474657874a26869", "a474657874c3")); // "text": true
    expect(code(() => openMessage(raw(pad(broken)), { epochSecret: secret }))).toBe("msg.malformed");
  });

  it("keeps a body of an unknown tag as unsupported, with its device and counter", () => {
    // {"type": "poll", "question": "?"} in place of the text body.
    const bytes = fromHex(
      hex(canonical("Plaintext", plaintext())).replace(
        hex(canonical("TextBody", { type: "text", text: "hi" })),
        "82a474797065a4706f6c6ca87175657374696f6ea13f",
      ),
    );
    const opened = openMessage(raw(pad(bytes)), { epochSecret: secret });
    expect(opened.body).toEqual({ type: "unsupported", kind: "poll" });
    expect([opened.counter, opened.sent_at, hex(opened.device)]).toEqual([1, 5, hex(new Uint8Array(16).fill(1))]);
    // A body that is not a map with a string tag is malformed.
    const notMap = fromHex(hex(bytes).replace("82a474797065a4706f6c6ca87175657374696f6ea13f", "a3616263"));
    expect(code(() => openMessage(raw(pad(notMap)), { epochSecret: secret }))).toBe("msg.malformed");
  });

  it("refuses a plaintext that does not fit the largest bucket", () => {
    const big = plaintext({ type: "text", text: "x".repeat(60_000).replace(/x/g, "é") });
    expect(code(() => sealed(big))).toBe("msg.too_large");
  });
});

describe("bodies", () => {
  it("knows every tag of Python's Body union", () => {
    expect([...BODY_TAGS].sort()).toEqual(
      [
        "text", "edit", "reaction", "room.profile", "rules", "rules.accept", "moderation", "report", "schedule",
        "support.request", "support.claim", "support.reseal", "support.withdraw", "supporter.status",
        "program.risk_plan", "support.risk", "support.alert", "member.profile", "unsupported",
      ].sort(),
    );
    expect(bodyStructName("reaction")).toBe("ReactionBody");
    expect(bodyStructName("poll")).toBeUndefined();
  });

  it("derives a device id per room, and refuses a short device secret", () => {
    const s = new Uint8Array(16).fill(2);
    expect(hex(roomDeviceId(s, ROOM))).not.toBe(hex(roomDeviceId(s, "B" + ROOM.slice(1))));
    expect(() => roomDeviceId(new Uint8Array(15), ROOM)).toThrow(RangeError);
  });
});

class FakeLog implements LogView {
  room = ROOM;
  epoch = 3;
  needsRotation = false;
  members = new Set([keys.member]);
  heads = new Map<number, Uint8Array>([[4, head]]);
  epochs = new Map<number, number>([[4, 3]]);
  checkHead(index: number, h: Uint8Array): boolean {
    const known = this.heads.get(index);
    if (known === undefined) return false;
    if (hex(known) !== hex(h)) throw new ForkDetected(`two different operations at index ${index}`);
    return true;
  }
  epochAt(index: number): number {
    return this.epochs.get(index)!;
  }
}

describe("the relay's admission check (protocol.md 8.8)", () => {
  it("admits a good message and refuses each fault with its code, in order", () => {
    const env = sealed();
    expect(code(() => checkEnvelope(new FakeLog(), env))).toBe("accepted");
    const log = (f: (l: FakeLog) => void) => {
      const l = new FakeLog();
      f(l);
      return l;
    };
    expect(code(() => checkEnvelope(log((l) => (l.room = "B" + ROOM.slice(1))), env))).toBe("msg.bad_room");
    expect(code(() => checkEnvelope(new FakeLog(), { ...env, ciphertext: env.ciphertext.subarray(1) }))).toBe("msg.bad_size");
    expect(code(() => checkEnvelope(log((l) => (l.epoch = 4)), env))).toBe("msg.stale_epoch");
    expect(code(() => checkEnvelope(log((l) => (l.needsRotation = true)), env))).toBe("msg.stale_epoch");
    expect(code(() => checkEnvelope(log((l) => l.members.clear()), env))).toBe("msg.not_member");
    expect(code(() => checkEnvelope(log((l) => l.heads.clear()), env))).toBe("msg.unknown_head");
    expect(code(() => checkEnvelope(log((l) => l.heads.set(4, new Uint8Array(32))), env))).toBe("msg.unknown_head");
    expect(code(() => checkEnvelope(log((l) => l.epochs.set(4, 2)), env))).toBe("msg.stale_epoch");
    const flipped = Uint8Array.from(env.sig);
    flipped[0]! ^= 1;
    expect(code(() => checkEnvelope(new FakeLog(), { ...env, sig: flipped }))).toBe("msg.bad_signature");
  });

  it("names the place in checkPlace's message", () => {
    const env = sealed();
    const l = new FakeLog();
    l.needsRotation = true;
    try {
      checkPlace(env.header, l, "at the head it names");
      expect.unreachable();
    } catch (exc) {
      expect(exc).toBeInstanceOf(EnvelopeError);
      expect((exc as EnvelopeError).message).toMatch(/awaiting rotation at the head it names$/);
    }
  });
});
