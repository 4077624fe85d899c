/**
 * logs_valid.json and logs_invalid.json, every entry, as tests/protocol/test_vectors.py
 * checks them: canonical bytes and hashes of every operation, the folded state and
 * its fingerprint, every commit opened by every member it names (history included),
 * and every invalid case refused with exactly its code. The valid logs are also
 * rebuilt from the script's deterministic stream, byte for byte.
 */

import { beforeAll, describe, expect, it } from "vitest";

import { fromHex, hex } from "../src/bytes.js";
import { cryptoReady } from "../src/crypto.js";
import { openCommit, openHistory } from "../src/epochs.js";
import { HearthError } from "../src/errors.js";
import { RootSeed } from "../src/keys.js";
import { commitOf } from "../src/ops.js";
import { opHash, RoomLog, ZERO_HASH } from "../src/roomlog.js";
import { canonical, decodeJson } from "../src/wire/codec.js";
import type { SignedOp } from "../src/wire/schema.gen.js";
import { LogBuilder, snapshot, stateOf } from "./builders.js";
import { vectors } from "./vectors.js";

beforeAll(() => cryptoReady());

const valid = vectors("logs_valid");
const invalid = vectors("logs_invalid");

function decodeOp(json: unknown): SignedOp {
  return decodeJson<SignedOp>("SignedOp", json);
}

describe("logs_valid.json", () => {
  const people = new Map(Object.entries(valid.people as Record<string, string>).map(([n, s]) => [n, new RootSeed(fromHex(s))]));
  const opened = new Set<string>();

  it.each(valid.logs.map((l: any) => [l.name, l]) as [string, any][])("%s folds to its state, and every commit opens", (_n, entry) => {
    const ops = entry.ops.map((o: any) => decodeOp(o.json)) as SignedOp[];
    ops.forEach((op, i) => {
      expect(hex(canonical("SignedOp", op))).toBe(entry.ops[i].canonical);
      expect(hex(opHash(op))).toBe(entry.ops[i].hash);
    });
    const log = RoomLog.fromOps(ops);
    expect(stateOf(log)).toEqual(entry.state);
    ops.forEach((op, i) => expect(hex(log.hashAt(i))).toBe(entry.ops[i].hash));

    const names = new Map([...people].map(([name, seed]) => [seed.roomKeys(log.room).member, name]));
    const secrets = new Map(Object.entries(entry.epoch_secrets as Record<string, string>).map(([e, s]) => [Number(e), s]));
    expect([...secrets.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: log.epoch }, (_, i) => i + 1));
    let histories = 0;
    ops.forEach((op, index) => {
      const commit = commitOf(op.content.body);
      if (commit === null) return;
      const prev = index > 0 ? log.hashAt(index - 1) : ZERO_HASH;
      expect(hex(op.content.prev)).toBe(hex(prev));
      for (const share of commit.shares) {
        const name = names.get(share.member)!;
        const secret = openCommit(commit, { prev, keys: people.get(name)!.roomKeys(log.room) });
        expect(hex(secret)).toBe(secrets.get(commit.epoch));
        opened.add(name);
        if (commit.history != null) {
          const history = openHistory(commit, { room: log.room, epochSecret: secret, confirms: log.confirms });
          const expected = new Map(Array.from({ length: commit.epoch - 1 }, (_, i) => [i + 1, secrets.get(i + 1)]));
          expect(new Map([...history].map(([e, s]) => [e, hex(s)]))).toEqual(expected);
          histories++;
        }
      }
    });
    if (entry.name === "shared-history") expect(histories).toBeGreaterThan(0);
  });

  it("every listed root opens a share somewhere", () => {
    expect([...opened].sort()).toEqual([...people.keys()].sort());
  });
});

describe("logs_valid.json, rebuilt from DetRng byte for byte", () => {
  const scenes: Record<string, () => LogBuilder> = {
    lifecycle: () => {
      const b = new LogBuilder("lifecycle");
      b.apply(b.add("owner", "mod", "moderator"));
      b.apply(b.add("mod", "alice"));
      b.apply(b.invite("mod", "link", "member", 2));
      b.apply(b.join("bob", "link"));
      b.apply(b.role("owner", "bob", "supporter"));
      b.apply(b.leave("alice"));
      b.apply(b.rotate("bob"));
      b.apply(b.revoke("owner", "link"));
      b.apply(b.remove("mod", "bob"));
      return b;
    },
    "shared-history": () => {
      const b = new LogBuilder("shared-history", {
        kind: "program",
        invite_role: "supporter",
        share_history: true,
        retention_days: 30,
      });
      b.apply(b.add("owner", "carol", "supporter"));
      b.apply(b.rotate("carol"));
      b.apply(b.add("carol", "dan"));
      return b;
    },
    buddy: () => {
      const b = new LogBuilder("buddy", { kind: "buddy", invite_role: "owner", max_members: 2 });
      b.apply(b.invite("owner", "buddy"));
      b.apply(b.join("alice", "buddy"));
      return b;
    },
    moderation: () => {
      const b = new LogBuilder("moderation");
      b.apply(b.add("owner", "mod", "moderator"));
      b.apply(b.add("mod", "alice"));
      b.apply(b.invite("mod", "mod-link", "moderator", 3));
      b.apply(b.invite("mod", "member-link", "member", 3));
      b.apply(b.role("owner", "mod", "supporter"));
      b.apply(b.ban("owner", "alice"));
      b.apply(b.ban("owner", "carol"));
      b.apply(b.unban("owner", "alice"));
      b.apply(b.invite("owner", "owner-link"));
      b.apply(b.join("bob", "owner-link"));
      return b;
    },
  };

  it.each(valid.logs.map((l: any) => [l.name, l]) as [string, any][])("%s", (name, entry) => {
    const b = scenes[name]!();
    expect(b.log.ops.map((op) => hex(canonical("SignedOp", op)))).toEqual(entry.ops.map((o: any) => o.canonical));
    expect(new Map([...b.secrets].map(([e, s]) => [String(e), hex(s)]))).toEqual(new Map(Object.entries(entry.epoch_secrets)));
    expect(stateOf(b.log)).toEqual(entry.state);
  });
});

describe("logs_invalid.json", () => {
  it("covers every required refusal", () => {
    const codes = new Set(invalid.cases.map((c: any) => c.code));
    for (const code of [
      "log.bad_signature",
      "log.bad_index",
      "log.bad_prev",
      "log.unauthorized",
      "log.not_member",
      "log.bad_commit",
      "log.bad_invite",
      "log.bad_binding",
      "log.room_full",
      "log.replay",
      "log.fork",
    ]) {
      expect(codes).toContain(code);
    }
  });

  it.each(invalid.cases.map((c: any) => [c.name, c]) as [string, any][])("%s", (_name, c) => {
    const log = RoomLog.fromOps(c.log.map(decodeOp));
    const before = snapshot(log);
    let code: string | null = null;
    try {
      log.append(decodeOp(c.op));
    } catch (exc) {
      if (!(exc instanceof HearthError)) throw exc;
      code = exc.code;
    }
    expect(code).toBe(c.code);
    expect(snapshot(log)).toEqual(before); // a refused operation leaves the log as it was
  });
});
