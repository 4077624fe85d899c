/**
 * What the room core asks its driver to do after a step: typed follow-ups
 * (mirrors `client_sdk/_core/followups.py`).
 *
 * The core does no I/O, so work a step calls for (sending a message, joining or
 * leaving a room) comes back as values in `Step.followUps`, in the order the step
 * met them. The driver hands each to one handler, which switches over
 * `FollowUp["kind"]` and ends in an exhaustiveness check (`assertNever`), so the
 * compiler names a kind it misses: adding a kind means one interface here, the line
 * of the core that makes it, and one case in that handler.
 *
 * `Step.needLog` is not one of these: the inbox consumes it itself, before the step
 * goes on (it fetches the log and feeds the same event again), so it stays a flag.
 */

import type { MemberId, MessageId } from "../ids.js";

/**
 * Someone joined with our invite: send them the room's profile and rules again
 * (they joined under a new epoch and cannot read the earlier copies). Once per step.
 */
export interface Republish {
  readonly kind: "Republish";
}

/** Someone joined a program where we are a supporter: re-send our availability. Once per step. */
export interface Restatus {
  readonly kind: "Restatus";
}

/** Someone else joined: send our display name again (`member.profile`). Once per step. */
export interface Reprofile {
  readonly kind: "Reprofile";
}

/** A supporter claimed our support request: join the buddy chat the claim names. */
export interface JoinBuddy {
  readonly kind: "JoinBuddy";
  readonly request: MessageId;
}

/** Our waiting request, to seal again for supporters who arrived since. */
export interface Reseal {
  readonly kind: "Reseal";
  readonly request: MessageId;
  readonly text: string;
  readonly to: readonly MemberId[];
}

/** A request another supporter claimed before us: leave the chat we opened for it. */
export interface Abandon {
  readonly kind: "Abandon";
  readonly request: MessageId;
}

/** Every kind of work the core hands its driver. */
export type FollowUp = Republish | Reprofile | Restatus | JoinBuddy | Reseal | Abandon;

/** The kinds asked at most once per step (a page of joins asks for one republication). */
export const ONCE: ReadonlySet<FollowUp["kind"]> = new Set(["Republish", "Restatus", "Reprofile"]);

/** Every kind, for a driver's test that its handler covers them all. */
export const FOLLOW_UP_KINDS: readonly FollowUp["kind"][] = [
  "Abandon",
  "JoinBuddy",
  "Reprofile",
  "Republish",
  "Reseal",
  "Restatus",
];

/** Equality of two follow-ups by value, as Python's dataclasses compare. */
export function sameFollowUp(a: FollowUp, b: FollowUp): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case "Republish":
    case "Restatus":
    case "Reprofile":
      return true;
    case "JoinBuddy":
    case "Abandon":
      return a.request === (b as JoinBuddy | Abandon).request;
    case "Reseal": {
      const o = b as Reseal;
      return a.request === o.request && a.text === o.text && a.to.length === o.to.length && a.to.every((m, i) => m === o.to[i]);
    }
  }
}

/** For the driver's handler: the compiler errors if a kind reaches it. */
export function assertNever(value: never): never {
  throw new TypeError(`unhandled follow-up ${JSON.stringify(value)}`);
}
