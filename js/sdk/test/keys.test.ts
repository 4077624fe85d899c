import { beforeAll, describe, expect, it } from "vitest";

import { fromHex, hex } from "../src/bytes.js";
import { cryptoReady, CTX_BINDING, CTX_GENESIS, verify } from "../src/crypto.js";
import { PhraseError } from "../src/errors.js";
import { memberIdFromKey } from "../src/ids.js";
import { roomFingerprint, RootSeed, safetyNumber } from "../src/keys.js";
import { canonical } from "../src/wire/codec.js";
import { vectors } from "./vectors.js";

beforeAll(() => cryptoReady());

const keys = vectors("keys");

describe("keys.json", () => {
  it.each<[number, any]>(keys.vectors.map((v: any, i: number) => [i, v]))("root %i: phrase, room keys, bindings", (_i, v: any) => {
    const root = new RootSeed(fromHex(v.root_seed));
    expect(root.phrase).toBe(v.phrase);
    expect(hex(RootSeed.fromPhrase(v.phrase.toLowerCase().replaceAll("-", " ")).secret)).toBe(v.root_seed);
    for (const r of v.rooms) {
      const k = root.roomKeys(r.room);
      expect(k.member).toBe(r.member);
      expect(hex(k.signing.publicKey)).toBe(r.ed25519_public);
      expect(hex(k.boxPublic)).toBe(r.x25519_public);
      const payload = canonical("Binding", { room: r.room, member: k.member, box_key: k.boxPublic });
      expect(hex(payload)).toBe(r.binding_payload);
      expect(hex(k.binding())).toBe(r.binding_signature);
      verify(k.signing.publicKey, CTX_BINDING, payload, k.binding());
    }
  });

  it.each<[number, any]>(keys.genesis.map((g: any, i: number) => [i, g]))("genesis %i", (_i, g: any) => {
    const root = new RootSeed(fromHex(g.root_seed));
    const genesis = root.genesis(fromHex(g.nonce));
    expect(hex(genesis.signing.seed)).toBe(g.genesis_ed25519_seed);
    expect(hex(genesis.signing.publicKey)).toBe(g.genesis_ed25519_public);
    expect(genesis.room).toBe(g.room);
    const creator = root.roomKeys(genesis.room).member;
    expect(creator).toBe(g.creator);
    const proof = genesis.prove(creator);
    expect(hex(canonical("GenesisStatement", { room: g.room, creator }))).toBe(g.statement_payload);
    expect(hex(proof.sig)).toBe(g.signature);
    verify(proof.key, CTX_GENESIS, fromHex(g.statement_payload), proof.sig);
  });

  it.each<[number, any]>(keys.safety_numbers.map((s: any, i: number) => [i, s]))("safety number %i, in both orders", (_i, s: any) => {
    const a = [s.a.member, fromHex(s.a.x25519_public)] as const;
    const b = [s.b.member, fromHex(s.b.x25519_public)] as const;
    expect(safetyNumber(s.room, a, b)).toBe(s.digits);
    expect(safetyNumber(s.room, b, a)).toBe(s.digits);
  });

  it.each<[number, any]>(keys.room_fingerprints.map((f: any, i: number) => [i, f]))("room fingerprint %i", (_i, f: any) => {
    expect(roomFingerprint(f.room, f.index, fromHex(f.head))).toBe(f.digits);
  });
});

describe("recovery phrases", () => {
  const phrase = new RootSeed(new Uint8Array(32).fill(9)).phrase;

  function code(text: string): string {
    try {
      RootSeed.fromPhrase(text);
    } catch (exc) {
      expect(exc).toBeInstanceOf(PhraseError);
      return (exc as PhraseError).code;
    }
    return "accepted";
  }

  it("reads aliases and layout, refuses typos with the Python SDK's codes", () => {
    expect(code(phrase.replaceAll("0", "o").toLowerCase())).toBe("accepted");
    expect(code(phrase.slice(0, -1))).toBe("phrase.length");
    expect(code(phrase.slice(0, -1) + "U")).toBe("phrase.character");
    expect(code(phrase.slice(0, -1) + "é")).toBe("phrase.character");
    const last = phrase.at(-1) === "0" ? "1" : "0";
    expect(code(phrase.slice(0, -1) + last)).toBe("phrase.checksum");
  });

  it("never shows the secret", () => {
    const root = RootSeed.generate();
    expect(String(root)).toBe("RootSeed(<secret>)");
    expect(JSON.stringify({ root })).not.toContain(hex(root.secret));
    expect(memberIdFromKey(root.roomKeys("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").signing.publicKey)).toHaveLength(43);
  });
});
