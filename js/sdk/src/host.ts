/**
 * What a room, and the features driving it, need from their client (mirrors
 * `client_sdk/_host.py`).
 *
 * `Room` and the features built on rooms (programs, the risk path, schedules) reach
 * the client only through `RoomHost`, never through `HearthClient`'s private
 * members; `client.ts` implements it. Each room's driving lives in its `RoomDriver`,
 * which the host hands out by room id; what stays here is what spans rooms. This
 * module imports neither `room.ts` nor `client.ts`, so the three form no import loop.
 */

import type { RoomDriver } from "./driver.js";
import type { MemberId, RoomId } from "./ids.js";
import type { Lock } from "./lock.js";
import type { Room } from "./room.js";

export interface RoomHost {
  /** The member keys this person blocked. */
  readonly blocked: ReadonlySet<MemberId>;
  /** Every room in the local store, left ones included, by id. */
  readonly rooms: ReadonlyMap<RoomId, RoomDriver>;
  /** Held while joining a buddy chat: the automatic join and the app's call make one. */
  readonly buddyLock: Lock;
  /**
   * A room's driver.
   * @throws NotFound The local store holds no such room.
   * @throws ClientClosed The client is not open.
   */
  driver(room: RoomId): RoomDriver;
  /** Read every followed room up to the relay's present. */
  sync(): Promise<void>;
  /** Create a buddy chat (a 1:1 room) and return its id. */
  createBuddyChat(name: string): Promise<RoomId>;
  /** Join a room by an invite link and return its id. */
  join(inviteLink: string): Promise<RoomId>;
  /** The client's one `Room` view of a room (what a claim or a buddy chat returns). */
  room(room: RoomId): Room;
}
