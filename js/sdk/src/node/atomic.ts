/**
 * Writing a whole file so that a crash leaves the old file or the new one, never half.
 *
 * The bytes go to a temporary file in the same directory, made private, flushed to
 * the disk (`fsync`), then renamed over the target, and the directory is flushed
 * so the rename itself survives a power cut. Node only: browsers never load this.
 */

import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Flush a directory's entries (a rename in it) to the disk, where the platform can. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch (exc) {
    // Windows cannot open or flush a directory; the rename is as durable as it gets there.
    const code = (exc as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL" && code !== "EACCES") throw exc;
  } finally {
    await handle?.close();
  }
}

/** Replace `path` by `data` atomically, readable by its owner only (`mode`). */
export async function writeFileAtomic(path: string, data: Uint8Array, mode: number = 0o600, tmpName?: string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, tmpName ?? `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(tmp, "w", mode);
  try {
    try {
      await handle.chmod(mode); // an existing temporary file keeps its mode otherwise
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (exc) {
    await unlink(tmp).catch(() => undefined);
    throw exc;
  }
  await fsyncDir(dir);
}
