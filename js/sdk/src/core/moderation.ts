/**
 * Moderation as one member can verify it: mutes, and the record of who did what
 * (mirrors `client_sdk/_core/moderation.py`).
 *
 * Mutes, moderators' deletions and the reasons given for bans come from signed
 * `moderation` messages, each judged at its place in room order (`Ledger.roleAt`): a
 * moderator demoted later keeps what they decided before; nobody mutes or bans their
 * equal or better. Bans themselves are log operations (`room.ban`): the log alone
 * says who is banned, and a `ban` or `unban` message only gives the reason for its
 * author's operation. `Moderation.history` merges the record with the log's
 * removals, role changes and bans.
 */

import type { MemberModerated } from "../events.js";
import type { MemberId, MessageId, RoomId } from "../ids.js";
import type { ModerationEntry, ModerationKind } from "../message.js";
import { ROLE_RANK } from "../ops.js";
import type { ModerationBody } from "../wire/schema.gen.js";
import type { Ledger } from "./ledger.js";
import type { Step } from "./step.js";

const MODERATOR = ROLE_RANK.moderator;

/** One moderation step read from a message (its persisted form too). */
export interface Mod {
  readonly action: string;
  readonly member: string | null;
  readonly by: string;
  readonly at: number;
  readonly reason: string;
  readonly messageId: string | null;
}

export class Moderation {
  muted = new Set<MemberId>();
  /**
   * Moderation read from messages (mutes, deletions, the reasons given for bans);
   * log operations are added on read.
   */
  records: Mod[] = [];

  constructor(
    readonly room: RoomId,
    readonly ledger: Ledger,
  ) {}

  /** A moderator's verified deletion of `target`, which `sender` wrote. */
  noteDeletion(by: MemberId, at: number, target: MessageId, sender: MemberId): void {
    this.records.push({ action: "delete", member: sender, by, at, reason: "", messageId: target });
  }

  /** A `moderation` message read in room order; announced if it counts. */
  fold(
    step: Step,
    sender: MemberId,
    body: ModerationBody,
    options: { at: number; messageId: MessageId; place: readonly [number, number] },
  ): void {
    if (this.apply(sender, body, options.at, options.messageId, options.place)) {
      step.items.push(moderated(this.room, body, sender));
    }
  }

  /**
   * Fold a moderation message judged at `place`; true if it is announced.
   *
   * `ban` and `unban` messages only give the reason for the `room.ban` or
   * `room.unban` operation of the same author: the log alone says who is banned.
   */
  apply(sender: MemberId, body: ModerationBody, at: number, messageId: MessageId, place: readonly [number, number]): boolean {
    if (this.records.some((m) => m.messageId === messageId)) return false; // our own, applied when sent
    const role = this.ledger.roleAt(sender, place, { lowest: true });
    if (role === null || ROLE_RANK[role] < MODERATOR) return false;
    const target = this.ledger.roleAt(body.member, place, { lowest: false });
    if (target !== null && ROLE_RANK[target] >= ROLE_RANK[role]) return false; // nobody mutes or bans their equal or better
    if (body.action === "mute") this.muted.add(body.member);
    else if (body.action === "unmute") this.muted.delete(body.member);
    this.records.push({ action: body.action, member: body.member, by: sender, at, reason: body.reason ?? "", messageId });
    return body.action !== "ban" && body.action !== "unban";
  }

  /** The reason `by` gave in a `moderation` message for a ban or unban of `member`. */
  reason(action: string, member: MemberId, by: MemberId): string {
    for (let i = this.records.length - 1; i >= 0; i--) {
      const m = this.records[i]!;
      if (m.action === action && m.member === member && m.by === by) return m.reason;
    }
    return "";
  }

  /**
   * Every moderation step this member can verify, oldest first.
   *
   * Removals and role changes come from the signed log (complete, for every member);
   * mutes, bans and moderators' deletions from signed messages this member could read
   * (from its join on).
   */
  history(): ModerationEntry[] {
    const entries: ModerationEntry[] = this.records
      .filter((m) => m.action !== "ban" && m.action !== "unban") // reasons: shown with the log operation
      .map((m) => ({
        action: m.action as ModerationKind, // written from a ModerationKind
        member: m.member || null,
        by: m.by,
        at: m.at,
        reason: m.reason,
        messageId: m.messageId || null,
        role: null,
      }));
    for (const op of this.ledger.log.ops) {
      const c = op.content;
      const body = c.body;
      if (body.type === "room.remove") {
        entries.push({ action: "remove", member: body.member, by: c.author, at: c.at, reason: "", messageId: null, role: null });
      } else if (body.type === "room.role") {
        entries.push({ action: "role", member: body.member, by: c.author, at: c.at, reason: "", messageId: null, role: body.role });
      } else if (body.type === "room.ban" || body.type === "room.unban") {
        const action = body.type === "room.ban" ? "ban" : "unban";
        entries.push({
          action,
          member: body.member,
          by: c.author,
          at: c.at,
          reason: this.reason(action, body.member, c.author),
          messageId: null,
          role: null,
        });
      }
    }
    // Stable, as Python's sort: equal times keep their order.
    return entries.map((e, i) => [e, i] as const).sort((a, b) => a[0].at - b[0].at || a[1] - b[1]).map(([e]) => e);
  }
}

/** The event a counted moderation message announces (names filled in by `Names.named`). */
export function moderated(room: RoomId, body: ModerationBody, by: MemberId): MemberModerated {
  return {
    type: "MemberModerated",
    roomId: room,
    action: body.action,
    member: body.member,
    by,
    reason: body.reason ?? "",
    name: "",
    role: null,
    byName: "",
    byRole: null,
  };
}
