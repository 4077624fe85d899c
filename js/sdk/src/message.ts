/**
 * What a front end reads (mirrors `client_sdk/message.py`): decrypted, verified
 * messages and room members.
 *
 * Names and roles are shown the same way everywhere: a member's *label* is the
 * display name they chose in the room, with a short key beside it when another
 * member's name looks alike (`nameSkeleton`), or their short key if they chose none;
 * their role comes from the verified log only, so a member who calls themselves
 * "Supporter Sam" is still shown as a member (`displayLabel`: `"Sam (supporter)"`,
 * `"Ana (you, owner)"`).
 */

import type { MemberId, MessageId, RoomId } from "./ids.js";
import type { Role } from "./ops.js";

/** What a `ModerationEntry` records. */
export type ModerationKind = "mute" | "unmute" | "ban" | "unban" | "remove" | "role" | "delete";

/** What a `MembershipEntry` records. */
export type MembershipKind = "join" | "add" | "leave";

/** A member key shortened for display: the label of a member who chose no name. */
export function shortKey(member: MemberId | string): string {
  return member.slice(0, 8);
}

/**
 * How to show a member: `"Sam (supporter)"`, `"Ana (you, owner)"`, `"Jo (left)"`.
 *
 * The role is always shown, `member` included, so that a name cannot pass for a
 * role; `left` stands for someone no longer in the room.
 */
export function displayLabel(label: string, role: Role | null, options: { me?: boolean } = {}): string {
  const marks = [...(options.me ? ["you"] : []), role ?? "left"];
  return `${label} (${marks.join(", ")})`;
}

/**
 * A member as a front end shows them.
 *
 * `name`: the display name they chose here (NFC), or null; `label`: what to show
 * for them (`name`, with a short key beside it if another member's name looks
 * alike, or their short key); `role`: theirs in the verified log (null once they
 * left or were removed); `isMe`: true for this identity.
 */
export interface RoomMember {
  readonly id: MemberId;
  readonly name: string | null;
  readonly label: string;
  readonly role: Role | null;
  readonly isMe: boolean;
}

/** The label with the role (and "you"): `"Sam (supporter)"`. */
export function memberDisplay(member: RoomMember): string {
  return displayLabel(member.label, member.role, { me: member.isMe });
}

/**
 * A text message whose signature, epoch, sender membership and counter all checked.
 *
 * `text` is `""` while `collapsed` (a content warning this device has not opened);
 * `sentAt` is the sender's clock (it can lie), `receivedAt` the relay's; `seq` the
 * relay's order; `reactions` each emoji with the members who reacted with it;
 * `senderName` and `senderRole` the sender's label and role when this value was made.
 */
export interface Message {
  readonly id: MessageId;
  readonly roomId: RoomId;
  readonly sender: MemberId;
  readonly text: string;
  readonly sentAt: Date;
  readonly receivedAt: Date;
  readonly contentWarning: string | null;
  readonly replyTo: MessageId | null;
  readonly edited: boolean;
  readonly mine: boolean;
  readonly seq: number;
  readonly collapsed: boolean;
  readonly reactions: ReadonlyMap<string, readonly MemberId[]>;
  readonly senderName: string;
  readonly senderRole: Role | null;
}

/** A message's sender as a timeline shows them: `"Sam (supporter)"`, `"Ana (you, owner)"`. */
export function senderDisplay(message: Message): string {
  return displayLabel(message.senderName || shortKey(message.sender), message.senderRole, { me: message.mine });
}

/**
 * One verified moderation step (`Room.moderationHistory`).
 *
 * `remove`, `role`, `ban` and `unban` come from signed log operations; `mute` and
 * `unmute` from signed `moderation` messages; `delete` from a moderator's or
 * owner's signed deletion request. `member` is whom it concerns (for `delete`, the
 * deleted message's sender); `at` the signer's clock (Unix ms); `messageId` the
 * moderation message, or for `delete` the deleted message; `role` the new role.
 */
export interface ModerationEntry {
  readonly action: ModerationKind;
  readonly member: MemberId | null;
  readonly by: MemberId;
  readonly at: number;
  readonly reason: string;
  readonly messageId: MessageId | null;
  readonly role: Role | null;
}

/**
 * One arrival or departure (`Room.membershipHistory`), read from the signed log.
 *
 * `action`: `join` (by invite, or the room's creation), `add` (added by `by`),
 * `leave` (of their own accord); `role`: the role they arrived with, or for
 * `leave` the one they had; `at`: the signer's clock (Unix ms).
 */
export interface MembershipEntry {
  readonly action: MembershipKind;
  readonly member: MemberId;
  readonly by: MemberId | null;
  readonly role: Role | null;
  readonly at: number;
}
