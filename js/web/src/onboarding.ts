/**
 * Before a session: the first screen (crisis help first, then what this copy is),
 * choosing a passphrase and keeping the recovery phrase, unlocking on return, and
 * restoring from the recovery phrase in a new browser.
 *
 * The identity is saved only sealed under the passphrase (`Keystore`, IndexedDB);
 * the recovery phrase is shown once, and the next step waits for an explicit "I
 * have written it down". Restoring says what restoring does: the rooms come back
 * by themselves (the SDK takes them up from the person's encrypted room list).
 */

import { Identity, type Keystore } from "@hearth/sdk";

import { crisisSection } from "./crisis.js";
import { confirmAction } from "./dialog.js";
import { button, describe, el, field, form, input, replace, status, submitButton } from "./dom.js";

/** Set by scripts/build.mjs from package.json (so it is part of the hashed bundle). */
declare const __HEARTH_WEB_VERSION__: string;

/** What the screens here hand back to the app. */
export interface OnboardingHooks {
  readonly keystore: Keystore;
  /** Start a session with this identity (the store, the relay). */
  start(identity: Identity, how: "new" | "unlock" | "restore"): Promise<void>;
  /** Open the screen that links this browser to the person's other device (devices.ts). */
  linkDevice?(): void;
}

/** How strong a passphrase looks: a rough guide shown as it is typed, not a promise. */
export function strength(passphrase: string): { score: 0 | 1 | 2 | 3; text: string } {
  const words = passphrase.trim().split(/\s+/).filter((w) => w.length > 0).length;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9\s]/].filter((re) => re.test(passphrase)).length;
  const length = [...passphrase].length;
  if (length < 10) return { score: 0, text: "Too short: use at least 10 characters, or a few words." };
  if (length >= 20 && (words >= 4 || classes >= 3)) return { score: 3, text: "Strong." };
  if (length >= 14 && (words >= 3 || classes >= 2)) return { score: 2, text: "Fair: a longer one, or one more word, is stronger." };
  return { score: 1, text: "Weak: add words or length." };
}

/** Release hash as release.json (same origin) lists it, or null when it cannot be read. */
async function releaseHash(): Promise<string | null> {
  try {
    const response = await fetch("release.json", { cache: "no-store", credentials: "omit" });
    if (!response.ok) return null;
    const release: unknown = await response.json();
    const hash = (release as { release?: unknown }).release;
    return typeof hash === "string" && /^[0-9a-f]{64}$/.test(hash) ? hash : null;
  } catch {
    return null;
  }
}

function aboutSection(): HTMLElement {
  const section = el("section", { className: "about" });
  section.append(el("h2", { text: "About this app" }));
  const line = el("p", { text: `Hearth web app, version ${__HEARTH_WEB_VERSION__}. Release hash: ` });
  const hash = el("code", { text: "not known (release.json could not be read)" });
  line.append(hash);
  section.append(
    line,
    el("p", {
      text:
        "This hash is for comparing notes and bug reports, not a guarantee: a changed copy can show any hash it likes. " +
        "To know whether this address serves the published release, run `hearth web-check` against it from another network.",
    }),
  );
  void releaseHash().then((value) => {
    if (value !== null) hash.textContent = value;
  });
  return section;
}

/** The first run: help first, then the two ways in, then what this copy is. */
export function welcomeScreen(screen: HTMLElement, hooks: OnboardingHooks): void {
  const start = button("Start: choose a passphrase", () => choosePassphrase(screen, hooks), "primary");
  const restore = button("I have a recovery phrase", () => restoreScreen(screen, hooks));
  const link = hooks.linkDevice && button("Link to my other device", () => hooks.linkDevice?.());
  replace(
    screen,
    crisisSection(),
    el("section", { className: "welcome" }, el("h2", { text: "Get started" }), el("p", {
      text: "Nothing here asks for your name, phone number or e-mail. Your keys stay in this browser, locked with a passphrase you choose.",
    }), start, restore, link),
    aboutSection(),
  );
}

function choosePassphrase(screen: HTMLElement, hooks: OnboardingHooks): void {
  const first = input("password", "new-passphrase", "new-password");
  const second = input("password", "repeat-passphrase", "new-password");
  const meter = el("meter");
  meter.min = 0;
  meter.max = 3;
  meter.low = 1.5;
  meter.high = 2.5;
  meter.optimum = 3;
  meter.value = 0;
  meter.setAttribute("aria-label", "Passphrase strength");
  const said = status();
  said.id = "strength";
  const error = status("status error");
  const update = () => {
    const s = strength(first.value);
    meter.value = s.score;
    said.textContent = first.value === "" ? "" : `Strength: ${s.text}`;
  };
  first.addEventListener("input", update);
  const go = submitButton("Save and continue");
  const body = form(
    () => {
      if (strength(first.value).score === 0) {
        error.textContent = "That passphrase is too short: use at least 10 characters, or a few words.";
        first.focus();
        return;
      }
      if (first.value !== second.value) {
        error.textContent = "The two passphrases are not the same. Type it again in the second field.";
        second.value = "";
        second.focus();
        return;
      }
      go.disabled = true;
      error.textContent = "Making your keys and locking them with your passphrase…";
      const identity = Identity.generate();
      void hooks.keystore.save(identity, first.value).then(
        () => showPhrase(screen, hooks, identity),
        (exc: unknown) => {
          go.disabled = false;
          error.textContent = `Could not save: ${describe(exc)}`;
        },
      );
    },
    field("Passphrase", first, "Only you know it; it opens this app in this browser. It cannot be reset: your recovery phrase can restore everything."),
    meter,
    said,
    field("The same passphrase again", second),
    go,
    error,
  );
  replace(screen, el("h2", { text: "Choose a passphrase" }), body);
  first.focus();
}

function showPhrase(screen: HTMLElement, hooks: OnboardingHooks, identity: Identity): void {
  const phrase = el("p", { text: identity.recoveryPhrase, className: "phrase" });
  phrase.id = "recovery-phrase";
  const check = input("checkbox", "written-down");
  const label = el("label", { text: "I have written it down" });
  label.htmlFor = check.id = "written-down";
  const go = submitButton("Continue");
  go.disabled = true;
  check.addEventListener("change", () => {
    go.disabled = !check.checked;
  });
  const error = status("status error");
  const body = form(
    () => {
      if (!check.checked) return;
      go.disabled = true;
      phrase.textContent = ""; // shown once
      void hooks.start(identity, "new").catch((exc: unknown) => {
        error.textContent = describe(exc);
        go.disabled = false;
      });
    },
    el("div", { className: "check" }, check, label),
    go,
    error,
  );
  replace(
    screen,
    el("h2", { text: "Your recovery phrase" }),
    el("p", {
      text:
        "Write this down and keep it somewhere safe. It is shown only this once. It restores you and your rooms in a new browser; anyone who has it can read your rooms.",
    }),
    phrase,
    body,
  );
  check.focus();
}

/** Returning: the passphrase opens the saved identity; a wrong one is refused. */
export function unlockScreen(screen: HTMLElement, hooks: OnboardingHooks): void {
  const passphrase = input("password", "passphrase", "current-password");
  const error = status("status error");
  const go = submitButton("Open");
  const body = form(
    () => {
      if (passphrase.value === "") return;
      go.disabled = true;
      error.textContent = "Opening…";
      void hooks.keystore
        .load(passphrase.value)
        .then((identity) => hooks.start(identity, "unlock"))
        .catch((exc: unknown) => {
          go.disabled = false;
          passphrase.value = "";
          const code = (exc as { code?: string }).code;
          error.textContent = code === "keystore.wrong_passphrase" ? "That passphrase did not open it. Try again." : describe(exc);
          passphrase.focus();
        });
    },
    field("Passphrase", passphrase),
    go,
    error,
  );
  replace(screen, el("h2", { text: "Welcome back" }), body, el("p", { className: "hint", text: "Forgot it? " }, button("Restore from the recovery phrase", () => restoreScreen(screen, hooks))));
  passphrase.focus();
}

/** Replacing the identity saved in this browser asks first, Cancel focused. */
async function replaceAsked(keystore: Keystore): Promise<boolean> {
  if (!(await keystore.exists())) return true;
  return confirmAction(
    "Replace the identity saved here?",
    "This browser already keeps an identity. Restoring replaces it with the one of this recovery phrase; the one saved now can then come back only from its own recovery phrase.",
    "Replace and restore",
  );
}

/** A new browser: the recovery phrase and a new passphrase for this browser. */
export function restoreScreen(screen: HTMLElement, hooks: OnboardingHooks): void {
  const phrase = el("textarea");
  phrase.name = "recovery-phrase";
  phrase.rows = 3;
  phrase.autocomplete = "off";
  phrase.spellcheck = false;
  const first = input("password", "new-passphrase", "new-password");
  const error = status("status error");
  const go = submitButton("Restore");
  const body = form(
    () => {
      let identity: Identity;
      try {
        identity = Identity.fromRecoveryPhrase(phrase.value);
      } catch (exc) {
        error.textContent = `That is not a recovery phrase: ${describe(exc)}`;
        phrase.focus();
        return;
      }
      if (strength(first.value).score === 0) {
        error.textContent = "Choose a passphrase of at least 10 characters, or a few words.";
        first.focus();
        return;
      }
      go.disabled = true;
      error.textContent = "Restoring…";
      void replaceAsked(hooks.keystore)
        .then((go_on) => {
          if (!go_on) throw new Error("Nothing was changed.");
          return hooks.keystore.save(identity, first.value);
        })
        .then(() => {
          phrase.value = "";
          return hooks.start(identity, "restore");
        })
        .catch((exc: unknown) => {
          go.disabled = false;
          error.textContent = describe(exc);
        });
    },
    field("Recovery phrase", phrase, "Spaces, hyphens and capitals do not matter."),
    field("A passphrase for this browser", first),
    go,
    error,
  );
  replace(
    screen,
    el("h2", { text: "Restore from your recovery phrase" }),
    el("p", { text: "Your rooms come back by themselves after you restore: the app finds them in your encrypted room list on the relay." }),
    body,
  );
  phrase.focus();
}
