/**
 * Session tokens: one per member key, obtained by challenge-response, kept in memory
 * only (mirrors `client_sdk/_sessions.py`).
 *
 * Each room key authenticates on its own (the relay must not learn that two keys
 * belong to one person), so there is one `Session` per key. A key signs in lazily,
 * when its room is first used, and every sign-in of one client goes through one
 * `SignInPacer`: one at a time, and a sign-in that follows another within `PACE_S`
 * seconds first waits a random while, so a person's keys are not signed in as one
 * burst. A challenge is answered only if it names the relay's own origin
 * (`canonicalOrigin` of the configured URL, compared character for character):
 * the signature is bound to that origin, and a relay naming another one wants a
 * signature it can replay elsewhere (`auth.origin_mismatch`, nothing signed). The
 * proof of work is solved only when the session must create a room, in slices that
 * give the event loop back, so a page stays responsive. Tokens never touch storage;
 * a token the relay no longer takes (`auth.invalid`, `auth.expired`) is dropped and
 * the key signs in again, once.
 */

import { type AuthKey, signAuth, signerOf } from "./auth.js";
import { b64urlDecode } from "./bytes.js";
import { type Clock, SYSTEM_CLOCK } from "./clock.js";
import { powCheck } from "./crypto.js";
import { RelayError } from "./sdkErrors.js";
import type { Transport } from "./transport.js";
import type { AuthRequest, Challenge, Session } from "./wire/schema.gen.js";

/** Sign in again this long before a token expires, in milliseconds. */
const MARGIN_MS = 60_000;

/** A sign-in this soon after the previous one first waits up to this long (at random), seconds. */
export const PACE_S = 0.3;

/** Nonces tried between two returns to the event loop while solving a proof of work. */
const POW_SLICE = 8192;

/** Refuse a challenge that names another origin than the configured relay's (`auth.origin_mismatch`). */
export function checkOrigin(challenge: Challenge, transport: Transport): void {
  if (challenge.origin !== transport.origin) {
    throw new RelayError(
      `the relay signs in as ${JSON.stringify(challenge.origin)}, not ${JSON.stringify(transport.origin)}`,
      { code: "auth.origin_mismatch" },
    );
  }
}

/**
 * The smallest nonce whose proof of work has `difficulty` leading zero bits
 * (protocol.md 9.2; the same answer as `crypto.powSolve`), returning to the event
 * loop every few thousand tries.
 */
export async function solvePow(challenge: Uint8Array, key: Uint8Array, difficulty: number): Promise<number> {
  for (let nonce = 0; ; nonce++) {
    if (powCheck(challenge, key, nonce, difficulty)) return nonce;
    if (nonce % POW_SLICE === POW_SLICE - 1) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** How a key signs in. */
export interface SignInOptions {
  /** The session must be able to create rooms: solve the proof of work, send the registration token. */
  create?: boolean;
  /** The operator's registration token, sent only with `create`. */
  registrationToken?: string | null;
}

/**
 * Challenge, check the origin, answer (with proof of work if `create`), get a session.
 *
 * The one sign-in of every key the SDK holds. Pacing is the caller's (`SignInPacer`).
 *
 * @throws RelayError `auth.origin_mismatch` (nothing was signed), or the relay's
 *   refusal: `auth.invalid`, `auth.expired`, `auth.bad_signature`, `auth.forbidden`,
 *   `room.create_forbidden`, `rate.limited` ...
 * @throws RelayUnavailable The relay could not be reached.
 */
export async function signIn(transport: Transport, key: AuthKey, options: SignInOptions = {}): Promise<Session> {
  const signer = signerOf(key);
  const create = options.create ?? false;
  const challenge = await transport.challenge(signer.member);
  checkOrigin(challenge, transport);
  let nonce = 0;
  const difficulty = challenge.pow_difficulty ?? 0;
  if (create && difficulty > 0) nonce = await solvePow(challenge.challenge, b64urlDecode(signer.member), difficulty);
  const sig = signAuth(signer, { origin: challenge.origin, challenge: challenge.challenge, expiresAt: challenge.expires_at });
  const request: AuthRequest = {
    key: signer.member,
    challenge: challenge.challenge,
    sig,
    pow_nonce: nonce,
    registration_token: create ? (options.registrationToken ?? null) : null,
  };
  return transport.session(request);
}

/** A uniform draw in `[low, high)` from the platform's CSPRNG: sign-in gaps must not be predictable. */
function uniform(low: number, high: number): number {
  const word = globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
  return low + (high - low) * (word / 2 ** 32);
}

/**
 * Spaces out one client's sign-ins: one at a time, with random gaps between close
 * ones. "Close" is measured on `clock.monotonic`, and the gap waited on `clock`.
 */
export class SignInPacer {
  private readonly pace: number;
  private readonly clock: Clock;
  private last = -Infinity;
  private tail: Promise<void> = Promise.resolve();

  constructor(pace: number = PACE_S, clock: Clock = SYSTEM_CLOCK) {
    this.pace = pace;
    this.clock = clock;
  }

  /** Run `work` holding the turn to sign in; wait a random while first if another sign-in just ended. */
  async turn<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      if (this.clock.monotonic() - this.last < this.pace) {
        await this.clock.sleep(uniform(this.pace / 4, this.pace));
      }
      return await work();
    } finally {
      this.last = this.clock.monotonic();
      release();
    }
  }
}

/** How a `Sessions` signs in. */
export interface SessionsOptions {
  /** The operator's registration token, for sessions that create rooms. */
  registrationToken?: string | null;
  /** The pacer shared by every sign-in of the client (default: one of its own). */
  pacer?: SignInPacer;
  /** Where token expiry is judged (default `SYSTEM_CLOCK`). */
  clock?: Clock;
}

/**
 * The in-memory session of every member key.
 *
 * A token is used until a minute before its expiry by `clock.nowMs()`.
 */
export class Sessions {
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly registrationToken: string | null;
  private readonly pacer: SignInPacer;
  private readonly sessions = new Map<string, Session>();

  constructor(transport: Transport, options: SessionsOptions = {}) {
    this.transport = transport;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.registrationToken = options.registrationToken ?? null;
    this.pacer = options.pacer ?? new SignInPacer(PACE_S, this.clock);
  }

  /** Drop sessions (all if `members` is omitted): the next call signs in again. */
  forget(members?: Iterable<string>): void {
    if (members === undefined) {
      this.sessions.clear();
      return;
    }
    for (const member of members) this.sessions.delete(member);
  }

  /** A valid token for `key` (one that may create rooms if `create`). */
  async token(key: AuthKey, options: { create?: boolean } = {}): Promise<string> {
    const signer = signerOf(key);
    const create = options.create ?? false;
    const held = this.usable(signer.member, create);
    if (held !== null) return held;
    return this.pacer.turn(async () => {
      const again = this.usable(signer.member, create);
      if (again !== null) return again; // signed in while this call waited its turn
      const session = await signIn(this.transport, signer, { create, registrationToken: this.registrationToken });
      this.sessions.set(signer.member, session);
      return session.token;
    });
  }

  /** Run `call` with the key's token; sign in again once if the relay refuses the token. */
  async call<T>(key: AuthKey, call: (token: string) => Promise<T>, options: { create?: boolean } = {}): Promise<T> {
    const signer = signerOf(key);
    try {
      return await call(await this.token(signer, options));
    } catch (exc) {
      if (!(exc instanceof RelayError) || (exc.code !== "auth.invalid" && exc.code !== "auth.expired")) throw exc;
    }
    this.forget([signer.member]);
    return call(await this.token(signer, options));
  }

  private usable(member: string, create: boolean): string | null {
    const session = this.sessions.get(member);
    if (session === undefined) return null;
    if (session.expires_at - this.clock.nowMs() <= MARGIN_MS) return null;
    if (create && !session.can_create) return null;
    return session.token;
  }
}
