/**
 * Linking a second device, over the SDK's device link (`offerDeviceLink` on the
 * signed-in browser, `HearthClient.beginDeviceLink` on the new one), as the terminal
 * app does it:
 *
 * - the signed-in browser's "Link a device" shows the code (text and a QR code of
 *   it, `qr.ts`) and waits for the new device's answer; then it shows the six digits
 *   the new device must show too, and only "The same: link it" seals this identity
 *   and its rooms to that device (`confirm`); "Not the same" refuses (`refuse`), and
 *   so does closing the dialog after an answer came, so the root never moves
 *   without the person saying the digits match. The dialog's focus starts on
 *   "Close", which links nothing.
 * - the new browser's "Link to my other device" (on the first screen) takes the
 *   code and a passphrase for this browser, shows its digits, waits for the
 *   confirmation, saves the identity sealed under the passphrase (as onboarding
 *   does) and starts the session with the rooms the link named.
 */

import { cryptoReady, HearthClient, type Identity, type Keystore } from "@hearth/sdk";

import { showDialog } from "./dialog.js";
import { button, describe, el, field, form, input, replace, status, submitButton } from "./dom.js";
import { strength } from "./onboarding.js";
import { qrSvg } from "./qr.js";
import type { Session } from "./session.js";

/** The rooms a link names, handed to the new device's client before it opens. */
export type LinkedRooms = HearthClient["linkedRooms"];

/** The signed-in browser's side: the dialog that shows the code and asks about the digits. */
async function linkDialog(session: Session): Promise<void> {
  const said = status("status");
  said.textContent = "Making a code…";
  const codeBox = el("div", { className: "device-code" });
  const compare = el("div", { className: "device-compare" });
  compare.hidden = true;
  let closed = false;
  let settled = false;
  let link: Awaited<ReturnType<typeof session.client.offerDeviceLink>> | null = null;
  let answered = false;

  const settle = async (confirm: boolean) => {
    if (link === null || settled) return;
    settled = true;
    compare.hidden = true;
    try {
      if (confirm) {
        said.textContent = "Linking…";
        await link.confirm();
        said.textContent = "Linked. The new device opens your rooms now. You can close this.";
      } else {
        await link.refuse();
        said.textContent = "Refused: that device was not linked.";
      }
    } catch (exc) {
      said.textContent = `Could not finish: ${describe(exc)}`;
    }
  };

  const start = async () => {
    try {
      link = await session.client.offerDeviceLink();
    } catch (exc) {
      said.textContent = `Could not make a code: ${describe(exc)}`;
      return;
    }
    if (closed) return;
    const code = el("p", { text: link.code, className: "code", id: "device-link-code" });
    replace(codeBox, code, qrSvg(link.code, "QR code of the device link code"));
    said.textContent = "Waiting for the new device…";
    let digits: string;
    try {
      digits = await link.claimantCode();
    } catch (exc) {
      if (!closed) said.textContent = `No device answered: ${describe(exc)}`;
      return;
    }
    answered = true;
    if (closed) {
      await settle(false);
      return;
    }
    replace(
      compare,
      el("p", { text: "Does the new device show exactly these digits?" }),
      el("p", { text: digits, className: "code", id: "device-short-code" }),
      el(
        "div",
        { className: "dialog-actions" },
        button("Not the same: refuse", () => void settle(false)),
        button("The same: link it", () => void settle(true), "primary"),
      ),
    );
    compare.hidden = false;
    said.textContent = "The new device answered. Compare the digits.";
  };
  void start();

  await showDialog({
    title: "Link a device",
    body: [
      "On the new device, open this app, choose “Link to my other device” and type this code (or scan it). It works once, for 10 minutes.",
      "Link only a device you hold yourself: it becomes you, in every room.",
      codeBox,
      said,
      compare,
    ],
    cancelText: "Close",
    className: "dialog device-link",
  });
  closed = true;
  if (answered && !settled) await settle(false);
}

/** "Your devices" on the rooms screen. */
export function devicesSection(session: Session): HTMLElement {
  return el(
    "section",
    { className: "devices" },
    el("h2", { text: "Your devices" }),
    el("p", { className: "hint", text: "Use Hearth on another phone or computer as the same person, with the same rooms." }),
    button("Link a device", () => void linkDialog(session)),
  );
}

export interface LinkScreenHooks {
  readonly keystore: Keystore;
  readonly relay: string;
  /** Start the session with the linked identity and the rooms the link named. */
  start(identity: Identity, rooms: LinkedRooms): Promise<void>;
  back(): void;
}

/** The new browser's side, from the first screen. */
export function linkScreen(screen: HTMLElement, hooks: LinkScreenHooks): void {
  const code = input("text", "device-code");
  code.spellcheck = false;
  const passphrase = input("password", "new-passphrase", "new-password");
  const error = status("status error");
  const digits = el("div", { className: "device-compare" });
  const go = submitButton("Link this browser");
  const body = form(
    () => {
      const text = code.value.replace(/\s+/g, "").toUpperCase();
      if (text === "") {
        error.textContent = "Type the code your other device shows.";
        code.focus();
        return;
      }
      if (strength(passphrase.value).score === 0) {
        error.textContent = "Choose a passphrase of at least 10 characters, or a few words.";
        passphrase.focus();
        return;
      }
      go.disabled = true;
      error.textContent = "Reaching your other device…";
      void (async () => {
        try {
          // The SDK's beginDeviceLink opens the hello without readying its crypto
          // first; on a fresh page (no client opened yet) it would fail as "link.bad_box".
          await cryptoReady();
          const pending = await HearthClient.beginDeviceLink(hooks.relay, text);
          replace(
            digits,
            el("p", { text: "Your other device shows digits. Confirm there only if they are these:" }),
            el("p", { text: pending.shortCode, className: "code", id: "device-short-code" }),
          );
          error.textContent = "Waiting for your other device to confirm…";
          const client = await pending.finish();
          error.textContent = "Linked. Locking your keys with your passphrase…";
          await hooks.keystore.save(client.identity, passphrase.value);
          passphrase.value = "";
          await hooks.start(client.identity, client.linkedRooms);
        } catch (exc) {
          go.disabled = false;
          replace(digits);
          error.textContent = `Not linked: ${describe(exc)}`;
        }
      })();
    },
    field("Code from your other device", code, "Under “Your devices”, “Link a device” shows it. Spaces do not matter."),
    field("A passphrase for this browser", passphrase),
    go,
    error,
    digits,
  );
  replace(
    screen,
    el("h2", { text: "Link to my other device" }),
    el("p", { text: "This browser becomes you, with your rooms, once your other device confirms. Nothing asks for your name." }),
    body,
    button("Back", hooks.back),
  );
  code.focus();
}
