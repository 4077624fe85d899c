/**
 * Private notes on the rooms screen: the person's own notes from the SDK's personal
 * store (`client.personal.notes`), encrypted on the device before anything reaches
 * the relay, kept across reloads and shared with the person's other devices (and
 * nobody else). Another device's change (`PersonalDataChanged` on `notes`) draws
 * the list again.
 *
 * Deleting a note removes it on every device, so it asks first, Cancel focused.
 */

import type { Note } from "@hearth/sdk";

import { confirmAction } from "./dialog.js";
import { button, describe, el, field, form, input, replace, status, submitButton } from "./dom.js";
import type { Session } from "./session.js";

function noteItem(session: Session, note: Note, redraw: () => void, said: HTMLElement): HTMLLIElement {
  const written = new Date(note.createdAt);
  const time = el("time", { text: written.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }), className: "hint" });
  time.dateTime = written.toISOString();
  const name = note.title || "Untitled note";
  const remove = button("Delete", () => {
    void (async () => {
      const sure = await confirmAction(
        "Delete this note?",
        `“${name}” is removed from this device and your other devices. This cannot be undone.`,
        "Delete note",
      );
      if (!sure) return;
      try {
        await session.client.personal.notes.remove(note.id);
        said.textContent = "Note deleted.";
      } catch (exc) {
        said.textContent = `Not deleted: ${describe(exc)}`;
      }
      redraw();
    })();
  }, "small");
  remove.setAttribute("aria-label", `Delete the note ${name}`);
  return el("li", { className: "note" }, el("h3", { text: name }), el("p", { text: note.text, className: "text" }), time, remove);
}

/** The notes section; redraws itself when the person's notes change on another device. */
export function notesSection(session: Session): HTMLElement {
  const list = el("ul", { className: "notes" });
  list.setAttribute("aria-label", "Your private notes");
  const empty = el("p", { className: "hint" });
  const said = status("status");
  const redraw = () => {
    session.client.personal.notes.list().then(
      (notes) => {
        replace(list, ...[...notes].reverse().map((note) => noteItem(session, note, redraw, said)));
        empty.textContent = notes.length === 0 ? "No notes yet." : "";
      },
      (exc: unknown) => {
        said.textContent = `Could not read your notes: ${describe(exc)}`;
      },
    );
  };
  const title = input("text", "note-title");
  title.maxLength = 200;
  const text = el("textarea");
  text.name = "note-text";
  text.rows = 4;
  const go = submitButton("Save note");
  const body = form(
    () => {
      if (text.value.trim() === "") {
        said.textContent = "Write something first.";
        text.focus();
        return;
      }
      go.disabled = true;
      said.textContent = "Saving…";
      session.client.personal.notes.add(text.value, { title: title.value.trim() }).then(
        () => {
          go.disabled = false;
          title.value = "";
          text.value = "";
          said.textContent = "Saved, encrypted.";
          redraw();
        },
        (exc: unknown) => {
          go.disabled = false;
          said.textContent = `Not saved: ${describe(exc)}`;
        },
      );
    },
    field("Title (optional)", title),
    field("Note", text),
    go,
  );
  const section = el(
    "section",
    { className: "private-notes" },
    el("h2", { text: "Private notes" }),
    el("p", { className: "hint", text: "Only you can read these. They are encrypted on this device, and your other devices see them too." }),
    body,
    said,
    empty,
    list,
  );
  const stop = session.on((event) => {
    if (!section.isConnected) {
      stop();
      return;
    }
    if (event.type === "PersonalDataChanged" && event.document === "notes") redraw();
  });
  redraw();
  return section;
}
