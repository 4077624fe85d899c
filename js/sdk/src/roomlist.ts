/**
 * The personal store's `rooms` document: which rooms this person is in, with heads
 * (mirrors `client_sdk/_roomlist.py`).
 *
 * Pure: what the client publishes and takes up, decided from plain values. Each
 * entry is keyed by room id; its value is the last log head a device of this person
 * verified there (a msgpack `VerifiedHead`), or `ROOM_LISTED` while that device's log
 * was still empty. A restore or a new device checks the relay's log against the heads
 * (protocol.md 5.8), so a listed head only ever moves forward along the same log,
 * never back or aside.
 */

import { equalBytes } from "./bytes.js";
import type { RoomState } from "./core/state.js";
import { ForkDetected, HearthError } from "./errors.js";
import type { RoomId } from "./ids.js";
import { checkVerifiedHead } from "./personal.js";
import type { RoomLog } from "./roomlog.js";
import { canonical, decodeMsgpack } from "./wire/codec.js";
import type { Document, LinkRoom, VerifiedHead } from "./wire/schema.gen.js";

export const ROOMS_DOCUMENT = "rooms";
/** A `rooms` entry with no verified head yet (the room's log was empty here). */
const ROOM_LISTED = new Uint8Array([1]);

/** The verified head a `rooms` entry carries (null for a bare listing). */
function listedHead(value: Uint8Array): VerifiedHead | null {
  if (equalBytes(value, ROOM_LISTED)) return null;
  try {
    return decodeMsgpack<VerifiedHead>("VerifiedHead", value);
  } catch (exc) {
    // Written by this person's own devices and sealed with their key: an entry that
    // does not decode is from a newer SDK; it lists the room, no more.
    if (exc instanceof HearthError) return null;
    throw exc;
  }
}

/** True if `mark` is later than the listed head, on the same log. */
function movesForward(log: RoomLog, listed: Uint8Array, mark: VerifiedHead): boolean {
  const old = listedHead(listed);
  if (old === null) return true;
  if (mark.index <= old.index) return false;
  try {
    checkVerifiedHead(log, old);
  } catch (exc) {
    if (exc instanceof ForkDetected) return false; // another device saw another history: never paper over it
    throw exc;
  }
  return true;
}

/**
 * The entries to write so that `document` lists the rooms this device follows.
 *
 * Rooms we are in are added with the head this device verified, or moved forward to
 * it; rooms we left or were removed from get a tombstone (null). Rooms the document
 * lists that this device has not taken up are left alone.
 */
export function roomChanges(document: Document, rooms: ReadonlyMap<RoomId, RoomState>): Map<string, Uint8Array | null> {
  const listed = new Map<string, Uint8Array>();
  for (const [key, entry] of Object.entries(document.entries ?? {})) if (entry.value !== null) listed.set(key, entry.value);
  const out = new Map<string, Uint8Array | null>();
  for (const [room, state] of rooms) {
    const was = listed.get(room);
    if (state.status === "active") {
      const mark = state.verifiedHead;
      if (was === undefined) out.set(room, mark === null ? ROOM_LISTED : canonical("VerifiedHead", mark));
      else if (mark !== null && movesForward(state.log, was, mark)) out.set(room, canonical("VerifiedHead", mark));
    } else if (was !== undefined) {
      out.set(room, null);
    }
  }
  return out;
}

/** Every room `document` (or a link offer) lists, with the heads verified in it. */
export function wantedRooms(document: Document, linked: Iterable<LinkRoom>): Map<RoomId, VerifiedHead[]> {
  const out = new Map<RoomId, VerifiedHead[]>();
  const marks = (room: RoomId): VerifiedHead[] => {
    let list = out.get(room);
    if (list === undefined) out.set(room, (list = []));
    return list;
  };
  for (const [key, entry] of Object.entries(document.entries ?? {})) {
    if (entry.value === null) continue;
    const mark = listedHead(entry.value);
    const list = marks(key);
    if (mark !== null) list.push(mark);
  }
  for (const room of linked) {
    const list = marks(room.room);
    if (room.verified) list.push(room.verified);
  }
  return out;
}
