/**
 * Inviting: the whole link shown with the role it grants, a Copy button that says
 * honestly whether it copied (the result of `navigator.clipboard.writeText`), and a
 * QR code of the same link for a phone held up to the screen.
 *
 * The link is the SDK's (`links.ts`): opened in a browser it reaches this app, and
 * the terminal app joins with it too.
 */

import type { Role, Room } from "@hearth/sdk";

import { showDialog } from "./dialog.js";
import { button, describe, el, field, form, status, submitButton } from "./dom.js";
import { qrSvg } from "./qr.js";

const ROLE_WORDS: Record<string, string> = {
  member: "member",
  supporter: "supporter",
  moderator: "moderator",
};

/** The roles this member may grant with a link (never owner; at most their own). */
function grantable(room: Room): Role[] {
  const order: Role[] = ["member", "supporter", "moderator"];
  const mine = room.role;
  if (mine === "owner") return order;
  if (mine === "moderator") return order;
  if (mine === "supporter") return ["member", "supporter"];
  return ["member"];
}

/** Ask how the link admits (role, how many people), then show it. */
export async function inviteDialog(room: Room): Promise<void> {
  const role = el("select");
  role.name = "role";
  for (const r of grantable(room)) {
    const option = el("option", { text: ROLE_WORDS[r] ?? r });
    option.value = r;
    role.append(option);
  }
  const uses = el("select");
  uses.name = "uses";
  for (const n of [1, 5, 20]) {
    const option = el("option", { text: n === 1 ? "1 person" : `${n} people` });
    option.value = String(n);
    uses.append(option);
  }
  const said = status("status error");
  let link: string | null = null;
  let close: (value: string | null) => void = () => {};
  const make = submitButton("Make the link");
  const made = await showDialog({
    title: `Invite someone to ${room.name}`,
    body: [
      form(
        () => {
          make.disabled = true;
          said.textContent = "Making the link…";
          room.createInvite({ role: role.value as Role, maxUses: Number(uses.value), expiresIn: 24 * 3600 }).then(
            (value) => {
              link = value;
              close("made");
            },
            (exc: unknown) => {
              make.disabled = false;
              said.textContent = `Could not make a link: ${describe(exc)}`;
            },
          );
        },
        field("The role it grants", role),
        field("Who may join with it", uses, "It works for one day."),
        make,
        said,
      ),
    ],
    focus: role,
    opened: (finish) => {
      close = finish;
    },
  });
  if (made !== "made" || link === null) return;
  await showInvite(room, link, role.value);
}

/** The link, whole, with its role; Copy (honest) and the QR code. */
export async function showInvite(room: Room, link: string, role: string): Promise<void> {
  const linkText = el("p", { text: link, className: "link" });
  linkText.id = "invite-link";
  const copied = status();
  const copy = button("Copy link", () => {
    const clipboard = navigator.clipboard as Clipboard | undefined;
    if (clipboard === undefined) {
      copied.textContent = "This browser does not let the app copy. Select the link above and copy it by hand.";
      return;
    }
    clipboard.writeText(link).then(
      () => {
        copied.textContent = "Copied. Send it only to the person you are inviting.";
      },
      () => {
        copied.textContent = "Not copied: the browser refused. Select the link above and copy it by hand.";
      },
    );
  });
  await showDialog({
    title: `Invite to ${room.name}`,
    body: [
      el("p", { text: `This link lets someone join as ${ROLE_WORDS[role] ?? role}. Anyone who has it can join until it is used up or a day has passed.` }),
      linkText,
      el("div", { className: "row" }, copy),
      copied,
      qrSvg(link, "QR code of the invite link"),
      el("p", { className: "hint", text: "The same link works in the Hearth terminal app." }),
    ],
    cancelText: "Done",
    focus: copy,
  });
}
