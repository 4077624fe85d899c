/**
 * Epochs: epochs.json byte for byte (derivations, the commit rebuilt from DetRng,
 * every share opened, the history decrypted), and tests/protocol/test_epochs.py's
 * refusals: every member unseals the same key, a tampered share, tag or history is
 * `log.bad_commit`, a stranger is `log.not_recipient`.
 */

import { beforeAll, describe, expect, it } from "vitest";

import { concat, equalBytes, fromHex, hex, u64be } from "../src/bytes.js";
import {
  aeadEncrypt,
  cryptoReady,
  kdf,
  PERSON_CONFIRM,
  PERSON_EPOCH,
  PERSON_MSG_KEY,
  seal,
  unseal,
} from "../src/crypto.js";
import { CryptoError, HearthError, LogError } from "../src/errors.js";
import { roomIdFromGenesis } from "../src/ids.js";
import { RootSeed } from "../src/keys.js";
import {
  confirmTag,
  deriveEpochSecret,
  historyKey,
  makeCommit,
  messageKey,
  openCommit,
  openHistory,
} from "../src/epochs.js";
import { decodeJson, toJsonValue } from "../src/wire/codec.js";
import type { Commit } from "../src/wire/schema.gen.js";
import { DetRng, deterministicCommit, rootOf, sealWith } from "./builders.js";
import { vectors } from "./vectors.js";

beforeAll(() => cryptoReady());

const doc = vectors("epochs");

function code(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    if (exc instanceof HearthError) return exc.code;
    throw exc;
  }
  return "accepted";
}

function flipBit(data: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(data);
  const i = bit % (8 * out.length);
  out[i >> 3] = out[i >> 3]! ^ (1 << (i % 8));
  return out;
}

describe("epochs.json", () => {
  it.each(doc.derivations.map((d: any) => [d.epoch, d]) as [number, any][])("derivation for epoch %i", (_e, d) => {
    const secret = deriveEpochSecret(fromHex(d.commit_secret), d.room, d.epoch, fromHex(d.prev));
    expect(hex(secret)).toBe(d.epoch_secret);
    expect(hex(confirmTag(secret))).toBe(d.confirm);
    expect(hex(messageKey(secret))).toBe(d.message_key);
  });

  it("the commit opens for every recipient, and its history", () => {
    const c = doc.commit;
    const commit = decodeJson<Commit>("Commit", c.json);
    const secret = deriveEpochSecret(fromHex(c.commit_secret), c.room, c.epoch, fromHex(c.prev));
    expect(hex(secret)).toBe(c.epoch_secret);
    expect(commit.epoch).toBe(c.epoch);
    expect(hex(commit.confirm)).toBe(hex(confirmTag(secret)));
    expect(commit.shares.map((s) => s.member)).toEqual(c.recipients.map((r: any) => r.member).sort());
    for (const r of c.recipients) {
      const keys = new RootSeed(fromHex(r.root_seed)).roomKeys(c.room);
      expect([keys.member, hex(keys.boxPublic)]).toEqual([r.member, r.x25519_public]);
      expect(hex(openCommit(commit, { prev: fromHex(c.prev), keys }))).toBe(c.epoch_secret);
      const share = commit.shares.find((s) => s.member === keys.member)!;
      expect(hex(unseal(keys.box, share.sealed))).toBe(c.commit_secret);
    }
    commit.shares.forEach((share, i) => {
      const r = c.recipients.find((x: any) => x.member === share.member);
      expect(hex(sealWith(fromHex(r.x25519_public), fromHex(c.commit_secret), fromHex(c.ephemeral_seeds[i])))).toBe(
        hex(share.sealed),
      );
    });
    const confirms = new Map(Object.entries(c.history as Record<string, string>).map(([e, s]) => [Number(e), confirmTag(fromHex(s))]));
    const history = openHistory(commit, { room: c.room, epochSecret: secret, confirms });
    expect(Object.fromEntries([...history].map(([e, s]) => [String(e), hex(s)]))).toEqual(c.history);
  });

  it("makeCommit rebuilds the commit from the script's DetRng, byte for byte", () => {
    // The draws of scripts/make_vectors.py's build_epochs, in order.
    const rng = new DetRng("epochs").draw;
    const room = rootOf("owner").genesis(rng(16)).room;
    expect(room).toBe(doc.commit.room);
    for (const d of doc.derivations) {
      expect(hex(rng(32))).toBe(d.commit_secret);
      if (d.epoch !== 1) expect(hex(rng(32))).toBe(d.prev);
    }
    const keys = ["alice", "bob", "carol"].map((n) => rootOf(n).roomKeys(room));
    const recipients = new Map(keys.map((k) => [k.member, k.boxPublic]));
    const history = new Map([
      [1, rng(32)],
      [2, rng(32)],
    ]);
    const prev = rng(32);
    const made = deterministicCommit({ room, epoch: 3, prev, recipients, rng, history });
    expect(hex(made.commitSecret)).toBe(doc.commit.commit_secret);
    expect(made.seeds.map(hex)).toEqual(doc.commit.ephemeral_seeds);
    expect(hex(made.epochSecret)).toBe(doc.commit.epoch_secret);
    expect(JSON.stringify(toJsonValue("Commit", made.commit))).toBe(JSON.stringify(doc.commit.json));
  });
});

const ROOM = roomIdFromGenesis(Uint8Array.from({ length: 32 }, (_, i) => i), Uint8Array.from({ length: 16 }, (_, i) => i));
const OTHER_ROOM = roomIdFromGenesis(new Uint8Array(32).fill(9), new Uint8Array(16).fill(9));
const NAMES = ["ana", "ben", "cy", "dee"];
const PREV = Uint8Array.from({ length: 32 }, (_, i) => i);
let KEYS: Map<string, ReturnType<RootSeed["roomKeys"]>>;
let RECIPIENTS: Map<string, Uint8Array>;

beforeAll(async () => {
  await cryptoReady();
  KEYS = new Map(NAMES.map((n) => [n, rootOf(n).roomKeys(ROOM)]));
  RECIPIENTS = new Map([...KEYS.values()].map((k) => [k.member, k.boxPublic]));
});

describe("derivations", () => {
  it("follow the formula of protocol.md 7.1 and 7.2", () => {
    const secret = new Uint8Array(32);
    const expected = kdf(secret, concat(new TextEncoder().encode(ROOM), u64be(7), PREV), PERSON_EPOCH);
    expect(hex(deriveEpochSecret(secret, ROOM, 7, PREV))).toBe(hex(expected));
    expect(hex(confirmTag(expected))).toBe(hex(kdf(expected, new Uint8Array(0), PERSON_CONFIRM)));
    expect(hex(messageKey(expected))).toBe(hex(kdf(expected, new Uint8Array(0), PERSON_MSG_KEY)));
  });

  it("depend on every input", () => {
    const secret = new Uint8Array(32).fill(3);
    const base = deriveEpochSecret(secret, ROOM, 2 ** 40, PREV);
    const changed = [
      deriveEpochSecret(flipBit(secret, 77), ROOM, 2 ** 40, PREV),
      deriveEpochSecret(secret, "B" + ROOM.slice(1), 2 ** 40, PREV),
      deriveEpochSecret(secret, ROOM, 2 ** 40 + 1, PREV),
      deriveEpochSecret(secret, ROOM, 2 ** 40, flipBit(PREV, 200)),
    ];
    for (const c of changed) expect(equalBytes(c, base)).toBe(false);
    expect(new Set([base, confirmTag(base), messageKey(base), historyKey(base)].map(hex)).size).toBe(4);
  });
});

describe("commits", () => {
  it("every recipient opens the same secret", () => {
    const { commit, epochSecret } = makeCommit({ room: ROOM, epoch: 5, prev: PREV, recipients: RECIPIENTS });
    expect(commit.epoch).toBe(5);
    expect(commit.shares.map((s) => s.member)).toEqual([...RECIPIENTS.keys()].sort());
    expect(hex(commit.confirm)).toBe(hex(confirmTag(epochSecret)));
    expect(commit.history).toBeNull();
    for (const keys of KEYS.values()) expect(hex(openCommit(commit, { prev: PREV, keys }))).toBe(hex(epochSecret));
  });

  it("takes its commit secret from the rng, a plain record of recipients too", () => {
    const rng = (n: number) => new Uint8Array(n).fill(7);
    const { commit, epochSecret } = makeCommit({ room: ROOM, epoch: 1, prev: PREV, recipients: RECIPIENTS, rng });
    expect(hex(epochSecret)).toBe(hex(deriveEpochSecret(new Uint8Array(32).fill(7), ROOM, 1, PREV)));
    const again = makeCommit({ room: ROOM, epoch: 1, prev: PREV, recipients: Object.fromEntries(RECIPIENTS), rng }).commit;
    expect(hex(again.confirm)).toBe(hex(commit.confirm));
    expect(again.shares.map((s) => s.member)).toEqual(commit.shares.map((s) => s.member));
    expect(hex(again.shares[0]!.sealed)).not.toBe(hex(commit.shares[0]!.sealed)); // sealing draws its own ephemeral key
  });

  it("refuses a stranger, another room's key of the same person, another prev and another epoch", () => {
    const { commit } = makeCommit({ room: ROOM, epoch: 2, prev: PREV, recipients: RECIPIENTS });
    const ana = KEYS.get("ana")!;
    expect(code(() => openCommit(commit, { prev: PREV, keys: rootOf("eve").roomKeys(ROOM) }))).toBe("log.not_recipient");
    expect(code(() => openCommit(commit, { prev: PREV, keys: rootOf("ana").roomKeys(OTHER_ROOM) }))).toBe("log.not_recipient");
    expect(code(() => openCommit(commit, { prev: new Uint8Array(32), keys: ana }))).toBe("log.bad_commit");
    expect(code(() => openCommit({ ...commit, epoch: 3 }, { prev: PREV, keys: ana }))).toBe("log.bad_commit");
  });

  it("refuses a flipped share or tag", () => {
    const { commit } = makeCommit({ room: ROOM, epoch: 2, prev: PREV, recipients: RECIPIENTS });
    for (const [who, bit] of [
      ["ana", 0],
      ["ben", 300],
      ["cy", 639],
      ["dee", 65536 + 5],
    ] as const) {
      const keys = KEYS.get(who)!;
      const shares = commit.shares.map((s) => (s.member === keys.member ? { ...s, sealed: flipBit(s.sealed, bit) } : s));
      expect(code(() => openCommit({ ...commit, shares }, { prev: PREV, keys }))).toBe("log.bad_commit");
      expect(code(() => openCommit({ ...commit, confirm: flipBit(commit.confirm, bit) }, { prev: PREV, keys }))).toBe(
        "log.bad_commit",
      );
    }
  });

  it("a committer cannot hand one member another key unnoticed", () => {
    const { commit, epochSecret } = makeCommit({ room: ROOM, epoch: 2, prev: PREV, recipients: RECIPIENTS });
    const victim = KEYS.get("ben")!;
    const shares = commit.shares.map((s) =>
      s.member === victim.member ? { ...s, sealed: seal(victim.boxPublic, new Uint8Array(32).fill(1)) } : s,
    );
    const split = { ...commit, shares };
    expect(hex(openCommit(split, { prev: PREV, keys: KEYS.get("ana")! }))).toBe(hex(epochSecret));
    expect(code(() => openCommit(split, { prev: PREV, keys: victim }))).toBe("log.bad_commit");
  });

  it("names the member whose key nothing can be sealed to", () => {
    const alice = KEYS.get("ana")!.member;
    const recipients = new Map(RECIPIENTS).set(alice, new Uint8Array(32));
    let caught: unknown;
    try {
      makeCommit({ room: ROOM, epoch: 2, prev: PREV, recipients });
    } catch (exc) {
      caught = exc;
    }
    expect(caught).toBeInstanceOf(CryptoError);
    expect((caught as CryptoError).code).toBe("crypto.bad_key");
    expect((caught as CryptoError).message).toContain(alice);
  });
});

describe("history", () => {
  const earlier = new Map([
    [1, new Uint8Array(32).fill(1)],
    [2, new Uint8Array(32).fill(2)],
    [3, new Uint8Array(32).fill(3)],
  ]);
  const confirms = () => new Map([...earlier].map(([e, s]) => [e, confirmTag(s)]));

  it("round-trips, and any tampering is log.bad_commit", () => {
    const { commit, epochSecret } = makeCommit({ room: ROOM, epoch: 4, prev: PREV, recipients: RECIPIENTS, history: earlier });
    const h = commit.history!;
    expect(h.length).toBe(24 + 1 + 3 * 36 + 16); // nonce, fixarray, 3 x (92 e c4 20 secret), tag
    const opened = openHistory(commit, { room: ROOM, epochSecret, confirms: confirms() });
    expect([...opened].map(([e, s]) => [e, hex(s)])).toEqual([...earlier].map(([e, s]) => [e, hex(s)]));
    for (const [bad, secret, room] of [
      [{ ...commit, history: flipBit(h, 200) }, epochSecret, ROOM],
      [{ ...commit, history: h.subarray(0, 30) }, epochSecret, ROOM],
      [{ ...commit, history: h.subarray(0, 10) }, epochSecret, ROOM],
      [commit, flipBit(epochSecret, 3), ROOM],
      [{ ...commit, epoch: 5 }, epochSecret, ROOM],
      [commit, epochSecret, OTHER_ROOM],
    ] as const) {
      expect(code(() => openHistory(bad, { room, epochSecret: secret, confirms: confirms() }))).toBe("log.bad_commit");
    }
  });

  it("encodes one entry as protocol.md 7.5 says (77 bytes)", () => {
    const secret = new Uint8Array(32).fill(5);
    const { commit, epochSecret } = makeCommit({
      room: ROOM,
      epoch: 2,
      prev: PREV,
      recipients: RECIPIENTS,
      history: new Map([[1, secret]]),
      rng: (n) => new Uint8Array(n).fill(4),
    });
    const h = commit.history!;
    expect(h.length).toBe(77);
    const expected = aeadEncrypt(
      historyKey(epochSecret),
      h.subarray(0, 24),
      concat(Uint8Array.of(0x91, 0x92, 0x01, 0xc4, 0x20), secret),
      concat(new TextEncoder().encode(ROOM), u64be(2)),
    );
    expect(hex(h.subarray(24))).toBe(hex(expected));
  });

  it("is absent unless asked for", () => {
    for (const history of [undefined, null, new Map<number, Uint8Array>(), {}]) {
      const { commit, epochSecret } = makeCommit({ room: ROOM, epoch: 2, prev: PREV, recipients: RECIPIENTS, history });
      expect(commit.history).toBeNull();
      expect(openHistory(commit, { room: ROOM, epochSecret, confirms: new Map() }).size).toBe(0);
    }
  });

  it("that does not match the log is refused", () => {
    // A false secret for an earlier epoch fails that epoch's tag; one for a later epoch too.
    const truth = new Map([
      [1, new Uint8Array(32).fill(1)],
      [2, new Uint8Array(32).fill(2)],
    ]);
    const tags = new Map([...truth].map(([e, s]) => [e, confirmTag(s)]));
    for (const lie of [
      new Map([
        [1, new Uint8Array(32).fill(1)],
        [2, new Uint8Array(32).fill(9)],
      ]),
      new Map([
        [1, new Uint8Array(32).fill(1)],
        [7, new Uint8Array(32).fill(7)],
      ]),
    ]) {
      const { commit, epochSecret } = makeCommit({ room: ROOM, epoch: 3, prev: PREV, recipients: RECIPIENTS, history: lie });
      expect(code(() => openHistory(commit, { room: ROOM, epochSecret, confirms: tags }))).toBe("log.bad_commit");
    }
  });

  it("that decrypts but is not [[epoch, secret], ...] is refused", () => {
    const { commit, epochSecret } = makeCommit({ room: ROOM, epoch: 3, prev: PREV, recipients: RECIPIENTS });
    const nonce = new Uint8Array(24).fill(1);
    const ad = concat(new TextEncoder().encode(ROOM), u64be(3));
    for (const plain of [Uint8Array.of(0x91, 0x91, 0x01), Uint8Array.of(0xc0), Uint8Array.of(0x91, 0x92, 0xc3, 0xc4, 0x00), Uint8Array.of(0x90, 0x00)]) {
      const history = concat(nonce, aeadEncrypt(historyKey(epochSecret), nonce, plain, ad));
      expect(code(() => openHistory({ ...commit, history }, { room: ROOM, epochSecret, confirms: new Map() }))).toBe(
        "log.bad_commit",
      );
    }
    // An empty list opens to nothing, as in Python.
    const empty = concat(nonce, aeadEncrypt(historyKey(epochSecret), nonce, Uint8Array.of(0x90), ad));
    expect(openHistory({ ...commit, history: empty }, { room: ROOM, epochSecret, confirms: new Map() }).size).toBe(0);
  });
});
