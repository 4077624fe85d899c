/**
 * The error root shared with the Python SDK.
 *
 * Every failure carries a stable string `code` (`log.bad_signature`, `auth.expired`);
 * codes are the wire contract and are identical in both SDKs, messages are for
 * people and may change. Subclasses mirror `protocol/errors.py` so that callers can
 * narrow with `instanceof` as Python callers narrow with `except`.
 */

export class HearthError extends Error {
  static readonly defaultCode: string = "hearth.error";
  readonly code: string;

  constructor(message: string, code?: string) {
    super(message);
    this.code = code ?? (this.constructor as typeof HearthError).defaultCode;
    this.name = new.target.name;
  }

  override toString(): string {
    return `[${this.code}] ${this.message}`;
  }
}

/** Bytes that do not decode to the expected wire type (`wire.malformed`, `wire.version`). */
export class DecodeError extends HearthError {
  static override readonly defaultCode: string = "wire.malformed";
}

/** A recovery phrase that is malformed or fails its checksum. */
export class PhraseError extends HearthError {
  static override readonly defaultCode: string = "phrase.invalid";
}

/** Linking a device failed (`link.*`). */
export class LinkError extends HearthError {
  static override readonly defaultCode: string = "link.bad_code";
}

/** A signature, seal or ciphertext that does not verify. */
export class CryptoError extends HearthError {
  static override readonly defaultCode: string = "crypto.invalid";
}

/** A room-log operation that breaks an invariant (`log.*`). */
export class LogError extends HearthError {
  static override readonly defaultCode: string = "log.invalid";
}

/** Two different histories were shown for one room (`log.fork`). */
export class ForkDetected extends HearthError {
  static override readonly defaultCode: string = "log.fork";
}

/** A message envelope that fails verification or decryption (`msg.*`). */
export class EnvelopeError extends HearthError {
  static override readonly defaultCode: string = "msg.invalid";
}
