/**
 * The SDK's errors: every failure a front end sees is a `HearthError`
 * (mirrors `client_sdk/errors.py`, class for class and code for code).
 *
 * Each class carries stable string codes (`room.blocked`, `net.unavailable`) that
 * an app may branch on; messages are for people and may change. Errors of `fetch`,
 * `WebSocket` or libsodium never cross the public API: the driver modules translate
 * them at their boundary. The SDK tells "you closed it" (`ClientClosed`) apart from
 * "it broke" (`RelayUnavailable`), and "the relay refused" (`RelayError`, with the
 * relay's own code) from both.
 */

import { HearthError } from "./errors.js";

/** What the relay may add to a refusal. */
export interface RelayErrorInit {
  /** The relay's error code (default `relay.error`). */
  code?: string;
  /** The HTTP status (0 for a websocket error frame or close). */
  status?: number;
  /** The relay's `detail` object, if it sent one (`{close: <code>}` for a stream close). */
  detail?: Record<string, unknown> | null;
  /** Seconds the relay asked us to wait (`Retry-After`, `retry_ms`), if any. */
  retryAfter?: number | null;
}

const RETRYABLE = new Set(["rate.limited", "internal", "stream.shutdown", "stream.behind", "storage.unavailable"]);

/** The relay answered, and refused: `code` is the relay's error code. */
export class RelayError extends HearthError {
  static override readonly defaultCode: string = "relay.error";
  /** The HTTP status (0 for a websocket error frame or close). */
  readonly status: number;
  /** The relay's `detail` object (empty if it sent none). */
  readonly detail: Record<string, unknown>;
  /** Seconds the relay asked us to wait (`rate.limited`, `stream.shutdown`), if any. */
  readonly retryAfter: number | null;

  constructor(message: string, init: RelayErrorInit = {}) {
    super(message, init.code);
    this.status = init.status ?? 0;
    this.detail = init.detail ?? {};
    this.retryAfter = init.retryAfter ?? null;
  }

  /** True if the same request may succeed later (rate limit, relay trouble). */
  get retryable(): boolean {
    return RETRYABLE.has(this.code) || this.status >= 500;
  }
}

/**
 * The relay could not be reached, did not answer in time, or the connection broke
 * (`net.unavailable`).
 *
 * Messages sent meanwhile wait in the outbox and go out once the relay answers.
 */
export class RelayUnavailable extends HearthError {
  static override readonly defaultCode: string = "net.unavailable";
}

/** The client is not open: `client.closed` after close, `client.not_open` before. */
export class ClientClosed extends HearthError {
  static override readonly defaultCode: string = "client.closed";
}

/** The room refuses to send until its security alarms are acknowledged (`room.blocked`). */
export class RoomBlocked extends HearthError {
  static override readonly defaultCode: string = "room.blocked";
}

/** The room can no longer be used: `room.left` or `room.removed`. */
export class RoomInactive extends HearthError {
  static override readonly defaultCode: string = "room.left";
}

/**
 * An invite link that cannot be used.
 *
 * Codes: `invite.malformed` (not a Hearth invite link), `invite.old_version` (a
 * link of protocol version 1), `invite.unknown` (the room's verified log holds no
 * such invite), `invite.revoked` (also when its creator was removed, banned or
 * demoted, or left), `invite.expired`, `invite.used_up`, `invite.room_full`,
 * `invite.refused` (the relay's log refused the join), `invite.banned` (the room's
 * log bans our key), `invite.blocked` (a key we blocked made the invite, or is in
 * the buddy chat).
 */
export class InviteError extends HearthError {
  static override readonly defaultCode: string = "invite.malformed";
}

/**
 * A keystore that cannot be opened.
 *
 * Codes: `keystore.wrong_passphrase`, `keystore.passphrase` (an unusable
 * passphrase), `keystore.corrupt` (not a keystore, or damaged), `keystore.version`
 * (written by a newer SDK), `keystore.io`.
 */
export class KeystoreError extends HearthError {
  static override readonly defaultCode: string = "keystore.corrupt";
}

/**
 * The local store failed.
 *
 * Codes: `store.wrong_identity` (the store belongs to another identity),
 * `store.version` (a store of another format), `store.corrupt`, `store.io`.
 */
export class StoreError extends HearthError {
  static override readonly defaultCode: string = "store.io";
}

/**
 * The room has ground rules we have not accepted yet (`rules.not_accepted`).
 *
 * Show the room's rules to the person, then accept them; a new version asks again.
 */
export class RulesNotAccepted extends HearthError {
  static override readonly defaultCode: string = "rules.not_accepted";
}

/** A moderator muted us in this room (`room.muted`); posting waits for an unmute. */
export class PostingMuted extends HearthError {
  static override readonly defaultCode: string = "room.muted";
}

/**
 * A report that cannot be made.
 *
 * Codes: `report.no_recipients` (no moderator, owner or supporter but us),
 * `report.no_evidence` (the relay no longer holds the message: deleted or purged).
 */
export class ReportError extends HearthError {
  static override readonly defaultCode: string = "report.no_recipients";
}

/**
 * A meeting schedule that cannot be used.
 *
 * Codes: `schedule.bad_zone` (not an IANA time zone), `schedule.bad_start`,
 * `schedule.none` (the room has no schedule to export).
 */
export class ScheduleError extends HearthError {
  static override readonly defaultCode: string = "schedule.none";
}

/**
 * A community-program support step that cannot be taken.
 *
 * Codes: `support.not_program`, `support.no_supporters`, `support.not_supporter`,
 * `support.away`, `support.at_capacity`, `support.bad_cap`, `support.unknown_request`,
 * `support.taken`, `support.withdrawn`, `support.own_request`,
 * `support.not_requester`, `support.requester_gone`, `support.bad_invite`,
 * `support.too_many_supporters`, `support.no_buddy_chat`; the risk path adds
 * `support.not_moderator`, `support.not_buddy_chat`, `support.bad_plan` and
 * `support.no_moderators` (as `client_sdk.errors.SupportError` describes each).
 */
export class SupportError extends HearthError {
  static override readonly defaultCode: string = "support.unknown_request";
}

/**
 * A block that cannot be recorded.
 *
 * Codes: `block.bad_member` (not a member id), `block.self` (one of this identity's
 * own member ids).
 */
export class BlockError extends HearthError {
  static override readonly defaultCode: string = "block.bad_member";
}
