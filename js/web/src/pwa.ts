/**
 * The page's side of the offline shell: register the service worker (`sw.ts`) at
 * the app's own address, once the page has loaded.
 *
 * Only in a secure context (https, or http on localhost and 127.0.0.1): browsers
 * refuse service workers elsewhere, and the app works without one, just not offline.
 * A failed registration changes nothing on screen.
 */

export const SHELL_WORKER = "sw.js";

/** The shell's registration, or null where there can be none. */
export async function registerShell(): Promise<ServiceWorkerRegistration | null> {
  if (!globalThis.isSecureContext || !("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register(SHELL_WORKER, { scope: "./" });
  } catch {
    return null;
  }
}

void registerShell();
