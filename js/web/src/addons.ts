/**
 * What a feature module adds to an open room without the room screen knowing it:
 * buttons in the room's menu, a banner under its status line, and lines in its
 * timeline (`timeline.ts` asks every registered extension when it opens a room and
 * whenever it draws the room again).
 *
 * An extension is a function of the room and the session; it returns null for rooms
 * it has nothing to do with. Lines it gives are the feature's own record (the SDK
 * keeps no history of them): each has the time it happened, so the timeline sorts
 * it among the messages.
 */

import type { Room } from "@hearth/sdk";

import type { Session } from "./session.js";

export interface AddonLine {
  readonly at: number;
  readonly text: string;
  readonly className?: string;
}

export interface RoomAddon {
  /** Buttons for the room's menu. */
  readonly actions?: readonly HTMLElement[];
  /** Shown under the room's status line (kept up to date by `refresh`). */
  readonly banner?: HTMLElement;
  /** Lines for the timeline, asked for each time it is drawn. */
  lines?(): readonly AddonLine[];
  /** The person is sending `text` (it goes out as written whatever this does). */
  beforeSend?(text: string): void;
  /** The room changed (any of its events): bring the banner and buttons up to date. */
  refresh?(): void;
  /** The room's screen is closing. */
  close?(): void;
}

export type RoomExtension = (room: Room, session: Session) => RoomAddon | null;

const extensions: RoomExtension[] = [];

/** Add a feature to every room screen opened from now on. */
export function extendRooms(extension: RoomExtension): void {
  if (!extensions.includes(extension)) extensions.push(extension);
}

/** The addons every registered feature has for `room`. */
export function addonsFor(room: Room, session: Session): RoomAddon[] {
  const out: RoomAddon[] = [];
  for (const extension of extensions) {
    const addon = extension(room, session);
    if (addon !== null) out.push(addon);
  }
  return out;
}
