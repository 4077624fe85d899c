/**
 * What the app sees of a community program's support queue and its risk path
 * (mirrors `client_sdk/support.py`): read-only snapshots, taken when the app asks or
 * when an event is verified (`SupportRequested`).
 */

import type { MemberId, MessageId, RoomId } from "./ids.js";
import type { CrisisResource } from "./wire/schema.gen.js";

/**
 * Where a support request stands.
 *
 * - `sending`: our own request, not yet back from the relay in room order;
 * - `waiting`: in the queue, neither claimed nor withdrawn;
 * - `claimed`: a supporter took it (the first valid claim in room order);
 * - `withdrawn`: the requester took it back before anyone claimed it.
 */
export type RequestStatus = "sending" | "waiting" | "claimed" | "withdrawn";

/**
 * One request for 1:1 support in a program room.
 *
 * `text` is readable only by the program's supporters and the requester (null for
 * everyone else); `position` is 1 for the request next in line (null unless
 * `waiting`); `supporter` who claimed it; `buddyRoomId` the buddy chat the claim
 * opened (known only to the requester and the supporter); `sentAt` the requester's
 * clock (null for a request from before our join, known only from a queue snapshot).
 */
export interface SupportRequest {
  readonly id: MessageId;
  readonly roomId: RoomId;
  readonly requester: MemberId;
  readonly text: string | null;
  readonly status: RequestStatus;
  readonly position: number | null;
  readonly supporter: MemberId | null;
  readonly buddyRoomId: RoomId | null;
  readonly sentAt: Date | null;
  readonly mine: boolean;
}

/** A supporter of a program and the availability they published (away if none). */
export interface SupporterInfo {
  readonly member: MemberId;
  readonly available: boolean;
  readonly maxOpen: number | null;
}

/** What a supporter's `raiseRiskAlert` did (see `client_sdk.support.RiskAlert`). */
export interface RiskAlert {
  readonly buddyRoomId: RoomId;
  readonly helpId: MessageId;
  readonly programId: RoomId;
  readonly alertId: MessageId;
  readonly requestId: MessageId;
  readonly member: MemberId;
  readonly moderators: readonly MemberId[];
  readonly planned: boolean;
  readonly text: string;
  readonly lines: readonly CrisisResource[];
}
