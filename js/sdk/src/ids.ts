/**
 * Domain identifiers (mirrors `protocol/ids.py`): short ASCII strings that travel in
 * JSON, URLs and logs unchanged. Member ids are the room-scoped Ed25519 public key
 * in base64url (43 characters), message ids 16 random bytes (22), room ids a
 * BLAKE2b-192 of the room's genesis key and nonce (32).
 */

import { b64url, b64urlDecode, concat } from "./bytes.js";
import { blake2b, PERSON_ROOM_ID, randomBytes, type Rng } from "./crypto.js";
import { DecodeError } from "./errors.js";

export type RoomId = string;
export type MemberId = string;
export type MessageId = string;

export const ROOM_ID_BYTES = 24;
export const ROOM_ID_CHARS = 32;
export const GENESIS_NONCE_BYTES = 16;

/** The member id of a room-scoped Ed25519 public key. */
export function memberIdFromKey(publicKey: Uint8Array): MemberId {
  return b64url(publicKey);
}

const KEYS = new Map<string, Uint8Array>();

/** The Ed25519 public key a member id names; refuses any non-canonical spelling. */
export function memberKey(member: MemberId): Uint8Array {
  const cached = KEYS.get(member);
  if (cached !== undefined) return cached;
  const key = b64urlDecode(member);
  if (key.length !== 32) throw new DecodeError("a member id is a 32-byte key");
  if (KEYS.size >= 4096) KEYS.clear();
  KEYS.set(member, key);
  return key;
}

/** The id of the room whose `room.create` the Ed25519 `genesisKey` signs. */
export function roomIdFromGenesis(genesisKey: Uint8Array, nonce: Uint8Array): RoomId {
  if (genesisKey.length !== 32 || nonce.length !== GENESIS_NONCE_BYTES) {
    throw new DecodeError("a genesis key is 32 bytes and its nonce 16");
  }
  return b64url(blake2b(concat(genesisKey, nonce), PERSON_ROOM_ID, ROOM_ID_BYTES));
}

/** A fresh random client message id. */
export function newMessageId(rng: Rng = randomBytes): MessageId {
  return b64url(rng(16));
}
