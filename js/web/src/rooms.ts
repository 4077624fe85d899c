/**
 * The rooms screen: the rooms this person is in, creating a group (its name, topic
 * and ground rules), and joining with a pasted link.
 *
 * The list is the SDK's (`client.rooms`), drawn again on every event and after a
 * catch-up, so rooms a restore takes up from the encrypted room list appear by
 * themselves.
 */

import type { Room } from "@hearth/sdk";

import { buddySection } from "./buddy.js";
import { button, describe, el, field, form, input, replace, status, submitButton } from "./dom.js";
import { linkFromPaste } from "./links.js";
import { createProgramForm } from "./programs.js";
import type { Session } from "./session.js";

export interface RoomsHooks {
  readonly session: Session;
  open(room: Room): void;
  /** Join with an SDK link; resolves with the room (the app opens it). */
  join(link: string): Promise<Room>;
}

function roomItem(room: Room, hooks: RoomsHooks): HTMLLIElement {
  const open = button(room.name || "Unnamed room", () => hooks.open(room), "room-link");
  const kind = room.kind === "buddy" ? "buddy chat" : room.kind;
  const detail = el("span", { text: `${kind}, ${room.members.size} ${room.members.size === 1 ? "member" : "members"}`, className: "hint" });
  return el("li", {}, open, detail);
}

/** Draw the rooms screen into `screen`; returns a function that draws the list again. */
export function roomsScreen(screen: HTMLElement, hooks: RoomsHooks, restored: boolean): () => void {
  const list = el("ul", { className: "rooms" });
  list.setAttribute("aria-label", "Your rooms");
  const empty = el("p", { className: "hint" });
  const buddies = buddySection(() => hooks.session.client, hooks.open);
  const redraw = () => {
    buddies.redraw();
    const rooms = hooks.session.client.rooms.filter((room) => room.kind !== "buddy").sort((a, b) => a.name.localeCompare(b.name));
    replace(list, ...rooms.map((room) => roomItem(room, hooks)));
    empty.textContent =
      rooms.length > 0 || !buddies.section.hidden
        ? ""
        : restored
          ? "Your rooms come back by themselves as the app finds them in your encrypted room list. This can take a moment."
          : "You are in no room yet. Create a group, or join with a link someone sent you.";
  };
  redraw();

  replace(
    screen,
    el("h2", { text: "Your rooms" }),
    empty,
    list,
    buddies.section,
    createGroupForm(hooks),
    createProgramForm(hooks),
    joinForm(hooks),
  );
  return redraw;
}

function createGroupForm(hooks: RoomsHooks): HTMLElement {
  const name = input("text", "group-name");
  name.maxLength = 64;
  const topic = input("text", "group-topic");
  const rules = el("textarea");
  rules.name = "group-rules";
  rules.rows = 3;
  rules.value = "Be kind. What is said here stays here. No advice unless asked.";
  const said = status("status error");
  const go = submitButton("Create group");
  const body = form(
    () => {
      if (name.value.trim() === "") {
        said.textContent = "Give the group a name.";
        name.focus();
        return;
      }
      go.disabled = true;
      said.textContent = "Creating…";
      const text = rules.value.trim();
      hooks.session.client
        .createGroup(name.value.trim(), { topic: topic.value.trim(), rules: text === "" ? null : text })
        .then(
          (room) => {
            said.textContent = "";
            go.disabled = false;
            hooks.open(room);
          },
          (exc: unknown) => {
            go.disabled = false;
            said.textContent = `Could not create it: ${describe(exc)}`;
          },
        );
    },
    field("Group name", name),
    field("Topic (optional)", topic),
    field("Ground rules", rules, "Everyone accepts them before their first message."),
    go,
    said,
  );
  return el("section", { className: "create" }, el("h2", { text: "Create a group" }), body);
}

function joinForm(hooks: RoomsHooks): HTMLElement {
  const link = el("textarea");
  link.name = "join-link";
  link.rows = 2;
  link.spellcheck = false;
  link.autocomplete = "off";
  const said = status("status error");
  const go = submitButton("Join");
  const body = form(
    () => {
      let sdkLink: string;
      try {
        sdkLink = linkFromPaste(link.value);
      } catch (exc) {
        said.textContent = `That is not a whole invite link: ${describe(exc)}`;
        link.focus();
        return;
      }
      go.disabled = true;
      said.textContent = "Joining…";
      hooks.join(sdkLink).then(
        () => {
          link.value = "";
          said.textContent = "";
          go.disabled = false;
        },
        (exc: unknown) => {
          go.disabled = false;
          said.textContent = `Could not join: ${describe(exc)}`;
        },
      );
    },
    field("Invite link", link, "Paste the whole link; spaces and line breaks are dropped."),
    go,
    said,
  );
  return el("section", { className: "join" }, el("h2", { text: "Join with a link" }), body);
}
