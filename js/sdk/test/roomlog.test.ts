/**
 * The room-log verifier beyond the vectors (mirrors tests/protocol/test_roomlog.py):
 * every field of every operation is signed, authority and its absence, order, replay
 * and forks, joins, bindings, commits, invites that die with their creator's
 * authority, bans, unusable X25519 keys, and roles at a point of the log. Each refusal
 * is checked for its exact code and for leaving the log as it was.
 */

import { beforeAll, describe, expect, it } from "vitest";

import { concat, fromHex, hex } from "../src/bytes.js";
import { checkBoxKey, CTX_BINDING, CTX_OP, cryptoReady, PERSON_OP_HASH, blake2b, seal, sign } from "../src/crypto.js";
import { openCommit } from "../src/epochs.js";
import { CryptoError, DecodeError, ForkDetected, HearthError, LogError } from "../src/errors.js";
import { commitOf, type OpBody, type Role } from "../src/ops.js";
import { opHash, RoomLog, ZERO_HASH } from "../src/roomlog.js";
import { canonical, decodeJson, toJsonValue } from "../src/wire/codec.js";
import { SCHEMA } from "../src/wire/schema.gen.js";
import type { TypeDef } from "../src/wire/types.js";
import type { Commit, OpContent, SignedOp } from "../src/wire/schema.gen.js";
import { boundBy, DAY_MS, InviteKey, LogBuilder, snapshot, T0 } from "./builders.js";

let INVITE: InviteKey;
let SPARE: InviteKey;

beforeAll(async () => {
  await cryptoReady();
  INVITE = new InviteKey(Uint8Array.from({ length: 32 }, (_, i) => i));
  SPARE = new InviteKey(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
});

let rooms = 0;

/** A fresh room (its own genesis), owned by "owner", with INVITE and SPARE as invite labels. */
function room(policy = {}): LogBuilder {
  const b = new LogBuilder(`roomlog-test/${rooms++}`, policy);
  b.invites.set("INVITE", INVITE);
  b.invites.set("SPARE", SPARE);
  return b;
}

/** owner, owner2, mod, mod2 (moderators), sup (supporter), alice and bob (members). */
function staffRoom(policy = {}): LogBuilder {
  const b = room(policy);
  b.apply(b.add("owner", "owner2", "owner"));
  b.apply(b.add("owner", "mod", "moderator"));
  b.apply(b.add("owner", "mod2", "moderator"));
  b.apply(b.add("owner", "sup", "supporter"));
  b.apply(b.add("mod", "alice"));
  b.apply(b.add("mod", "bob"));
  return b;
}

/** Append `op`, expecting a refusal; return its code. The log must not change. */
function refused(log: RoomLog, op: SignedOp): string {
  const before = snapshot(log);
  let caught: unknown = null;
  try {
    log.append(op);
  } catch (exc) {
    caught = exc;
  }
  expect(caught, "the operation was accepted").toBeInstanceOf(HearthError);
  expect(snapshot(log)).toEqual(before);
  return (caught as HearthError).code;
}

/** The operation as a peer decodes it; null if it cannot exist on the wire. */
function wire(op: SignedOp): SignedOp | null {
  try {
    return decodeJson<SignedOp>("SignedOp", JSON.parse(JSON.stringify(toJsonValue("SignedOp", op))));
  } catch (exc) {
    if (exc instanceof DecodeError) return null;
    throw exc;
  }
}

function withBody(op: SignedOp, body: Partial<Record<string, unknown>>): OpBody {
  return { ...op.content.body, ...body } as OpBody;
}

// -- folding ---------------------------------------------------------------------------

describe("folding", () => {
  it("a valid log folds to its state", () => {
    const b = room({ kind: "program", invite_role: "supporter", max_members: 10 });
    const log = b.log;
    const [owner, mod, alice, carol] = ["owner", "mod", "alice", "carol"].map((n) => b.member(n));
    expect([log.room, log.index, log.epoch, log.roleOf(owner!)]).toEqual([b.room, 0, 1, "owner"]);
    expect(log.policy.kind).toBe("program");
    expect(hex(log.hashAt(0))).toBe(hex(opHash(log.ops[0]!)));
    b.apply(b.add("owner", "mod", "moderator"));
    b.apply(b.add("mod", "alice", "supporter"));
    b.apply(b.invite("mod", "INVITE", "member", 2));
    expect(log.invite(INVITE.public)!.uses).toBe(0);
    b.apply(b.join("carol", "INVITE"));
    expect(log.invite(INVITE.public)!.uses).toBe(1);
    expect(log.roleOf(carol!)).toBe("member");
    expect(hex(log.members.get(carol!)!.boxKey)).toBe(hex(b.keys("carol").boxPublic));
    b.apply(b.role("mod", "carol", "supporter"));
    b.apply(b.leave("alice"));
    expect(log.needsRotation).toBe(true);
    expect(log.epoch).toBe(4);
    expect(log.roleOf(alice!)).toBeNull();
    b.apply(b.rotate("carol"));
    expect(log.needsRotation).toBe(false);
    b.apply(b.revoke("mod", "INVITE"));
    expect(log.invite(INVITE.public)!.revoked).toBe(true);
    b.apply(b.remove("owner", "carol"));

    expect([...log.members.keys()].sort()).toEqual([owner, mod].sort());
    expect(Object.fromEntries([...log.members].map(([id, m]) => [id, m.role]))).toEqual({ [owner!]: "owner", [mod!]: "moderator" });
    expect(log.epoch).toBe(6);
    expect(log.index).toBe(9);
    expect(Array.from({ length: 10 }, (_, i) => log.epochAt(i))).toEqual([1, 2, 3, 3, 4, 4, 4, 5, 5, 6]);
    expect(hex(log.head)).toBe(hex(opHash(log.ops[9]!)));
    for (let i = 1; i < 10; i++) expect(hex(log.ops[i]!.content.prev)).toBe(hex(log.hashAt(i - 1)));
    expect(log.length).toBe(10);
    expect([...log.confirms.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
    // Anyone replaying the same operations, decoded from the wire, gets the same state.
    const again = RoomLog.fromOps(log.ops.map((op) => wire(op)!));
    expect(snapshot(again)).toEqual(snapshot(log));
  });

  it("an operation's hash is BLAKE2b of its canonical bytes", () => {
    const b = staffRoom();
    for (const [i, op] of b.log.ops.entries()) {
      expect(hex(b.log.hashAt(i))).toBe(hex(blake2b(canonical("SignedOp", op), PERSON_OP_HASH)));
    }
    expect(hex(b.log.ops[0]!.content.prev)).toBe(hex(ZERO_HASH));
  });

  it("an empty log", () => {
    const log = new RoomLog();
    expect([log.index, hex(log.head), log.epoch, log.length]).toEqual([-1, hex(ZERO_HASH), 0, 0]);
    let caught: unknown;
    try {
      void log.room;
    } catch (exc) {
      caught = exc;
    }
    expect(caught).toBeInstanceOf(LogError);
    expect((caught as LogError).code).toBe("log.empty");
    expect(log.checkHead(0, ZERO_HASH)).toBe(false);
    expect(() => log.hashAt(0)).toThrow(RangeError);
    expect(() => log.epochAt(-1)).toThrow(RangeError);
  });
});

// -- single-bit tampering of every kind of operation -------------------------------------

type Path = (string | number)[];
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function resolve(value: unknown, t: TypeDef): TypeDef {
  if (t.k !== "union") return t;
  for (const x of t.types) {
    if (x.k === "none" && value === null) return x;
    if (x.k === "ref" && value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
      const d = SCHEMA[x.name]!;
      if (d.tagField === null || (value as Record<string, unknown>)[d.tagField] === d.tag) return x;
    }
    if (x.k === "bytes" && value instanceof Uint8Array) return x;
    if (x.k === "int" && typeof value === "number") return x;
  }
  throw new Error(`no member of the union matches ${String(value)}`);
}

/** Every non-empty, non-null leaf of a wire value, by field path (builders.leaf_paths). */
function leafPaths(value: unknown, t: TypeDef = { k: "ref", name: "SignedOp" }, path: Path = []): Path[] {
  const info = resolve(value, t);
  if (info.k === "ref") {
    return SCHEMA[info.name]!.fields.flatMap((f) => leafPaths((value as Record<string, unknown>)[f.name], f.type, [...path, f.name]));
  }
  if (info.k === "list") return (value as unknown[]).flatMap((item, i) => leafPaths(item, info.item, [...path, i]));
  if (info.k === "none" || (value instanceof Uint8Array && value.length === 0) || value === "") return [];
  return [path];
}

function flipBit(data: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(data);
  const i = bit % (8 * out.length);
  out[i >> 3] = out[i >> 3]! ^ (1 << (i % 8));
  return out;
}

function flipLeaf(v: unknown, info: TypeDef, bit: number): unknown {
  switch (info.k) {
    case "bytes":
      return flipBit(v as Uint8Array, bit);
    case "bool":
      return !v;
    case "int": {
      const p = 2 ** (bit % 53);
      return Math.floor((v as number) / p) % 2 === 1 ? (v as number) - p : (v as number) + p;
    }
    case "lit": {
      const others = info.values.filter((x) => x !== v);
      if (others.length > 0) return others[bit % others.length];
      return typeof v === "number" ? v ^ (1 << (bit % 8)) : `${String(v)}x`;
    }
    case "str": {
      const s = v as string;
      if (info.pattern !== undefined) {
        const i = Math.floor(bit / 6) % s.length;
        return s.slice(0, i) + B64URL[B64URL.indexOf(s[i]!) ^ (1 << (bit % 6))] + s.slice(i + 1);
      }
      const i = Math.floor(bit / 7) % s.length;
      return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << (bit % 7))) + s.slice(i + 1);
    }
    default:
      throw new Error(`cannot flip ${info.k}`);
  }
}

/** `value` with one bit of the leaf at `path` flipped (builders.flip). */
function flip(value: unknown, path: Path, bit: number, t: TypeDef = { k: "ref", name: "SignedOp" }): unknown {
  const info = resolve(value, t);
  if (path.length === 0) return flipLeaf(value, info, bit);
  const [head, ...rest] = path;
  if (info.k === "ref") {
    const field = SCHEMA[info.name]!.fields.find((f) => f.name === head)!;
    const v = value as Record<string, unknown>;
    return { ...v, [head as string]: flip(v[head as string], rest, bit, field.type) };
  }
  if (info.k !== "list") throw new Error("a path goes through structures and lists only");
  const items = [...(value as unknown[])];
  items[head as number] = flip(items[head as number], rest, bit, info.item);
  return items;
}

function expectedCode(path: Path, bad: SignedOp, log: RoomLog): string {
  const p = path.join(".");
  // At an index we hold, an operation its author did not sign is a forgery, not
  // evidence of a second history.
  if (p === "content.index") return bad.content.index < log.length ? "log.bad_signature" : "log.bad_index";
  if (p === "content.prev") return "log.bad_prev";
  if (p === "content.room" && log.length > 0) return "log.bad_room";
  return "log.bad_signature";
}

describe("tampering", () => {
  let prefix: readonly SignedOp[];
  let candidates: Record<string, SignedOp>;
  let create: SignedOp;

  beforeAll(() => {
    const b = room();
    b.apply(b.add("owner", "mod", "moderator"));
    b.apply(b.add("owner", "alice"));
    b.apply(b.invite("owner", "INVITE"));
    b.apply(b.ban("mod", "zed"));
    const made: Record<string, SignedOp> = {
      add: b.add("owner", "bob"),
      ban: b.ban("mod", "alice"),
      "ban a non-member": b.ban("owner", "yan"),
      unban: b.unban("mod", "zed"),
      remove: b.remove("owner", "alice"),
      leave: b.leave("alice"),
      invite: b.invite("mod", "SPARE", "moderator"),
      revoke: b.revoke("owner", "INVITE"),
      join: b.join("carol", "INVITE"),
      role: b.role("owner", "alice", "supporter"),
      rotate: b.rotate("mod"),
      retention: b.sign("owner", { type: "room.retention", retention_days: 7 }),
    };
    prefix = [...b.log.ops];
    candidates = Object.fromEntries(Object.entries(made).map(([k, op]) => [k, wire(op)!]));
    create = wire(room().log.ops[0]!)!;
  });

  it("each candidate is valid as it is", () => {
    for (const op of Object.values(candidates)) RoomLog.fromOps(prefix).append(op);
    expect(hex(new RoomLog().append(create))).toBe(hex(opHash(create)));
  });

  it.each([
    "add",
    "ban",
    "ban a non-member",
    "unban",
    "remove",
    "leave",
    "invite",
    "revoke",
    "join",
    "role",
    "rotate",
    "retention",
    "create",
  ])("every field of %s is signed", (kind) => {
    const log = kind === "create" ? new RoomLog() : RoomLog.fromOps(prefix);
    const op = kind === "create" ? create : candidates[kind]!;
    const paths = leafPaths(op);
    let checked = 0;
    for (const path of paths) {
      for (const bit of [0, 5, 13, 52]) {
        const bad = wire(flip(op, path, bit) as SignedOp);
        if (bad === null) continue; // v = 3, epoch 0: the decoder refuses those first
        expect([path.join("."), bit, refused(log, bad)]).toEqual([path.join("."), bit, expectedCode(path, bad, log)]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(4 * paths.length - 8);
  });
});

// -- authority -----------------------------------------------------------------------------

type Case = (b: LogBuilder) => SignedOp;

const AUTHORITY: Record<string, [Case, string]> = {
  "member adds": [(r) => r.add("alice", "zed"), "log.unauthorized"],
  "supporter adds": [(r) => r.add("sup", "zed"), "log.unauthorized"],
  "moderator adds an owner": [(r) => r.add("mod", "zed", "owner"), "log.unauthorized"],
  "outsider adds": [(r) => r.add("zed", "yan"), "log.not_member"],
  "member removes": [(r) => r.remove("alice", "bob"), "log.unauthorized"],
  "supporter removes": [(r) => r.remove("sup", "bob"), "log.unauthorized"],
  "moderator removes an owner": [(r) => r.remove("mod", "owner"), "log.unauthorized"],
  "moderator removes a moderator": [(r) => r.remove("mod", "mod2"), "log.unauthorized"],
  "removing a non-member": [
    (r) => r.sign("owner", { type: "room.remove", member: r.member("zed"), commit: r.commit(r.recipients()) }),
    "log.not_member",
  ],
  "removing oneself": [(r) => r.remove("owner", "owner"), "log.invalid"],
  "outsider removes": [(r) => r.remove("zed", "alice"), "log.not_member"],
  "outsider rotates": [(r) => r.rotate("zed"), "log.not_member"],
  "outsider leaves": [(r) => r.leave("zed"), "log.not_member"],
  "member sets a role": [(r) => r.role("alice", "bob", "supporter"), "log.unauthorized"],
  "supporter sets a role": [(r) => r.role("sup", "bob", "supporter"), "log.unauthorized"],
  "moderator promotes to moderator": [(r) => r.role("mod", "alice", "moderator"), "log.unauthorized"],
  "moderator demotes an owner": [(r) => r.role("mod", "owner", "member"), "log.unauthorized"],
  "moderator demotes a moderator": [(r) => r.role("mod", "mod2", "member"), "log.unauthorized"],
  "owner sets own role": [(r) => r.role("owner", "owner", "member"), "log.unauthorized"],
  "role of a non-member": [(r) => r.role("owner", "zed", "member"), "log.not_member"],
  "outsider sets a role": [(r) => r.role("zed", "alice", "supporter"), "log.not_member"],
  "member invites": [(r) => r.invite("alice", "INVITE"), "log.unauthorized"],
  "invite grants owner": [(r) => r.invite("owner", "INVITE", "owner"), "log.unauthorized"],
  "moderator invites an owner": [(r) => r.invite("mod", "INVITE", "owner"), "log.unauthorized"],
  "adding a member twice": [(r) => r.add("owner", "alice"), "log.invalid"],
  "member bans": [(r) => r.ban("alice", "bob"), "log.unauthorized"],
  "supporter bans": [(r) => r.ban("sup", "bob"), "log.unauthorized"],
  "supporter bans a non-member": [(r) => r.ban("sup", "zed"), "log.unauthorized"],
  "moderator bans a moderator": [(r) => r.ban("mod", "mod2"), "log.unauthorized"],
  "moderator bans an owner": [(r) => r.ban("mod", "owner"), "log.unauthorized"],
  "banning oneself": [(r) => r.ban("owner", "owner"), "log.invalid"],
  "outsider bans": [(r) => r.ban("zed", "alice"), "log.not_member"],
  "unbanning a key that is not banned": [(r) => r.unban("owner", "zed"), "log.invalid"],
  "moderator changes the retention": [(r) => r.sign("mod", { type: "room.retention", retention_days: 1 }), "log.unauthorized"],
  "outsider changes the retention": [(r) => r.sign("zed", { type: "room.retention", retention_days: 1 }), "log.not_member"],
};

const ALLOWED: Record<string, Case> = {
  "owner removes an owner": (r) => r.remove("owner", "owner2"),
  "moderator removes a supporter": (r) => r.remove("mod", "sup"),
  "moderator adds a moderator": (r) => r.add("mod", "zed", "moderator"),
  "moderator makes a supporter": (r) => r.role("mod", "alice", "supporter"),
  "owner makes an owner": (r) => r.role("owner", "alice", "owner"),
  "owner demotes an owner": (r) => r.role("owner", "owner2", "member"),
  "moderator invites a moderator": (r) => r.invite("mod", "INVITE", "moderator"),
  "member rotates": (r) => r.rotate("alice"),
  "moderator bans a member": (r) => r.ban("mod", "alice"),
  "moderator bans a non-member": (r) => r.ban("mod", "zed"),
  "owner bans a moderator": (r) => r.ban("owner", "mod"),
  "owner bans an owner": (r) => r.ban("owner", "owner2"),
  "member leaves": (r) => r.leave("bob"),
};

describe("authority", () => {
  let base: LogBuilder;
  beforeAll(() => {
    base = staffRoom();
  });

  it.each(Object.keys(AUTHORITY))("refused: %s", (name) => {
    const [build, code] = AUTHORITY[name]!;
    const log = RoomLog.fromOps(base.log.ops);
    expect(refused(log, build(base))).toBe(code);
  });

  it.each(Object.keys(ALLOWED))("accepted: %s", (name) => {
    // The other side of each refusal above, so no rule refuses everything.
    RoomLog.fromOps(base.log.ops).append(ALLOWED[name]!(base));
  });

  it("invite_role sets who may add and invite", () => {
    const b = staffRoom({ invite_role: "supporter" });
    b.apply(b.invite("sup", "INVITE", "supporter"));
    expect(refused(b.log, b.invite("sup", "SPARE", "moderator"))).toBe("log.unauthorized");
    expect(refused(b.log, b.add("sup", "zed", "moderator"))).toBe("log.unauthorized");
    expect(refused(b.log, b.invite("alice", "SPARE"))).toBe("log.unauthorized");
    b.apply(b.add("sup", "zed", "supporter"));
  });

  it("only an owner changes the retention, and nothing else changes with it", () => {
    const b = staffRoom({ retention_days: 30, invite_role: "supporter" });
    for (const who of ["mod", "sup", "alice"]) {
      expect(refused(b.log, b.sign(who, { type: "room.retention", retention_days: 1 }))).toBe("log.unauthorized");
    }
    const epoch = b.log.epoch;
    const members = [...b.log.members.keys()];
    b.apply(b.sign("owner2", { type: "room.retention", retention_days: 1 }));
    expect(b.log.policy).toEqual({ kind: "group", invite_role: "supporter", share_history: false, max_members: null, retention_days: 1 });
    expect([b.log.epoch, [...b.log.members.keys()]]).toEqual([epoch, members]);
    b.apply(b.sign("owner", { type: "room.retention", retention_days: null }));
    expect(b.log.policy.retention_days).toBeNull();
  });

  it("a removed member has no authority left", () => {
    const b = staffRoom();
    b.apply(b.remove("owner", "mod"));
    expect(refused(b.log, b.add("mod", "zed"))).toBe("log.not_member");
    expect(refused(b.log, b.rotate("mod"))).toBe("log.not_member");
    expect(refused(b.log, b.leave("mod"))).toBe("log.not_member");
  });

  it("a demotion takes effect at once", () => {
    const b = staffRoom();
    b.apply(b.role("owner", "mod", "member"));
    expect(refused(b.log, b.remove("mod", "alice"))).toBe("log.unauthorized");
  });

  it("invite revocation rules", () => {
    const b = staffRoom({ invite_role: "member" });
    b.apply(b.invite("alice", "INVITE"));
    expect(refused(b.log, b.revoke("bob", "INVITE"))).toBe("log.unauthorized");
    expect(refused(b.log, b.revoke("owner", "SPARE"))).toBe("log.bad_invite");
    b.apply(b.revoke("alice", "INVITE"));
    expect(refused(b.log, b.revoke("mod", "INVITE"))).toBe("log.bad_invite");
    b.apply(b.invite("bob", "SPARE"));
    b.apply(b.revoke("mod", "SPARE")); // a moderator may revoke anyone's invite
    expect(refused(b.log, b.invite("owner", "SPARE"))).toBe("log.invalid");
  });

  it("a log starts with room.create, and only there", () => {
    const b = staffRoom();
    const stranger = room();
    const add = stranger.add("owner", "alice");
    expect(refused(new RoomLog(), add)).toBe("log.bad_index");
    const first = stranger.sign("owner", add.content.body, { index: 0, prev: ZERO_HASH });
    expect(refused(new RoomLog(), first)).toBe("log.invalid");
    expect(refused(b.log, b.sign("owner", stranger.log.ops[0]!.content.body))).toBe("log.bad_index");
  });

  it("an invite's fields are kept", () => {
    const b = staffRoom();
    b.apply(b.invite("mod", "INVITE", "supporter", 7, T0 + 5));
    const invite = b.log.invite(INVITE.public)!;
    expect([invite.role, invite.maxUses, invite.uses, invite.expiresAt, invite.createdBy, invite.revoked]).toEqual([
      "supporter",
      7,
      0,
      T0 + 5,
      b.member("mod"),
      false,
    ]);
    expect(b.log.invites.get(hex(INVITE.public))).toBe(invite);
  });
});

// -- order, replay, forks ------------------------------------------------------------------

function fiveOpLog(): LogBuilder {
  const b = room();
  b.apply(b.add("owner", "alice"));
  b.apply(b.invite("owner", "INVITE"));
  b.apply(b.role("owner", "alice", "supporter"));
  b.apply(b.rotate("alice"));
  return b;
}

describe("order, replay and forks", () => {
  it("a dropped operation is detected", () => {
    const ops = [...fiveOpLog().log.ops];
    for (let missing = 1; missing < ops.length - 1; missing++) {
      let caught: unknown;
      try {
        RoomLog.fromOps([...ops.slice(0, missing), ...ops.slice(missing + 1)]);
      } catch (exc) {
        caught = exc;
      }
      expect((caught as LogError).code).toBe("log.bad_index");
    }
  });

  it("reordered operations are refused", () => {
    const ops = [...fiveOpLog().log.ops];
    for (const order of [
      [1, 0, 2, 3, 4],
      [0, 2, 1, 3, 4],
      [0, 1, 2, 4, 3],
      [4, 3, 2, 1, 0],
      [0, 3, 1, 2, 4],
    ]) {
      const log = new RoomLog();
      const first = order.findIndex((i, n) => i !== n);
      for (const i of order.slice(0, first)) log.append(ops[i]!);
      expect(refused(log, ops[order[first]!]!)).toBe("log.bad_index");
    }
  });

  it("a replay is refused, as sent and as decoded", () => {
    const b = fiveOpLog();
    for (const op of b.log.ops) {
      expect(refused(b.log, op)).toBe("log.replay");
      expect(refused(b.log, wire(op)!)).toBe("log.replay");
    }
  });

  it("a wrong prev is refused", () => {
    const b = fiveOpLog();
    for (const prev of [b.log.hashAt(b.log.index - 1), ZERO_HASH, Uint8Array.from({ length: 32 }, (_, i) => i)]) {
      expect(refused(b.log, b.sign("owner", b.rotate("owner").content.body, { prev }))).toBe("log.bad_prev");
    }
  });

  it("a wrong index is refused", () => {
    const b = fiveOpLog();
    for (const index of [b.log.index + 2, b.log.index + 100, 2 ** 53]) {
      expect(refused(b.log, b.sign("owner", b.rotate("owner").content.body, { index }))).toBe("log.bad_index");
    }
  });

  it("an operation for another room is refused", () => {
    const b = fiveOpLog();
    const other = room();
    const op = other.sign("owner", { type: "room.rotate", commit: b.commit(b.recipients()) }, { index: b.log.index + 1, prev: b.log.head });
    expect(refused(b.log, op)).toBe("log.bad_room");
  });

  it("two operations at one index are a fork, appended or placed as a head", () => {
    const b = fiveOpLog();
    const honest = b.rotate("owner");
    const other = b.role("owner", "alice", "member");
    b.apply(honest);
    const before = snapshot(b.log);
    expect(() => b.log.append(other)).toThrow(ForkDetected);
    try {
      b.log.append(other);
    } catch (exc) {
      expect((exc as ForkDetected).code).toBe("log.fork");
    }
    expect(snapshot(b.log)).toEqual(before);
    const index = honest.content.index;
    expect(b.log.checkHead(index, opHash(honest))).toBe(true);
    expect(() => b.log.checkHead(index, opHash(other))).toThrow(ForkDetected);
    expect(b.log.checkHead(index + 1, opHash(other))).toBe(false);
    expect(b.log.checkHead(-1, ZERO_HASH)).toBe(false);
    // And deep in history: an old index rewritten is a fork, not a replay.
    const rewritten = b.sign("owner", b.log.ops[2]!.content.body, { index: 2, prev: b.log.hashAt(1) });
    expect(() => b.log.append(rewritten)).toThrow(ForkDetected);
    expect(() => b.log.checkHead(2, opHash(rewritten))).toThrow(ForkDetected);
  });

  it("an unsigned second operation is a forgery, not a fork", () => {
    // Only an operation its author really signed proves a second history; a relay
    // that fabricates one without the key is told apart as a bad signature.
    const b = room();
    b.apply(b.add("owner", "alice"));
    const held = b.log.ops[1]!;
    const forged: SignedOp = { ...held, content: { ...held.content, at: held.content.at + 1 } };
    expect(refused(b.log, forged)).toBe("log.bad_signature");
  });

  it("another room's operation at a held index is not a fork", () => {
    const b = fiveOpLog();
    const other = room();
    const op = other.sign("owner", other.log.ops[0]!.content.body, { index: 1, prev: b.log.hashAt(0) });
    expect(refused(b.log, op)).toBe("log.bad_index");
  });
});

// -- joins ---------------------------------------------------------------------------------

function inviteRoom(role: Role = "member", uses = 1, expiresAt?: number): LogBuilder {
  const b = room();
  b.apply(b.add("owner", "alice"));
  b.apply(b.invite("owner", "INVITE", role, uses, expiresAt));
  return b;
}

describe("joins", () => {
  it("with an invite", () => {
    const b = inviteRoom("supporter", 2);
    b.apply(b.join("carol", "INVITE"));
    b.apply(b.join("dan", "INVITE"));
    expect(b.log.roleOf(b.member("carol"))).toBe("supporter");
    expect(b.log.invite(INVITE.public)!.uses).toBe(2);
    expect(b.log.epoch).toBe(4);
  });

  it("an exhausted, expired, revoked or unknown invite is refused", () => {
    const used = inviteRoom();
    used.apply(used.join("carol", "INVITE"));
    expect(refused(used.log, used.join("dan", "INVITE"))).toBe("log.bad_invite");

    const late = inviteRoom("member", 1, T0 + DAY_MS);
    expect(refused(late.log, late.join("carol", "INVITE", { at: T0 + DAY_MS + 1 }))).toBe("log.bad_invite");
    late.apply(late.join("carol", "INVITE", { at: T0 + DAY_MS })); // the last millisecond still counts

    const revoked = inviteRoom("member", 5);
    revoked.apply(revoked.revoke("owner", "INVITE"));
    expect(refused(revoked.log, revoked.join("carol", "INVITE"))).toBe("log.bad_invite");

    const unknown = inviteRoom();
    expect(refused(unknown.log, unknown.join("carol", "SPARE"))).toBe("log.bad_invite");
  });

  it.each(["invite", "index", "joiner", "box_key", "room", "garbage"])("a proof with the wrong %s is refused", (wrong) => {
    const b = inviteRoom();
    const carol = b.keys("carol");
    const args = { room: b.room, index: b.log.index + 1, joiner: carol.member, boxKey: carol.boxPublic };
    let signer = INVITE;
    if (wrong === "invite") signer = SPARE;
    else if (wrong === "index") args.index += 1;
    else if (wrong === "joiner") args.joiner = b.member("dan");
    else if (wrong === "box_key") args.boxKey = b.keys("dan").boxPublic;
    else if (wrong === "room") args.room = room().room;
    const proof = wrong === "garbage" ? new Uint8Array(64) : signer.prove(args);
    expect(refused(b.log, b.join("carol", "INVITE", { proof }))).toBe("log.bad_invite");
  });

  it("a proof cannot be replayed by someone else", () => {
    const b = inviteRoom("member", 3);
    const honest = b.join("carol", "INVITE");
    const dan = b.keys("dan");
    const body = honest.content.body as Extract<OpBody, { type: "room.join" }>;
    const stolen: OpBody = {
      type: "room.join",
      invite_key: INVITE.public,
      invite_proof: body.invite_proof,
      box_key: dan.boxPublic,
      binding: dan.binding(),
      commit: b.commit(b.recipients(["dan"])),
    };
    expect(refused(b.log, b.sign(dan, stolen))).toBe("log.bad_invite");
  });

  it("a member cannot join again", () => {
    const b = inviteRoom();
    expect(refused(b.log, b.join("alice", "INVITE"))).toBe("log.invalid");
  });

  it("a full room refuses joins and adds", () => {
    const b = room({ max_members: 2 });
    b.apply(b.invite("owner", "INVITE", "member", 5));
    b.apply(b.join("alice", "INVITE"));
    expect(refused(b.log, b.join("bob", "INVITE"))).toBe("log.room_full");
    expect(refused(b.log, b.add("owner", "bob"))).toBe("log.room_full");
    b.apply(b.leave("alice"));
    b.apply(b.join("bob", "INVITE"));
  });
});

// -- bindings ------------------------------------------------------------------------------

describe("bindings", () => {
  for (const kind of ["create", "add", "join"] as const) {
    for (const wrong of ["box_key", "signer"] as const) {
      it(`a ${kind} whose binding has the wrong ${wrong} is refused`, () => {
        const b = kind === "create" ? room() : inviteRoom();
        const log = kind === "create" ? new RoomLog() : b.log;
        const op = kind === "create" ? b.log.ops[0]! : kind === "add" ? b.add("owner", "carol") : b.join("carol", "INVITE");
        const target = b.keys(kind === "create" ? "owner" : "carol");
        const dan = b.keys("dan");
        const statement = canonical("Binding", { room: b.room, member: target.member, box_key: target.boxPublic });
        // dan's binding, not over this key; or this key's statement signed by dan
        const binding = wrong === "box_key" ? dan.binding() : sign(dan.signing, CTX_BINDING, statement);
        const author = kind === "add" ? b.keys("owner") : target;
        const at = kind === "create" ? { index: 0, prev: ZERO_HASH } : {};
        expect(refused(log, b.sign(author, withBody(op, { binding }), at))).toBe("log.bad_binding");
      });
    }
  }

  it("a member id alias cannot take a second seat", () => {
    // The two spare bits of a member id's last character must not give one key a
    // second identity in the log (memberKey refuses non-canonical ids).
    const b = inviteRoom("member", 2);
    const alice = b.keys("alice");
    const alias = alice.member.slice(0, -1) + B64URL[B64URL.indexOf(alice.member.at(-1)!) ^ 1]!;
    const index = b.log.index + 1;
    const binding = alice.sign(CTX_BINDING, canonical("Binding", { room: b.room, member: alias, box_key: alice.boxPublic }));
    const body: OpBody = {
      type: "room.join",
      invite_key: INVITE.public,
      invite_proof: INVITE.prove({ room: b.room, index, joiner: alias, boxKey: alice.boxPublic }),
      box_key: alice.boxPublic,
      binding,
      commit: b.commit(new Map(b.recipients()).set(alias, alice.boxPublic)),
    };
    const content: OpContent = { v: 2, room: b.room, index, prev: b.log.head, author: alias, at: T0, body };
    const op: SignedOp = { content, sig: alice.sign(CTX_OP, canonical("OpContent", content)) };
    expect(refused(b.log, op)).toBe("log.bad_signature");
    const add: OpBody = {
      type: "room.add",
      member: alias,
      box_key: alice.boxPublic,
      binding,
      commit: b.commit(new Map(b.recipients()).set(alias, alice.boxPublic)),
    };
    expect(refused(b.log, b.sign("owner", add))).toBe("log.bad_binding");
  });
});

// -- commits -------------------------------------------------------------------------------

function commitRoom(): LogBuilder {
  const b = room();
  b.apply(b.add("owner", "alice"));
  b.apply(b.add("owner", "bob"));
  return b;
}

describe("commits", () => {
  it("must seal to exactly the members after the operation", () => {
    const b = commitRoom();
    const carol = b.keys("carol");
    const cases: [string, string, Map<string, Uint8Array>][] = [
      ["add without the newcomer", "add", b.recipients()],
      ["add without an old member", "add", b.recipients(["carol"], ["bob"])],
      ["remove still sealing to the removed", "remove", b.recipients()],
      ["rotate to a subset", "rotate", b.recipients([], ["bob"])],
      ["rotate to an outsider too", "rotate", b.recipients(["carol"])],
    ];
    for (const [name, kind, recipients] of cases) {
      const commit = b.commit(recipients);
      const body: OpBody =
        kind === "add"
          ? { type: "room.add", member: carol.member, box_key: carol.boxPublic, binding: carol.binding(), commit }
          : kind === "remove"
            ? { type: "room.remove", member: b.member("bob"), commit }
            : { type: "room.rotate", commit };
      expect([name, refused(b.log, b.sign("owner", body))]).toEqual([name, "log.bad_commit"]);
    }
  });

  it.each([-1, 0, 2, 100])("must start the next epoch (off by %i)", (delta) => {
    const b = commitRoom();
    const commit = b.commit(b.recipients(), { epoch: delta >= 0 ? b.log.epoch + delta : 1 });
    expect(refused(b.log, b.sign("owner", { type: "room.rotate", commit }))).toBe("log.bad_commit");
  });

  it("room.create must start epoch 1", () => {
    const b = room();
    const owner = b.keys("owner");
    const commit = b.commit(new Map([[owner.member, owner.boxPublic]]), { epoch: 2, prev: ZERO_HASH });
    const bad = b.sign("owner", withBody(b.log.ops[0]!, { commit }), { index: 0, prev: ZERO_HASH });
    expect(refused(new RoomLog(), bad)).toBe("log.bad_commit");
  });

  it.each(["unsorted", "duplicate"])("shares must be sorted and unique (%s)", (how) => {
    const b = commitRoom();
    const commit = b.commit(b.recipients());
    const shares = how === "duplicate" ? [...commit.shares.slice(0, 2), commit.shares[1]!] : [...commit.shares].reverse();
    expect(refused(b.log, b.sign("owner", { type: "room.rotate", commit: { ...commit, shares } }))).toBe("log.bad_commit");
  });

  it("history only where the policy shares it", () => {
    const b = commitRoom();
    const leak = b.commit(b.recipients(), { history: new Map(b.secrets) });
    expect(leak.history).not.toBeNull();
    expect(refused(b.log, b.sign("owner", { type: "room.rotate", commit: leak }))).toBe("log.bad_commit");
    const sharing = room({ share_history: true });
    sharing.apply(sharing.add("owner", "alice"));
    expect(commitOf(sharing.log.ops[1]!.content.body)!.history).not.toBeNull();
  });

  it("a bad confirm tag passes the log but not the members", () => {
    const b = commitRoom();
    const commit = b.commit(b.recipients());
    b.log.append(b.sign("owner", { type: "room.rotate", commit: { ...commit, confirm: new Uint8Array(32) } }));
    for (const name of ["owner", "alice", "bob"]) {
      expect(codeOf(() => openAs(b, name, b.log.index))).toBe("log.bad_commit");
    }
  });

  it("a share sealed to another key fails for that member only", () => {
    const b = commitRoom();
    const commit = b.commit(b.recipients());
    const bob = b.member("bob");
    const shares = commit.shares.map((s) =>
      s.member === bob ? { ...s, sealed: seal(b.keys("mallory").boxPublic, new Uint8Array(32)) } : s,
    );
    b.log.append(b.sign("owner", { type: "room.rotate", commit: { ...commit, shares } }));
    expect(codeOf(() => openAs(b, "bob", b.log.index))).toBe("log.bad_commit");
    openAs(b, "alice", b.log.index);
  });

  it("needs a commit exactly on membership changes, and needsRotation until one", () => {
    const b = commitRoom();
    b.apply(b.leave("bob"));
    expect(b.log.needsRotation).toBe(true);
    b.apply(b.role("owner", "alice", "supporter"));
    b.apply(b.invite("owner", "INVITE"));
    expect(b.log.needsRotation).toBe(true); // operations without a commit leave it set
    b.apply(b.rotate("alice"));
    expect(b.log.needsRotation).toBe(false);
  });
});

function openAs(b: LogBuilder, name: string, index: number): Uint8Array {
  const commit = commitOf(b.log.ops[index]!.content.body) as Commit;
  const prev = index > 0 ? b.log.hashAt(index - 1) : ZERO_HASH;
  return openCommit(commit, { prev, keys: b.keys(name) });
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    if (exc instanceof HearthError) return exc.code;
    throw exc;
  }
  return "accepted";
}

// -- an invite lives only as long as its creator may grant it --------------------------------

function modInvite(role: Role = "moderator"): LogBuilder {
  const b = staffRoom();
  b.apply(b.invite("mod", "INVITE", role, 5));
  return b;
}

describe("invites die with their creator's authority", () => {
  it.each([
    ["removed", (b: LogBuilder) => b.remove("owner", "mod")],
    ["banned", (b: LogBuilder) => b.ban("owner", "mod")],
    ["demoted to supporter", (b: LogBuilder) => b.role("owner", "mod", "supporter")],
    ["demoted to member", (b: LogBuilder) => b.role("owner", "mod", "member")],
  ] as [string, Case][])("the creator %s", (_name, fall) => {
    const b = modInvite();
    b.apply(b.invite("mod2", "SPARE", "moderator")); // another moderator's: untouched
    b.apply(fall(b));
    expect(b.log.invite(INVITE.public)!.revoked).toBe(true);
    expect(b.log.invite(SPARE.public)!.revoked).toBe(false);
    expect(refused(b.log, b.join("zed", "INVITE"))).toBe("log.bad_invite");
    b.apply(b.join("zed", "SPARE")); // the control: a live invite still admits
  });

  it("a demotion keeps the invites the creator may still grant", () => {
    const b = staffRoom({ invite_role: "supporter" });
    b.apply(b.invite("mod", "INVITE", "supporter", 5));
    b.apply(b.invite("mod", "SPARE", "moderator", 5));
    b.apply(b.role("owner", "mod", "supporter"));
    expect(b.log.invite(INVITE.public)!.revoked).toBe(false);
    expect(b.log.invite(SPARE.public)!.revoked).toBe(true);
    b.apply(b.join("zed", "INVITE"));
    expect(b.log.roleOf(b.member("zed"))).toBe("supporter");
  });

  it("a revoked invite stays revoked after a promotion", () => {
    const b = modInvite();
    b.apply(b.role("owner", "mod", "member"));
    b.apply(b.role("owner", "mod", "moderator"));
    expect(b.log.invite(INVITE.public)!.revoked).toBe(true);
    expect(refused(b.log, b.join("zed", "INVITE"))).toBe("log.bad_invite");
  });

  it("a leaver's invite no longer admits", () => {
    const b = modInvite();
    b.apply(b.leave("mod"));
    expect(b.log.invite(INVITE.public)!.revoked).toBe(true);
    b.apply(b.rotate("owner"));
    expect(refused(b.log, b.join("zed", "INVITE"))).toBe("log.bad_invite");
  });

  it("revocations replay alike", () => {
    const b = modInvite();
    b.apply(b.ban("owner", "mod"));
    expect(snapshot(RoomLog.fromOps(b.log.ops))).toEqual(snapshot(b.log));
  });
});

// -- bans ----------------------------------------------------------------------------------

describe("bans", () => {
  it("a ban removes the member and keeps the key out until lifted", () => {
    const b = staffRoom();
    b.apply(b.invite("owner", "INVITE", "member", 5));
    const epoch = b.log.epoch;
    const op = b.apply(b.ban("mod", "alice"));
    const alice = b.member("alice");
    expect(b.log.members.has(alice)).toBe(false);
    expect(b.log.epoch).toBe(epoch + 1);
    expect(b.log.banned.get(alice)!.by).toBe(b.member("mod"));
    expect(b.log.banned.get(alice)!.index).toBe(op.content.index);
    expect(refused(b.log, b.join("alice", "INVITE"))).toBe("log.banned");
    expect(refused(b.log, b.add("owner", "alice"))).toBe("log.banned");
    expect(refused(b.log, b.ban("owner", "alice"))).toBe("log.invalid");
    b.apply(b.unban("mod", "alice"));
    expect(b.log.banned.has(alice)).toBe(false);
    b.apply(b.join("alice", "INVITE")); // lifted: an invite admits again
  });

  it("a non-member can be banned before they come", () => {
    const b = staffRoom();
    b.apply(b.invite("owner", "INVITE"));
    const epoch = b.log.epoch;
    b.apply(b.ban("mod", "zed"));
    expect(b.log.epoch).toBe(epoch); // nobody left: no commit
    expect(refused(b.log, b.join("zed", "INVITE"))).toBe("log.banned");
  });

  it("a ban commits exactly when it removes", () => {
    const b = staffRoom();
    expect(refused(b.log, b.sign("owner", { type: "room.ban", member: b.member("alice"), commit: null }))).toBe("log.bad_commit");
    expect(refused(b.log, b.sign("owner", { type: "room.ban", member: b.member("alice") }))).toBe("log.bad_commit");
    const needless = b.sign("owner", { type: "room.ban", member: b.member("zed"), commit: b.commit(b.recipients()) });
    expect(refused(b.log, needless)).toBe("log.bad_commit");
  });

  it("lifting a ban takes the authority imposing it took", () => {
    const b = staffRoom();
    b.apply(b.ban("owner", "mod"));
    expect(refused(b.log, b.unban("mod2", "mod"))).toBe("log.unauthorized");
    expect(refused(b.log, b.unban("alice", "mod"))).toBe("log.unauthorized");
    b.apply(b.ban("mod2", "alice"));
    expect(refused(b.log, b.unban("sup", "alice"))).toBe("log.unauthorized");
    b.apply(b.unban("mod2", "alice"));
    b.apply(b.unban("owner2", "mod"));
  });
});

// -- unusable X25519 keys ------------------------------------------------------------------

const LOW_ORDER = [
  new Uint8Array(32),
  Uint8Array.of(1, ...new Array<number>(31).fill(0)),
  fromHex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
  fromHex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
  Uint8Array.of(0xec, ...new Array<number>(30).fill(0xff), 0x7f),
  Uint8Array.of(0xed, ...new Array<number>(30).fill(0xff), 0x7f),
  Uint8Array.of(0xee, ...new Array<number>(30).fill(0xff), 0x7f),
];
/** The small-order X25519 points (libsodium's list), each also with the top bit set. */
const UNUSABLE = [...LOW_ORDER, ...LOW_ORDER.map((k) => concat(k.subarray(0, 31), Uint8Array.of(k[31]! | 0x80)))];


describe("a key nothing can be sealed to never enters the log", () => {
  it.each(UNUSABLE.map((k) => [hex(k).slice(0, 8) + "..." + hex(k).slice(-2), k]) as [string, Uint8Array][])(
    "%s, in a join, an add and a create",
    (_name, key) => {
      expect(codeOf(() => checkBoxKey(key))).toBe("crypto.bad_key");
      const b = staffRoom({ invite_role: "member" });
      b.apply(b.invite("owner", "INVITE"));
      const mallory = b.keys("mallory");
      const index = b.log.index + 1;
      // The commit is built as an honest joiner would, to the real keys of everyone but
      // the joiner: the verifier must refuse the key itself, not a commit that failed.
      const withDummy = () => b.commit(new Map(b.recipients()).set(mallory.member, b.keys("dummy").boxPublic));
      const join: OpBody = {
        type: "room.join",
        invite_key: INVITE.public,
        invite_proof: INVITE.prove({ room: b.room, index, joiner: mallory.member, boxKey: key }),
        box_key: key,
        binding: boundBy(mallory, key),
        commit: withDummy(),
      };
      expect(refused(b.log, b.sign(mallory, join))).toBe("log.bad_key");
      const add: OpBody = { type: "room.add", member: mallory.member, box_key: key, binding: boundBy(mallory, key), commit: withDummy() };
      expect(refused(b.log, b.sign("owner", add))).toBe("log.bad_key");
      const fresh = room();
      const owner = fresh.keys("owner");
      const create = withBody(fresh.log.ops[0]!, { box_key: key, binding: boundBy(owner, key) });
      expect(refused(new RoomLog(), fresh.sign(owner, create, { index: 0, prev: ZERO_HASH }))).toBe("log.bad_key");
    },
  );

  it("usable keys pass the check", () => {
    const b = room();
    for (const name of ["alice", "bob", "carol"]) checkBoxKey(b.keys(name).boxPublic);
    expect(() => checkBoxKey(new Uint8Array(31))).toThrow(CryptoError);
  });
});

// -- roles at a point of the log -----------------------------------------------------------

describe("roles at a point of the log", () => {
  it("roleAt answers for every index", () => {
    const b = room();
    b.apply(b.add("owner", "alice")); // 1
    b.apply(b.role("owner", "alice", "moderator")); // 2
    b.apply(b.rotate("owner")); // 3
    b.apply(b.role("owner", "alice", "member")); // 4
    b.apply(b.remove("owner", "alice")); // 5
    b.apply(b.invite("owner", "INVITE")); // 6
    b.apply(b.join("alice", "INVITE")); // 7
    const alice = b.member("alice");
    const roles = Array.from({ length: b.log.index + 1 }, (_, i) => b.log.roleAt(alice, i));
    expect(roles).toEqual([null, "member", "moderator", "moderator", "member", null, null, "member"]);
    expect(b.log.roleAt(b.member("owner"), 0)).toBe("owner");
    expect(b.log.roleAt(alice, -1)).toBeNull();
    expect(b.log.roleAt(b.member("zed"), 3)).toBeNull();
  });

  it("rolesBetween lists every role in a span", () => {
    const b = room();
    b.apply(b.add("owner", "alice")); // 1
    b.apply(b.role("owner", "alice", "moderator")); // 2
    b.apply(b.rotate("owner")); // 3
    b.apply(b.role("owner", "alice", "member")); // 4
    const alice = b.member("alice");
    expect(b.log.rolesBetween(alice, 0, 0)).toEqual([null]);
    expect(b.log.rolesBetween(alice, 0, 4)).toEqual([null, "member", "moderator", "member"]);
    expect(b.log.rolesBetween(alice, 2, 3)).toEqual(["moderator"]);
    expect(b.log.rolesBetween(alice, 3, 4)).toEqual(["moderator", "member"]);
    expect(b.log.rolesBetween(b.member("zed"), 0, 4)).toEqual([null]);
  });
});

// -- the hash fast path ----------------------------------------------------------------------

describe("opHash", () => {
  it("append's hash equals opHash over the codec's canonical bytes, for every kind", () => {
    const b = staffRoom({ share_history: true });
    b.apply(b.invite("owner", "INVITE", "member", 3));
    b.apply(b.join("zed", "INVITE"));
    b.apply(b.ban("owner", "zed"));
    b.apply(b.unban("owner", "zed"));
    b.apply(b.leave("bob"));
    b.apply(b.rotate("alice"));
    for (const [i, op] of b.log.ops.entries()) expect(hex(b.log.hashAt(i))).toBe(hex(opHash(op)));
  });
});
