/**
 * Content-free Web Push for the web app: one browser push subscription per room.
 *
 * A service worker registration holds one push subscription, and one endpoint
 * registered in every room would let the relay link a person's rooms (docs/sdk.md,
 * "Push"). So each room gets its own registration of the same `sw.js`, under the
 * scope `push/<room.pushScope>/`: a name only this device can compute, which tells
 * neither the relay nor a reader of the browser's profile which room it is. Those
 * registrations control no page and cache nothing; they only show the neutral
 * notification (`sw.ts`).
 *
 * Each subscription is made with the relay's VAPID key (`client.webPushKey()`) and
 * registered with `room.registerPush(endpoint, {webPush: true})`. A subscription made
 * with another key (the relay's key changed) is replaced. Call `enableWebPush` from a
 * user's gesture (browsers ask for the notification permission only then), and again
 * when the app opens, so that rooms joined since and subscriptions the browser
 * renewed are registered.
 */

import type { HearthClient, Room } from "@hearth/sdk";
import { SHELL_WORKER } from "./pwa.js";

export type WebPushErrorCode = "webpush.unsupported" | "webpush.denied";

/** Web Push cannot be turned on here; `code` says why. */
export class WebPushError extends Error {
  readonly code: WebPushErrorCode;

  constructor(message: string, code: WebPushErrorCode) {
    super(message);
    this.name = "WebPushError";
    this.code = code;
  }
}

/** A room's scope, relative to the app's address. */
export function pushScopeOf(room: Room): string {
  return `./push/${room.pushScope}/`;
}

function sameKey(a: ArrayBuffer | null, b: Uint8Array): boolean {
  if (a === null || a.byteLength !== b.length) return false;
  const bytes = new Uint8Array(a);
  return bytes.every((byte, i) => byte === b[i]);
}

async function activeRegistration(scope: string): Promise<ServiceWorkerRegistration> {
  const registration = await navigator.serviceWorker.register(SHELL_WORKER, { scope });
  const worker = registration.installing ?? registration.waiting;
  if (registration.active === null && worker !== null) {
    await new Promise<void>((resolve, reject) => {
      worker.addEventListener("statechange", () => {
        if (worker.state === "activated") resolve();
        else if (worker.state === "redundant") reject(new WebPushError("the push worker did not install", "webpush.unsupported"));
      });
    });
  }
  return registration;
}

/** Whether this browser can do Web Push at all (a secure context with the Push API). */
export function webPushSupported(): boolean {
  return globalThis.isSecureContext && "serviceWorker" in navigator && "PushManager" in globalThis && "Notification" in globalThis;
}

/**
 * Subscribe each of `rooms` (default: all of the client's) to Web Push in this browser
 * and register the subscriptions with the relay.
 *
 * @throws WebPushError `webpush.unsupported` (no Push API here), `webpush.denied`
 *   (the person refused notifications).
 * @throws RelayError `push.disabled` (the relay sends no push), `push.endpoint_forbidden`
 *   (the relay's operator does not list this browser's push service), and the rest
 *   of `Room.registerPush`'s.
 */
export async function enableWebPush(client: HearthClient, rooms: readonly Room[] = client.rooms): Promise<void> {
  if (!webPushSupported()) throw new WebPushError("this browser cannot receive push here", "webpush.unsupported");
  const permission = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
  if (permission !== "granted") throw new WebPushError("notifications are not allowed for this app", "webpush.denied");
  const key = await client.webPushKey();
  for (const room of rooms) {
    const registration = await activeRegistration(pushScopeOf(room));
    let subscription = await registration.pushManager.getSubscription();
    if (subscription !== null && !sameKey(subscription.options.applicationServerKey, key)) {
      await subscription.unsubscribe();
      subscription = null;
    }
    subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: new Uint8Array(key) });
    await room.registerPush(subscription.endpoint, { webPush: true });
  }
}

/** Stop Web Push for `rooms` (default: all): unregister at the relay, then in the browser. */
export async function disableWebPush(client: HearthClient, rooms: readonly Room[] = client.rooms): Promise<void> {
  if (!("serviceWorker" in navigator)) return;
  for (const room of rooms) {
    await room.unregisterPush();
    const registration = await navigator.serviceWorker.getRegistration(pushScopeOf(room));
    if (registration === undefined || registration.scope !== new URL(pushScopeOf(room), location.href).href) continue;
    await (await registration.pushManager.getSubscription())?.unsubscribe();
    await registration.unregister();
  }
}
