/**
 * Buddy chats: 1:1 rooms, listed apart from groups and programs, each under the
 * other person's name with their role.
 *
 * A buddy chat a program's claim opened belongs to that claim: the other person is
 * named as the program knows them, with the program's verified role ("Sam
 * (supporter)", "Mia (member)"), since neither has chosen a name in a chat that
 * opened by itself. Any other buddy chat names the other person by the label the
 * chat gives them.
 *
 * A claim's chat opens by itself for the person who asked (`SupportClaimed`) and for
 * the supporter who claimed (`programs.ts`); it opens as any room does, with no
 * draft of its own, so nothing written elsewhere can be sent into it.
 */

import { type HearthClient, memberDisplay, type Room, type SupportRequest } from "@hearth/sdk";

import { button, el, replace } from "./dom.js";

/** The program and the claimed request whose buddy chat `chat` is, as this device knows it. */
export function claimOf(client: HearthClient, chat: Room): { program: Room; request: SupportRequest } | null {
  if (chat.kind !== "buddy") return null;
  for (const program of client.rooms) {
    if (program.kind !== "program" || program.status !== "active") continue;
    for (const request of program.supportRequests) {
      if (request.status === "claimed" && request.buddyRoomId === chat.id) return { program, request };
    }
  }
  return null;
}

/** True if this device's claim opened `chat` (only then may it raise a risk alert there). */
export function claimedByMe(client: HearthClient, chat: Room): { program: Room; request: SupportRequest } | null {
  const found = claimOf(client, chat);
  return found !== null && found.request.supporter === found.program.me ? found : null;
}

/** The other person in a buddy chat, by name with role ("Sam (supporter)"); null before they join. */
export function otherPerson(client: HearthClient, chat: Room): string | null {
  const claim = claimOf(client, chat);
  if (claim !== null) {
    const { program, request } = claim;
    const other = request.supporter === program.me ? request.requester : request.supporter;
    if (other !== null) {
      try {
        return memberDisplay(program.member(other));
      } catch {
        // They left the program: the chat's own label below.
      }
    }
  }
  const them = chat.membersInfo.find((member) => !member.isMe);
  return them === undefined ? null : `${them.label} (buddy)`;
}

/** What a buddy chat is called in lists and in its own header. */
export function buddyTitle(client: HearthClient, chat: Room): string {
  const other = otherPerson(client, chat);
  return other === null ? `${chat.name || "Buddy chat"} (waiting for the other person)` : `1:1 with ${other}`;
}

/** The list of buddy chats, apart from the rooms; returns its section and a redraw. */
export function buddySection(client: () => HearthClient, open: (room: Room) => void): { section: HTMLElement; redraw: () => void } {
  const list = el("ul", { className: "rooms buddies" });
  list.setAttribute("aria-label", "Your 1:1 chats");
  const heading = el("h2", { text: "1:1 chats", id: "buddy-heading" });
  const section = el("section", { className: "buddy-chats" }, heading, list);
  section.setAttribute("aria-labelledby", "buddy-heading");
  const redraw = () => {
    const chats = client().rooms.filter((room) => room.kind === "buddy" && room.status === "active");
    section.hidden = chats.length === 0;
    const items = chats
      .map((chat) => ({ chat, title: buddyTitle(client(), chat) }))
      .sort((a, b) => a.title.localeCompare(b.title))
      .map(({ chat, title }) => {
        const claim = claimOf(client(), chat);
        const detail = claim !== null ? `support chat from ${claim.program.name || "a program"}` : "buddy chat";
        return el("li", {}, button(title, () => open(chat), "room-link"), el("span", { text: detail, className: "hint" }));
      });
    replace(list, ...items);
  };
  redraw();
  return { section, redraw };
}

/** A member of a buddy chat by name with role: the program's, for a claim's chat ("Sam (supporter)"). */
export function buddyMember(client: HearthClient, chat: Room, member: string): string {
  if (member !== chat.me && claimOf(client, chat) !== null) {
    const other = otherPerson(client, chat);
    if (other !== null) return other;
  }
  try {
    return memberDisplay(chat.member(member));
  } catch {
    return "someone who left";
  }
}
