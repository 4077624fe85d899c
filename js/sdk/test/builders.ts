/**
 * Deterministic room logs for the tests (mirrors `scripts/make_vectors.py`'s
 * `DetRng`, `seal_with`, `deterministic_commit` and `LogBuilder`, and
 * `tests/protocol/builders.py`'s `Room`).
 *
 * With the same labels the builder draws the same bytes as the Python script, so the
 * logs it plays rebuild `logs_valid.json` byte for byte; with other labels it plays
 * any scene a test needs, every participant's keys derived from a name.
 */

import sodium from "libsodium-wrappers-sumo";
import { blake2b as nobleBlake2b } from "@noble/hashes/blake2.js";

import { ascii, compareBytes, compareStrings, concat, hex, u64be, utf8 } from "../src/bytes.js";
import { CTX_BINDING, CTX_INVITE, kdf, sign, SigningKey } from "../src/crypto.js";
import { makeCommit } from "../src/epochs.js";
import type { MemberId, RoomId } from "../src/ids.js";
import { type GenesisKey, roomFingerprint, type RoomKeys, RootSeed } from "../src/keys.js";
import { type OpBody, type Role } from "../src/ops.js";
import { signOp } from "../src/signing.js";
import { RoomLog } from "../src/roomlog.js";
import { canonical, toJsonValue } from "../src/wire/codec.js";
import type { Commit, Policy, SignedOp } from "../src/wire/schema.gen.js";

export const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
export const DAY_MS = 86_400_000;

const PERSON_VECTORS = ascii("hearth-vectors");

/** `DetRng(label)`: BLAKE2b-512(u64be(i); key=utf8(label), person="hearth-vectors") for i = 0, 1, ... */
export class DetRng {
  readonly #key: Uint8Array;
  #counter = 0;
  #buffer: Uint8Array = new Uint8Array(0);

  constructor(label: string) {
    this.#key = utf8(label);
  }

  readonly draw = (n: number): Uint8Array => {
    while (this.#buffer.length < n) {
      this.#buffer = concat(this.#buffer, kdf(this.#key, u64be(this.#counter), PERSON_VECTORS, 64));
      this.#counter++;
    }
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  };
}

/** `crypto_box_seal` with the ephemeral key pair of `ephemeralSeed` (libsodium's construction). */
export function sealWith(recipient: Uint8Array, message: Uint8Array, ephemeralSeed: Uint8Array): Uint8Array {
  const pair = sodium.crypto_box_seed_keypair(ephemeralSeed);
  const nonce = nobleBlake2b(concat(pair.publicKey, recipient), { dkLen: 24 });
  return concat(pair.publicKey, sodium.crypto_box_easy(message, nonce, recipient, pair.privateKey));
}

/** `makeCommit` with shares sealed by `sealWith`, seeds drawn after the commit (as the script does). */
export function deterministicCommit(args: {
  room: RoomId;
  epoch: number;
  prev: Uint8Array;
  recipients: ReadonlyMap<MemberId, Uint8Array>;
  rng: (n: number) => Uint8Array;
  history?: ReadonlyMap<number, Uint8Array> | null;
}): { commit: Commit; epochSecret: Uint8Array; commitSecret: Uint8Array; seeds: Uint8Array[] } {
  const drawn: Uint8Array[] = [];
  const recording = (n: number): Uint8Array => {
    const out = args.rng(n);
    drawn.push(out);
    return out;
  };
  const { commit, epochSecret } = makeCommit({
    room: args.room,
    epoch: args.epoch,
    prev: args.prev,
    recipients: new Map(),
    history: args.history ?? null,
    rng: recording,
  });
  const commitSecret = drawn[0]!;
  const seeds = [...args.recipients.keys()].map(() => args.rng(32));
  const members = [...args.recipients.keys()].sort();
  const shares = members.map((member, i) => ({
    member,
    sealed: sealWith(args.recipients.get(member)!, commitSecret, seeds[i]!),
  }));
  return { commit: { ...commit, shares }, epochSecret, commitSecret, seeds };
}

/** An invite link's key pair (`protocol.signing.InviteKey`, test-local). */
export class InviteKey {
  readonly signing: SigningKey;
  readonly public: Uint8Array;

  constructor(readonly secret: Uint8Array) {
    this.signing = new SigningKey(secret);
    this.public = this.signing.publicKey;
  }

  prove(a: { room: RoomId; index: number; joiner: MemberId; boxKey: Uint8Array }): Uint8Array {
    const proof = canonical("InviteProof", { room: a.room, index: a.index, joiner: a.joiner, box_key: a.boxKey });
    return sign(this.signing, CTX_INVITE, proof);
  }
}

const ROOTS = new Map<string, RootSeed>();

/** The vectors' people: `RootSeed(DetRng("root/" + name)(32))`. */
export function rootOf(name: string): RootSeed {
  let root = ROOTS.get(name);
  if (root === undefined) {
    root = new RootSeed(new DetRng(`root/${name}`).draw(32));
    ROOTS.set(name, root);
  }
  return root;
}

type Author = string | RoomKeys;

/** Plays every participant of one room, deterministically (`make_vectors.LogBuilder`). */
export class LogBuilder {
  readonly rng: (n: number) => Uint8Array;
  readonly genesis: GenesisKey;
  readonly room: RoomId;
  readonly log = new RoomLog();
  now = T0;
  readonly secrets = new Map<number, Uint8Array>();
  readonly #pending = new Map<string, Uint8Array>();
  readonly invites = new Map<string, InviteKey>();
  readonly #keys = new Map<string, RoomKeys>();

  constructor(label: string, policy: Policy = {}) {
    this.rng = new DetRng(`log/${label}`).draw;
    this.genesis = rootOf("owner").genesis(this.rng(16));
    this.room = this.genesis.room;
    const owner = this.keys("owner");
    const body: OpBody = {
      type: "room.create",
      genesis: this.genesis.prove(owner.member),
      policy,
      box_key: owner.boxPublic,
      binding: owner.binding(),
      commit: this.commit(new Map([[owner.member, owner.boxPublic]])),
    };
    this.apply(this.sign("owner", body));
  }

  keys(name: string): RoomKeys {
    let k = this.#keys.get(name);
    if (k === undefined) {
      k = rootOf(name).roomKeys(this.room);
      this.#keys.set(name, k);
    }
    return k;
  }

  member(name: string): MemberId {
    return this.keys(name).member;
  }

  sign(author: Author, body: OpBody, at: { index?: number; prev?: Uint8Array; at?: number } = {}): SignedOp {
    this.now += 60_000;
    const keys = typeof author === "string" ? this.keys(author) : author;
    return signOp(keys, {
      index: at.index ?? this.log.index + 1,
      prev: at.prev ?? this.log.head,
      at: at.at ?? this.now,
      body,
    });
  }

  recipients(plus: readonly string[] = [], minus: readonly string[] = []): Map<MemberId, Uint8Array> {
    const out = new Map<MemberId, Uint8Array>();
    for (const [id, m] of this.log.members) out.set(id, m.boxKey);
    for (const n of plus) out.set(this.member(n), this.keys(n).boxPublic);
    for (const n of minus) out.delete(this.member(n));
    return out;
  }

  commit(
    recipients: ReadonlyMap<MemberId, Uint8Array>,
    opts: { epoch?: number; history?: ReadonlyMap<number, Uint8Array>; prev?: Uint8Array } = {},
  ): Commit {
    let history = opts.history ?? null;
    if (history === null && this.log.policy.share_history && this.secrets.size > 0) history = new Map(this.secrets);
    const { commit, epochSecret } = deterministicCommit({
      room: this.room,
      epoch: opts.epoch ?? this.log.epoch + 1,
      prev: opts.prev ?? this.log.head,
      recipients,
      rng: this.rng,
      history,
    });
    this.#pending.set(hex(commit.confirm), epochSecret);
    return commit;
  }

  apply(op: SignedOp): SignedOp {
    this.log.append(op);
    const body = op.content.body;
    const commit = "commit" in body ? body.commit : null;
    if (commit != null) this.secrets.set(commit.epoch, this.#pending.get(hex(commit.confirm))!);
    return op;
  }

  // Operations, valid against the current state; apply() them or not.

  add(author: Author, name: string, role: Role = "member"): SignedOp {
    const k = this.keys(name);
    const commit = this.commit(this.recipients([name]));
    return this.sign(author, { type: "room.add", member: k.member, box_key: k.boxPublic, binding: k.binding(), role, commit });
  }

  remove(author: Author, name: string): SignedOp {
    const commit = this.commit(this.recipients([], [name]));
    return this.sign(author, { type: "room.remove", member: this.member(name), commit });
  }

  leave(name: string): SignedOp {
    return this.sign(name, { type: "room.leave" });
  }

  ban(author: Author, name: string): SignedOp {
    const member = this.member(name);
    const commit = this.log.members.has(member) ? this.commit(this.recipients([], [name])) : null;
    return this.sign(author, { type: "room.ban", member, commit });
  }

  unban(author: Author, name: string): SignedOp {
    return this.sign(author, { type: "room.unban", member: this.member(name) });
  }

  role(author: Author, name: string, role: Role): SignedOp {
    return this.sign(author, { type: "room.role", member: this.member(name), role });
  }

  rotate(author: Author): SignedOp {
    return this.sign(author, { type: "room.rotate", commit: this.commit(this.recipients()) });
  }

  invite(author: Author, label: string, role: Role = "member", uses = 1, expiresAt?: number): SignedOp {
    const fresh = new InviteKey(this.rng(32)); // drawn every time, as Python's setdefault does
    if (!this.invites.has(label)) this.invites.set(label, fresh);
    const invite = this.invites.get(label)!;
    const body: OpBody = {
      type: "room.invite.create",
      invite_key: invite.public,
      role,
      max_uses: uses,
      expires_at: expiresAt ?? this.now + DAY_MS,
    };
    return this.sign(author, body);
  }

  revoke(author: Author, label: string): SignedOp {
    return this.sign(author, { type: "room.invite.revoke", invite_key: this.invites.get(label)!.public });
  }

  join(name: string, label: string, opts: { proofIndex?: number; proof?: Uint8Array; at?: number } = {}): SignedOp {
    const k = this.keys(name);
    const invite = this.invites.get(label)!;
    const index = this.log.index + 1;
    const proof =
      opts.proof ?? invite.prove({ room: this.room, index: opts.proofIndex ?? index, joiner: k.member, boxKey: k.boxPublic });
    const body: OpBody = {
      type: "room.join",
      invite_key: invite.public,
      invite_proof: proof,
      box_key: k.boxPublic,
      binding: k.binding(),
      commit: this.commit(this.recipients([name])),
    };
    return this.sign(name, body, opts.at === undefined ? {} : { at: opts.at });
  }

  /** A join by `name` binding `boxKey` with its own signature (a hostile joiner); the commit seals to a usable stand-in. */
  joinWithKey(name: string, label: string, boxKey: Uint8Array): SignedOp {
    const k = this.keys(name);
    const invite = this.invites.get(label)!;
    const index = this.log.index + 1;
    const recipients = this.recipients();
    recipients.set(k.member, this.keys("dan").boxPublic);
    const body: OpBody = {
      type: "room.join",
      invite_key: invite.public,
      invite_proof: invite.prove({ room: this.room, index, joiner: k.member, boxKey }),
      box_key: boxKey,
      binding: boundBy(k, boxKey),
      commit: this.commit(recipients),
    };
    return this.sign(name, body);
  }
}

/** `keys`' own signature binding `boxKey` (a malicious member signs anything). */
export function boundBy(keys: RoomKeys, boxKey: Uint8Array): Uint8Array {
  return keys.sign(
    CTX_BINDING,
    canonical("Binding", { room: keys.room, member: keys.member, box_key: boxKey }),
  );
}

/** The folded state as test_vectors.py's `_state` writes it. */
export function stateOf(log: RoomLog): unknown {
  return {
    room: log.room,
    index: log.index,
    head: hex(log.head),
    fingerprint: roomFingerprint(log.room, log.index, log.head),
    epoch: log.epoch,
    needs_rotation: log.needsRotation,
    policy: toJsonValue("Policy", log.policy),
    members: [...log.members.values()]
      .sort((a, b) => compareStrings(a.id, b.id))
      .map((m) => ({ id: m.id, role: m.role, box_key: hex(m.boxKey) })),
    invites: [...log.invites.values()]
      .sort((a, b) => compareBytes(a.key, b.key))
      .map((i) => ({
        key: hex(i.key),
        role: i.role,
        max_uses: i.maxUses,
        uses: i.uses,
        expires_at: i.expiresAt,
        created_by: i.createdBy,
        revoked: i.revoked,
      })),
    banned: [...log.banned.values()]
      .sort((a, b) => compareStrings(a.member, b.member))
      .map((x) => ({ member: x.member, by: x.by, role: x.role, index: x.index })),
  };
}

/** The whole observable state, also of an empty log (whose room is unknown). */
export function snapshot(log: RoomLog): unknown {
  return log.length === 0
    ? { length: 0, index: log.index, head: hex(log.head), epoch: log.epoch }
    : { length: log.length, confirms: [...log.confirms].map(([e, c]) => [e, hex(c)]), ...(stateOf(log) as object) };
}
