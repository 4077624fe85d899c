/**
 * The app: which screen shows, the session behind them, and the lock over them.
 *
 * The page is three parts: a bar with "Help now" (always on screen, the lock
 * screen included), the app's tree (`<main id="app">`: the title and the current
 * screen), and, while locked, the lock screen in the tree's place. Screens are
 * modules of their own (`onboarding.ts`, `rooms.ts`, `timeline.ts`); this one moves
 * between them and hands them the session's events.
 *
 * The address is read first (`address.ts`): the relay (the page's own origin unless
 * the address named another) and an invite (`?join={room}#{secret}`, where the
 * relay's redirect brings an invite link), dropped from the address bar before
 * anything else; the invite is joined once there is a session (after onboarding,
 * unlocking or restoring).
 */

import { type Identity, Keystore, type Room } from "@hearth/sdk";

import { alarmsUnlocked, installAlarms } from "./alarms.js";
import { helpButton, installHelpKey, loadCrisisDirectory, showCrisisHelp, useRegionStore } from "./crisis.js";
import { openDialogs, setAfterDialog, setHelpAction } from "./dialog.js";
import { devicesSection, type LinkedRooms, linkScreen } from "./devices.js";
import { button, el, field, replace } from "./dom.js";
import { draftCheckSetting } from "./draftCheck.js";
import { notificationsSetting } from "./notifications.js";
import { takeAddress } from "./address.js";
import { AppLock, IDLE_CHOICES, idleMinutes, setIdleMinutes } from "./lock.js";
import { installModeration } from "./moderation.js";
import { notesSection } from "./notes.js";
import { type OnboardingHooks, unlockScreen, welcomeScreen } from "./onboarding.js";
import { handleSupportEvent, installPrograms, releaseHeld } from "./programs.js";
import { roomsScreen } from "./rooms.js";
import { Session } from "./session.js";
import { recordRename, roomScreen, type RoomView } from "./timeline.js";

export class App {
  readonly #root: HTMLElement;
  readonly #screen: HTMLElement;
  readonly #lock: AppLock;
  #keystore: Keystore | null = null;
  #session: Session | null = null;
  #identity: Identity | null = null;
  #view: RoomView | null = null;
  #redrawRooms: (() => void) | null = null;
  #restored = false;
  #pendingInvite: string | null;
  readonly #relay: string;

  constructor() {
    // Before anything else: an invite's secret leaves the address bar at once.
    const opened = takeAddress();
    this.#relay = opened.relay;
    this.#pendingInvite = opened.invite;
    this.#root = document.getElementById("app") ?? document.body.appendChild(el("main", { id: "app" }));
    this.#screen = el("div", { className: "screen", id: "screen" });
    this.#root.append(this.#screen);
    const bar = el("header", { className: "bar" }, helpButton());
    document.body.prepend(bar);
    installHelpKey();
    this.#lock = new AppLock(this.#root, {
      canUnlock: async () => (this.#keystore !== null ? this.#keystore.exists() : false),
      unlock: (passphrase) => this.#unlock(passphrase),
      unlocked: () => {
        this.#focusComposer();
        releaseHeld();
        alarmsUnlocked();
      },
      locked: () => {},
    });
    this.#lock.install();
    setAfterDialog(() => this.#focusComposer());
    setHelpAction(() => void showCrisisHelp());
  }

  async start(): Promise<void> {
    void loadCrisisDirectory(this.#relay);
    const keystore = await Keystore.open();
    this.#keystore = keystore;
    const hooks = this.#onboardingHooks(keystore);
    if (this.#pendingInvite !== null) {
      this.#root.insertBefore(
        el("p", { className: "notice invite-waiting", text: "You opened an invite link. Once you are in, the app joins the room for you." }),
        this.#screen,
      );
    }
    if (await keystore.exists()) unlockScreen(this.#screen, hooks);
    else welcomeScreen(this.#screen, hooks);
  }

  #onboardingHooks(keystore: Keystore): OnboardingHooks {
    const hooks: OnboardingHooks = {
      keystore,
      start: (identity, how) => this.#begin(identity, how),
      linkDevice: () =>
        linkScreen(this.#screen, {
          keystore,
          relay: this.#relay,
          start: (identity, rooms) => this.#begin(identity, "restore", rooms),
          back: () => welcomeScreen(this.#screen, hooks),
        }),
    };
    return hooks;
  }

  /** The lock's passphrase: the saved identity must open with it (and start a session if none runs). */
  async #unlock(passphrase: string): Promise<boolean> {
    const keystore = this.#keystore;
    if (keystore === null) return false;
    let identity: Identity;
    try {
      identity = await keystore.load(passphrase);
    } catch {
      return false;
    }
    if (this.#identity === null) {
      // Locked in the middle of onboarding, the recovery phrase step stays to be
      // confirmed; anywhere else before a session, the passphrase starts one.
      if (this.#screen.querySelector("#recovery-phrase") === null) await this.#begin(identity, "unlock");
      return true;
    }
    return identity.equals(this.#identity);
  }

  async #begin(identity: Identity, how: "new" | "unlock" | "restore", linkedRooms?: LinkedRooms): Promise<void> {
    if (this.#session !== null) return;
    this.#identity = identity;
    const session = await Session.open(identity, this.#relay, linkedRooms);
    this.#session = session;
    this.#restored = how === "restore";
    useRegionStore(session.client.crisisRegion, (region) => session.client.setCrisisRegion(region));
    this.#lock.idleArmed = true;
    this.#lock.activity();
    installPrograms((room) => this.#openRoom(room));
    const support = { client: session.client, open: (room: Room) => this.#openRoom(room), locked: () => this.#lock.isLocked };
    session.on((event) => {
      handleSupportEvent(support, event);
      recordRename(event);
      this.#view?.handle(event);
      this.#redrawRooms?.();
    });
    session.onCaughtUp(() => this.#redrawRooms?.());
    session.onConnection((state) => this.#view?.setConnection(state));
    installModeration(session, () => this.#view?.refresh());
    installAlarms(session, this.#root, this.#screen);
    this.#root.querySelector(".invite-waiting")?.remove();
    this.#showRooms();
    const invite = this.#pendingInvite;
    this.#pendingInvite = null;
    if (invite !== null) {
      try {
        this.#openRoom(await this.#join(invite));
      } catch (exc) {
        this.#showRooms(`The invite link did not work: ${(exc as Error).message}`);
      }
    }
  }

  async #join(link: string): Promise<Room> {
    const room = await this.#session!.client.join(link);
    this.#openRoom(room);
    return room;
  }

  #showRooms(problem?: string): void {
    const session = this.#session;
    if (session === null) return;
    this.#view?.close();
    this.#view = null;
    this.#root.classList.remove("in-room");
    this.#redrawRooms = roomsScreen(
      this.#screen,
      { session, open: (room) => this.#openRoom(room), join: (link) => this.#join(link) },
      this.#restored,
    );
    if (problem !== undefined) this.#screen.prepend(el("p", { className: "status error", text: problem }));
    this.#screen.append(notesSection(session), devicesSection(session), draftCheckSetting(session), notificationsSetting(session), this.#settings());
  }

  #openRoom(room: Room): void {
    const session = this.#session;
    if (session === null) return;
    this.#view?.close();
    this.#redrawRooms = null;
    this.#view = roomScreen(this.#screen, room, session, () => this.#showRooms());
    this.#root.classList.add("in-room");
  }

  #focusComposer(): void {
    if (openDialogs() > 0) return;
    const composer = this.#view?.composer;
    if (composer !== undefined && composer.isConnected) composer.focus();
  }

  /** How soon the app locks itself, and the quick exit explained. */
  #settings(): HTMLElement {
    const choice = el("select");
    choice.name = "lock-after";
    for (const minutes of IDLE_CHOICES) {
      const option = el("option", { text: minutes === 1 ? "1 minute" : `${minutes} minutes` });
      option.value = String(minutes);
      option.selected = minutes === idleMinutes();
      choice.append(option);
    }
    choice.addEventListener("change", () => {
      setIdleMinutes(Number(choice.value));
      this.#lock.activity();
    });
    return el(
      "section",
      { className: "settings" },
      el("h2", { text: "Privacy" }),
      el("p", { text: "Press Escape twice to hide everything at once; your passphrase opens it again." }),
      field("Lock the app when idle for", choice),
      button("Lock now", () => void this.#lock.lock()),
    );
  }
}

/** Start the app on this page. */
export function startApp(): void {
  const app = new App();
  void app.start();
}
