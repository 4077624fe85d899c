/**
 * What the address the app was opened at says: which relay, and an invite to take.
 *
 * - The relay is the page's own origin (the relay serves the app at `/`), unless the
 *   address names another with `?relay=ORIGIN`: a copy hosted apart from its relay
 *   (docs/operator.md, "The web app"), where the relay sends invite links with its
 *   origin. A named relay is kept (localStorage, not secret) for the next visits.
 * - An invite opened in a browser arrives as `?join=ROOM#SECRET` (the relay's
 *   `/join/ROOM#SECRET` redirects here, and the browser keeps the fragment), or as a
 *   whole link in the fragment, `#join=LINK`. Either way the app rebuilds the SDK's
 *   link, `{relay}/join/{room}#{secret}`, and the address is cleaned at once
 *   (`history.replaceState`), so the secret stays in no address bar, history entry
 *   or bookmark.
 *
 * Pure functions of strings, so they are tested without a browser.
 */

/** The key under which a relay named by an address is kept. */
export const RELAY_KEY = "hearth.relay";

export interface Opened {
  /** The relay's origin, `scheme://host[:port]`. */
  readonly relay: string;
  /** True when the address named the relay (keep it for the next visits). */
  readonly named: boolean;
  /** An invite link to take, in the SDK's form, or null. */
  readonly invite: string | null;
  /** The address to show instead: the same page, without join, relay or fragment. */
  readonly clean: string;
}

/** `value` as a canonical http(s) origin, or null when it is anything else. */
export function asOrigin(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  if (url.username || url.password || url.search || url.hash) return null;
  if (url.pathname !== "/" || !/^[^?#]*$/.test(value)) return null;
  return url.origin;
}

const ROOM = /^[A-Za-z0-9_-]{22}$|^[A-Za-z0-9_-]{32}$/;
const SECRET = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * Read the address `href` of a page whose own origin is `pageOrigin`, with the relay
 * `stored` from an earlier visit (or null).
 */
export function readAddress(href: string, pageOrigin: string, stored: string | null): Opened {
  const url = new URL(href);
  const named = url.searchParams.has("relay") ? asOrigin(url.searchParams.get("relay") ?? "") : null;
  const relay = named ?? (stored !== null ? asOrigin(stored) : null) ?? pageOrigin;
  let invite: string | null = null;
  const room = url.searchParams.get("join");
  const fragment = url.hash.replace(/^#/, "");
  if (room !== null && ROOM.test(room) && SECRET.test(fragment)) {
    invite = `${relay}/join/${room}#${fragment}`;
  } else if (fragment.startsWith("join=")) {
    invite = decodeURIComponent(fragment.slice("join=".length)).replace(/\s+/g, "");
  }
  url.searchParams.delete("join");
  url.searchParams.delete("relay");
  url.hash = "";
  return { relay, named: named !== null, invite, clean: url.toString().replace(/#$/, "") };
}

/** Read the page's address, keep a named relay, clean the address bar, and say what it held. */
export function takeAddress(): Opened {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(RELAY_KEY);
  } catch {
    stored = null; // storage refused (private mode): the page's origin it is
  }
  const opened = readAddress(location.href, location.origin, stored);
  if (opened.named) {
    try {
      localStorage.setItem(RELAY_KEY, opened.relay);
    } catch {
      // not kept: the next visit uses the page's origin unless named again
    }
  }
  if (opened.clean !== location.href) history.replaceState(null, "", opened.clean);
  return opened;
}
