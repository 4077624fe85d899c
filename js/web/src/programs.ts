/**
 * Community programs in the web app: creating one, asking for 1:1 support and
 * waiting in the queue, and (supporters) saying whether one is available and taking
 * requests (docs/front-ends.md, "Invites and support flow" and "Crisis help").
 *
 * Everything shown comes from the SDK's verified program state: the queue every
 * member computes in the same room order, the supporters' published availability.
 * A member sees that others asked, never what (the SDK gives them no text).
 *
 * - The program room carries a banner: a member's place in the queue, and, whenever
 *   no supporter is available, that said plainly with the first crisis line listed
 *   on this device beside it (before asking and while waiting); a supporter's banner
 *   counts who waits.
 * - "1:1 support" opens the support panel. It is updated in place on every support
 *   event (counts, the queue, one's place): only text and lists are redrawn, never
 *   a field, so what someone is typing stays where it is.
 * - A supporter who claims while away is told to set themselves available first; a
 *   claim opens the buddy chat it made, for the supporter here and for the person
 *   who asked by the app (`handleSupportEvent`), with no draft of its own.
 */

import {
  DEFAULT_CRISIS_RESOURCES,
  EMERGENCY_ADVICE,
  type Event,
  type HearthClient,
  memberDisplay,
  RelayUnavailable,
  type Room,
  type SupportRequest,
} from "@hearth/sdk";

import { type AddonLine, extendRooms, type RoomAddon } from "./addons.js";
import { buddyTitle, claimedByMe } from "./buddy.js";
import { confirmAction, showDialog } from "./dialog.js";
import { button, describe, el, field, form, input, replace, status, submitButton } from "./dom.js";
import { raiseAlert, recordRiskEvent, riskDialog, riskLines, riskPlanDialog, showAlert, showSharedHelp } from "./risk.js";
import type { Session } from "./session.js";

export const AWAY =
  "You are set as away, so you cannot take a request yet. Press “Set me available” first, then claim.";
export const AT_CAPACITY =
  "You already carry as many open 1:1 chats as your limit. Raise the limit and press “Save limit”, or close a chat first.";

/** The first line listed on this device with a way to reach it, one for everywhere first. */
export function firstLine(): string {
  const listed = DEFAULT_CRISIS_RESOURCES.filter((r) => r !== EMERGENCY_ADVICE);
  const ordered = [...listed.filter((r) => r.regions.includes("*")), ...listed.filter((r) => !r.regions.includes("*"))];
  for (const resource of ordered) {
    const contact = resource.phone ? `call ${resource.phone}` : resource.sms ? `text ${resource.sms}` : resource.url;
    if (contact) return `${resource.name}: ${contact}${resource.hours ? ` (${resource.hours})` : ""}`;
  }
  return "call your local emergency number";
}

/** What to do while no supporter is available: a listed line, and where more are. */
export function helpMeanwhile(): string {
  return `No supporter is available right now. If you need someone now: ${firstLine()}, or “Help now” (F1) for more people you can talk to.`;
}

function nobodyAvailable(room: Room): boolean {
  return !room.supporters.some((s) => s.available);
}

function myWaiting(room: Room): SupportRequest | null {
  const mine = room.supportRequests.filter((r) => r.mine && (r.status === "waiting" || r.status === "sending"));
  return mine.at(-1) ?? null;
}

function placeText(request: SupportRequest): string {
  return request.position === null
    ? "You asked for 1:1 support; your request is on its way."
    : `You asked for 1:1 support: you are number ${request.position} in the queue.`;
}

/** The program room's banner line (null: nothing to say). */
export function queueNote(room: Room): string | null {
  if (room.kind !== "program" || room.status !== "active") return null;
  if (room.role === "supporter") {
    const waiting = room.supportQueue.length;
    const me = room.supporters.find((s) => s.member === room.me);
    const state = me?.available ? "You are available." : "You are away.";
    return `${state} Support queue: ${waiting} waiting.`;
  }
  const mine = myWaiting(room);
  const parts = mine === null ? [] : [placeText(mine)];
  if (nobodyAvailable(room)) parts.push(helpMeanwhile());
  return parts.length > 0 ? parts.join(" ") : null;
}

function who(room: Room, member: string): string {
  try {
    return memberDisplay(room.member(member));
  } catch {
    return "someone who left";
  }
}

/** Accept the program's ground rules first if it has any (asking, as the composer does). */
async function rulesAccepted(room: Room): Promise<boolean> {
  if (room.rules === null || room.rulesAccepted) return true;
  const accepted = await showDialog({
    title: `Ground rules of ${room.name}`,
    body: [el("p", { text: room.rules, className: "rules" }), "Accept them to ask for support here."],
    actions: [{ text: "Accept rules", value: "accept" }],
    cancelText: "Not now",
    focus: "action",
    restoreFocus: true,
  });
  if (accepted !== "accept") return false;
  await room.acceptRules();
  return true;
}

interface Panel {
  readonly room: Room;
  refresh(): void;
  claimed(): void;
}

let panel: Panel | null = null;

/** The support panel of a program room: ask and wait (members), or take requests (supporters). */
export async function supportDialog(room: Room, open: (room: Room) => void): Promise<void> {
  const said = status("status error support-said");
  const counts = el("p", { className: "on-duty" });
  counts.setAttribute("role", "status");
  const meanwhile = el("p", { className: "meanwhile emergency-note" });
  meanwhile.setAttribute("role", "status");
  let close: (value: string | null) => void = () => {};

  // A member's part: the request form, or their place once they asked.
  const requestText = el("textarea");
  requestText.name = "request-text";
  requestText.rows = 3;
  const ask = submitButton("Ask for 1:1 support");
  ask.className = "primary";
  const askForm = form(
    () => {
      ask.disabled = true;
      said.textContent = "Asking…";
      let asked = false;
      void (async () => {
        try {
          if (!(await rulesAccepted(room))) {
            said.textContent = "The program's ground rules come first: accept them to ask.";
            return;
          }
          await room.requestSupport(requestText.value.trim());
          requestText.value = "";
          said.textContent = "";
          asked = true;
        } catch (exc) {
          said.textContent = `Not sent: ${describe(exc)}`;
        } finally {
          ask.disabled = false;
          draw();
          // The form just hid under the focus: the place takes it, and is read out.
          if (asked) place.focus();
        }
      })();
    },
    el("p", {
      text: "Ask for a private 1:1 chat with a trained peer supporter. Only the supporters read what you write here; other members see only that someone asked.",
    }),
    field("What you would like to talk about (optional)", requestText),
    ask,
  );
  const place = el("p", { className: "place" });
  place.setAttribute("role", "status");
  place.tabIndex = -1;
  const withdraw = button("Withdraw my request", () => {
    const mine = myWaiting(room);
    if (mine === null) return;
    void confirmAction(
      "Withdraw your request?",
      "You leave the queue and lose your place; you can ask again later.",
      "Withdraw request",
    ).then(async (sure) => {
      if (!sure) return;
      try {
        await room.withdrawRequest(mine.id);
      } catch (exc) {
        said.textContent = describe(exc);
      }
      draw();
    });
  });
  const waiting = el("div", { className: "waiting" }, place, withdraw);

  // A supporter's part: availability, the cap, and the queue with Claim buttons.
  const availability = el("p", { className: "availability" });
  availability.setAttribute("role", "status");
  let saving = false;
  const toggle = button("Set me available", () => {
    const me = room.supporters.find((s) => s.member === room.me);
    const next = !(me?.available ?? false);
    // Not disabled while saving: a disabled button drops the keyboard's focus.
    toggle.setAttribute("aria-disabled", "true");
    if (saving) return;
    saving = true;
    room.setAvailability(next).then(
      () => {
        saving = false;
        toggle.removeAttribute("aria-disabled");
        said.textContent = next ? "Saved: you are available." : "Saved: you are away.";
        draw();
      },
      (exc: unknown) => {
        saving = false;
        toggle.removeAttribute("aria-disabled");
        said.textContent = `Not saved: ${describe(exc)}`;
      },
    );
  });
  const cap = input("number", "max-open");
  cap.min = "1";
  cap.max = "1000";
  cap.inputMode = "numeric";
  const saveCap = submitButton("Save limit");
  const capForm = form(
    () => {
      const raw = cap.value.trim();
      const value = raw === "" ? null : Number(raw);
      if (value !== null && !(Number.isInteger(value) && value >= 1 && value <= 1000)) {
        said.textContent = "The limit is a whole number from 1 to 1000, or empty for none.";
        cap.focus();
        return;
      }
      const me = room.supporters.find((s) => s.member === room.me);
      room.setAvailability(me?.available ?? false, { maxOpen: value }).then(
        () => {
          said.textContent = value === null ? "Saved: no limit." : `Saved: at most ${value} open chats.`;
          draw();
        },
        (exc: unknown) => {
          said.textContent = `Not saved: ${describe(exc)}`;
        },
      );
    },
    field("Most open 1:1 chats at once (optional)", cap),
    saveCap,
  );
  const openChats = el("p", { className: "hint open-chats" });
  const queueHeading = el("h3", { text: "Waiting" });
  const queue = el("ol", { className: "support-queue" });
  queue.setAttribute("aria-label", "Requests waiting for a supporter");

  const claim = async (request: SupportRequest) => {
    const me = room.supporters.find((s) => s.member === room.me);
    if (me === undefined || !me.available) {
      said.textContent = AWAY;
      return;
    }
    said.textContent = "Opening a private chat…";
    try {
      const chat = await room.claim(request.id);
      said.textContent = "";
      close("claimed");
      open(chat);
    } catch (exc) {
      const code = (exc as { code?: string }).code;
      said.textContent =
        code === "support.away"
          ? AWAY
          : code === "support.at_capacity"
            ? AT_CAPACITY
            : exc instanceof RelayUnavailable
              ? "You are offline: the claim waits here and goes out when the connection is back; the chat then appears under “1:1 chats”."
              : describe(exc);
      draw();
    }
  };

  const plan = button("Risk plan…", () => {
    void riskPlanDialog(room).then((published) => {
      if (published) said.textContent = "Published: supporters and moderators read the new plan.";
      draw();
    });
  });

  const body = el("div", { className: "support-panel" });
  const supporter = room.role === "supporter";
  const moderator = room.role === "owner" || room.role === "moderator";
  if (supporter) {
    body.append(counts, availability, toggle, capForm, openChats, queueHeading, queue);
  } else {
    body.append(counts, meanwhile, askForm, waiting);
  }
  if (moderator) body.append(plan);
  body.append(said);
  let claimedNote: string | null = null;

  function draw(): void {
    if (room.status !== "active") return;
    const supporters = room.supporters;
    const available = supporters.filter((s) => s.available).length;
    counts.textContent = `${available} of ${supporters.length} ${supporters.length === 1 ? "supporter is" : "supporters are"} available now.`;
    plan.textContent = `Risk plan (${room.riskPlan !== null ? "published" : "none yet"})…`;
    if (supporter) {
      const me = supporters.find((s) => s.member === room.me);
      availability.textContent = me?.available ? "You are available for 1:1 chats." : "You are away: you take no 1:1 chats.";
      toggle.textContent = me?.available ? "Set me away" : "Set me available";
      if (document.activeElement !== cap && cap.value === "" && me?.maxOpen != null) cap.value = String(me.maxOpen);
      openChats.textContent = `You have ${room.openSupportChats} open support ${room.openSupportChats === 1 ? "chat" : "chats"}.`;
      const waitingNow = room.supportQueue;
      queueHeading.textContent = waitingNow.length > 0 ? `Waiting: ${waitingNow.length}` : "Nobody is waiting.";
      // Redrawn on every support event: a Claim button that had the focus gets it back.
      const focused = document.activeElement instanceof HTMLElement && queue.contains(document.activeElement) ? document.activeElement.dataset["request"] : undefined;
      replace(
        queue,
        ...waitingNow.map((request) => {
          const from = who(room, request.requester);
          const text = request.text === null || request.text === "" ? "(no note)" : request.text;
          const claimButton = button("Claim", () => void claim(request), "primary");
          claimButton.setAttribute("aria-label", `Claim the request from ${from}`);
          claimButton.dataset["request"] = request.id;
          return el("li", {}, el("span", { text: `${from}: `, className: "requester" }), el("span", { text, className: "request-text" }), " ", claimButton);
        }),
      );
      if (focused !== undefined) queue.querySelector<HTMLElement>(`[data-request="${CSS.escape(focused)}"]`)?.focus();
      return;
    }
    meanwhile.textContent = nobodyAvailable(room) ? helpMeanwhile() : "";
    meanwhile.hidden = meanwhile.textContent === "";
    const mine = myWaiting(room);
    askForm.hidden = mine !== null || claimedNote !== null;
    waiting.hidden = mine === null && claimedNote === null;
    withdraw.hidden = mine === null;
    if (claimedNote !== null) {
      place.textContent = claimedNote;
    } else if (mine !== null) {
      const later = nobodyAvailable(room)
        ? "You keep your place: when a supporter is available, they will open a private chat with you."
        : "A supporter will open a private chat with you.";
      place.textContent = `${placeText(mine)} ${later} You can close this and keep using Hearth meanwhile.`;
    }
  }
  draw();

  const me: Panel = {
    room,
    refresh: draw,
    claimed() {
      claimedNote = "A supporter took your request: your private chat is open behind this. Close this to write there.";
      draw();
    },
  };
  panel = me;
  try {
    await showDialog({
      title: `1:1 support in ${room.name || "this program"}`,
      body: [body],
      cancelText: "Close",
      focus: supporter ? toggle : myWaiting(room) === null ? requestText : "cancel",
      className: "dialog support-dialog",
      opened: (finish) => {
        close = finish;
      },
    });
  } finally {
    if (panel === me) panel = null;
  }
}

function programAddon(room: Room, open: (room: Room) => void): RoomAddon {
  const banner = el("p", { className: "banner queue-note" });
  banner.setAttribute("role", "status");
  const refresh = () => {
    const note = queueNote(room);
    banner.textContent = note ?? "";
    banner.hidden = note === null;
  };
  refresh();
  return {
    actions: [button("1:1 support", () => void supportDialog(room, open), "primary")],
    banner,
    lines: () => riskLines(room.id),
    refresh,
  };
}

function buddyAddon(room: Room, session: Session): RoomAddon {
  const client = session.client;
  const banner = el("p", { className: "banner buddy-note" });
  banner.setAttribute("role", "status");
  const said = status("status risk-said");
  const risk = button(
    "Imminent risk…",
    () => {
      const claim = claimedByMe(client, room);
      if (claim === null) return;
      void riskDialog(claim.program, claim.request).then(async (note) => {
        if (note === null) return;
        said.textContent = "Showing help to both of you and alerting the moderators…";
        said.textContent = await raiseAlert(room, note);
      });
    },
    "danger",
  );
  const refresh = () => {
    const mine = claimedByMe(client, room) !== null;
    risk.hidden = !mine;
    // A buddy chat shares no history: say so while the other person is not in yet.
    const alone = room.members.size < 2;
    const parts = [`${buddyTitle(client, room)}.`];
    if (alone) parts.push("They have not joined yet: what is written before they join, they cannot read.");
    if (mine) parts.push("If you fear they are at imminent risk: “Imminent risk…” shows them help and alerts the program's moderators.");
    banner.textContent = parts.join(" ");
  };
  refresh();
  const wrap = el("div", { className: "buddy-banner" }, banner, said);
  return { actions: [risk], banner: wrap, lines: () => riskLines(room.id), refresh };
}

/** Install the programs' and buddy chats' parts of the room screen. */
export function installPrograms(open: (room: Room) => void): void {
  extendRooms((room, session) => {
    if (room.kind === "program") return programAddon(room, open);
    if (room.kind === "buddy") return buddyAddon(room, session);
    const extra = riskLines(room.id);
    return extra.length > 0 ? { lines: (): readonly AddonLine[] => riskLines(room.id) } : null;
  });
}

export interface SupportContext {
  readonly client: HearthClient;
  /** Open a room the app opens by itself (it takes no draft). */
  open(room: Room): void;
  /** Whether the lock is up: what the app opens by itself then waits for the unlock. */
  locked(): boolean;
}

const held: (() => void)[] = [];

function whenUnlocked(context: SupportContext, show: () => void): void {
  if (context.locked()) held.push(show);
  else show();
}

/** The lock opened: show what arrived meanwhile, oldest first. */
export function releaseHeld(): void {
  for (const show of held.splice(0)) show();
}

const SUPPORT_EVENTS = new Set(["SupportRequested", "SupportClaimed", "SupportWithdrawn", "SupporterStatusChanged", "RiskPlanChanged"]);

/** The app hands every SDK event here (before the open room draws it again). */
export function handleSupportEvent(context: SupportContext, event: Event): void {
  try {
    supportEvent(context, event);
  } catch (exc) {
    // The open room must still be drawn again for this event.
    console.error("hearth web: a support event failed", exc);
  }
}

function supportEvent(context: SupportContext, event: Event): void {
  const { client } = context;
  recordRiskEvent(client, event);
  if (SUPPORT_EVENTS.has(event.type) && "roomId" in event && panel !== null && panel.room.id === event.roomId) panel.refresh();
  if (event.type === "SupportClaimed") void claimedForUs(context, event);
  if (event.type === "RiskHelpShown") whenUnlocked(context, () => void showSharedHelp(client, event));
  // Our own alert (a supporter reads what they raised) is already told in the chat.
  if (event.type === "RiskAlertReceived" && event.supporter !== client.room(event.roomId).me) {
    whenUnlocked(context, () => void showAlert(client, event, context.open));
  }
}

/** A supporter took our request: open the buddy chat it made. */
async function claimedForUs(context: SupportContext, event: Extract<Event, { type: "SupportClaimed" }>): Promise<void> {
  const program = context.client.room(event.roomId);
  if (event.requester !== program.me || event.buddyRoomId === null) return;
  let chat: Room;
  try {
    chat = await program.buddyChat(event.requestId);
  } catch (exc) {
    if (panel !== null && panel.room.id === program.id) panel.refresh();
    console.warn("hearth web: the buddy chat did not open", describe(exc));
    return;
  }
  if (panel !== null && panel.room.id === program.id) panel.claimed();
  // Under the lock nothing changes: the unlock returns to the same room, then this opens.
  whenUnlocked(context, () => context.open(chat));
}

/** The rooms screen's "Create a program" form (its creator is the owner). */
export function createProgramForm(hooks: { session: Session; open(room: Room): void }): HTMLElement {
  const name = input("text", "program-name");
  name.maxLength = 64;
  const topic = input("text", "program-topic");
  const said = status("status error");
  const go = submitButton("Create program");
  const body = form(
    () => {
      if (name.value.trim() === "") {
        said.textContent = "Give the program a name.";
        name.focus();
        return;
      }
      go.disabled = true;
      said.textContent = "Creating…";
      hooks.session.client.createProgram(name.value.trim(), { topic: topic.value.trim() }).then(
        (room) => {
          said.textContent = "";
          go.disabled = false;
          hooks.open(room);
        },
        (exc: unknown) => {
          go.disabled = false;
          said.textContent = `Could not create it: ${describe(exc)}`;
        },
      );
    },
    el("p", {
      className: "hint",
      text: "A program's trained supporters take private 1:1 chats with members who ask. Invite supporters with a link that grants “supporter”.",
    }),
    field("Program name", name),
    field("Topic (optional)", topic),
    go,
    said,
  );
  return el("section", { className: "create create-program" }, el("h2", { text: "Create a program" }), body);
}
