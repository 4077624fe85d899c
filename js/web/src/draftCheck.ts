/**
 * The opt-in draft check (docs/front-ends.md, "Whatever points to help names help
 * that is listed"): when the person chose it, each message they send is first read
 * on this device by the SDK's `checkDraft` (a plain phrase list; nothing is sent,
 * stored or reported), and if it suggests help, a note under the room's status line
 * names the first line listed for their region (`firstListedLine`, as the terminal
 * app does) and where more are. The message goes out as written either way.
 *
 * The choice is the SDK's device setting (`setDraftCheck`, off by default), made
 * under "Privacy"-like words on the rooms screen.
 */

import { extendRooms } from "./addons.js";
import { firstListedLine } from "./crisis.js";
import { button, el, status } from "./dom.js";
import type { Session } from "./session.js";

/** The rooms screen's choice. */
export function draftCheckSetting(session: Session): HTMLElement {
  const box = el("input");
  box.type = "checkbox";
  box.name = "draft-check";
  box.id = "draft-check";
  box.checked = session.client.draftCheck;
  const label = el("label", { text: "When what I write sounds like a crisis, show me a line I can call" });
  label.htmlFor = box.id;
  const said = status("status");
  box.addEventListener("change", () => {
    const on = box.checked;
    session.client.setDraftCheck(on).then(
      () => {
        said.textContent = on ? "On. It reads your messages on this device only, and never stops or reports one." : "Off.";
      },
      () => {
        box.checked = !on;
        said.textContent = "Could not change it.";
      },
    );
  });
  return el(
    "section",
    { className: "draft-check" },
    el("h2", { text: "A word of help" }),
    el("p", { className: "hint", text: "A short list of phrases, checked on this device before a message goes out. Nothing leaves the device." }),
    el("div", { className: "field checkbox" }, box, label),
    said,
  );
}

extendRooms((room, session) => {
  const banner = el("div", { className: "notice draft-suggestion" });
  banner.setAttribute("role", "status");
  banner.setAttribute("aria-live", "polite");
  banner.hidden = true;
  const text = el("p");
  banner.append(
    text,
    button("Dismiss", () => {
      banner.hidden = true;
      text.textContent = "";
    }, "small"),
  );
  return {
    banner,
    beforeSend(draft) {
      if (!session.client.checkDraft(draft).suggest) return;
      text.textContent = `You are not alone. It sounds like things are very hard right now. ${firstListedLine()}. “Help now” (F1) shows more people you can talk to, at any hour.`;
      banner.hidden = false;
    },
  };
});
