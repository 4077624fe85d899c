/**
 * Typed events a client yields (mirrors `client_sdk/events.py`).
 *
 * Every event is a plain readonly object whose `type` is the Python class's name
 * (`"MessageReceived"`, `"SecurityAlarm"` ...), so a `switch (event.type)` narrows
 * it; fields are the Python fields in camelCase (`room_id` is `roomId`). Nothing
 * here reaches the app before the room log operation or the message behind it
 * verified.
 *
 * Events about a member say how to show them without another call: `name` is the
 * member's display label in the room when the event happened, `role` their role in
 * the verified log (never in the name), and `byName`/`byRole` the same for `by`.
 */

import type { MemberId, MessageId, RoomId } from "./ids.js";
import type { Message } from "./message.js";
import type { ModerationAction } from "./messages.js";
import type { Role } from "./ops.js";
import type { SupportRequest } from "./support.js";
import type { CrisisResource, Envelope, ScheduleBody } from "./wire/schema.gen.js";

/**
 * Why a room raised an alarm.
 *
 * - `log_invalid`: a room-log operation failed verification (signature, chain,
 *   authority or commit); the room stops processing until the alarm is acknowledged.
 * - `fork`: the relay showed two histories (two operations at one index, or a
 *   message naming a log head that is not in the log).
 * - `withheld`: a sender's counter has a gap that a complete sync did not fill.
 * - `unknown_epoch`: a message under an epoch the verified log never started.
 * - `bad_message`: a message that fails its signature, decryption, membership or
 *   counter checks; it is dropped.
 */
export type AlarmKind = "log_invalid" | "fork" | "withheld" | "unknown_epoch" | "bad_message";

/** A new verified message (including this identity's own, once the relay has it). */
export interface MessageReceived {
  readonly type: "MessageReceived";
  readonly roomId: RoomId;
  readonly message: Message;
}

/** A sender replaced the text of one of their messages; `message` is the new state. */
export interface MessageEdited {
  readonly type: "MessageEdited";
  readonly roomId: RoomId;
  readonly message: Message;
}

/** A message was deleted by its sender or a moderator (`by`). */
export interface MessageDeleted {
  readonly type: "MessageDeleted";
  readonly roomId: RoomId;
  readonly messageId: MessageId;
  readonly by: MemberId | null;
  readonly byName: string;
  readonly byRole: Role | null;
}

/** `member` added (or, with `removed`, took back) `emoji` on a message. */
export interface ReactionChanged {
  readonly type: "ReactionChanged";
  readonly roomId: RoomId;
  readonly message: Message;
  readonly member: MemberId;
  readonly emoji: string;
  readonly removed: boolean;
}

/** The room's retention removed these messages from this device's store (`before`: the cutoff). */
export interface MessagesExpired {
  readonly type: "MessagesExpired";
  readonly roomId: RoomId;
  readonly messageIds: readonly MessageId[];
  readonly before: Date;
}

/** A member joined (by invite) or was added (`by` names who added them). */
export interface MemberJoined {
  readonly type: "MemberJoined";
  readonly roomId: RoomId;
  readonly member: MemberId;
  readonly role: Role;
  readonly by: MemberId | null;
  readonly name: string;
  readonly byName: string;
}

/** A member left of their own accord (`role`: the one they had). */
export interface MemberLeft {
  readonly type: "MemberLeft";
  readonly roomId: RoomId;
  readonly member: MemberId;
  readonly name: string;
  readonly role: Role | null;
}

/** A moderator or owner (`by`) removed a member (`role`: the one they had). */
export interface MemberRemoved {
  readonly type: "MemberRemoved";
  readonly roomId: RoomId;
  readonly member: MemberId;
  readonly by: MemberId;
  readonly name: string;
  readonly role: Role | null;
  readonly byName: string;
  readonly byRole: Role | null;
}

/**
 * A moderator or owner (`by`) muted, unmuted, banned or unbanned `member`.
 *
 * Bans and unbans come from the verified log; `reason` is the one `by` gave in an
 * encrypted `moderation` message before it (empty if none).
 */
export interface MemberModerated {
  readonly type: "MemberModerated";
  readonly roomId: RoomId;
  readonly action: ModerationAction;
  readonly member: MemberId;
  readonly by: MemberId;
  readonly reason: string;
  readonly name: string;
  readonly role: Role | null;
  readonly byName: string;
  readonly byRole: Role | null;
}

/** `member` now has `role`, set by `by`. */
export interface RoleChanged {
  readonly type: "RoleChanged";
  readonly roomId: RoomId;
  readonly member: MemberId;
  readonly role: Role;
  readonly by: MemberId;
  readonly name: string;
  readonly byName: string;
  readonly byRole: Role | null;
}

/** `member` chose a display name (`old` and `new`: their labels before and after). */
export interface MemberRenamed {
  readonly type: "MemberRenamed";
  readonly roomId: RoomId;
  readonly member: MemberId;
  readonly old: string;
  readonly new: string;
  readonly role: Role | null;
}

/** An owner (`by`) changed how long the room keeps messages (null: until deleted). */
export interface RetentionChanged {
  readonly type: "RetentionChanged";
  readonly roomId: RoomId;
  readonly retentionDays: number | null;
  readonly by: MemberId;
}

/** A moderator or owner published version `version` of the ground rules. */
export interface RulesChanged {
  readonly type: "RulesChanged";
  readonly roomId: RoomId;
  readonly version: number;
  readonly text: string;
  readonly by: MemberId;
}

/** `member` accepted version `version` of the ground rules (a signed message). */
export interface RulesAccepted {
  readonly type: "RulesAccepted";
  readonly roomId: RoomId;
  readonly member: MemberId;
  readonly version: number;
}

/** The room's encrypted profile (name, topic, description) changed. */
export interface ProfileChanged {
  readonly type: "ProfileChanged";
  readonly roomId: RoomId;
  readonly name: string;
  readonly topic: string;
  readonly description: string;
  readonly by: MemberId;
}

/**
 * A member reported a message to us. The reporter's signature and the reported
 * sender's signature over `evidence` (their original envelope) were checked;
 * `text` is the reported text if we hold its epoch.
 */
export interface ReportReceived {
  readonly type: "ReportReceived";
  readonly roomId: RoomId;
  readonly reportId: MessageId;
  readonly reporter: MemberId;
  readonly messageId: MessageId;
  readonly sender: MemberId;
  readonly reason: string;
  readonly text: string | null;
  readonly recipients: readonly MemberId[];
  readonly evidence: Envelope;
}

/** A moderator or owner published the room's meeting schedule (or cancelled it). */
export interface ScheduleChanged {
  readonly type: "ScheduleChanged";
  readonly roomId: RoomId;
  readonly schedule: ScheduleBody;
  readonly by: MemberId;
}

/** A program member asked for 1:1 support (our own request too, once in room order). */
export interface SupportRequested {
  readonly type: "SupportRequested";
  readonly roomId: RoomId;
  readonly request: SupportRequest;
}

/** A supporter took a request; `buddyRoomId` only for the requester and that supporter. */
export interface SupportClaimed {
  readonly type: "SupportClaimed";
  readonly roomId: RoomId;
  readonly requestId: MessageId;
  readonly requester: MemberId;
  readonly supporter: MemberId;
  readonly buddyRoomId: RoomId | null;
}

/** The requester took back a request nobody had claimed (or left the program). */
export interface SupportWithdrawn {
  readonly type: "SupportWithdrawn";
  readonly roomId: RoomId;
  readonly requestId: MessageId;
  readonly requester: MemberId;
}

/** A supporter said they are available for 1:1 chats, or away, and their cap. */
export interface SupporterStatusChanged {
  readonly type: "SupporterStatusChanged";
  readonly roomId: RoomId;
  readonly member: MemberId;
  readonly available: boolean;
  readonly maxOpen: number | null;
}

/** A moderator or owner of a program published its path for a member at imminent risk. */
export interface RiskPlanChanged {
  readonly type: "RiskPlanChanged";
  readonly roomId: RoomId;
  readonly text: string;
  readonly lines: readonly CrisisResource[];
  readonly by: MemberId;
}

/**
 * In a buddy chat, the supporter showed both buddies the program's help now. Show
 * `lines` beside this device's own lines for the person's region, never instead.
 */
export interface RiskHelpShown {
  readonly type: "RiskHelpShown";
  readonly roomId: RoomId;
  readonly messageId: MessageId;
  readonly text: string;
  readonly lines: readonly CrisisResource[];
  readonly by: MemberId;
}

/** A supporter fears a member of the program is at imminent risk (to its owners and moderators). */
export interface RiskAlertReceived {
  readonly type: "RiskAlertReceived";
  readonly roomId: RoomId;
  readonly alertId: MessageId;
  readonly supporter: MemberId;
  readonly member: MemberId;
  readonly requestId: MessageId;
  readonly buddyRoomId: RoomId;
  readonly note: string;
  readonly at: Date;
}

/**
 * Something a relay or member did that the verification refused. The room refuses
 * to send (`room.blocked`) until the app has shown it and acknowledged it.
 * `code` is the underlying protocol error code, if any (`log.bad_signature`).
 */
export interface SecurityAlarm {
  readonly type: "SecurityAlarm";
  readonly roomId: RoomId;
  readonly kind: AlarmKind;
  readonly detail: string;
  readonly alarmId: number;
  readonly code: string | null;
}

/** The live connection to the relay came up (`online`) or went down. */
export interface ConnectionChanged {
  readonly type: "ConnectionChanged";
  readonly online: boolean;
}

/** How a room's unsent messages are doing (`OutboxChanged`). */
export type DeliveryState = "retrying" | "storage" | "offline" | "sent";

/** A room's outbox could not deliver (or finally delivered) what waits in it. */
export interface OutboxChanged {
  readonly type: "OutboxChanged";
  readonly roomId: RoomId;
  readonly state: DeliveryState;
  readonly pending: number;
  /** Seconds until the SDK tries again by itself; null when it waits for the connection. */
  readonly retryIn: number | null;
}

/** A personal document changed on another device of this person (or by a merge). */
export interface PersonalDataChanged {
  readonly type: "PersonalDataChanged";
  readonly document: string;
}

/** Everything a client's event stream yields. */
export type Event =
  | MessageReceived
  | MessageEdited
  | MessageDeleted
  | ReactionChanged
  | MessagesExpired
  | MemberJoined
  | MemberLeft
  | MemberRemoved
  | MemberModerated
  | RoleChanged
  | MemberRenamed
  | RetentionChanged
  | RulesChanged
  | RulesAccepted
  | ProfileChanged
  | ReportReceived
  | ScheduleChanged
  | SupportRequested
  | SupportClaimed
  | SupportWithdrawn
  | SupporterStatusChanged
  | RiskPlanChanged
  | RiskHelpShown
  | RiskAlertReceived
  | SecurityAlarm
  | ConnectionChanged
  | OutboxChanged
  | PersonalDataChanged;

/** Every event's `type`, in the order of the Python module's `__all__` minus the aliases. */
export const EVENT_TYPES: readonly Event["type"][] = [
  "ConnectionChanged",
  "MemberJoined",
  "MemberLeft",
  "MemberModerated",
  "MemberRemoved",
  "MemberRenamed",
  "MessageDeleted",
  "MessageEdited",
  "MessageReceived",
  "MessagesExpired",
  "OutboxChanged",
  "PersonalDataChanged",
  "ProfileChanged",
  "ReactionChanged",
  "ReportReceived",
  "RetentionChanged",
  "RiskAlertReceived",
  "RiskHelpShown",
  "RiskPlanChanged",
  "RoleChanged",
  "RulesAccepted",
  "RulesChanged",
  "ScheduleChanged",
  "SecurityAlarm",
  "SupportClaimed",
  "SupportRequested",
  "SupportWithdrawn",
  "SupporterStatusChanged",
];
