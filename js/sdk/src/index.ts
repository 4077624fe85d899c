/**
 * Hearth's TypeScript SDK: end-to-end encrypted peer-support rooms.
 *
 * The same concepts, error codes and events as the Python SDK (`client_sdk`), held
 * to the same vectors; see docs/sdk-js.md. The protocol core (the Python package
 * `protocol`) is exported here too, for tools and tests: call `await cryptoReady()`
 * (or open a client, which does) before using it directly.
 */

export * from "./bytes.js";
export * from "./errors.js";
export * from "./crypto.js";
export * from "./ids.js";
export * from "./keys.js";
export * as base32 from "./base32.js";
export { canonical, decodeJson, decodeMsgpack, make, PROTOCOL_VERSION, toJson, toJsonValue } from "./wire/codec.js";
export type * from "./wire/schema.gen.js";
export * from "./padding.js";
export * from "./messages.js";
export * from "./ops.js";
export * from "./signing.js";
export * from "./envelope.js";
export * from "./epochs.js";
export * from "./roomlog.js";
export * from "./counters.js";
export * from "./directed.js";
export * from "./names.js";
export * from "./personal.js";
export * from "./events.js";
export * from "./message.js";
export type * from "./support.js";

// -- the client SDK (the Python package `client_sdk`) ---------------------------------

export { HearthClient, type HearthClientOptions } from "./client.js";
export { Room, RoomFingerprint } from "./room.js";
export { NotFound } from "./notFound.js";
export * from "./sdkErrors.js";
export { Identity, type Strength, STRENGTHS } from "./identity.js";
export { inviteLink, parseInvite } from "./inviteLinks.js";
export { type Clock, ManualClock, SYSTEM_CLOCK, SystemClock } from "./clock.js";
export type { StorageBackend } from "./storage/backend.js";
export { MemoryBackend } from "./storage/memory.js";
export { IndexedDBBackend, type IndexedDBOptions } from "./storage/indexeddb.js";
export { Keystore, KEYSTORE_DATABASE } from "./keystore.js";
export type { FetchLike, WebSocketConstructor, WebSocketLike } from "./transport.js";
export type { Status } from "./core/ledger.js";

// Programs, the risk path and schedules (Room methods), crisis lines, the draft
// check, personal data and device links: the features built on the client.
export * from "./drafts.js";
export * from "./crisis.js";
export * from "./schedule.js";
export * from "./personalData.js";
export { beginDeviceLink, claimWhenFiled, DeviceLink, type DeviceLinkHost, LINK_WAIT, offerDeviceLink, PendingDeviceLink } from "./deviceLinks.js";
export { RoomFeatures, type ScheduleOptions } from "./roomFeatures.js";
