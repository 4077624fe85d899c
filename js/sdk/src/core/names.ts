/**
 * Members' display names in one room, and the labels that tell look-alikes apart
 * (mirrors `client_sdk/_core/names.py`).
 *
 * A member's name is the newest `member.profile` message it sent that `memberName`
 * accepts (any member may name itself, and only itself: the envelope's sender is whom
 * the name is for). Roles never come from here: they are the verified log's.
 *
 * Labels: a member who chose no name is shown by its short key. Members whose names
 * have the same skeleton (`nameSkeleton`), or a name that looks like another member's
 * short key, are all shown with a short key beside the name (`"Sam ·JyTA"`), long
 * enough to tell them apart. Everyone with a name counts, members who left included,
 * so that a newcomer cannot pass for someone whose old messages are still on screen.
 *
 * Newcomers cannot read what was said before they joined: when someone else joins, a
 * member that has a name asks its driver to send it again (`Reprofile`).
 */

import type { Event } from "../events.js";
import type { MemberId, RoomId } from "../ids.js";
import { type RoomMember, shortKey } from "../message.js";
import { memberName, nameSkeleton } from "../names.js";
import { casefold } from "../pytext.js";
import type { MemberProfileBody } from "../wire/schema.gen.js";
import type { Ledger } from "./ledger.js";
import type { Step, StepItem } from "./step.js";

/** Characters of the key shown beside a look-alike name (more if two share them). */
const SUFFIX = 4;

/** Labels are recomputed as members come and go: each name's skeleton once. */
const SKELETONS = new Map<string, string>();
function skeleton(name: string): string {
  let s = SKELETONS.get(name);
  if (s === undefined) {
    if (SKELETONS.size >= 4096) SKELETONS.clear();
    s = nameSkeleton(name);
    SKELETONS.set(name, s);
  }
  return s;
}

function accepted(raw: string): string | null {
  try {
    return memberName(raw);
  } catch (exc) {
    if (exc instanceof RangeError) return null; // refused by every reader alike (protocol.md 8.12)
    throw exc;
  }
}

const RANK: Readonly<Record<string, number>> = { owner: 0, moderator: 1, supporter: 2, member: 3 };

export class Names {
  /** Each member's accepted display name (NFC), from its newest profile. */
  chosen = new Map<MemberId, string>();
  /** The name each member's last `MemberRenamed` announced. */
  private shown = new Map<MemberId, string>();
  private cached: Map<MemberId, string> | null = null;
  /** The log index the labels were computed at: members come and go with it. */
  private cachedAt = -1;

  constructor(
    readonly room: RoomId,
    readonly me: MemberId,
    readonly ledger: Ledger,
  ) {}

  /** Names from a snapshot (already announced). */
  restore(chosen: ReadonlyMap<MemberId, string>): void {
    this.chosen = new Map(chosen);
    this.shown = new Map(chosen);
    this.cached = null;
  }

  /** The name this member chose here, if any. */
  get mine(): string | null {
    return this.chosen.get(this.me) ?? null;
  }

  /** A verified `member.profile` from `sender`: its name, if acceptable. */
  fold(step: Step, sender: MemberId, body: MemberProfileBody): void {
    const name = accepted(body.name);
    if (name === null) return;
    const old = this.shown.get(sender) ?? null;
    this.set(sender, name);
    if (old === name) return;
    const before = this.labelWith(sender, old);
    this.shown.set(sender, name);
    step.items.push({
      type: "MemberRenamed",
      roomId: this.room,
      member: sender,
      old: before,
      new: this.label(sender),
      role: this.ledger.log.roleOf(sender),
    });
  }

  /** Our own new name, applied at once; its echo announces the rename. */
  noteSent(body: MemberProfileBody): void {
    const name = accepted(body.name);
    if (name !== null) this.set(this.me, name); // else others refuse it too: it names nobody
  }

  private set(member: MemberId, name: string): void {
    if (this.chosen.get(member) !== name) {
      this.chosen.set(member, name);
      this.cached = null;
    }
  }

  /** Someone else joined: send our name again, they cannot read the old one. */
  afterJoin(step: Step, newcomer: MemberId, options: { active: boolean }): void {
    if (options.active && newcomer !== this.me && this.mine !== null) step.follow({ kind: "Reprofile" });
  }

  // -- labels -----------------------------------------------------------------------

  private compute(names: ReadonlyMap<MemberId, string>): Map<MemberId, string> {
    const people = new Set<MemberId>([...this.ledger.log.members.keys(), ...names.keys()]);
    const looks = new Map<string, MemberId[]>();
    for (const member of people) {
      const look = skeleton(names.get(member) || shortKey(member));
      let group = looks.get(look);
      if (group === undefined) looks.set(look, (group = []));
      group.push(member);
    }
    const labels = new Map<MemberId, string>();
    for (const group of looks.values()) {
      const named = group.filter((m) => names.has(m));
      if (group.length === 1 || named.length === 0) {
        for (const m of group) labels.set(m, names.get(m) || shortKey(m));
        continue;
      }
      let width = SUFFIX;
      while (new Set(group.map((m) => m.slice(0, width))).size < group.length) width += 2;
      for (const m of group) {
        // A nameless member is its short key already; the named ones that look like it
        // (or like each other) carry theirs.
        labels.set(m, names.has(m) ? `${names.get(m)!} ·${m.slice(0, width)}` : shortKey(m));
      }
    }
    return labels;
  }

  /** Every member's label (members now, and everyone who chose a name). */
  labels(): ReadonlyMap<MemberId, string> {
    if (this.cached === null || this.cachedAt !== this.ledger.log.index) {
      this.cached = this.compute(this.chosen);
      this.cachedAt = this.ledger.log.index;
    }
    return this.cached;
  }

  /** How to show `member` now (its short key if unknown here). */
  label(member: MemberId): string {
    return this.labels().get(member) || shortKey(member);
  }

  private labelWith(member: MemberId, name: string | null): string {
    const names = new Map(this.chosen);
    if (name === null) names.delete(member);
    else names.set(member, name);
    return this.compute(names).get(member) || shortKey(member);
  }

  /** `member` as a front end shows it. */
  member(member: MemberId): RoomMember {
    return {
      id: member,
      name: this.chosen.get(member) ?? null,
      label: this.label(member),
      role: this.ledger.log.roleOf(member),
      isMe: member === this.me,
    };
  }

  /** The current members, owners first, then by label. */
  members(): RoomMember[] {
    const found = [...this.ledger.log.members.keys()].map((m) => this.member(m));
    const key = (m: RoomMember) => [RANK[m.role ?? ""] ?? 4, casefold(m.label), m.id] as const;
    return found.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return ka[0] - kb[0] || cmp(ka[1], kb[1]) || cmp(ka[2], kb[2]);
    });
  }

  // -- what events say about members --------------------------------------------------

  /** `items` with the names (and roles) of the members each event is about. */
  describe(items: readonly StepItem[]): StepItem[] {
    return items.map((i) => (i.type === "Accepted" || i.type === "Deletion" ? i : this.named(i)));
  }

  /** `event` with its members' labels (and `by`'s role) filled in where empty. */
  named<E extends Event>(event: E): E {
    const roleOf = (m: MemberId) => this.ledger.log.roleOf(m);
    const e = event as Event;
    switch (e.type) {
      case "MemberJoined":
        return {
          ...e,
          name: e.name || this.label(e.member),
          byName: e.byName || (e.by === null ? "" : this.label(e.by)),
        } as E;
      case "MemberLeft":
        return { ...e, name: e.name || this.label(e.member) } as E;
      case "MemberRemoved":
      case "RoleChanged":
        return { ...e, name: e.name || this.label(e.member), byName: e.byName || this.label(e.by), byRole: e.byRole ?? roleOf(e.by) } as E;
      case "MemberModerated": {
        const out = { ...e, name: e.name || this.label(e.member), byName: e.byName || this.label(e.by), byRole: e.byRole ?? roleOf(e.by) };
        return (out.role === null ? { ...out, role: roleOf(e.member) } : out) as E;
      }
      case "MessageDeleted":
        if (e.by === null) return event;
        return { ...e, byName: e.byName || this.label(e.by), byRole: e.byRole ?? roleOf(e.by) } as E;
      default:
        return event;
    }
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

