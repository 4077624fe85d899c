/**
 * What a `Room` offers beyond messages and moderation: community programs (asking for
 * support, the queue, claiming, buddy chats, availability), a program's risk path and
 * the room's meeting schedule (the matching parts of `client_sdk/room.py`).
 *
 * `Room` extends `RoomFeatures`, so these are methods of every room, as in Python;
 * each is a few lines handing over to `programs.ts`, `risk.ts` or `schedule.ts`
 * through the room's host and driver, and holds no state of its own.
 */

import { type Meeting, type Frequency, occurrences, parseStart, requireZone, exportIcal as icalOf, wallClock } from "./schedule.js";
import * as programs from "./programs.js";
import { raiseRiskAlert, setRiskPlan } from "./risk.js";
import type { RoomHost } from "./host.js";
import type { MemberId, MessageId, RoomId } from "./ids.js";
import type { Room } from "./room.js";
import { ScheduleError, SupportError } from "./sdkErrors.js";
import type { RiskAlert, SupporterInfo, SupportRequest } from "./support.js";
import type { CrisisResource, RiskPlanBody, ScheduleBody } from "./wire/schema.gen.js";

/** What `Room.setSchedule` takes besides the title. */
export interface ScheduleOptions {
  /** `weekly`, `fortnightly` or `monthly`. */
  readonly frequency: Frequency;
  /**
   * The first meeting: its wall-clock time in `timezone` (`"2026-10-20T19:00"`), or an
   * instant (a `Date`), converted to that zone's wall clock (seconds dropped).
   */
  readonly start: string | Date;
  /** An IANA name such as `Europe/Berlin`. */
  readonly timezone: string;
  /** How long each meeting lasts, in whole minutes (at most a day). */
  readonly durationMinutes: number;
  readonly description?: string;
}

/** Community programs, the risk path and schedules, for every `Room`. */
export abstract class RoomFeatures {
  readonly #host: RoomHost;
  readonly #room: RoomId;

  protected constructor(host: RoomHost, room: RoomId) {
    this.#host = host;
    this.#room = room;
  }

  #state() {
    return this.#host.driver(this.#room).state;
  }

  #now(): Date {
    return new Date(this.#host.driver(this.#room).clock.nowMs());
  }

  // -- community programs: 1:1 support from the program's supporters ------------------

  /**
   * Ask the program's supporters for a 1:1 chat; return the request and its place.
   *
   * `text` is signed by our room key and sealed to the X25519 key, from the verified
   * log, of every member whose role is `supporter` (and to us): other members and the
   * relay cannot read it. Every member sees that we asked, and the queue. When a
   * supporter claims it, the SDK joins the buddy chat the claim names by itself
   * (`SupportClaimed`, `buddyChat`).
   *
   * @returns The request, `waiting` with its `position` once the relay has it
   *   (`sending` while it waits in the outbox).
   * @throws SupportError `support.not_program`, `support.no_supporters`,
   *   `support.too_many_supporters`.
   */
  requestSupport(text: string): Promise<SupportRequest> {
    return programs.requestSupport(this.#host, this.#room, text);
  }

  /**
   * Take back our request while nobody has claimed it.
   *
   * @throws SupportError `support.not_requester`, `support.unknown_request`,
   *   `support.withdrawn`, `support.taken` (a supporter claimed it first in room order:
   *   the buddy chat opens all the same).
   */
  withdrawRequest(requestId: MessageId): Promise<void> {
    return programs.withdraw(this.#host, this.#room, requestId);
  }

  /**
   * Every support request we can see here, in room order (any status). Requests from
   * keys this identity blocked are left out (positions stay those of the whole queue,
   * which every member computes alike).
   */
  get supportRequests(): SupportRequest[] {
    const blocked = this.#host.blocked;
    return this.#state()
      .support.requests()
      .filter((r) => !blocked.has(r.requester));
  }

  /** The waiting requests, next in line first (position 1, 2, ...). */
  get supportQueue(): SupportRequest[] {
    return this.supportRequests.filter((r) => r.status === "waiting");
  }

  /**
   * One request by id.
   *
   * @throws SupportError `support.unknown_request`.
   */
  supportRequest(requestId: MessageId): SupportRequest {
    const book = this.#state().support;
    if (!book.has(requestId)) throw new SupportError(`no support request ${requestId} here`, "support.unknown_request");
    return book.view(requestId);
  }

  /**
   * 1 if the request is next in line, 2 after that ...; null if it no longer waits.
   *
   * @throws SupportError `support.unknown_request`.
   */
  queuePosition(requestId: MessageId): number | null {
    return this.supportRequest(requestId).position;
  }

  /**
   * Take a waiting request as a supporter; return the buddy chat it opens.
   *
   * Opens a buddy chat, sends the claim (with the chat's invite sealed to the requester
   * alone), and reads the room back until the claim is in room order: if another
   * supporter's claim came first, it leaves the chat it opened and raises
   * `support.taken`.
   *
   * @throws SupportError `support.not_supporter`, `support.away`,
   *   `support.at_capacity`, `support.unknown_request`, `support.taken`,
   *   `support.withdrawn`, `support.own_request`, `support.requester_gone`,
   *   `support.not_program`.
   * @throws RelayUnavailable The claim waits in the outbox; `SupportClaimed` tells the
   *   outcome once it is sent.
   */
  async claim(requestId: MessageId): Promise<Room> {
    return this.#host.room(await programs.claim(this.#host, this.#room, requestId));
  }

  /**
   * The buddy chat a claim of this request opened (requester or claiming supporter).
   * For the requester it joins the chat first if the SDK's own join has not happened
   * yet (it was offline, say).
   *
   * @throws SupportError `support.no_buddy_chat` (not claimed, or not ours),
   *   `support.unknown_request`, `support.bad_invite`.
   * @throws InviteError `invite.blocked`: a key this identity blocked claimed it.
   */
  async buddyChat(requestId: MessageId): Promise<Room> {
    return this.#host.room(await programs.buddyChat(this.#host, this.#room, requestId));
  }

  /**
   * As a supporter, say whether we take 1:1 chats now, and cap how many stay open.
   *
   * Every member sees it (`supporters`). Away, or carrying `maxOpen` open buddy chats
   * from claims, `claim` refuses. A buddy chat stays open until either buddy leaves it.
   *
   * @param maxOpen At most this many open buddy chats (1 to 1000), null for no cap,
   *   `"keep"` (default) for the cap we set before.
   * @throws SupportError `support.not_supporter`, `support.bad_cap`.
   */
  setAvailability(available: boolean, options: { readonly maxOpen?: number | null | "keep" } = {}): Promise<void> {
    return programs.setAvailability(this.#host, this.#room, available, options.maxOpen === undefined ? "keep" : options.maxOpen);
  }

  /** The program's supporters and the availability each published (away if none). */
  get supporters(): SupporterInfo[] {
    const state = this.#state();
    const roles = new Map<MemberId, NonNullable<ReturnType<typeof state.log.roleOf>>>();
    for (const m of state.log.members.values()) roles.set(m.id, m.role);
    return state.support.supporters(roles);
  }

  /** How many buddy chats from our claims are open (what `maxOpen` caps). */
  get openSupportChats(): number {
    return programs.openChats(this.#host, this.#state());
  }

  // -- a program's path for a member at imminent risk ---------------------------------

  /**
   * The program's path for a member at imminent risk (null if it published none): its
   * `text` says what supporters do and what the person can do, its `lines` are the
   * help lines the program chose.
   */
  get riskPlan(): RiskPlanBody | null {
    return this.#state().riskPlan;
  }

  /**
   * Publish the program's risk plan (its moderators and owners), encrypted. Newer
   * replaces older; members who join later receive it again.
   *
   * @throws SupportError `support.not_program`, `support.not_moderator`,
   *   `support.bad_plan` (more than 50 lines).
   */
  setRiskPlan(text: string, lines: Iterable<CrisisResource> = []): Promise<void> {
    return setRiskPlan(this.#host, this.#room, text, lines);
  }

  /**
   * As the supporter in this buddy chat, act on a fear that the person is at imminent
   * risk: show both buddies the program's help (`RiskHelpShown`), then alert the
   * program's owners and moderators alone (`RiskAlertReceived`). Without a plan the
   * alert still goes out and each device shows its own built-in lines (`planned`
   * false).
   *
   * @throws SupportError `support.not_buddy_chat` (not the chat of a request we
   *   claimed, on this device), `support.not_supporter`, `support.no_moderators` (the
   *   help was shown, but nobody but us moderates the program).
   * @throws RoomInactive We left the chat or the program.
   */
  raiseRiskAlert(note = ""): Promise<RiskAlert> {
    return raiseRiskAlert(this.#host, this.#room, note);
  }

  // -- scheduled meetings ----------------------------------------------------------

  /** The room's recurring meeting from its encrypted state (null if there is none). */
  get schedule(): ScheduleBody | null {
    return this.#state().schedule;
  }

  /**
   * Publish the room's meeting schedule (moderators and owners; others' are ignored).
   *
   * @throws ScheduleError `schedule.bad_zone` (unknown time zone), `schedule.bad_start`
   *   (a start string that is not `YYYY-MM-DDTHH:MM`).
   */
  async setSchedule(title: string, options: ScheduleOptions): Promise<void> {
    const zone = requireZone(options.timezone);
    let start: string;
    if (options.start instanceof Date) {
      start = wallClock(options.start, zone);
    } else {
      const wall = parseStart(options.start);
      if (wall === null) throw new ScheduleError(`malformed start ${JSON.stringify(options.start)}`, "schedule.bad_start");
      const p = (n: number, w = 2) => String(n).padStart(w, "0");
      start = `${p(wall.year, 4)}-${p(wall.month)}-${p(wall.day)}T${p(wall.hour)}:${p(wall.minute)}`;
    }
    const body: ScheduleBody = {
      type: "schedule",
      title,
      frequency: options.frequency,
      start,
      timezone: options.timezone,
      duration_minutes: Math.floor(options.durationMinutes),
      description: options.description ?? "",
      active: true,
    };
    await this.#host.driver(this.#room).send(body);
  }

  /** Cancel the recurring meeting (the schedule stays, marked inactive). */
  async cancelSchedule(): Promise<void> {
    const current = this.#state().schedule;
    if (current !== null && current.active !== false) await this.#host.driver(this.#room).send({ ...current, active: false });
  }

  /** The next `n` meetings ending after `after` (now), in the schedule's zone. */
  nextMeetings(n = 5, options: { readonly after?: Date } = {}): Meeting[] {
    const schedule = this.#state().schedule;
    if (schedule === null) return [];
    return occurrences(schedule, n, options.after ?? this.#now());
  }

  /**
   * The schedule as an RFC 5545 iCalendar file (`text/calendar`), for calendar apps:
   * the Python SDK's bytes for the same schedule.
   *
   * @throws ScheduleError `schedule.none`: the room has no schedule.
   */
  exportIcal(): string {
    const schedule = this.#state().schedule;
    if (schedule === null) throw new ScheduleError("this room has no schedule", "schedule.none");
    return icalOf(schedule, { uid: `${this.#room}@hearth`, now: this.#now() });
  }
}
