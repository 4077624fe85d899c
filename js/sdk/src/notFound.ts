/**
 * `NotFound`: asked for something the client does not hold (Python's `KeyError`).
 *
 * A room the local store does not hold (`client.room(id)`), a message it does not
 * hold (`room.reveal`, `room.delete`, `room.report`, `room.messages({before})`), a
 * member who is not in the room (`room.safetyNumber`). As in the Python SDK it is a
 * caller's mistake rather than a `HearthError`, so it carries no error code; `key`
 * names what was missing.
 */

export class NotFound extends Error {
  /** The id that was asked for. */
  readonly key: string;

  constructor(key: string, what = "not in the local store") {
    super(`${what}: ${key}`);
    this.name = "NotFound";
    this.key = key;
  }
}
