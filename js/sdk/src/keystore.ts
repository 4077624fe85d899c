/**
 * A keystore for browsers: the identity kept in IndexedDB, only ever sealed under
 * a passphrase (what `@hearth/sdk/node`'s `saveIdentityFile` is to a file).
 *
 * What is kept is exactly `Identity.save`'s bytes, the Python SDK's keystore file
 * (Argon2id from the passphrase, then a secret box over the root seed), as one row
 * of a `StorageBackend`: by default an IndexedDB database of its own, apart from the
 * encrypted store, so the store can be dropped or rebuilt without touching the keys.
 * The root seed is never written in any other form, and nothing here keeps the
 * passphrase or the key derived from it.
 *
 * Only DOM APIs (through `IndexedDBBackend`): this module is what a browser bundle loads.
 */

import { utf8 } from "./bytes.js";
import { Identity, type Strength } from "./identity.js";
import { KeystoreError } from "./sdkErrors.js";
import type { StorageBackend } from "./storage/backend.js";
import { IndexedDBBackend, type IndexedDBOptions } from "./storage/indexeddb.js";

const TABLE = "keystore";
const KEY = utf8("identity");

/** The database a browser keeps its keystore in unless told otherwise. */
export const KEYSTORE_DATABASE = "hearth-keystore";

/** One identity's keystore on a `StorageBackend` (IndexedDB in a browser). */
export class Keystore {
  readonly #backend: StorageBackend;

  /** A keystore on `backend` (prefer `Keystore.open` in a browser). */
  constructor(backend: StorageBackend) {
    this.#backend = backend;
  }

  /**
   * The keystore in the IndexedDB database `name` (created if missing).
   *
   * @throws StoreError `store.io`: IndexedDB is not available or refused to open.
   */
  static async open(name: string = KEYSTORE_DATABASE, options: IndexedDBOptions = {}): Promise<Keystore> {
    return new Keystore(await IndexedDBBackend.open(name, options));
  }

  /** Whether an identity is saved here (nothing is decrypted). */
  async exists(): Promise<boolean> {
    return (await this.#backend.get(TABLE, KEY)) !== undefined;
  }

  /**
   * Save `identity` sealed under `passphrase`, replacing what was saved (one atomic write).
   *
   * @throws KeystoreError `keystore.passphrase` for an empty passphrase.
   * @throws StoreError `store.io`.
   */
  async save(identity: Identity, passphrase: string, strength: Strength = "moderate"): Promise<void> {
    const sealed = await identity.save(passphrase, strength);
    await this.#backend.write([{ op: "put", table: TABLE, key: KEY, value: sealed }]);
  }

  /**
   * The identity saved here, opened with `passphrase`.
   *
   * @throws KeystoreError `keystore.wrong_passphrase`, `keystore.corrupt`,
   *   `keystore.version`; `keystore.io` when nothing is saved here.
   */
  async load(passphrase: string): Promise<Identity> {
    const sealed = await this.#backend.get(TABLE, KEY);
    if (sealed === undefined) throw new KeystoreError("no identity is saved here", "keystore.io");
    return Identity.load(sealed, passphrase);
  }

  /** The saved keystore's bytes (the Python SDK's file), e.g. for a backup; undefined if none. */
  async exportFile(): Promise<Uint8Array | undefined> {
    return this.#backend.get(TABLE, KEY);
  }

  /** Remove the saved identity (the recovery phrase still restores it). */
  async forget(): Promise<void> {
    await this.#backend.write([{ op: "delete", table: TABLE, key: KEY }]);
  }

  /** Release the database. */
  async close(): Promise<void> {
    await this.#backend.close();
  }
}
