/**
 * Quick exit and app lock (docs/front-ends.md, "Quick exit and app lock").
 *
 * Escape twice in a row (within a second) covers everything at once: the app's
 * whole tree is taken out of the document (not hidden: gone from the page, the
 * accessibility tree and the find bar), every dialog is cancelled, and the page
 * shows a blank, neutral lock screen with no room, message, draft or app name, the
 * tab's title included. Only the passphrase brings the tree back, exactly as it
 * was: the same room, the draft, the composer focused. Messages keep arriving
 * into the detached tree and the store, and none of it shows until then.
 *
 * The app also locks itself after the idle time the person chose (10 minutes by
 * default), measured from the last key, pointer or touch.
 *
 * "Help now" (and F1) stays above the lock: it is outside the app's tree.
 */

import { closeAllDialogs } from "./dialog.js";
import { button, el, field, form, input, status, submitButton } from "./dom.js";

const DOUBLE_ESCAPE_MS = 1000;
const IDLE_KEY = "lock-after-minutes";
export const IDLE_CHOICES = [1, 5, 10, 30, 60] as const;
export const DEFAULT_IDLE_MINUTES = 10;

/** The idle time the person chose (minutes), kept on this device. */
export function idleMinutes(): number {
  const stored = Number(localStorage.getItem(IDLE_KEY));
  return (IDLE_CHOICES as readonly number[]).includes(stored) ? stored : DEFAULT_IDLE_MINUTES;
}

export function setIdleMinutes(minutes: number): void {
  localStorage.setItem(IDLE_KEY, String(minutes));
}

export interface LockHooks {
  /** Whether a passphrase can open the lock (an identity is saved). */
  canUnlock(): Promise<boolean>;
  /** Check the passphrase (and, before a session, start one); true opens the lock. */
  unlock(passphrase: string): Promise<boolean>;
  /** The app's tree is back in the page. */
  unlocked(): void;
  /** The app's tree just left the page (forget what must not wait under the lock). */
  locked(): void;
}

export class AppLock {
  readonly #root: HTMLElement;
  readonly #hooks: LockHooks;
  #screen: HTMLElement | null = null;
  #lastEscape = 0;
  #idleTimer: ReturnType<typeof setTimeout> | null = null;
  #title = document.title;
  /** Whether idle locking runs (only once there is something to hide). */
  idleArmed = false;

  constructor(root: HTMLElement, hooks: LockHooks) {
    this.#root = root;
    this.#hooks = hooks;
  }

  get isLocked(): boolean {
    return this.#screen !== null;
  }

  /** Escape twice locks; any key, pointer or touch restarts the idle time. */
  install(): void {
    document.addEventListener(
      "keydown",
      (event) => {
        this.activity();
        if (event.key !== "Escape" || event.repeat) return;
        const now = performance.now();
        if (now - this.#lastEscape <= DOUBLE_ESCAPE_MS) {
          this.#lastEscape = 0;
          event.preventDefault();
          event.stopPropagation();
          void this.lock();
        } else {
          this.#lastEscape = now;
        }
      },
      { capture: true },
    );
    for (const type of ["pointerdown", "touchstart", "wheel"]) {
      document.addEventListener(type, () => this.activity(), { capture: true, passive: true });
    }
    this.activity();
  }

  /** Something happened: the idle time starts again. */
  activity(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    if (!this.idleArmed || this.isLocked) return;
    this.#idleTimer = setTimeout(() => void this.lock(), idleMinutes() * 60_000);
  }

  /** Cover everything now. */
  async lock(): Promise<void> {
    if (this.isLocked) return;
    closeAllDialogs();
    this.#title = document.title;
    document.title = "Locked";
    this.#root.remove();
    const screen = el("main", { className: "lock", id: "lock" }, el("h1", { text: "Locked" }));
    this.#screen = screen;
    document.body.append(screen);
    this.#hooks.locked();
    if (await this.#hooks.canUnlock()) this.#passphraseForm(screen);
    else this.#continueOnly(screen);
  }

  #passphraseForm(screen: HTMLElement): void {
    const passphrase = input("password", "passphrase", "current-password");
    const said = status("status error");
    const open = submitButton("Open");
    const body = form(
      () => {
        const value = passphrase.value;
        if (value === "") return;
        open.disabled = true;
        said.textContent = "Checking…";
        void this.#hooks.unlock(value).then(
          (ok) => {
            open.disabled = false;
            if (ok) {
              this.#open();
            } else {
              passphrase.value = "";
              said.textContent = "That passphrase did not open it. Try again.";
              passphrase.focus();
            }
          },
          () => {
            open.disabled = false;
            said.textContent = "That passphrase did not open it. Try again.";
          },
        );
      },
      field("Passphrase", passphrase),
      open,
      said,
    );
    screen.append(body);
    passphrase.focus();
  }

  #continueOnly(screen: HTMLElement): void {
    screen.append(button("Continue", () => this.#open()));
  }

  #open(): void {
    const screen = this.#screen;
    if (screen === null) return;
    this.#screen = null;
    screen.remove();
    document.title = this.#title;
    document.body.append(this.#root);
    this.activity();
    this.#hooks.unlocked();
  }
}
