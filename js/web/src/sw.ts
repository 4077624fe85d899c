/**
 * The web app's service worker: the offline shell, and the notification a push shows.
 *
 * - Offline shell: the build bakes the release's files and their SHA-256 into this
 *   script (`__HEARTH_SHELL__`), so every release is a new worker. Installing fetches
 *   exactly those files, refuses to install if any byte differs from the list (a
 *   half-deployed or altered copy), and keeps them in a cache named after the list.
 *   Requests for those files (and a navigation to the app's address) are answered
 *   from that cache, so a reload without network still shows the crisis help, and
 *   a page never mixes files of two releases. Nothing else is ever cached: the
 *   relay's API, `release.json` and every other request go to the network untouched
 *   (no `respondWith`), so no answer that could hold personal data is stored.
 * - A new release activates at once (`skipWaiting`, `clients.claim`) and deletes
 *   the older shells, so no outdated copy lingers.
 * - Push: the relay's pushes are empty, and this worker never reads one. Each shows
 *   the same neutral notification (`notification.ts`); clicking it focuses the app,
 *   or opens it. The app syncs when it opens.
 * - The same script also runs under per-room scopes (`push/<name>/`, one browser push
 *   subscription per room: `webpush.ts`). Those registrations control no page: they
 *   cache nothing and serve nothing, they only show notifications.
 */

/// <reference lib="webworker" />

import { NOTIFICATION_BODY, NOTIFICATION_TAG, NOTIFICATION_TITLE } from "./notification.js";

declare const self: ServiceWorkerGlobalScope;
/** Set by scripts/build.mjs: the release's files (sw.js aside) and their SHA-256. */
declare const __HEARTH_SHELL__: { readonly cache: string; readonly files: Readonly<Record<string, string>> };

const SHELL = __HEARTH_SHELL__;
const PREFIX = "hearth-shell-";
/** The app's address: this script sits beside index.html. */
const ROOT = new URL("./", self.location.href);
/** Only the registration at the app's own address keeps and serves the shell. */
const SERVES_SHELL = self.registration.scope === ROOT.href;

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function precache(): Promise<void> {
  // Every file is fetched and checked before any is kept: a copy that fails the
  // check leaves no cache behind.
  const checked: [string, Response][] = [];
  for (const [name, expected] of Object.entries(SHELL.files).sort()) {
    const url = new URL(name, ROOT).href;
    const response = await fetch(url, { cache: "no-cache", credentials: "omit", redirect: "error" });
    if (!response.ok) throw new Error(`the shell's ${name} answered ${response.status}`);
    const body = await response.arrayBuffer();
    if (hex(await crypto.subtle.digest("SHA-256", body)) !== expected) {
      throw new Error(`the shell's ${name} is not the release's: not installing this worker`);
    }
    // The headers the file was served with (its content security policy among them)
    // stay; the body is already decoded, so no encoding or length header is kept.
    const headers = new Headers(response.headers);
    for (const header of ["content-encoding", "content-length", "etag", "set-cookie"]) headers.delete(header);
    checked.push([url, new Response(body, { status: 200, headers })]);
  }
  const cache = await caches.open(SHELL.cache);
  for (const [url, response] of checked) await cache.put(url, response);
}

self.addEventListener("install", (event) => {
  event.waitUntil((SERVES_SHELL ? precache() : Promise.resolve()).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      if (!SERVES_SHELL) return;
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== SHELL.cache) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

/** The shell file a request asks for, if it asks for one. */
function shellFile(request: Request): string | null {
  if (request.method !== "GET") return null;
  const url = new URL(request.url);
  if (url.origin !== ROOT.origin || !url.pathname.startsWith(ROOT.pathname)) return null;
  const rest = url.pathname.slice(ROOT.pathname.length);
  // The app's address, with any query (an invite opens `./?join=ROOM`, its secret in
  // the fragment, which never reaches a server or this worker).
  if (rest === "" && request.mode === "navigate") return "index.html";
  return url.search === "" && Object.hasOwn(SHELL.files, rest) ? rest : null;
}

self.addEventListener("fetch", (event) => {
  if (!SERVES_SHELL) return;
  const name = shellFile(event.request);
  if (name === null) return; // the network, untouched and uncached
  event.respondWith(
    (async () => {
      const cached = await (await caches.open(SHELL.cache)).match(new URL(name, ROOT).href);
      return cached ?? fetch(event.request);
    })(),
  );
});

self.addEventListener("push", (event) => {
  // The push's data, if any, is never read: the relay sends none.
  event.waitUntil(
    self.registration.showNotification(NOTIFICATION_TITLE, {
      body: NOTIFICATION_BODY,
      tag: NOTIFICATION_TAG,
      icon: new URL("icon-192.png", ROOT).href,
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const app = windows.find((client) => client.url.startsWith(ROOT.href));
      if (app !== undefined) await app.focus();
      else await self.clients.openWindow(ROOT.href);
    })(),
  );
});
