/**
 * Keystore files under Node: `Identity.save`'s bytes written atomically, readable by
 * their owner only (0600), as the Python SDK writes `Identity.save(path, ...)`, so
 * one file serves both SDKs.
 */

import { readFile } from "node:fs/promises";

import { Identity, KeystoreError, type Strength } from "../identity.js";
import { writeFileAtomic } from "./atomic.js";

function ioError(verb: string, path: string, exc: unknown): KeystoreError {
  const e = exc as NodeJS.ErrnoException;
  return new KeystoreError(`cannot ${verb} ${path}: ${e?.code ?? e?.message ?? String(exc)}`, "keystore.io");
}

/**
 * Write `identity`'s root to `path`, encrypted under `passphrase` (see `Identity.save`).
 * The file is replaced atomically (temporary file, fsync, rename) and made 0600.
 *
 * Throws `KeystoreError`: `keystore.passphrase`, `keystore.io`.
 */
export async function saveIdentityFile(
  identity: Identity,
  path: string,
  passphrase: string,
  strength: Strength = "moderate",
): Promise<void> {
  const data = await identity.save(passphrase, strength);
  try {
    await writeFileAtomic(path, data, 0o600);
  } catch (exc) {
    throw ioError("write", path, exc);
  }
}

/**
 * Read an identity from a keystore file (this SDK's or the Python SDK's).
 *
 * Throws `KeystoreError`: `keystore.wrong_passphrase`, `keystore.corrupt`,
 * `keystore.version`, `keystore.io`.
 */
export async function loadIdentityFile(path: string, passphrase: string): Promise<Identity> {
  let data: Uint8Array;
  try {
    data = await readFile(path);
  } catch (exc) {
    throw ioError("read", path, exc);
  }
  return Identity.load(data, passphrase);
}
