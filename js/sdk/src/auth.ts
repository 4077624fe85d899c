/**
 * Challenge-response sign-in's pure half, for any key that signs as one member: a
 * bare `SigningKey` or a room's keys. The origin and the signature over
 * `AuthContent` themselves are `signing.ts`'s (`canonical_origin`, `sign_auth`,
 * `verify_auth` of `protocol/signing.py`; protocol.md 9.1).
 *
 * The origin a client signs is computed from the relay URL it was configured with,
 * by exactly the rules of `protocol.signing.canonical_origin`, which reads the URL
 * the way Python's `urllib.parse.urlsplit` does. The WHATWG `URL` parser is not
 * used on purpose: it rewrites what it reads (`127.1` becomes `127.0.0.1`, an
 * internationalised name becomes punycode), so a URL the Python SDK refuses or reads
 * differently would sign another origin here. Both SDKs compare the challenge's
 * `origin` with this string, character for character, before signing anything.
 */

import { type SigningKey, sign } from "./crypto.js";
import { memberIdFromKey } from "./ids.js";
import { signAuth as signAuthAs, verifyAuth as verifyAuthOf } from "./signing.js";

/** The relay's canonical origin: one reading of a URL, `signing.ts`'s. */
export { canonicalOrigin } from "./signing.js";

/** Anything that signs as one member key: a room key (`{member, sign}`), or a bare Ed25519 key. */
export interface AuthSigner {
  /** The member id: the base64url of the Ed25519 public key. */
  readonly member: string;
  /** Sign `context || payload`. */
  sign(context: Uint8Array, payload: Uint8Array): Uint8Array;
}

/** A key that can sign in: a `SigningKey`, or an `AuthSigner` such as a room's keys. */
export type AuthKey = SigningKey | AuthSigner;

/** The member id of an Ed25519 public key. */
export function memberOf(key: SigningKey): string {
  return memberIdFromKey(key.publicKey);
}

/** `key` as an `AuthSigner` (a `SigningKey` signs as the member its public key names). */
export function signerOf(key: AuthKey): AuthSigner {
  if ("member" in key) return key;
  return { member: memberOf(key), sign: (context, payload) => sign(key, context, payload) };
}

/** What a key signs to answer a relay's challenge. */
export interface ChallengeAnswer {
  readonly origin: string;
  readonly challenge: Uint8Array;
  readonly expiresAt: number;
}

/** Answer a relay's challenge with `key`: its signature over `CTX_AUTH || canonical(AuthContent)`. */
export function signAuth(key: AuthKey, answer: ChallengeAnswer): Uint8Array {
  return signAuthAs(signerOf(key), answer);
}

/** Check an answer to a challenge, as the relay does (`auth.bad_signature`). */
export function verifyAuth(member: string, answer: ChallengeAnswer, sig: Uint8Array): void {
  verifyAuthOf({ key: member, origin: answer.origin, challenge: answer.challenge, expiresAt: answer.expiresAt, sig });
}
