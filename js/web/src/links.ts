/**
 * Invite links pasted into the app: one link, the SDK's, for every front end.
 *
 * The SDK's link is `{relay}/join/{room}#{secret}` (protocol.md 5.6). Opened in a
 * browser it reaches the app through the relay's redirect, and `address.ts` takes it
 * from the address; pasted into "Join with a link" (or into the terminal app) it
 * joins too. The join field takes the link pasted whole: spaces, line breaks and
 * the border characters of a wrapped or boxed copy are dropped first, since no link
 * holds them.
 */

import { parseInvite } from "@hearth/sdk";

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
