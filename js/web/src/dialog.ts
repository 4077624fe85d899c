/**
 * Dialogs: the browser's own modal `<dialog>` (focus kept inside, Escape cancels),
 * opened one at a time over whatever screen is showing.
 *
 * Invariants (docs/front-ends.md, "No harm from a stray key"):
 * - a question about a destructive action opens with **Cancel focused**, and its
 *   action button names the action, so a stray Enter or Space cancels;
 * - Escape always cancels, and cancelling does nothing;
 * - when a dialog closes, focus goes where the app says (`setAfterDialog`): the
 *   open room's composer, so the person is writing again, not on a list.
 * - `closeAllDialogs` cancels every open dialog at once (the quick exit calls it,
 *   so nothing a dialog showed stays on screen under the lock);
 * - every dialog but crisis help itself carries "Help now", since a modal dialog's
 *   backdrop covers the page's own button (F1 works under it too).
 */

import { button, el } from "./dom.js";

let afterDialog: () => void = () => {};
let helpAction: (() => void) | null = null;

/** What "Help now" inside a dialog does (the app opens crisis help over it). */
export function setHelpAction(action: () => void): void {
  helpAction = action;
}
const open = new Set<{ dialog: HTMLDialogElement; finish: (value: string | null) => void }>();

/** Where focus goes after any dialog closes (the app points it at the composer). */
export function setAfterDialog(callback: () => void): void {
  afterDialog = callback;
}

/** How many dialogs are open (none while the person is writing). */
export function openDialogs(): number {
  return open.size;
}

export interface DialogAction {
  readonly text: string;
  readonly value: string;
  readonly className?: string;
}

export interface DialogOptions {
  readonly title: string;
  readonly body: readonly (Node | string)[];
  /** Buttons besides Cancel, in order. */
  readonly actions?: readonly DialogAction[];
  /** The Cancel button's text ("Cancel" by default; "Close" for a dialog that only shows). */
  readonly cancelText?: string;
  /** What takes focus first: Cancel (default), or an element of `body`, or the first action. */
  readonly focus?: "cancel" | "action" | HTMLElement;
  /** Called with the dialog once it is open (e.g. to wire a form inside it to `close`). */
  readonly opened?: (close: (value: string | null) => void) => void;
  /** Keep focus where it was after closing instead of `setAfterDialog`'s target. */
  readonly restoreFocus?: boolean;
  readonly className?: string;
  /** Carry "Help now" (default true; false for crisis help itself). */
  readonly helpButton?: boolean;
}

/** Show a modal dialog; resolves with the chosen action's value, or null for Cancel/Escape. */
export function showDialog(options: DialogOptions): Promise<string | null> {
  const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const dialog = el("dialog", { className: options.className ?? "dialog" });
  const titleId = `d-${Math.random().toString(36).slice(2, 10)}`;
  dialog.setAttribute("aria-labelledby", titleId);
  const heading = el("h2", { text: options.title, id: titleId });
  const body = el("div", { className: "dialog-body" });
  for (const part of options.body) body.append(typeof part === "string" ? el("p", { text: part }) : part);
  return new Promise((resolve) => {
    let done = false;
    const entry = {
      dialog,
      finish: (value: string | null) => {
        if (done) return;
        done = true;
        open.delete(entry);
        if (dialog.open) dialog.close();
        dialog.remove();
        resolve(value);
        if (options.restoreFocus && before !== null && before.isConnected) before.focus();
        else afterDialog();
      },
    };
    const cancel = button(options.cancelText ?? "Cancel", () => entry.finish(null), "cancel");
    const actions = (options.actions ?? []).map((action) =>
      button(action.text, () => entry.finish(action.value), action.className ?? "action"),
    );
    const row = el("div", { className: "dialog-actions" }, cancel, ...actions);
    if (helpAction !== null && options.helpButton !== false) {
      const help = button("Help now", helpAction, "help-button dialog-help");
      help.setAttribute("aria-keyshortcuts", "F1");
      dialog.append(help);
    }
    dialog.append(heading, body, row);
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault(); // the browser would close it without telling us
      entry.finish(null);
    });
    document.body.append(dialog);
    open.add(entry);
    dialog.showModal();
    // Focus without scrolling: a long dialog (crisis help) opens at its top, where
    // the emergency advice is, even when its focused button is at the bottom.
    const focus = options.focus ?? "cancel";
    const target = focus === "cancel" ? cancel : focus === "action" ? (actions[0] ?? cancel) : focus;
    target.focus({ preventScroll: true });
    dialog.scrollTop = 0;
    options.opened?.(entry.finish);
  });
}

/**
 * Ask before a destructive action: the question says what will happen, the action
 * button names it, Cancel holds the focus. Resolves true only for the action.
 */
export async function confirmAction(title: string, question: string, actionText: string): Promise<boolean> {
  const answer = await showDialog({
    title,
    body: [question],
    actions: [{ text: actionText, value: "yes", className: "danger" }],
    focus: "cancel",
  });
  return answer === "yes";
}

/** Cancel every open dialog (nothing is done); the quick exit calls this. */
export function closeAllDialogs(): void {
  for (const entry of [...open]) entry.finish(null);
}
