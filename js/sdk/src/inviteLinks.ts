/**
 * Invite links: `{relay}/join/{room}#{secret}`, the secret only in the URL fragment
 * (mirrors `client_sdk/_invite_links.py`; protocol.md 5.6).
 *
 * Browsers never send a fragment to a server, so the secret reaches neither the
 * relay nor any web server that serves the link; the room log holds only the
 * public key derived from it. Links are parsed exactly as the Python SDK parses
 * them (its `urllib.parse.urlsplit`, then the last two path segments), so a link
 * works in both SDKs or in neither.
 */

import { b64url, b64urlDecode } from "./bytes.js";
import { ROOM_ID_CHARS, type RoomId } from "./ids.js";
import { strip } from "./pytext.js";
import { InviteError } from "./sdkErrors.js";
import { InviteKey } from "./signing.js";
import { urlsplit } from "./urlsplit.js";
import { PROTOCOL_VERSION } from "./wire/codec.js";

export { InviteKey } from "./signing.js";
/** The one `InviteError` (`sdkErrors.ts`): a link that does not parse, and a join the log refuses, raise the same class. */
export { InviteError } from "./sdkErrors.js";

const V1_ROOM_ID_CHARS = 22;

/** The link for `invite` to `room` on the relay at `baseUrl`. */
export function inviteLink(baseUrl: string, room: RoomId, invite: InviteKey): string {
  return `${baseUrl.replace(/\/+$/, "")}/join/${room}#${b64url(invite.secret)}`;
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

/**
 * The path and fragment of `url` as Python's `urllib.parse.urlsplit` reads them;
 * `urlsplit` (scheme and network location) runs first for its acceptance rules,
 * throwing where Python raises `ValueError`.
 */
function pathAndFragment(url: string): { path: string; fragment: string } {
  urlsplit(url);
  let rest = url.replace(/^[\x00-\x20]+/, "").replace(/[\t\r\n]/g, "");
  const colon = rest.indexOf(":");
  if (colon > 0 && SCHEME.test(rest.slice(0, colon))) rest = rest.slice(colon + 1);
  if (rest.startsWith("//")) {
    let end = rest.length;
    for (const c of "/?#") {
      const i = rest.indexOf(c, 2);
      if (i >= 0 && i < end) end = i;
    }
    rest = rest.slice(end);
  }
  let fragment = "";
  const hash = rest.indexOf("#");
  if (hash >= 0) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  const query = rest.indexOf("?");
  if (query >= 0) rest = rest.slice(0, query);
  return { path: rest, fragment };
}

/**
 * The room and invite key of a link made by `inviteLink`.
 *
 * The room id in the path commits to the room's genesis (protocol.md 5.8): the
 * joiner refuses a served log whose `room.create` does not hash to it before it
 * signs or seals anything.
 *
 * Throws `InviteError`: `invite.malformed`; `invite.old_version` for a link of
 * protocol version 1, whose 22-character room ids bind to nothing.
 */
export function parseInvite(link: string): { room: RoomId; invite: InviteKey } {
  const malformed = () => new InviteError("not a Hearth invite link", "invite.malformed");
  try {
    const parts = pathAndFragment(strip(link));
    const segments = parts.path.replace(/\/+$/, "").split("/");
    if (segments.length < 2 || segments[segments.length - 2] !== "join" || parts.fragment === "") throw malformed();
    const room = segments[segments.length - 1]!;
    const invite = new InviteKey(b64urlDecode(parts.fragment));
    if (room.length === V1_ROOM_ID_CHARS) {
      b64urlDecode(room);
      throw new InviteError(
        "this invite link is from Hearth protocol version 1, which this app no longer" +
          ` speaks (version ${PROTOCOL_VERSION}): ask for a new link`,
        "invite.old_version",
      );
    }
    if (room.length !== ROOM_ID_CHARS) throw malformed();
    b64urlDecode(room);
    return { room, invite };
  } catch (exc) {
    if (exc instanceof InviteError) throw exc;
    throw malformed();
  }
}
