/**
 * Invite links in the web app: one link, the SDK's, for every front end.
 *
 * The SDK's link is `{relay}/join/{room}#{secret}` (protocol.md 5.6), the secret
 * only in the fragment. Opened in a browser, the relay answers `/join/{room}` with
 * `302 Location: /?join={room}` (server/webapp.py), and the browser keeps the
 * fragment across the redirect, so the app is loaded at `/?join={room}#{secret}`:
 * the secret never reached the relay. The app reads both parts, drops them from
 * the address bar and the history entry at once (`history.replaceState`), and
 * joins with the SDK's link rebuilt on the page's relay. The same link pasted into
 * the terminal app, or into this app's join field, joins too.
 *
 * The join field takes the link pasted whole: spaces, line breaks and the border
 * characters of a wrapped or boxed copy are dropped first, since no link holds them.
 */

import { parseInvite } from "@hearth/sdk";

const ROOM = /^[A-Za-z0-9_-]{22,64}$/;
const SECRET = /^[A-Za-z0-9_-]+$/;

/** Drop what no link holds: white space of every kind, and box-drawing borders. */
export function cleanPaste(text: string): string {
  return text.replace(/[\s\u2500-\u257f|]+/gu, "");
}

/**
 * The SDK's link for whatever was pasted, cleaned.
 * Throws the SDK's `InviteError` (`invite.malformed`, `invite.old_version`) when it is none.
 */
export function linkFromPaste(text: string): string {
  const link = cleanPaste(text);
  parseInvite(link); // refuses what is not a link, with the SDK's reason
  return link;
}

/** The SDK's link for an address `?join={room}#{secret}` on `relay`, or null if it holds none. */
export function linkFromAddress(search: string, hash: string, relay: string): string | null {
  const room = new URLSearchParams(search).get("join");
  const secret = hash.replace(/^#/, "");
  if (room === null || !ROOM.test(room) || !SECRET.test(secret)) return null;
  return `${relay.replace(/\/+$/, "")}/join/${room}#${secret}`;
}

/**
 * Read an invite carried in the page's address, and drop it (query and fragment)
 * from the address bar and the history entry at once, before anything else runs.
 * Returns the SDK's link, or null.
 */
export function takeInviteFromAddress(relay: string): string | null {
  const { search, hash, pathname } = window.location;
  const link = linkFromAddress(search, hash, relay);
  if (hash !== "" || new URLSearchParams(search).has("join")) history.replaceState(null, "", pathname);
  return link;
}
