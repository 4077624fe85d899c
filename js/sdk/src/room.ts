/**
 * A room as the app sees it: a thin view over one room's verified state (mirrors
 * `client_sdk/room.py`).
 *
 * `Room` holds no state of its own: every property reads the room's verified log and
 * decrypted profile at the moment it is called, every method goes through the room's
 * driver (`driver.ts`, which holds the room's lock). A client hands out one `Room`
 * object per room, so two views of one room are `===`.
 *
 * Community programs, schedules, the risk path and push per person live in features
 * built on the same driver (`RoomHost.driver(id).send(body)`), not here.
 */

import type { RoomState } from "./core/state.js";
import type { RoomDriver } from "./driver.js";
import type { SecurityAlarm } from "./events.js";
import type { RoomHost } from "./host.js";
import type { MemberId, MessageId, RoomId } from "./ids.js";
import { roomFingerprint, safetyNumber } from "./keys.js";
import type { MembershipEntry, Message, ModerationEntry, RoomMember } from "./message.js";
import { memberName } from "./names.js";
import { NotFound } from "./notFound.js";
import { RoomFeatures } from "./roomFeatures.js";
import type { FullPolicy, Role, RoomKind } from "./ops.js";
import { strip } from "./pytext.js";
import type { Status } from "./core/ledger.js";
import type { ModerationBody } from "./wire/schema.gen.js";

/**
 * What two members compare to check that they hold the same history of a room.
 *
 * Show `index` beside `digits`: members at the same index see the same digits
 * exactly when their verified logs are the same up to it (`toString()`: `"4: 01234 …"`).
 */
export class RoomFingerprint {
  constructor(
    /** The log index the digits cover (the newest operation, unless asked for another). */
    readonly index: number,
    /** 60 digits in 12 groups of 5 separated by single spaces, like a safety number. */
    readonly digits: string,
  ) {}

  toString(): string {
    return `${this.index}: ${this.digits}`;
  }
}

/** One room of a `HearthClient`. Get it from the client, never construct it. */
export class Room extends RoomFeatures {
  readonly #host: RoomHost;
  readonly #id: RoomId;

  /** @internal Made by the client, once per room. */
  constructor(host: RoomHost, roomId: RoomId) {
    super(host, roomId); // programs, the risk path, schedules (roomFeatures.ts)
    this.#host = host;
    this.#id = roomId;
  }

  get #driver(): RoomDriver {
    return this.#host.driver(this.#id);
  }

  get #state(): RoomState {
    return this.#host.driver(this.#id).state;
  }

  #now(): number {
    return this.#driver.clock.nowMs();
  }

  override toString(): string {
    return `Room(id=${this.#id})`;
  }

  // -- what the verified state says ------------------------------------------------

  /** The room id (what invite links name). */
  get id(): RoomId {
    return this.#id;
  }

  /** `"group"`, `"buddy"` or `"program"`, from the room's policy. */
  get kind(): RoomKind {
    return this.#state.policy.kind;
  }

  /** The policy in the verified log (what the relay may know and enforces). */
  get policy(): FullPolicy {
    return this.#state.policy;
  }

  /** The room's name from its encrypted profile (empty until one arrives). */
  get name(): string {
    return this.#state.profile?.name ?? "";
  }

  /** The room's topic line from its encrypted profile. */
  get topic(): string {
    return this.#state.profile?.topic ?? "";
  }

  /** The room's description from its encrypted profile. */
  get description(): string {
    return this.#state.profile?.description ?? "";
  }

  /** The newest ground rules a moderator or owner published, if any. */
  get rules(): string | null {
    return this.#state.rules?.text ?? null;
  }

  /** The version of `rules` (0 if there are none). */
  get rulesVersion(): number {
    return this.#state.rules?.version ?? 0;
  }

  /** True if there are no rules, or we accepted the current version (then we may post). */
  get rulesAccepted(): boolean {
    const state = this.#state;
    return state.rules === null || (state.accepted.get(state.me) ?? 0) >= state.rules.version;
  }

  /**
   * The newest rules version each current member accepted, from their signed
   * messages. Publishing a version counts as accepting it; members who accepted
   * nothing are absent.
   */
  get rulesAcceptances(): ReadonlyMap<MemberId, number> {
    const state = this.#state;
    return new Map([...state.accepted].filter(([m]) => state.log.members.has(m)));
  }

  /** Every member's id and role, from the verified log (never from the relay). */
  get members(): ReadonlyMap<MemberId, Role> {
    return new Map([...this.#state.log.members.values()].map((m) => [m.id, m.role]));
  }

  /** This identity's pseudonymous member id in this room. */
  get me(): MemberId {
    return this.#state.me;
  }

  // -- members' names ----------------------------------------------------------------

  /**
   * How to show a member: the name they chose here, its label, their role (the
   * verified log's; null once they left or were removed). Works for anyone ever seen here.
   */
  member(memberId: MemberId): RoomMember {
    return this.#state.member(memberId);
  }

  /** Every current member as `member` shows them: owners first, then by label. */
  get membersInfo(): RoomMember[] {
    return this.#state.members();
  }

  /** The display name this identity chose in this room (null: not yet). */
  get myName(): string | null {
    return this.#state.names.mine;
  }

  /**
   * Choose this identity's display name in this room (a signed `member.profile`).
   *
   * Encrypted like any message and for this room only. Surrounding white space is
   * dropped and the rest NFC-normalised; members who join later get it too.
   *
   * @throws RangeError The name is empty, longer than 64 characters, or holds a
   *   control, line-break or bidi character (`memberName`).
   */
  setName(name: string): Promise<MessageId> {
    const normalised = memberName(strip(name));
    return this.#driver.send({ type: "member.profile", name: normalised });
  }

  /** This identity's role here (null once it left or was removed). */
  get role(): Role | null {
    return this.#state.log.roleOf(this.#state.me);
  }

  /** The current epoch number (it grows with every membership change and rotation). */
  get epoch(): number {
    return this.#state.log.epoch;
  }

  /**
   * `"active"`, `"left"`, `"removed"` or `"unreachable"` (the relay stopped serving
   * this room to our key without the log showing why).
   */
  get status(): Status {
    return this.#state.status;
  }

  /** Security alarms not yet acknowledged; while any is open the room refuses to send. */
  get alarms(): readonly SecurityAlarm[] {
    return this.#state.alarms;
  }

  /**
   * True while `alarms` is not empty, or while the relay serves this room's log only
   * up to an index before a head this person verified: the room refuses to send.
   */
  get blocked(): boolean {
    return this.#state.blocked;
  }

  /**
   * The 60-digit code this identity and `memberId` compare to check each other's
   * keys (from the verified log); both sides compute the same digits.
   *
   * @throws NotFound `memberId` is not a member.
   */
  safetyNumber(memberId: MemberId): string {
    const state = this.#state;
    const other = state.log.members.get(memberId);
    if (other === undefined) throw new NotFound(memberId, "not a member of this room");
    return safetyNumber(this.#id, [state.me, state.keys.boxPublic], [other.id, other.boxKey]);
  }

  /**
   * The room fingerprint: what members compare to check they see one history.
   *
   * @param at A log index up to our newest (default: our newest operation).
   * @throws RangeError `at` is negative or beyond our verified log.
   */
  fingerprint(at?: number | null): RoomFingerprint {
    const log = this.#state.log;
    const index = at ?? log.index;
    if (!(Number.isInteger(index) && index >= 0 && index <= log.index)) {
      throw new RangeError(`our verified log ends at index ${log.index}, not ${index}`);
    }
    return new RoomFingerprint(index, roomFingerprint(this.#id, index, log.hashAt(index)));
  }

  // -- messages ------------------------------------------------------------------

  /**
   * Send a text message; return its id.
   *
   * With `contentWarning`, other members' devices receive it collapsed until the
   * reader opens it (`reveal`); `replyTo` names the message this one answers. The
   * message is sealed and stored in the outbox before anything goes on the network:
   * the call returns once the relay acknowledged it, or once it is safely queued
   * because the relay cannot be reached (it goes out on reconnect, exactly once).
   *
   * @throws RulesNotAccepted `rules.not_accepted`; see `acceptRules`.
   * @throws PostingMuted `room.muted`.
   * @throws RoomBlocked A security alarm is open (`room.blocked`).
   * @throws RoomInactive We left or were removed.
   * @throws RelayError The relay refused the message for good (`room.frozen` ...).
   */
  send(text: string, options: { contentWarning?: string | null; replyTo?: MessageId | null } = {}): Promise<MessageId> {
    return this.#driver.send({ type: "text", text, content_warning: options.contentWarning ?? null, reply_to: options.replyTo ?? null });
  }

  /** Replace the text of one of our own messages; return the edit's id. */
  edit(messageId: MessageId, text: string): Promise<MessageId> {
    return this.#driver.send({ type: "edit", target: messageId, text });
  }

  /** Put an emoji reaction on a message (a signed, encrypted `reaction`); posting rules apply. */
  react(messageId: MessageId, emoji: string): Promise<MessageId> {
    return this.#driver.send({ type: "reaction", target: messageId, emoji, remove: false });
  }

  /** Take back our `emoji` reaction on a message. */
  unreact(messageId: MessageId, emoji: string): Promise<MessageId> {
    return this.#driver.send({ type: "reaction", target: messageId, emoji, remove: true });
  }

  /**
   * Open a message's content warning on this device; return it with its text. The
   * choice is kept in the encrypted local store, on this device only.
   *
   * @throws NotFound The store holds no such message.
   */
  reveal(messageId: MessageId): Promise<Message> {
    return this.#driver.reveal(messageId, true);
  }

  /** Close a revealed message behind its content warning again (this device). */
  collapse(messageId: MessageId): Promise<Message> {
    return this.#driver.reveal(messageId, false);
  }

  /**
   * Delete a message (our own, or anyone's as a moderator or owner). The request
   * names the message's sender, device and counter, read from its envelope.
   *
   * @throws NotFound The local store holds no such message.
   * @throws RelayError `msg.not_found` if the relay no longer holds it.
   */
  delete(messageId: MessageId): Promise<void> {
    return this.#driver.delete(messageId);
  }

  /**
   * Decrypted, verified text messages, oldest first: the newest `limit` (default 50)
   * of them, or the `limit` before `before`. Read from the local store; if it holds
   * fewer and older messages could be readable, older events are fetched and verified.
   */
  messages(options: { limit?: number; before?: MessageId | null } = {}): Promise<Message[]> {
    return this.#driver.messages(options.limit ?? 50, options.before ?? null);
  }

  /** How many of our messages in this room wait in the outbox. */
  pending(): Promise<number> {
    return this.#driver.pending();
  }

  // -- room profile and rules ---------------------------------------------------------

  /** Publish a new encrypted profile (moderators and owners; others' are ignored). */
  async setProfile(name: string, options: { topic?: string; description?: string } = {}): Promise<void> {
    await this.#driver.send({ type: "room.profile", name, topic: options.topic ?? "", description: options.description ?? "" });
  }

  /** Publish a new version of the ground rules; return its version number. */
  async setRules(text: string): Promise<number> {
    const version = this.rulesVersion + 1;
    await this.#driver.send({ type: "rules", version, text });
    return version;
  }

  /**
   * Accept the current ground rules: a signed `rules.accept` every member sees. Until
   * then `send`, `edit` and reactions throw `RulesNotAccepted`.
   */
  acceptRules(): Promise<MessageId> {
    return this.#driver.send({ type: "rules.accept", version: Math.max(this.rulesVersion, 1) });
  }

  // -- membership (signed log operations) ----------------------------------------------

  /**
   * Register a new invite link in the log and return it: `{relay}/join/{room}#{secret}`,
   * the secret only in the URL fragment.
   *
   * @param options.maxUses How many people may join with it (default 1).
   * @param options.expiresIn Seconds until it expires (default a day).
   * @param options.role The role it grants (not `owner`; at most our own).
   * @throws InviteError `invite.room_full` if the room is at its member cap.
   */
  createInvite(options: { maxUses?: number; expiresIn?: number; role?: Role } = {}): Promise<string> {
    return this.#driver.invite({ maxUses: options.maxUses ?? 1, expiresIn: options.expiresIn ?? 24 * 3600, role: options.role ?? "member" });
  }

  /** Remove a member (moderators and owners); everyone else moves to a new epoch it never sees. */
  remove(memberId: MemberId): Promise<void> {
    return this.#driver.op((s) => s.removeOp(memberId, { now: this.#now() }));
  }

  // -- moderation (signed, auditable by every member) --------------------------------

  /**
   * Report a message to the room's moderators, owners and supporters; return its id.
   * It carries the message's original signed envelope as evidence, sealed to each
   * recipient's X25519 key from the verified log.
   *
   * @throws NotFound We hold no such message.
   * @throws ReportError `report.no_recipients`, `report.no_evidence`.
   */
  report(messageId: MessageId, reason = ""): Promise<MessageId> {
    return this.#driver.report(messageId, reason);
  }

  /** Mute a member (moderators and owners who outrank them): a signed `moderation`. */
  mute(memberId: MemberId, reason = ""): Promise<MessageId> {
    return this.#driver.send(moderation("mute", memberId, reason));
  }

  /** Lift a mute. */
  unmute(memberId: MemberId, reason = ""): Promise<MessageId> {
    return this.#driver.send(moderation("unmute", memberId, reason));
  }

  /**
   * Ban a key: a `room.ban` the relay and every client enforce (removing it with a new
   * epoch if it is a member). The `reason` is sent first in an encrypted `moderation`
   * message, never in the log.
   *
   * @throws LogError `log.invalid` if the key is banned already; `log.unauthorized`.
   */
  async ban(memberId: MemberId, reason = ""): Promise<void> {
    if (reason) await this.#driver.send(moderation("ban", memberId, reason));
    await this.#driver.op((s) => s.banOp(memberId, { now: this.#now() }));
  }

  /** Lift a ban: a `room.unban` (the key needs a new invite to come back). */
  async unban(memberId: MemberId, reason = ""): Promise<void> {
    if (reason) await this.#driver.send(moderation("unban", memberId, reason));
    await this.#driver.op((s) => s.unbanOp(memberId, { now: this.#now() }));
  }

  /** Members currently muted (from signed moderation messages). */
  get muted(): ReadonlySet<MemberId> {
    return new Set(this.#state.muted);
  }

  /** Keys the verified room log bans now. */
  get banned(): ReadonlySet<MemberId> {
    return new Set(this.#state.banned);
  }

  /** The room's moderation, oldest first, as this member can verify it. */
  moderationHistory(): ModerationEntry[] {
    return this.#state.moderationHistory();
  }

  /** Every arrival and departure in the room, oldest first, from the signed log. */
  membershipHistory(): MembershipEntry[] {
    return this.#state.membershipHistory();
  }

  /** Leave the room. The relay stops serving us at once; a remaining member rotates. */
  leave(): Promise<void> {
    return this.#driver.leave();
  }

  /** How many days the room keeps messages (null: until deleted), from the verified log. */
  get retentionDays(): number | null {
    return this.#state.policy.retention_days ?? null;
  }

  /**
   * Change the retention (owners): a signed `room.retention`; local copies older than
   * it are dropped at once.
   *
   * @throws LogError `log.unauthorized` unless we own the room, `log.invalid` outside 1..36500.
   */
  async setRetention(days: number | null): Promise<void> {
    await this.#driver.op((s) => s.retentionOp(days, { now: this.#now() }));
    await this.#driver.expire();
  }

  /** Give `memberId` the role `role` (owners; moderators for lower roles). */
  setRole(memberId: MemberId, role: Role): Promise<void> {
    return this.#driver.op((s) => s.roleOp(memberId, role, { now: this.#now() }));
  }

  /** Commit a new epoch for the current members now (forward secrecy on demand). */
  rotate(): Promise<void> {
    return this.#driver.op((s) => s.rotateOp({ now: this.#now() }));
  }

  // -- push -----------------------------------------------------------------------

  /**
   * Have the relay wake this device through `endpointUrl` when the room has news
   * (a content-free POST); use one endpoint per room.
   *
   * `webPush`: the endpoint is a browser's push subscription (`PushSubscription.endpoint`,
   * subscribed with `HearthClient.webPushKey()`); the relay then sends an empty push
   * signed with its VAPID key instead of UnifiedPush's `{"v":1}`.
   *
   * @throws RelayError `push.disabled`, `push.endpoint_invalid`, `push.endpoint_forbidden`, `push.too_many`.
   */
  registerPush(endpointUrl: string, options: { readonly webPush?: boolean } = {}): Promise<void> {
    return this.#driver.registerPush(endpointUrl, options.webPush ?? false);
  }

  /**
   * This device's local name for the room's push subscription: 22 base64url
   * characters, stable on this device, that neither the relay nor anyone without this
   * device's store key can tie to the room. A web app gives each room its own
   * browser subscription under it (a service worker scope), so that no two rooms
   * share an endpoint the relay could link them by.
   */
  get pushScope(): string {
    return this.#driver.pushScope();
  }

  /** Stop push for this room on this device. */
  unregisterPush(): Promise<void> {
    return this.#driver.unregisterPush();
  }

  // -- alarms ---------------------------------------------------------------------

  /**
   * Mark security alarms as seen by the person (all if `alarmIds` is omitted); the
   * room may send again. Returns the ids acknowledged.
   */
  acknowledgeAlarms(alarmIds?: Iterable<number> | null): Promise<number[]> {
    return this.#driver.acknowledge(alarmIds ?? null);
  }
}

function moderation(action: ModerationBody["action"], member: MemberId, reason: string): ModerationBody {
  return { type: "moderation", action, member, reason };
}
