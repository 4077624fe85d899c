/**
 * Where the client hands a community program's follow-ups (mirrors the calls
 * `client_sdk/client.py` makes into `client_sdk/_programs.py`).
 *
 * The room core asks for `Restatus`, `JoinBuddy`, `Reseal` and `Abandon` when it
 * reads a program room (`core/followups.ts`); the client's one follow-up handler
 * passes each to these hooks, and on open asks `unjoined` for claims whose buddy chat
 * was never joined. The programs feature (asking for support, claiming, buddy chats)
 * is built on the room driver elsewhere and fills them in; until it does, a program
 * room's follow-ups are recorded by the core and nothing more happens (the Python
 * SDK's behaviour without `_programs`).
 */

import type { RoomDriver } from "./driver.js";
import type { RoomHost } from "./host.js";
import type { MemberId, MessageId, RoomId } from "./ids.js";

export interface ProgramHooks {
  /** Someone joined a program where we are a supporter: send our availability again. */
  restatus(driver: RoomDriver): Promise<void>;
  /** A supporter claimed our request in `program`: join the buddy chat the claim names. */
  joinClaimed(host: RoomHost, program: RoomId, request: MessageId): Promise<void>;
  /** Seal our waiting request again for supporters who arrived since. */
  reseal(driver: RoomDriver, request: MessageId, text: string, to: readonly MemberId[]): Promise<void>;
  /** Another supporter claimed first: leave the buddy chat we opened for the request. */
  abandon(host: RoomHost, driver: RoomDriver, request: MessageId): Promise<void>;
  /** Claims of our requests read before the app closed whose buddy chat was never joined. */
  unjoined(host: RoomHost): Array<readonly [RoomDriver, MessageId]>;
}

/** No programs feature: follow-ups are left as the core recorded them. */
export const NO_PROGRAMS: ProgramHooks = {
  restatus: async () => undefined,
  joinClaimed: async () => undefined,
  reseal: async () => undefined,
  abandon: async () => undefined,
  unjoined: () => [],
};
