/**
 * Messages (mirrors `protocol/messages.py`): the envelope the relay stores, the
 * plaintext inside it, and the bodies people send.
 *
 * The structures themselves are the generated interfaces of `wire/schema.gen.ts`
 * (re-exported here under the names `protocol.messages` uses); this module adds
 * what goes with them: the `Body` union and its tags, the text limits, a device's
 * id in one room, and the message key of an epoch. New body kinds get new tags; an
 * unknown tag is shown by clients as "unsupported message", never guessed at
 * (`openMessage` gives an `UnsupportedBody`).
 */

import { ascii } from "./bytes.js";
import { kdf, PERSON_ROOM_DEVICE } from "./crypto.js";
import type { RoomId } from "./ids.js";
import { SCHEMA } from "./wire/schema.gen.js";
import type {
  EditBody,
  MemberProfileBody,
  ModerationBody,
  ProfileBody,
  ReactionBody,
  ReportBody,
  RiskAlertBody,
  RiskHelpBody,
  RiskPlanBody,
  RulesAcceptBody,
  RulesBody,
  ScheduleBody,
  SupportClaimBody,
  SupporterStatusBody,
  SupportRequestBody,
  SupportResealBody,
  SupportWithdrawBody,
  TextBody,
  UnsupportedBody,
} from "./wire/schema.gen.js";

export type {
  CrisisResource,
  DeleteContent,
  DeleteRequest,
  EditBody,
  Envelope,
  EnvelopeHeader,
  EraseContent,
  EraseRequest,
  MemberProfileBody,
  ModerationBody,
  Plaintext,
  ProfileBody,
  ReactionBody,
  ReportBody,
  ReportContent,
  ReportSeal,
  RiskAlertBody,
  RiskAlertContent,
  RiskHelpBody,
  RiskPlanBody,
  RulesAcceptBody,
  RulesBody,
  ScheduleBody,
  SignedReport,
  SignedRiskAlert,
  SignedSupportRequest,
  SupportClaimBody,
  SupporterStatusBody,
  SupportInvite,
  SupportQueueEntry,
  SupportRequestBody,
  SupportRequestContent,
  SupportResealBody,
  SupportWithdrawBody,
  TextBody,
  UnsupportedBody,
} from "./wire/schema.gen.js";

/** What people say: a tagged union on `type` (protocol.md 3.3, 3.5). */
export type Body =
  | TextBody
  | EditBody
  | ReactionBody
  | ProfileBody
  | RulesBody
  | RulesAcceptBody
  | ModerationBody
  | ReportBody
  | ScheduleBody
  | SupportRequestBody
  | SupportClaimBody
  | SupportResealBody
  | SupportWithdrawBody
  | SupporterStatusBody
  | RiskPlanBody
  | RiskHelpBody
  | RiskAlertBody
  | MemberProfileBody
  | UnsupportedBody;

/** A body's tag (`"text"`, `"reaction"` ...). */
export type BodyTag = Body["type"];

/**
 * What a `ModerationBody` records. `ban` travels before the `room.ban` that
 * enforces it; clients refuse the banned key's posts and any re-admission.
 */
export type ModerationAction = ModerationBody["action"];

/** A device's id in one room's plaintexts is 16 bytes. */
export const DEVICE_ID_BYTES = 16;
/** `ShortText`: at most this many code points (names, reasons, warnings). */
export const SHORT_TEXT_MAX = 500;
/** `LongText`: at most this many code points (messages, rules, descriptions). */
export const LONG_TEXT_MAX = 60_000;

function bodyStructs(): ReadonlyMap<string, string> {
  const body = SCHEMA["Plaintext"]!.fields.find((f) => f.name === "body")!.type;
  if (body.k !== "union") throw new Error("Plaintext.body is not a union");
  const out = new Map<string, string>();
  for (const t of body.types) {
    if (t.k !== "ref") continue;
    const tag = SCHEMA[t.name]!.tag;
    if (tag !== null) out.set(tag, t.name);
  }
  return out;
}

const BODY_STRUCTS = bodyStructs();

/** Every body tag this version knows (`unsupported` included, as in Python's union). */
export const BODY_TAGS: ReadonlySet<string> = new Set(BODY_STRUCTS.keys());

/**
 * The wire structure name of a body tag (`"text"` → `"TextBody"`), for `canonical`,
 * `decodeJson` and `decodeMsgpack`; `undefined` for a tag this version does not know.
 */
export function bodyStructName(tag: string): string | undefined {
  return BODY_STRUCTS.get(tag);
}

/**
 * A device's 16-byte id in the plaintexts it sends in `room`.
 *
 * Keyed BLAKE2b of the room id under the device's random secret (never sent),
 * personalisation `hearth-room-dev`: stable within a room, so counters per (room,
 * device) work, and unrelated across rooms, so a member of two rooms cannot tell
 * that two pseudonyms share a device. Throws `RangeError` for a secret under 16 bytes.
 */
export function roomDeviceId(deviceSecret: Uint8Array, room: RoomId): Uint8Array {
  if (deviceSecret.length < DEVICE_ID_BYTES) throw new RangeError(`a device secret is at least ${DEVICE_ID_BYTES} bytes`);
  return kdf(deviceSecret, ascii(room), PERSON_ROOM_DEVICE, DEVICE_ID_BYTES);
}

/** The message key of an epoch (protocol.md 7.2); its home is `epochs.ts`, as in Python. */
export { messageKey } from "./epochs.js";
