/**
 * People in a room: the member list (each by the SDK's label with the log's role,
 * "you" marking oneself), choosing one's own name for this room, and the
 * destructive actions on a member (block; remove, for moderators and owners),
 * each asking first with Cancel focused.
 */

import { memberDisplay, type MemberId, type Room, type RoomMember } from "@hearth/sdk";

import { confirmAction, showDialog } from "./dialog.js";
import { button, describe, el, field, form, input, status, submitButton } from "./dom.js";
import { blockChanged, memberExtras } from "./moderation.js";
import type { Session } from "./session.js";

/** Choose one's own name in `room`; a refused name says why and the dialog stays. */
export async function nameDialog(room: Room): Promise<void> {
  const name = input("text", "my-name");
  name.maxLength = 64;
  name.value = room.myName ?? "";
  const said = status("status error");
  let close: (value: string | null) => void = () => {};
  const save = submitButton("Save name");
  const body = form(
    () => {
      save.disabled = true;
      said.textContent = "Saving…";
      // setName refuses an unusable name by throwing at once (RangeError), not by rejecting.
      Promise.resolve(name.value)
        .then((value) => room.setName(value))
        .then(
          () => close("saved"),
          (exc: unknown) => {
            save.disabled = false;
            said.textContent = exc instanceof RangeError ? `That name cannot be used: ${exc.message}` : describe(exc);
            name.focus();
          },
        );
    },
    field("Your name in this room", name, "Only this room sees it: your other rooms do not, and nobody can link them."),
    save,
    said,
  );
  await showDialog({
    title: `Your name in ${room.name}`,
    body: [body],
    focus: name,
    opened: (finish) => {
      close = finish;
    },
  });
}

function memberRow(room: Room, session: Session, member: RoomMember, done: () => void): HTMLLIElement {
  const row = el("li", {}, el("span", { text: memberDisplay(member), className: "member-name" }));
  if (member.isMe) return row;
  const actions = el("span", { className: "member-actions" });
  const blocked = session.client.blocked.has(member.id);
  actions.append(
    button(blocked ? `Unblock ${member.label}` : `Block ${member.label}`, () => {
      done();
      void blockMember(room, session, member, !blocked);
    }),
  );
  const mine = room.role;
  if ((mine === "owner" || mine === "moderator") && member.role !== "owner") {
    actions.append(
      button(`Remove ${member.label}`, () => {
        done();
        void removeMember(room, member.id, memberDisplay(member));
      }),
    );
  }
  actions.append(...memberExtras(room, member, done));
  row.append(actions);
  return row;
}

async function blockMember(room: Room, session: Session, member: RoomMember, block: boolean): Promise<void> {
  const who = memberDisplay(member);
  if (block) {
    const sure = await confirmAction(
      `Block ${who}?`,
      `You will no longer see messages from ${who}, in ${room.name} and wherever this key speaks. They are not told. You can unblock them from this list.`,
      `Block ${member.label}`,
    );
    if (sure) await session.client.block(member.id);
  } else {
    await session.client.unblock(member.id);
  }
  blockChanged();
}

async function removeMember(room: Room, memberId: MemberId, who: string): Promise<void> {
  const sure = await confirmAction(
    `Remove ${who}?`,
    `${who} will be removed from ${room.name}: they can no longer read what is said after this, and everyone sees a line saying you removed them.`,
    "Remove from room",
  );
  if (sure) await room.remove(memberId);
}

/** The members of `room`, with their actions. */
export async function membersDialog(room: Room, session: Session): Promise<void> {
  let close: (value: string | null) => void = () => {};
  const list = el("ul", { className: "members" });
  for (const member of room.membersInfo) list.append(memberRow(room, session, member, () => close(null)));
  await showDialog({
    title: `People in ${room.name}`,
    body: [list],
    cancelText: "Close",
    opened: (finish) => {
      close = finish;
    },
  });
}
