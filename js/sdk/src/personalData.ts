/**
 * A person's own data, synced between their devices: notes, settings, blocked keys
 * (mirrors `client_sdk/personal.py`).
 *
 * `PersonalData` (`client.personal`) is the entry point. Everything here is encrypted
 * on the device under a key derived from the root and stored on the relay as
 * versioned ciphertext under the personal-store key, which nothing links to a room
 * key. Every method works offline: a change is kept in the local store and reaches
 * the relay (and the person's other devices) at the next sync or reconnect;
 * concurrent changes on two devices merge without losing either (docs/sdk.md,
 * "Devices, personal sync and push").
 *
 * The entries are the Python SDK's bytes (a note is the MessagePack map
 * `{kind, title, text, created_at}` in that order, a setting its JSON), so a
 * person's Python and TypeScript devices read each other's notes and settings.
 */

import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";

import { b64url, fromUtf8, utf8 } from "./bytes.js";
import { randomBytes } from "./crypto.js";
import type { MemberId } from "./ids.js";
import type { PersonalSync } from "./personalSync.js";
import type { Document } from "./wire/schema.gen.js";

/** What a setting may hold. */
export type SettingValue = string | number | boolean | null;

const MAX_TEXT = 20_000;

/** One private note (a journal entry, a mood check-in, a safety plan...). */
export interface Note {
  readonly id: string;
  /** The app's own label: `"note"`, `"mood"`, `"safety_plan"`... */
  readonly kind: string;
  readonly title: string;
  readonly text: string;
  /** Milliseconds since the Unix epoch, on the device that wrote it first. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Set on a copy kept because two devices edited note `conflictOf` at once. */
  readonly conflictOf: string | null;
}

interface NoteValue {
  kind: string;
  title: string;
  text: string;
  created_at: number;
}

function checkText(text: string, what: string): void {
  // Python counts code points; a string of at most MAX_TEXT UTF-16 units has no more.
  if (text.length > MAX_TEXT && [...text].length > MAX_TEXT) {
    throw new RangeError(`a note's ${what} is at most ${MAX_TEXT} characters`);
  }
}

/** The note value's bytes: Python's `canonical(_NoteValue(...))`, fields in declared order. */
function encodeNote(value: NoteValue): Uint8Array {
  return msgpackEncode({ kind: value.kind, title: value.title, text: value.text, created_at: value.created_at });
}

/** A note value, or null for bytes this SDK cannot read (a newer SDK's shape), as Python skips them. */
function decodeNote(data: Uint8Array): NoteValue | null {
  let value: unknown;
  try {
    value = msgpackDecode(data, { useBigInt64: false });
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) return null;
  const v = value as Record<string, unknown>;
  if (typeof v["kind"] !== "string" || typeof v["title"] !== "string" || typeof v["text"] !== "string") return null;
  if (typeof v["created_at"] !== "number" || !Number.isSafeInteger(v["created_at"])) return null;
  return { kind: v["kind"], title: v["title"], text: v["text"], created_at: v["created_at"] };
}

function liveEntries(document: Document): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (const [key, entry] of Object.entries(document.entries ?? {})) if (entry.value !== null) out.push([key, entry.value]);
  return out;
}

/**
 * Private notes, kept per entry: two devices editing different notes both win, and
 * of two devices editing the same note at once neither edit is lost.
 */
export class Notes {
  readonly #sync: PersonalSync;

  constructor(sync: PersonalSync) {
    this.#sync = sync;
  }

  /**
   * Write a new note; returns its id.
   *
   * @throws RangeError `text` or `title` is longer than 20,000 characters.
   * @throws RelayError `personal.quota` if the relay's store is full.
   */
  async add(text: string, options: { readonly kind?: string; readonly title?: string } = {}): Promise<string> {
    const title = options.title ?? "";
    checkText(text, "text");
    checkText(title, "title");
    const noteId = b64url(randomBytes(16));
    const value = { kind: options.kind ?? "note", title, text, created_at: this.#sync.clock.nowMs() };
    await this.#sync.change("notes", new Map([[noteId, encodeNote(value)]]));
    return noteId;
  }

  /**
   * Change a note's text and/or title.
   *
   * @throws RangeError There is no such note (or it was removed), or the text is too long.
   */
  async edit(noteId: string, changes: { readonly text?: string; readonly title?: string }): Promise<void> {
    const note = await this.get(noteId);
    const value = { kind: note.kind, title: changes.title ?? note.title, text: changes.text ?? note.text, created_at: note.createdAt };
    checkText(value.text, "text");
    checkText(value.title, "title");
    await this.#sync.change("notes", new Map([[noteId, encodeNote(value)]]));
  }

  /**
   * Delete a note on every device (a concurrent edit elsewhere keeps it).
   *
   * @throws RangeError There is no such note.
   */
  async remove(noteId: string): Promise<void> {
    await this.get(noteId);
    await this.#sync.change("notes", new Map([[noteId, null]]));
  }

  /**
   * One note.
   *
   * @throws RangeError There is no such note (Python's `KeyError`).
   */
  async get(noteId: string): Promise<Note> {
    for (const note of await this.list()) if (note.id === noteId) return note;
    throw new RangeError(`no note ${noteId}`);
  }

  /** Every note (of `kind`, if given), oldest first. */
  async list(options: { readonly kind?: string } = {}): Promise<Note[]> {
    const doc = await this.#sync.document("notes");
    const notes: Note[] = [];
    for (const [key, entry] of Object.entries(doc.entries ?? {})) {
      if (entry.value === null) continue;
      const value = decodeNote(entry.value);
      if (value === null) continue; // written by a newer SDK in a shape this one cannot read
      if (options.kind !== undefined && value.kind !== options.kind) continue;
      const tilde = key.indexOf("~");
      notes.push(
        Object.freeze({
          id: key,
          kind: value.kind,
          title: value.title,
          text: value.text,
          createdAt: value.created_at,
          updatedAt: entry.at,
          conflictOf: tilde >= 0 ? key.slice(0, tilde) : null,
        }),
      );
    }
    notes.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return notes;
  }
}

/** Small app settings shared by the person's devices; the later change of a key wins. */
export class Settings {
  readonly #sync: PersonalSync;

  constructor(sync: PersonalSync) {
    this.#sync = sync;
  }

  /** A setting's value, or `fallback`. */
  async get(key: string, fallback: unknown = null): Promise<unknown> {
    const all = await this.all();
    return Object.hasOwn(all, key) ? all[key] : fallback;
  }

  /**
   * Set a setting (`null` is a value; use `remove` to delete).
   *
   * @throws TypeError `value` is not a string, number, boolean or null.
   */
  async set(key: string, value: SettingValue): Promise<void> {
    if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
      throw new TypeError("a setting is a string, number, boolean or null");
    }
    await this.#sync.change("settings", new Map([[key, utf8(JSON.stringify(value))]]));
  }

  /** Delete a setting on every device. */
  async remove(key: string): Promise<void> {
    await this.#sync.change("settings", new Map([[key, null]]));
  }

  /** Every setting (as JSON decodes it: another SDK may have written any JSON value). */
  async all(): Promise<Record<string, unknown>> {
    const doc = await this.#sync.document("settings");
    const out: Record<string, unknown> = {};
    for (const [key, value] of liveEntries(doc)) {
      try {
        out[key] = JSON.parse(fromUtf8(value));
      } catch {
        continue; // not JSON: no SDK writes that
      }
    }
    return out;
  }
}

/** Member keys this person blocked, the same on all their devices. */
export class BlockedKeys {
  readonly #sync: PersonalSync;

  constructor(sync: PersonalSync) {
    this.#sync = sync;
  }

  /** Block a key. */
  async add(member: MemberId | string): Promise<void> {
    await this.#sync.change("blocked", new Map([[String(member), new Uint8Array()]]));
  }

  /** Unblock a key. */
  async remove(member: MemberId | string): Promise<void> {
    await this.#sync.change("blocked", new Map([[String(member), null]]));
  }

  /** Every blocked key, sorted. */
  async list(): Promise<MemberId[]> {
    const doc = await this.#sync.document("blocked");
    return liveEntries(doc)
      .map(([key]) => key as MemberId)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

/** This person's synced personal data: `notes`, `settings`, `blocked`. */
export class PersonalData {
  /** Private notes. */
  readonly notes: Notes;
  /** Settings. */
  readonly settings: Settings;
  /** Blocked member keys. */
  readonly blocked: BlockedKeys;
  readonly #sync: PersonalSync;

  constructor(sync: PersonalSync) {
    this.#sync = sync;
    this.notes = new Notes(sync);
    this.settings = new Settings(sync);
    this.blocked = new BlockedKeys(sync);
  }

  /**
   * Fetch what other devices changed and push this device's changes now.
   *
   * @throws RelayUnavailable The relay cannot be reached (changes stay queued).
   */
  async sync(): Promise<void> {
    await this.#sync.sync();
  }
}
