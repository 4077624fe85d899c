/**
 * The block list as the SDK's hot paths read it: an in-memory view of a synced
 * document (mirrors `client_sdk/_blocklist.py`).
 *
 * The list itself is the personal store's `blocked` document (`personalSync.ts`):
 * encrypted in the local store, synced between the person's devices through the
 * relay as ciphertext, merged last-writer-wins per key. Filtering messages and
 * events must not wait for the store, so the client keeps this view and refreshes it
 * from the document when it opens, after its own block or unblock, and when another
 * device's change arrives (`PersonalDataChanged("blocked")`).
 *
 * A block names a member id, which is a pseudonymous key of one room: Hearth cannot
 * tell that two keys in two rooms are one person, so neither can a block.
 */

import type { MemberId } from "./ids.js";
import type { Document } from "./wire/schema.gen.js";

/** The personal document that holds the list (key: member id; value empty bytes, or null once unblocked). */
export const BLOCKED_DOCUMENT = "blocked";

/** The member ids a `blocked` document blocks now. */
export function blockedIn(document: Document): Set<MemberId> {
  return new Set(
    Object.entries(document.entries ?? {})
      .filter(([, entry]) => entry.value !== null)
      .map(([key]) => key),
  );
}

/** The member ids blocked now, shared by reference with the inbox. */
export class BlockList {
  #members: ReadonlySet<MemberId>;

  constructor(members: Iterable<MemberId> = []) {
    this.#members = new Set(members);
  }

  /** The member ids blocked now. */
  get members(): ReadonlySet<MemberId> {
    return this.#members;
  }

  has(member: MemberId): boolean {
    return this.#members.has(member);
  }

  /** Take the document's current set (after a change on any device). */
  replace(members: Iterable<MemberId>): void {
    this.#members = new Set(members);
  }
}
