/**
 * `@hearth/sdk/node`: what only Node can do, in an entry point browsers never load.
 *
 * The local store in a file (`FileBackend`, for `Store.open`) and keystore files
 * (`saveIdentityFile`, `loadIdentityFile`: atomic, owner-only, the Python SDK's
 * format). Everything under `src/node/` may import `node:` modules; nothing else in
 * the SDK does, so the main entry point bundles for a browser without polyfills.
 */

export { FileBackend, type FileBackendOptions } from "./fileBackend.js";
export { loadIdentityFile, saveIdentityFile } from "./keystore.js";
export { fileCrisisCache } from "./crisisCache.js";
