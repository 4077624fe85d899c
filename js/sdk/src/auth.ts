/**
 * Challenge-response sign-in's pure half: a relay's canonical origin and the
 * signature over `AuthContent` (mirrors `canonical_origin`, `sign_auth` and
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

import { b64url, b64urlDecode } from "./bytes.js";
import { CTX_AUTH, type SigningKey, sign, verify } from "./crypto.js";
import { HearthError } from "./errors.js";
import { canonical } from "./wire/codec.js";
import type { AuthContent } from "./wire/schema.gen.js";

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
  return b64url(key.publicKey);
}

/** `key` as an `AuthSigner` (a `SigningKey` signs as the member its public key names). */
export function signerOf(key: AuthKey): AuthSigner {
  if ("member" in key) return key;
  return { member: memberOf(key), sign: (context, payload) => sign(key, context, payload) };
}

// -- the canonical origin -------------------------------------------------------

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443 };

/** The characters Python's `str.isspace` accepts, which `str.strip` removes. */
const PY_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const SCHEME_CHARS = /^[A-Za-z0-9+\-.]*$/;

function pyStrip(text: string, chars: (c: string) => boolean, right: boolean): string {
  let start = 0;
  let end = text.length;
  while (start < end && chars(text[start]!)) start++;
  if (right) while (end > start && chars(text[end - 1]!)) end--;
  return text.slice(start, end);
}

function badOrigin(message: string): HearthError {
  return new HearthError(message, "auth.bad_origin");
}

/** Python's `ipaddress` IPv4 parser (3.11): four decimal octets, no leading zeros. */
function isIPv4(text: string): boolean {
  const octets = text.split(".");
  if (octets.length !== 4) return false;
  return octets.every((o) => /^[0-9]{1,3}$/.test(o) && !(o !== "0" && o[0] === "0") && Number(o) <= 255);
}

/** Python's `ipaddress.IPv6Address` parser (3.11), scope id included. */
function isIPv6(text: string): boolean {
  if (text.includes("/")) return false;
  const cut = text.indexOf("%");
  let address = text;
  if (cut >= 0) {
    const scope = text.slice(cut + 1);
    if (scope === "" || scope.includes("%")) return false;
    address = text.slice(0, cut);
  }
  if (address === "") return false;
  const parts = address.split(":");
  if (parts.length < 3) return false;
  if (parts[parts.length - 1]!.includes(".")) {
    if (!isIPv4(parts.pop()!)) return false;
    parts.push("0", "0");
  }
  if (parts.length > 9) return false;
  let skip: number | null = null;
  for (let i = 1; i < parts.length - 1; i++) {
    if (parts[i] === "") {
      if (skip !== null) return false;
      skip = i;
    }
  }
  let hi: number;
  let lo: number;
  if (skip !== null) {
    hi = skip;
    lo = parts.length - skip - 1;
    if (parts[0] === "" && --hi !== 0) return false;
    if (parts[parts.length - 1] === "" && --lo !== 0) return false;
    if (8 - (hi + lo) < 1) return false;
  } else {
    if (parts.length !== 8 || parts[0] === "" || parts[parts.length - 1] === "") return false;
    hi = parts.length;
    lo = 0;
  }
  const hextets = [...parts.slice(0, hi), ...parts.slice(parts.length - lo)];
  return hextets.every((h) => /^[0-9a-fA-F]{1,4}$/.test(h));
}

/** `urlsplit`'s check of a bracketed host: an IPv6 address or an IPvFuture. */
function checkBracketedHost(host: string): void {
  if (host.startsWith("v")) {
    if (!/^v[a-fA-F0-9]+\.[^\n]+$/.test(host)) throw badOrigin("IPvFuture address is invalid");
  } else if (isIPv4(host)) {
    throw badOrigin("an IPv4 address cannot be in brackets");
  } else if (!isIPv6(host)) {
    throw badOrigin(`not an IP address: ${JSON.stringify(host)}`);
  }
}

/**
 * The origin a relay at `url` binds into challenges (protocol.md 9.1).
 *
 * `scheme://host[:port]`: scheme `http` or `https` and host in lower case (an IPv6
 * address in brackets), the port in decimal and only if it is not the scheme's
 * default (80, 443), no user info, no trailing slash; path, query and fragment are
 * dropped. A client compares the challenge's `origin` with this string of the URL
 * it was configured with, character for character.
 *
 * @throws HearthError `auth.bad_origin` if `url` is not an http(s) URL with a host.
 */
export function canonicalOrigin(url: string): string {
  const shown = JSON.stringify(url);
  // urlsplit: strip, drop leading C0 controls and spaces, remove tabs and newlines.
  let rest = pyStrip(url, (c) => PY_SPACE.includes(c), true);
  rest = pyStrip(rest, (c) => c <= " ", false).replace(/[\t\r\n]/g, "");
  let scheme = "";
  const colon = rest.indexOf(":");
  if (colon > 0 && /^[A-Za-z]/.test(rest) && SCHEME_CHARS.test(rest.slice(0, colon))) {
    scheme = rest.slice(0, colon).toLowerCase();
    rest = rest.slice(colon + 1);
  }
  let netloc = "";
  if (rest.startsWith("//")) {
    let end = rest.length;
    for (const c of "/?#") {
      const at = rest.indexOf(c, 2);
      if (at >= 0) end = Math.min(end, at);
    }
    netloc = rest.slice(2, end);
    const open = netloc.includes("[");
    const close = netloc.includes("]");
    if (open !== close) throw badOrigin(`not an http(s) URL: ${shown}`);
    if (open) checkBracketedHost(netloc.slice(netloc.indexOf("[") + 1).split("]")[0]!);
  }
  checkNetloc(netloc, shown);
  // The user info is what precedes the last "@"; the host and port what follows.
  const at = netloc.lastIndexOf("@");
  const hostinfo = at >= 0 ? netloc.slice(at + 1) : netloc;
  let hostname: string;
  let portText: string;
  const bracket = hostinfo.indexOf("[");
  if (bracket >= 0) {
    const bracketed = hostinfo.slice(bracket + 1);
    const end = bracketed.indexOf("]");
    hostname = end >= 0 ? bracketed.slice(0, end) : bracketed;
    const after = end >= 0 ? bracketed.slice(end + 1) : "";
    const portColon = after.indexOf(":");
    portText = portColon >= 0 ? after.slice(portColon + 1) : "";
  } else {
    const portColon = hostinfo.indexOf(":");
    hostname = portColon >= 0 ? hostinfo.slice(0, portColon) : hostinfo;
    portText = portColon >= 0 ? hostinfo.slice(portColon + 1) : "";
  }
  let port: number | null = null;
  if (portText !== "") {
    if (!/^[0-9]+$/.test(portText)) throw badOrigin(`not an http(s) URL: ${shown}`);
    port = Number(portText);
    if (port > 65535) throw badOrigin(`not an http(s) URL: ${shown}`);
  }
  // Python lower-cases the host but not an IPv6 zone after "%".
  const zone = hostname.indexOf("%");
  const host = zone >= 0 ? hostname.slice(0, zone).toLowerCase() + hostname.slice(zone) : hostname.toLowerCase();
  if (!(scheme in DEFAULT_PORTS) || host === "" || !/^[\x00-\x7f]*$/.test(host)) {
    throw badOrigin(`not an http(s) URL with an ASCII host: ${shown}`);
  }
  if (at >= 0) throw badOrigin(`an origin has no user info: ${shown}`);
  const shownHost = host.includes(":") ? `[${host}]` : host;
  if (port === null || port === DEFAULT_PORTS[scheme]) return `${scheme}://${shownHost}`;
  return `${scheme}://${shownHost}:${port}`;
}

/** `urlsplit` refuses a netloc that NFKC normalisation would give a URL delimiter. */
function checkNetloc(netloc: string, shown: string): void {
  if (/^[\x00-\x7f]*$/.test(netloc)) return;
  const n = netloc.replace(/[@:#?]/g, "");
  const normal = n.normalize("NFKC");
  if (n === normal) return;
  if (/[/?#@:]/.test(normal)) throw badOrigin(`not an http(s) URL: ${shown}`);
}

// -- the signature --------------------------------------------------------------

/** What a key signs to answer a relay's challenge. */
export interface ChallengeAnswer {
  readonly origin: string;
  readonly challenge: Uint8Array;
  readonly expiresAt: number;
}

/** Answer a relay's challenge with `key`: its signature over `CTX_AUTH || canonical(AuthContent)`. */
export function signAuth(key: AuthKey, answer: ChallengeAnswer): Uint8Array {
  const signer = signerOf(key);
  const content: AuthContent = {
    origin: answer.origin,
    challenge: answer.challenge,
    key: signer.member,
    expires_at: answer.expiresAt,
  };
  return signer.sign(CTX_AUTH, canonical("AuthContent", content));
}

/** Check an answer to a challenge, as the relay does (`auth.bad_signature`). */
export function verifyAuth(member: string, answer: ChallengeAnswer, sig: Uint8Array): void {
  const content: AuthContent = { origin: answer.origin, challenge: answer.challenge, key: member, expires_at: answer.expiresAt };
  try {
    const key = b64urlDecode(member);
    if (key.length !== 32) throw new HearthError("a member id names 32 bytes");
    verify(key, CTX_AUTH, canonical("AuthContent", content), sig);
  } catch (exc) {
    if (exc instanceof HearthError) throw new HearthError("challenge answer does not verify", "auth.bad_signature");
    throw exc;
  }
}
