/**
 * Hearth's TypeScript SDK: end-to-end encrypted peer-support rooms.
 *
 * The same concepts, error codes and events as the Python SDK (`client_sdk`), held
 * to the same vectors; see docs/sdk-js.md. Call `await cryptoReady()` (or open a
 * client, which does) before using the protocol functions directly.
 */

export * from "./bytes.js";
export * from "./errors.js";
export * from "./crypto.js";
export * from "./ids.js";
export * from "./keys.js";
export * as base32 from "./base32.js";
export { canonical, decodeJson, decodeMsgpack, make, PROTOCOL_VERSION, toJson, toJsonValue } from "./wire/codec.js";
export type * from "./wire/schema.gen.js";
