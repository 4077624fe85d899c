/**
 * A room's plain state together with the two locks that serialise work on it
 * (mirrors `client_sdk/_slot.py`).
 *
 * Lock order, everywhere: `sendLock` (the outbox of the room, one delivery at a
 * time, in order) before `lock` (the room's state: events, our operations,
 * sealing). Code holding `lock` never waits for `sendLock`.
 */

import type { RoomState } from "./core/state.js";
import type { RoomId } from "./ids.js";
import { Lock } from "./lock.js";

export class Slot {
  state: RoomState;
  readonly lock = new Lock();
  readonly sendLock = new Lock();

  constructor(state: RoomState) {
    this.state = state;
  }

  get room(): RoomId {
    return this.state.room;
  }
}
