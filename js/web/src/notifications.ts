/**
 * The rooms screen's "Notifications" choice: content-free Web Push (`webpush.ts`).
 *
 * Checking the box calls `enableWebPush` from that gesture (the browser asks for
 * the permission only then) and says the result plainly; unchecking calls
 * `disableWebPush`. The choice is kept on this device (`hearth.notifications`,
 * "on" or absent), and when a session starts with it on, `enableWebPush` runs
 * again so that rooms joined since are registered; a failure then is shown in
 * the section, never thrown.
 */

import { HearthError } from "@hearth/sdk";
import { el, status } from "./dom.js";
import type { Session } from "./session.js";
import { WebPushError, disableWebPush, enableWebPush } from "./webpush.js";

export const NOTIFICATIONS_KEY = "hearth.notifications";

function kept(): boolean {
  try {
    return localStorage.getItem(NOTIFICATIONS_KEY) === "on";
  } catch {
    return false;
  }
}

function keep(on: boolean): void {
  try {
    if (on) localStorage.setItem(NOTIFICATIONS_KEY, "on");
    else localStorage.removeItem(NOTIFICATIONS_KEY);
  } catch {
    // storage refused: the choice lasts this page only
  }
}

/** Why turning notifications on failed, in plain words. */
export function notificationProblem(exc: unknown): string {
  if (exc instanceof WebPushError) {
    return exc.code === "webpush.denied"
      ? "Notifications are blocked for this site in the browser's settings."
      : "This browser cannot show notifications here.";
  }
  if (exc instanceof HearthError) {
    if (exc.code === "push.disabled") return "This relay does not send notifications.";
    if (exc.code === "push.endpoint_forbidden") return "This relay does not accept this browser's notification service.";
    return `The relay would not turn notifications on: ${exc.message}`;
  }
  return `Notifications could not be turned on: ${(exc as Error)?.message ?? String(exc)}`;
}

/** Sessions whose rooms were registered again at start (once each). */
const resumed = new WeakSet<Session>();
/** What the last attempt for a session said, so a redrawn section shows it still. */
const lastSaid = new WeakMap<Session, string>();

/** The rooms screen's section. */
export function notificationsSetting(session: Session): HTMLElement {
  const box = el("input");
  box.type = "checkbox";
  box.name = "notifications";
  box.id = "notifications";
  box.checked = kept();
  const label = el("label", { text: "Tell me when something new arrives (the notification names no room, person or words)" });
  label.htmlFor = box.id;
  const said = status("status");
  said.id = "notifications-status";
  box.setAttribute("aria-describedby", said.id);
  said.textContent = lastSaid.get(session) ?? "";
  const say = (text: string) => {
    lastSaid.set(session, text);
    said.textContent = text;
  };

  box.addEventListener("change", () => {
    const on = box.checked;
    box.disabled = true;
    const done = () => {
      box.disabled = false;
    };
    if (on) {
      enableWebPush(session.client).then(
        () => {
          keep(true);
          say("On.");
          done();
        },
        (exc: unknown) => {
          keep(false);
          box.checked = false;
          say(notificationProblem(exc));
          done();
        },
      );
    } else {
      keep(false);
      disableWebPush(session.client).then(
        () => {
          say("Off.");
          done();
        },
        (exc: unknown) => {
          keep(true);
          box.checked = true;
          say(`Notifications could not be turned off: ${(exc as Error)?.message ?? String(exc)}`);
          done();
        },
      );
    }
  });

  if (kept() && !resumed.has(session)) {
    resumed.add(session);
    enableWebPush(session.client).then(
      () => undefined,
      (exc: unknown) => say(notificationProblem(exc)),
    );
  }

  const section = el(
    "section",
    { className: "notifications" },
    el("h2", { text: "Notifications", id: "notifications-heading" }),
    el("p", { className: "hint", text: "A notification says only that something is new. Turn it off here at any time." }),
    el("div", { className: "field checkbox" }, box, label),
    said,
  );
  section.setAttribute("aria-labelledby", "notifications-heading");
  return section;
}
