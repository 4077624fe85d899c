/**
 * Safety numbers and the room fingerprint: what two people compare in person or on
 * a call to know that nobody (the relay included) stands between them.
 *
 * Both come from the SDK (`Room.safetyNumber`, `Room.fingerprint`), which computes
 * them from the verified log, so both sides see the same digits exactly when their
 * keys and histories agree. The digits are shown as people read them aloud: twelve
 * groups of five, four groups a row.
 */

import { memberDisplay, type Room, type RoomMember } from "@hearth/sdk";

import { showDialog } from "./dialog.js";
import { el } from "./dom.js";

/** Sixty digits as rows of four groups of five (the terminal app's layout). */
export function digitRows(number: string): string[] {
  const digits = number.replace(/\D/g, "");
  const groups = digits.match(/.{1,5}/g) ?? [];
  const rows: string[] = [];
  for (let i = 0; i < groups.length; i += 4) rows.push(groups.slice(i, i + 4).join(" "));
  return rows;
}

function digitsBlock(number: string, id: string, name: string): HTMLElement {
  const block = el("div", { className: "digits", id });
  block.setAttribute("role", "group");
  block.setAttribute("aria-label", name);
  for (const row of digitRows(number)) block.append(el("div", { text: row }));
  return block;
}

/** This person's safety number with `member`, to compare with theirs. */
export async function safetyNumberDialog(room: Room, member: RoomMember): Promise<void> {
  let number: string;
  try {
    number = room.safetyNumber(member.id);
  } catch {
    await showDialog({ title: "No safety number", body: [`${memberDisplay(member)} is no longer a member of ${room.name}.`], cancelText: "Close" });
    return;
  }
  const who = memberDisplay(member);
  await showDialog({
    title: `Safety number with ${who}`,
    body: [
      `Compare these digits with the ones ${member.label} sees for you, in person or on a call (not in this chat). If they are the same, nobody stands between you in ${room.name}. If they differ, do not trust this chat: tell a moderator.`,
      digitsBlock(number, "safety-number", `Safety number with ${who}`),
    ],
    cancelText: "Close",
  });
}

/** The room's fingerprint: members who see the same digits at the same change see one history. */
export async function roomFingerprintDialog(room: Room): Promise<void> {
  const fingerprint = room.fingerprint();
  await showDialog({
    title: `Fingerprint of ${room.name}`,
    body: [
      `Compare with another member, in person or on a call: at the same change number, the same digits mean you both see the same history of this room (who is in it, with which keys).`,
      el("p", { text: `Change number ${fingerprint.index}`, className: "fingerprint-index" }),
      digitsBlock(fingerprint.digits, "room-fingerprint", `Room fingerprint at change ${fingerprint.index}`),
    ],
    cancelText: "Close",
  });
}
