/**
 * The client: one identity on one relay, the rooms it follows and what spans them
 * (mirrors `client_sdk/client.py`).
 *
 * One piece past 600 lines because `HearthClient` is the SDK's documented public
 * surface: most of its lines are the comments of that API, and the work is in the
 * drivers it wires together. The logic lives in plain state (`core/state.ts`'s
 * `RoomState`, one per room) and each room's I/O in its `RoomDriver` (`driver.ts`:
 * commit with rebase, catch-up, epochs, send, invite, leave, report, push), which the
 * `Room` view calls directly. The client wires the shared drivers together by
 * constructor:
 *
 * - `Sessions`: one in-memory session token per room key;
 * - `LiveStream`: the websocket, reconnected with backoff and full jitter;
 * - `Outbox`: seal, store, then deliver each message exactly once;
 * - `Inbox`: persist what a room accepted, then announce it as events;
 * - `PersonalSync`: the person's own documents (the rooms list, the block list);
 * - `Transport` and `Store`: fetch/WebSocket and the encrypted local store.
 *
 * What stays here spans rooms: opening and closing, creating and joining rooms (and
 * taking up those another device of this person is in), the HTTP sync pass over
 * every room at once, the personal store's room list, blocking, and the events
 * queue. Each room has two locks (`slot.ts`); everything that reads or changes a
 * room's state holds its `lock`, so events and our own operations apply one at a time.
 *
 * Where Python cancels a background task, this client cannot: on `close()` it aborts
 * every wait (`closing`), closes the transports (a request in flight fails with
 * `net.unavailable`, so a send in flight stays in the outbox), stops the streams, and
 * waits for background work to end before it closes the store.
 */

import { BLOCKED_DOCUMENT, BlockList, blockedIn } from "./blocklist.js";
import { ascii, b64urlDecode, fromUtf8 } from "./bytes.js";
import { type Clock, SYSTEM_CLOCK } from "./clock.js";
import { createOp } from "./core/builders.js";
import { assertNever, type FollowUp } from "./core/followups.js";
import { decodeSnapshot } from "./core/persistence.js";
import { RoomState } from "./core/state.js";
import { Step } from "./core/step.js";
import { cryptoReady } from "./crypto.js";
import { MAX_REBASES, RoomDriver, type RoomServices } from "./driver.js";
import { ForkDetected, HearthError, LogError } from "./errors.js";
import type { Event, PersonalDataChanged } from "./events.js";
import type { RoomHost } from "./host.js";
import type { Identity } from "./identity.js";
import { type MemberId, memberKey, type RoomId } from "./ids.js";
import { Inbox, toMessage } from "./inbox.js";
import { normaliseRegion } from "./crisis.js";
import { parseInvite } from "./inviteLinks.js";
import { LiveStream } from "./live.js";
import { Lock } from "./lock.js";
import type { Role } from "./ops.js";
import { NotFound } from "./notFound.js";
import type { Policy } from "./ops.js";
import { Outbox } from "./outbox.js";
import { PersonalSync } from "./personalSync.js";
import type { ProgramHooks } from "./programHooks.js";
import { PROGRAMS } from "./programs.js";
import { CrisisDirectory, type CrisisResource } from "./crisis.js";
import { beginDeviceLink, type BeginOptions, type DeviceLink, offerDeviceLink, type PendingDeviceLink } from "./deviceLinks.js";
import { checkDraft, type DraftCheck, NO_SUGGESTION } from "./drafts.js";
import { PersonalData } from "./personalData.js";
import { Room } from "./room.js";
import { roomChanges, ROOMS_DOCUMENT, wantedRooms } from "./roomlist.js";
import { BlockError, ClientClosed, InviteError, RelayError, RelayUnavailable, StoreError } from "./sdkErrors.js";
import { Sessions, SignInPacer } from "./sessions.js";
import type { InviteKey } from "./signing.js";
import { Slot } from "./slot.js";
import type { StorageBackend } from "./storage/backend.js";
import { MemoryBackend } from "./storage/memory.js";
import { Store, type StoredMessage } from "./store.js";
import { syncPass } from "./syncpass.js";
import { type FetchLike, type RoomEvent, Transport, type WebSocketConstructor } from "./transport.js";
import type { Envelope, HistoryPage, LinkRoom, MessageAck, ProfileBody, VerifiedHead } from "./wire/schema.gen.js";

/** The relay's refusals of a join, as the `InviteError` codes the app sees. */
const JOIN_REFUSALS: Readonly<Record<string, string>> = {
  "log.bad_invite": "invite.refused",
  "log.banned": "invite.banned",
  "log.room_full": "invite.room_full",
};

const DRAFT_CHECK = "draft_check";
const CRISIS_REGION = "crisis_region";
/** Seconds between passes that drop locally stored messages past a room's retention. */
const EXPIRE_EVERY = 300;
/** Seconds `close()` waits for background work to end after it stopped everything. */
const CLOSE_GRACE = 5;

/** How a `HearthClient` runs (Python's `HearthClient` arguments, camelCase). */
export interface HearthClientOptions {
  /** The relay, e.g. `"https://relay.example"`. */
  relay: string;
  /** Whose keys to use. */
  identity: Identity;
  /**
   * Where the encrypted local store of this identity on this device lives: a
   * `FileBackend` (`@hearth/sdk/node`), an `IndexedDbBackend`, or (the default) a
   * `MemoryBackend`, which forgets everything when the process ends.
   */
  store?: StorageBackend;
  /**
   * Keep a websocket open and follow rooms live (default true). With false the client
   * only talks to the relay when asked (`sync()`, sends), as a mobile background fetch does.
   */
  live?: boolean;
  /** Offered when creating rooms on a relay whose creation policy is `token`. */
  registrationToken?: string | null;
  /** Seconds after which the next send first rotates the epoch (default a week). */
  rotateAfter?: number;
  /** Messages in one epoch after which the next send rotates (default 1000). */
  rotateEvery?: number;
  /** Seconds for each HTTP request and the stream's handshake (default 15). */
  timeout?: number;
  /** `[first, largest]` bound in seconds of the reconnect (and outbox retry) backoff; default `[0.25, 10]`. */
  reconnectDelay?: readonly [number, number];
  /** Where every time the client signs, seals or judges comes from (a `ManualClock` in tests). */
  clock?: Clock;
  /** The `WebSocket` constructor (default `globalThis.WebSocket`; Node 20 apps pass the `ws` package's). */
  webSocket?: WebSocketConstructor;
  /** The `fetch` to use (default the global one). */
  fetch?: FetchLike;
  /**
   * Told about background work that failed with something other than a Hearth error
   * (a bug; Python logs it at error level). Default: `console.error`.
   */
  onBackgroundError?: (error: unknown) => void;
}

type ClientState = "new" | "open" | "closing" | "closed";

const CLOSED = Symbol("closed");

/** The events queue: buffered from open, ended at close. */
class EventQueue {
  readonly #items: (Event | typeof CLOSED)[] = [];
  readonly #waiters: ((item: Event | typeof CLOSED) => void)[] = [];

  put(item: Event | typeof CLOSED): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(item);
    else this.#items.push(item);
  }

  get(signal?: AbortSignal): Promise<Event | typeof CLOSED> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => {
      const take = (got: Event | typeof CLOSED) => {
        signal?.removeEventListener("abort", abort);
        resolve(got);
      };
      const abort = () => {
        const i = this.#waiters.indexOf(take);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(CLOSED);
      };
      if (signal?.aborted) return resolve(CLOSED);
      signal?.addEventListener("abort", abort, { once: true });
      this.#waiters.push(take);
    });
  }
}

// One region check for the client and the crisis directory (crisis.ts).
export { normaliseRegion };

function storedRegion(value: Uint8Array | null): string | null {
  try {
    return value !== null && value.length > 0 ? normaliseRegion(fromUtf8(value)) : null;
  } catch {
    return null; // anything unreadable counts as none (every region)
  }
}

/**
 * One identity's connection to one relay.
 *
 * ```ts
 * const client = await HearthClient.open({ relay: "http://127.0.0.1:8080", identity, store });
 * const room = await client.createGroup("Anxiety circle", { rules: "Be kind." });
 * await room.send("hello");
 * await client.close();
 * ```
 */
export class HearthClient {
  readonly #baseUrl: string;
  readonly #identity: Identity;
  readonly #backend: StorageBackend;
  readonly #follow: boolean;
  readonly #registrationToken: string | null;
  readonly #rotateAfterMs: number;
  readonly #rotateEvery: number;
  readonly #timeout: number;
  readonly #reconnect: readonly [number, number];
  readonly #clock: Clock;
  readonly #webSocket: WebSocketConstructor | undefined;
  readonly #fetch: FetchLike | undefined;
  readonly #onBackgroundError: (error: unknown) => void;
  #state: ClientState = "new";
  #store: Store | null = null;
  #transport: Transport | null = null;
  readonly #rooms = new Map<RoomId, RoomDriver>();
  readonly #views = new Map<RoomId, Room>();
  #services: RoomServices | null = null;
  readonly #events = new EventQueue();
  readonly #syncLock = new Lock();
  #sessions: Sessions | null = null;
  #outbox: Outbox | null = null;
  #live: LiveStream | null = null;
  #stream: Promise<void> | null = null;
  #online = false;
  /** Rooms with an outbox retry timer running. */
  readonly #retrying = new Set<RoomId>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #buddyLock = new Lock();
  #personal: PersonalSync | null = null;
  #personalTransport: Transport | null = null;
  #personalTask: Promise<void> | null = null;
  /** Rooms a link offer named (a device link sets these before `open`). */
  linkedRooms: LinkRoom[] = [];
  readonly #notMember = new Set<RoomId>();
  readonly #adoptLock = new Lock();
  readonly #blocks = new BlockList();
  readonly #roomHost: RoomHost;
  readonly #closing = new AbortController();
  #draftCheck = false;
  #crisisRegion: string | null = null;
  /** The programs feature's follow-ups (`programHooks.ts`, filled by `programs.ts`). */
  programs: ProgramHooks = PROGRAMS;

  /**
   * A client, not yet open: call `open()` (or use `HearthClient.open(options)`).
   *
   * @throws TypeError `relay` is not an http(s) URL with a host.
   */
  constructor(options: HearthClientOptions) {
    this.#baseUrl = options.relay.replace(/\/+$/, "");
    new Transport(this.#baseUrl).close(); // a malformed URL fails here, not on first use
    this.#identity = options.identity;
    this.#backend = options.store ?? new MemoryBackend();
    this.#follow = options.live ?? true;
    this.#registrationToken = options.registrationToken ?? null;
    this.#rotateAfterMs = Math.trunc((options.rotateAfter ?? 7 * 24 * 3600) * 1000);
    this.#rotateEvery = options.rotateEvery ?? 1000;
    this.#timeout = options.timeout ?? 15;
    this.#reconnect = options.reconnectDelay ?? [0.25, 10];
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#webSocket = options.webSocket;
    this.#fetch = options.fetch;
    this.#onBackgroundError = options.onBackgroundError ?? ((error) => console.error("hearth: background work failed", error));
    this.#roomHost = this.#makeRoomHost();
  }

  /** Make a client and open it (see `open()`). */
  static async open(options: HearthClientOptions): Promise<HearthClient> {
    const client = new HearthClient(options);
    await client.open();
    return client;
  }

  // -- lifecycle ---------------------------------------------------------------

  /**
   * Open the store, load its rooms (every log verified again) and, if `live`, start
   * following them.
   *
   * @throws StoreError The store cannot be opened, or belongs to another identity.
   * @throws ClientClosed A client opens once.
   */
  async open(): Promise<void> {
    if (this.#state !== "new") throw new ClientClosed("a client opens once", "client.closed");
    await cryptoReady();
    const store = await Store.open(this.#backend, this.#identity.storeKey());
    const states: RoomState[] = [];
    try {
      for (const room of await store.roomIds()) {
        const stored = await store.loadRoom(room);
        try {
          states.push(RoomState.restore(this.#identity.roomKeys(room), stored.ops, stored.secrets, decodeSnapshot(stored.snapshot)));
        } catch (exc) {
          if (exc instanceof LogError || exc instanceof ForkDetected || (exc instanceof HearthError && exc.code.startsWith("wire."))) {
            throw new StoreError(`the stored log of room ${room} does not verify`, "store.corrupt");
          }
          throw exc;
        }
      }
      this.#draftCheck = fromUtf8((await store.deviceSetting(DRAFT_CHECK)) ?? new Uint8Array()) === "on";
      this.#crisisRegion = storedRegion(await store.deviceSetting(CRISIS_REGION));
    } catch (exc) {
      await store.close();
      throw exc;
    }
    this.#store = store;
    const clock = this.#clock;
    const transportOptions = {
      timeout: this.#timeout,
      clock,
      ...(this.#fetch ? { fetch: this.#fetch } : {}),
      ...(this.#webSocket ? { WebSocket: this.#webSocket } : {}),
    };
    const transport = new Transport(this.#baseUrl, transportOptions);
    this.#transport = transport;
    // One pacer for every key of this person: sign-ins one at a time, spaced out.
    const pacer = new SignInPacer(undefined, clock);
    this.#sessions = new Sessions(transport, { registrationToken: this.#registrationToken, pacer, clock });
    const host = this.#makeHost();
    this.#outbox = new Outbox(store, host, { retryDelay: this.#reconnect, clock });
    const inbox = new Inbox(store, host, this.#blocks, { clock });
    const spawn = (work: () => Promise<void>) => this.#spawn(work);
    this.#services = {
      baseUrl: this.#baseUrl,
      store,
      transport,
      sessions: this.#sessions,
      outbox: this.#outbox,
      inbox,
      blocks: this.#blocks,
      rotateAfterMs: this.#rotateAfterMs,
      rotateEvery: this.#rotateEvery,
      reconnectDelay: this.#reconnect,
      clock,
      closing: this.#closing.signal,
      checkOpen: () => void this.#checkOpen(),
      live: () => this.#live,
      emit: (event) => this.#emit(event),
      spawn,
      roomsChanged: () => this.#roomsChanged(),
    };
    for (const state of states) this.#rooms.set(state.room, new RoomDriver(new Slot(state), this.#services));
    // The personal store gets its own transport (HTTP and websocket): nothing it sends
    // shares a connection with a room key's requests.
    this.#personalTransport = new Transport(this.#baseUrl, transportOptions);
    this.#personal = new PersonalSync(this.#identity.personalKeys(), store, this.#personalTransport, host, {
      timeout: this.#timeout,
      reconnectDelay: this.#reconnect,
      pacer,
      clock,
    });
    this.#state = "open";
    await this.#reloadBlocks();
    await this.#expireAll();
    this.#spawn(() => this.#expirePeriodically());
    this.#spawn(() => this.#publishRooms());
    if (this.linkedRooms.length > 0) this.#spawn(() => this.#adoptRooms());
    if (this.#follow) {
      this.#personalTask = this.#personal.follow();
      this.#live = new LiveStream(transport, host, { reconnectDelay: this.#reconnect, timeout: this.#timeout, clock });
      this.#stream = this.#live.run();
    }
    for (const [driver, request] of this.programs.unjoined(this.#roomHost)) {
      // A claim we read before the app closed, whose buddy chat we never joined.
      this.#spawn(() => this.programs.joinClaimed(this.#roomHost, driver.room, request));
    }
  }

  /**
   * Stop the streams and background work, close the store. Unsent messages stay in
   * the outbox. Always ends: background work still running `CLOSE_GRACE` seconds
   * after everything was stopped is left behind (and reported to `onBackgroundError`).
   */
  async close(): Promise<void> {
    if (this.#state !== "open") {
      if (this.#state === "new") {
        this.#state = "closed";
        this.#events.put(CLOSED);
      }
      return;
    }
    this.#state = "closing";
    this.#closing.abort();
    this.#transport?.close();
    this.#personalTransport?.close();
    const stopping = [this.#live?.stop(), this.#personal?.stop(), this.#stream, this.#personalTask];
    await this.#settle([...stopping.filter((p) => p !== undefined && p !== null), ...this.#tasks] as Promise<unknown>[]);
    for (const driver of this.#rooms.values()) {
      // Wait for work in progress to reach the store before closing it.
      const slot = driver.slot;
      await slot.sendLock.run(() => slot.lock.run(async () => undefined)); // the order every sender takes them in
    }
    this.#state = "closed";
    await this.#store?.close();
    this.#events.put(CLOSED);
  }

  /** Wait for `work` to end, at most `CLOSE_GRACE` seconds (on the system clock: a test's manual clock may stand still). */
  async #settle(work: Promise<unknown>[]): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), CLOSE_GRACE * 1000);
    });
    const all = Promise.allSettled(work).then(() => true);
    const ended = await Promise.race([all, grace]);
    clearTimeout(timer);
    if (!ended) this.#onBackgroundError(new Error(`background work still running ${CLOSE_GRACE} s after close()`));
  }

  /** True once `close()` ran (`client.closed`). */
  get closed(): boolean {
    return this.#state === "closed";
  }

  #checkOpen(): { store: Store; transport: Transport } {
    if (this.#state === "new") throw new ClientClosed("open the client first", "client.not_open");
    if (this.#state === "closed" || this.#store === null || this.#transport === null) {
      throw new ClientClosed("the client is closed", "client.closed");
    }
    return { store: this.#store, transport: this.#transport };
  }

  // -- public API --------------------------------------------------------------

  /** The rooms this identity is in (not those it left or was removed from). */
  get rooms(): Room[] {
    return [...this.#rooms].filter(([, d]) => d.state.status === "active").map(([r]) => this.#view(r));
  }

  /**
   * A room from the local store, by id (also one that was left, to read it).
   *
   * @throws NotFound The store holds no such room.
   */
  room(roomId: RoomId): Room {
    if (!this.#rooms.has(roomId)) throw new NotFound(roomId);
    return this.#view(roomId);
  }

  #view(roomId: RoomId): Room {
    let view = this.#views.get(roomId);
    if (view === undefined) this.#views.set(roomId, (view = new Room(this.#roomHost, roomId)));
    return view;
  }

  /** True while the live stream is connected. */
  get online(): boolean {
    return this.#online;
  }

  /** The identity this client acts for. */
  get identity(): Identity {
    return this.#identity;
  }

  /**
   * Typed events of every room, in the order they were verified.
   *
   * Buffered from the moment the client opens, so none is lost before the app starts
   * iterating. The iteration ends when the client closes, or when `signal` aborts.
   * Iterate from one place: concurrent iterators share the events.
   */
  async *events(options: { signal?: AbortSignal } = {}): AsyncGenerator<Event, void, undefined> {
    for (;;) {
      const item = await this.#events.get(options.signal);
      if (item === CLOSED) {
        if (!options.signal?.aborted) this.#events.put(CLOSED); // end other iterators too
        return;
      }
      yield item;
    }
  }

  /** True if the person opted in to the on-device draft check (off by default). */
  get draftCheck(): boolean {
    return this.#draftCheck;
  }

  /** Opt in to (or out of) the on-device draft check; kept in the local store. */
  async setDraftCheck(enabled: boolean): Promise<void> {
    const { store } = this.#checkOpen();
    await store.putDeviceSetting(DRAFT_CHECK, ascii(enabled ? "on" : "off"));
    this.#draftCheck = enabled;
  }

  /** The region the person chose for crisis lines on this device (null: every region). */
  get crisisRegion(): string | null {
    return this.#crisisRegion;
  }

  /**
   * Remember the person's region for crisis lines, encrypted in the local store; it
   * is only ever used on this device, never sent.
   *
   * @throws RangeError `region` is not two ASCII letters.
   */
  async setCrisisRegion(region: string | null): Promise<void> {
    const { store } = this.#checkOpen();
    const normalised = normaliseRegion(region);
    await store.putDeviceSetting(CRISIS_REGION, ascii(normalised ?? ""));
    this.#crisisRegion = normalised;
  }

  /**
   * Block a member key: its messages, edits, reactions and renames stop showing on
   * this identity's devices (stored, still verified and counted, but not announced nor
   * returned). The SDK also refuses to join through an invite a blocked key made, or
   * a buddy chat a blocked key is in (`invite.blocked`), and as owner of a buddy chat
   * removes a blocked key that joins it. The list is the personal store's `blocked`
   * document, synced to the person's other devices as ciphertext. Nobody is told.
   *
   * @throws BlockError `block.bad_member` (not a member id), `block.self`.
   */
  async block(memberId: MemberId): Promise<void> {
    const member = this.#memberToBlock(memberId);
    await this.#personalSync().change(BLOCKED_DOCUMENT, new Map([[member, new Uint8Array()]]));
    await this.#reloadBlocks();
  }

  /**
   * Lift a block: the member's stored messages show again.
   *
   * @throws BlockError `block.bad_member` (not a member id).
   */
  async unblock(memberId: MemberId): Promise<void> {
    const member = this.#memberToBlock(memberId);
    await this.#personalSync().change(BLOCKED_DOCUMENT, new Map([[member, null]]));
    await this.#reloadBlocks();
  }

  /** The member keys this person blocked (the personal store's `blocked` document). */
  get blocked(): ReadonlySet<MemberId> {
    return this.#blocks.members;
  }

  /**
   * The personal store's driver (documents synced between this person's devices),
   * for the features built on it (notes, settings).
   *
   * @throws ClientClosed The client is not open.
   */
  get personalSync(): PersonalSync {
    return this.#personalSync();
  }

  #personalSync(): PersonalSync {
    this.#checkOpen();
    return this.#personal!;
  }

  // -- personal data, devices and crisis lines (personalData.ts, deviceLinks.ts, crisis.ts)

  /**
   * This person's notes, settings and blocked keys, synced between their devices.
   *
   * @throws ClientClosed The client is not open.
   */
  get personal(): PersonalData {
    return new PersonalData(this.#personalSync());
  }

  /**
   * Start linking a new device to this identity; both screens will show a short code.
   *
   * Show `code` (as text or a QR code) to the new device, which passes it to
   * `HearthClient.beginDeviceLink` within the relay's `link_ttl` (10 minutes by
   * default) and shows a six-digit short code; `await link.claimantCode()` returns the
   * digits this device must show, then `confirm()` (the same digits: the root and the
   * room list, with the heads this device verified, are sealed to that device alone)
   * or `refuse()`.
   *
   * @throws RelayError `link.too_many` (three codes wait already), `rate.limited`.
   * @throws RelayUnavailable The relay cannot be reached.
   */
  async offerDeviceLink(): Promise<DeviceLink> {
    const personal = this.#personalSync();
    await this.#publishRooms();
    const rooms = (): LinkRoom[] =>
      [...this.#rooms.values()].filter((d) => d.state.status === "active").map((d) => ({ room: d.room, verified: d.state.verifiedHead }));
    return offerDeviceLink({ personal, transport: this.#personalTransport!, identity: this.#identity, rooms, clock: this.#clock });
  }

  /**
   * Start linking this device with a code from `offerDeviceLink` on another device:
   * claim its hello (once: the code is then spent) and file this device's answer.
   * Show `pending.shortCode`; once the person confirmed the same digits on the other
   * device, `await pending.finish()` returns a client for the same identity, not yet
   * opened, which takes up every room the person is in when it opens and syncs.
   *
   * @param options The new client's options (its `store`, `live`...).
   * @throws LinkError `link.bad_code` (a typo), `link.version`, `link.not_found`,
   *   `link.used`, `link.expired`, `link.taken`, `link.bad_box`.
   * @throws RelayError `rate.limited`.
   * @throws RelayUnavailable The relay cannot be reached.
   */
  static beginDeviceLink(
    relay: string,
    code: string,
    options: Omit<HearthClientOptions, "relay" | "identity"> = {},
  ): Promise<PendingDeviceLink<HearthClient>> {
    const build = (identity: Identity, rooms: LinkRoom[]): HearthClient => {
      const client = new HearthClient({ ...options, relay, identity });
      client.linkedRooms = rooms;
      return client;
    };
    const begin: BeginOptions = {
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
    };
    return beginDeviceLink(relay, code, build, begin);
  }

  /**
   * The crisis lines for `region` (or all): this relay operator's, then the SDK's own.
   *
   * The relay's whole list is fetched (`GET /v1/crisis`, no session token, no region)
   * and filtered here, so the relay never learns the region. To show lines offline or
   * before sign-in, use `fetchCrisisDirectory` with a cache and `CrisisDirectory.load`.
   *
   * @throws RangeError `region` is not two ASCII letters (checked before any request).
   * @throws RelayError The relay refused, or its answer is not a crisis list.
   * @throws RelayUnavailable The relay cannot be reached.
   */
  async crisisResources(region: string | null = null): Promise<CrisisResource[]> {
    const { transport } = this.#checkOpen();
    normaliseRegion(region);
    return new CrisisDirectory(await transport.crisis()).forRegion(region);
  }

  /**
   * If the person opted in (`setDraftCheck`), look for crisis language in their draft,
   * on the device: synchronous and pure (`checkDraft`), nothing is sent, stored or
   * logged. Off, it looks at nothing and answers `suggest: false`.
   */
  checkDraft(text: string): DraftCheck {
    return this.#draftCheck ? checkDraft(text) : NO_SUGGESTION;
  }

  #memberToBlock(memberId: MemberId): MemberId {
    const member = String(memberId);
    try {
      memberKey(member);
    } catch (exc) {
      if (exc instanceof HearthError) throw new BlockError(`${JSON.stringify(memberId)} is not a member id`, "block.bad_member");
      throw exc;
    }
    if ([...this.#rooms.values()].some((d) => d.state.me === member)) {
      throw new BlockError("that member id is this identity's own", "block.self");
    }
    return member;
  }

  async #blocksChanged(event: PersonalDataChanged): Promise<void> {
    try {
      await this.#reloadBlocks();
    } finally {
      this.#emit(event);
    }
  }

  /** Refresh the in-memory view from the personal store's `blocked` document. */
  async #reloadBlocks(): Promise<void> {
    if (this.#personal !== null) this.#blocks.replace(blockedIn(await this.#personal.document(BLOCKED_DOCUMENT)));
  }

  // -- rooms: creation ------------------------------------------------------------

  /**
   * Create a support group; this identity becomes its owner. The name, topic,
   * description and rules are sent as encrypted messages: the relay never learns them.
   *
   * @throws RelayError `room.create_forbidden`, `rate.limited`.
   * @throws RelayUnavailable The relay cannot be reached.
   */
  createGroup(
    name: string,
    options: {
      topic?: string;
      rules?: string | null;
      description?: string;
      shareHistory?: boolean;
      inviteRole?: Role;
      maxMembers?: number | null;
      retentionDays?: number | null;
    } = {},
  ): Promise<Room> {
    const policy: Policy = {
      kind: "group",
      invite_role: options.inviteRole ?? "moderator",
      share_history: options.shareHistory ?? false,
      max_members: options.maxMembers ?? null,
      retention_days: options.retentionDays ?? null,
    };
    const profile: ProfileBody = { type: "room.profile", name, topic: options.topic ?? "", description: options.description ?? "" };
    return this.#create(policy, profile, options.rules ?? null);
  }

  /** Create a 1:1 buddy chat (at most two members); invite the buddy with a link. */
  createBuddyChat(name = "Buddy chat", options: { topic?: string; rules?: string | null } = {}): Promise<Room> {
    const policy: Policy = { kind: "buddy", invite_role: "owner", max_members: 2 };
    return this.#create(policy, { type: "room.profile", name, topic: options.topic ?? "", description: "" }, options.rules ?? null);
  }

  /**
   * Create a community program run by peer supporters (give them their role with
   * invites that grant `supporter`, or `room.setRole`).
   */
  createProgram(
    name: string,
    options: { topic?: string; rules?: string | null; description?: string; inviteRole?: Role; maxMembers?: number | null } = {},
  ): Promise<Room> {
    const policy: Policy = { kind: "program", invite_role: options.inviteRole ?? "supporter", max_members: options.maxMembers ?? null };
    const profile: ProfileBody = { type: "room.profile", name, topic: options.topic ?? "", description: options.description ?? "" };
    return this.#create(policy, profile, options.rules ?? null);
  }

  async #create(policy: Policy, profile: ProfileBody, rules: string | null): Promise<Room> {
    const { transport } = this.#checkOpen();
    const genesis = this.#identity.newRoom();
    const room = genesis.room;
    const driver = this.#newDriver(room);
    const state = driver.state;
    const op = createOp(genesis, state.keys, policy, { now: this.#clock.nowMs() });
    const result = await driver.withToken((t) => transport.createRoom(t, op), { create: true });
    const step = state.applyOp(op);
    state.position = result.seq;
    state.floor = 1;
    state.profile = profile;
    this.#rooms.set(room, driver);
    await driver.slot.lock.run(() => driver.save(step));
    await driver.send(profile);
    if (rules !== null) await driver.send({ type: "rules", version: 1, text: rules });
    this.#roomsChanged();
    return this.#view(room);
  }

  /**
   * Join a room with an invite link.
   *
   * The log is read with the invite's proof and verified in full before anything is
   * signed; the join commits a new epoch sealed to every member's key from that
   * verified log and to our own. On a concurrent change the join is rebuilt on the
   * new log and retried. If the room has no live invite for the link but this
   * identity is a member already (a join whose answer was lost, a store restored from
   * the recovery phrase), the room is rebuilt from the log.
   *
   * @throws InviteError `invite.malformed`, `invite.unknown`, `invite.expired`,
   *   `invite.used_up`, `invite.revoked`, `invite.room_full`, `invite.banned`,
   *   `invite.blocked`, `invite.refused`.
   * @throws LogError The relay served a log that does not verify.
   */
  async join(inviteLink: string): Promise<Room> {
    this.#checkOpen();
    const { room, invite } = parseInvite(inviteLink);
    const existing = this.#rooms.get(room);
    if (existing !== undefined && existing.state.status === "active") return this.#view(room);
    if (existing !== undefined && existing.state.banned.has(existing.state.me)) {
      throw new InviteError("a moderator banned you from this room", "invite.banned");
    }
    const driver = this.#newDriver(room);
    const keys = driver.state.keys;
    for (let attempt = 0; attempt < MAX_REBASES; attempt++) {
      const state = new RoomState(keys);
      let ops;
      try {
        ops = await driver.readInviteLog(invite);
      } catch (exc) {
        if (!(exc instanceof RelayError) || exc.code !== "room.not_found") throw exc;
        // No live invite, or we are a member already (a join whose answer was lost,
        // a store restored from the recovery phrase).
        if (await this.#recoverMembership(driver)) return this.#view(room);
        throw new InviteError("the relay knows no live invite for this link", "invite.unknown");
      }
      state.loadLog(ops);
      if (state.log.room !== room) throw new LogError("the relay served another room's log", "log.bad_room");
      this.#refuseBlockedInvite(state, invite);
      if (state.log.members.has(keys.member) && (await this.#recoverMembership(driver))) return this.#view(room);
      const op = state.joinOp(invite, { now: this.#clock.nowMs() });
      let result;
      try {
        result = await driver.appendRetrying(op);
      } catch (exc) {
        if (exc instanceof RelayError) {
          if (exc.code === "log.conflict") continue;
          const code = JOIN_REFUSALS[exc.code];
          if (code !== undefined) throw new InviteError(exc.message, code);
        }
        throw exc;
      }
      const step = state.applyOp(op);
      state.position = result.seq;
      state.floor = state.startSeq = result.seq;
      state.seqIndex = op.content.index;
      state.joinedEpoch = state.log.epoch;
      driver.slot.state = state;
      this.#rooms.set(room, driver);
      await driver.slot.lock.run(() => driver.save(step, { allOps: true }));
      this.#roomsChanged();
      return this.#view(room);
    }
    throw new RelayError("the room kept changing while joining", { code: "log.conflict" });
  }

  /**
   * Refuse an invite a blocked key made, a buddy chat a blocked key is in, or a room
   * whose log bans us (before anything is signed or sealed).
   */
  #refuseBlockedInvite(state: RoomState, invite: InviteKey): void {
    if (state.log.banned.has(state.me)) throw new InviteError("a moderator banned you from this room", "invite.banned");
    const registered = state.log.invite(invite.publicKey);
    if (registered !== undefined && this.#blocks.has(registered.createdBy)) {
      throw new InviteError("this invite comes from a key you blocked", "invite.blocked");
    }
    if (state.policy.kind === "buddy" && [...state.log.members.keys()].some((m) => this.#blocks.has(m))) {
      throw new InviteError("a key you blocked is in this buddy chat", "invite.blocked");
    }
  }

  /**
   * Rebuild a room we are already a member of from its log (false if we are not).
   *
   * Every commit that has a share for us is opened, so every epoch since we joined is
   * readable; the sync then starts from the room's first event. `verified` are heads
   * this person verified before (the personal store's room list, a link offer): the
   * served log must hold each, or the room is taken up blocked, with a `fork` alarm,
   * and nothing is signed or sealed in it.
   */
  async #recoverMembership(driver: RoomDriver, verified: readonly VerifiedHead[] = []): Promise<boolean> {
    this.#checkOpen();
    const state = new RoomState(driver.state.keys);
    let ops;
    try {
      ops = await driver.readLog();
    } catch (exc) {
      if (exc instanceof RelayError && exc.code === "room.not_found") return false;
      throw exc;
    }
    const step = new Step();
    for (const op of ops) step.extend(state.applyOp(op));
    for (const mark of verified) step.extend(state.pin(mark));
    // Nothing verified where this person is a member (a counterfeit room under this
    // id, or no log at all where they verified one), or a log that refused an
    // operation and no verified head that keeps the room blocked: take nothing up,
    // sign or seal nothing. Either way every alarm is said out loud.
    const refused =
      (state.log.ops.length === 0 && (state.frozen || state.pinned !== null)) ||
      (state.pinned === null && (state.frozen || !state.log.members.has(state.me)));
    if (!refused) {
      state.joinedEpoch = state.secrets.size > 0 ? Math.min(...state.secrets.keys()) : state.log.epoch;
      driver.slot.state = state;
      this.#rooms.set(driver.room, driver);
      const secrets = new Step();
      for (const [e, s] of state.secrets) secrets.secrets.set(e, s);
      await driver.slot.lock.run(() => driver.save(secrets, { allOps: true }));
    }
    for (const item of step.items) if (item.type === "SecurityAlarm") this.#emit(item);
    if (refused) return false;
    this.#roomsChanged();
    return true;
  }

  // -- sync, flush, push ------------------------------------------------------------

  /**
   * Catch every room up with the relay once, then send what waits in the outbox.
   *
   * First the personal store (other devices' changes fetched, ours pushed, rooms they
   * joined taken up), then pages through `POST /v1/sync` until the relay has nothing
   * more. After this complete pass a gap in a sender's counters raises a `withheld`
   * alarm. Meant for apps without the live stream; with it, this runs on every reconnect.
   *
   * @throws RelayUnavailable The relay cannot be reached.
   */
  async sync(): Promise<void> {
    this.#checkOpen();
    await this.#personal!.sync();
    await this.#adoptRooms();
    await this.#sync();
    await this.flush();
    // The heads this pass verified, for a later restore or linked device to check.
    // Best effort: the next pass (or the next open) publishes what this one could not.
    try {
      await this.#publishRooms();
    } catch (exc) {
      if (!(exc instanceof RelayUnavailable || exc instanceof RelayError)) throw exc;
    }
  }

  /** Try to send everything in the outbox now; return how many still wait. */
  async flush(): Promise<number> {
    const { store } = this.#checkOpen();
    const rooms = new Set((await store.outbox()).filter((e) => e.failed === null).map((e) => e.room));
    for (const room of rooms) {
      const driver = this.#rooms.get(room);
      if (driver !== undefined && driver.state.status === "active") await driver.flushQuietly();
    }
    return this.#outbox!.pending();
  }

  /**
   * Register this device for push in every room it is in (see `Room.registerPush`);
   * `endpoint` is one URL for all, or a function giving each room its own (preferable).
   * Rooms joined later are not included.
   */
  async registerPush(endpoint: string | ((room: Room) => string), options: { readonly webPush?: boolean } = {}): Promise<void> {
    for (const room of this.rooms) {
      const url = typeof endpoint === "function" ? endpoint(room) : endpoint;
      await this.#driver(room.id).registerPush(url, options.webPush ?? false);
    }
  }

  /**
   * The relay's VAPID public key (65 bytes, an uncompressed P-256 point): a browser
   * passes it to `PushManager.subscribe({userVisibleOnly: true, applicationServerKey})`
   * and registers the subscription's endpoint with `Room.registerPush(endpoint, {webPush: true})`.
   *
   * @throws RelayError `push.disabled` (the relay sends no push), `relay.bad_answer`.
   * @throws RelayUnavailable The relay cannot be reached.
   */
  async webPushKey(): Promise<Uint8Array> {
    const { transport } = this.#checkOpen();
    return b64urlDecode((await transport.vapidKey()).key);
  }

  /** Stop push for this device in every room it is in. */
  async unregisterPush(): Promise<void> {
    for (const room of this.rooms) await this.#driver(room.id).unregisterPush();
  }

  // -- background work and events -------------------------------------------------

  #emit(event: Event): void {
    this.#events.put(event);
  }

  /** Run background work until it ends; the client waits for it on close. */
  #spawn(work: () => Promise<void>): void {
    if (this.#state !== "open") return;
    const task = (async () => {
      try {
        await work();
      } catch (exc) {
        // A Hearth error in background work is an expected refusal or loss of the
        // relay (Python logs it at info level); anything else is a bug.
        if (!(exc instanceof HearthError)) this.#onBackgroundError(exc);
      }
    })();
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  // -- sync over HTTP ---------------------------------------------------------------

  #followed(): RoomDriver[] {
    return [...this.#rooms.values()].filter((d) => d.state.status === "active" && !d.state.frozen);
  }

  /** Catch every followed room up with the relay (`syncpass.ts`). */
  async #sync(): Promise<void> {
    const { transport } = this.#checkOpen();
    await this.#syncLock.run(() => syncPass(transport, this.#rooms, () => this.#followed(), { refused: () => this.#streamRefused() }));
  }

  async #expireAll(): Promise<void> {
    for (const driver of [...this.#rooms.values()]) await driver.expire();
  }

  /** Retention keeps running while the app is open and nothing arrives. */
  async #expirePeriodically(): Promise<void> {
    while (await this.#clock.sleep(EXPIRE_EVERY, this.#closing.signal)) {
      try {
        await this.#expireAll();
      } catch (exc) {
        if (!(exc instanceof HearthError)) throw exc;
      }
    }
  }

  // -- the live stream ------------------------------------------------------------

  /** Reconnect the stream so it authenticates the current set of rooms; publish the list. */
  #roomsChanged(): void {
    this.#live?.restart();
    this.#spawn(() => this.#publishRooms());
  }

  // -- the personal store's rooms document -----------------------------------------

  /**
   * Bring the `rooms` document in line with the rooms this device follows: rooms we
   * are in are added with the last head this device verified (moved forward only
   * along the same log); rooms we left get a tombstone; rooms not taken up yet stay.
   */
  async #publishRooms(): Promise<void> {
    this.#checkOpen();
    const personal = this.#personal!;
    const document = await personal.document(ROOMS_DOCUMENT);
    const changes = roomChanges(document, new Map([...this.#rooms].map(([r, d]) => [r, d.state])));
    if (changes.size === 0) return;
    try {
      await personal.change(ROOMS_DOCUMENT, changes);
    } catch (exc) {
      if (!(exc instanceof RelayUnavailable)) throw exc;
    }
  }

  /** Take up every room the `rooms` document (or the link offer) lists. */
  async #adoptRooms(): Promise<void> {
    this.#checkOpen();
    const personal = this.#personal!;
    await this.#adoptLock.run(async () => {
      const document = await personal.document(ROOMS_DOCUMENT);
      for (const [room, marks] of wantedRooms(document, this.linkedRooms)) {
        if (this.#rooms.has(room) || this.#notMember.has(room)) continue;
        if (!(await this.#recoverMembership(this.#newDriver(room), marks))) this.#notMember.add(room);
      }
    });
  }

  #setOnline(online: boolean): void {
    if (online !== this.#online) {
      this.#online = online;
      this.#emit({ type: "ConnectionChanged", online });
    }
  }

  #flushLater(room: RoomId, delay: number): void {
    if (this.#retrying.has(room)) return;
    this.#retrying.add(room);
    this.#spawn(() => this.#retryFlush(room, delay));
  }

  /** The outbox's automatic retry: while online, the room's outbox again. */
  async #retryFlush(room: RoomId, delay: number): Promise<void> {
    try {
      await this.#clock.sleep(delay, this.#closing.signal);
    } finally {
      this.#retrying.delete(room);
    }
    const driver = this.#rooms.get(room);
    if (this.#state === "open" && this.#online && driver !== undefined && driver.state.status === "active") await driver.flushQuietly();
  }

  async #streamTokens(): Promise<Record<string, string>> {
    const tokens: Record<string, string> = {};
    for (const d of this.#followed()) tokens[d.room] = await d.token();
    return tokens;
  }

  async #streamReady(): Promise<Record<string, number>> {
    await this.#sync();
    await this.flush();
    // As after sync(): the heads this catch-up verified, for a later restore.
    this.#spawn(() => this.#publishRooms());
    return Object.fromEntries(this.#followed().map((d) => [d.room, d.state.position]));
  }

  #streamRefused(): void {
    this.#sessions?.forget();
  }

  #driver(room: RoomId): RoomDriver {
    this.#checkOpen();
    const driver = this.#rooms.get(room);
    if (driver === undefined) throw new NotFound(room);
    return driver;
  }

  /** A driver for a room not yet followed (created, joined or taken up). */
  #newDriver(room: RoomId): RoomDriver {
    const services = this.#services;
    if (services === null) throw new ClientClosed("open the client first", "client.not_open");
    return new RoomDriver(new Slot(new RoomState(this.#identity.roomKeys(room))), services);
  }

  // -- the client as its drivers see it -------------------------------------------

  /**
   * The client as its shared drivers see it (`StreamHost`, `OutboxHost`, `InboxHost`,
   * `PersonalHost`); what concerns one room goes to that room's driver.
   */
  #makeHost() {
    const roomOf = (slot: Slot): RoomDriver => {
      const driver = this.#rooms.get(slot.room);
      if (driver === undefined) throw new NotFound(slot.room);
      return driver;
    };
    return {
      streamTokens: () => this.#streamTokens(),
      streamReady: () => this.#streamReady(),
      streamEvents: async (room: string, events: readonly RoomEvent[]) => {
        await this.#rooms.get(room)?.streamEvents(events);
      },
      streamOnline: (online: boolean) => this.#setOnline(online),
      streamRefused: () => this.#streamRefused(),
      ensureEpoch: (slot: Slot) => roomOf(slot).ensureEpoch(),
      catchUpLog: (slot: Slot) => roomOf(slot).catchUpLog(),
      sendEnvelope: (slot: Slot, envelope: Envelope): Promise<MessageAck> => roomOf(slot).sendEnvelope(envelope),
      delivered: (message: StoredMessage) => {
        const driver = this.#rooms.get(message.room);
        const view = toMessage(message, this.#blocks, driver?.state ?? null);
        this.#emit({ type: "MessageReceived", roomId: message.room, message: view });
      },
      emit: (event: Event) => {
        if (event.type === "PersonalDataChanged" && event.document === BLOCKED_DOCUMENT) {
          // Another device changed the block list: filter by it before saying so.
          this.#spawn(() => this.#blocksChanged(event));
          return;
        }
        this.#emit(event);
      },
      online: () => this.#online,
      flushLater: (slot: Slot, delay: number) => this.#flushLater(slot.room, delay),
      evict: (slot: Slot, member: MemberId) => {
        const driver = roomOf(slot);
        this.#spawn(() => driver.evict(member));
      },
      followUp: (slot: Slot, item: FollowUp) => this.#followUp(roomOf(slot), item),
      retire: (slot: Slot) => roomOf(slot).retire(),
      fetchHistory: (slot: Slot, before: number): Promise<HistoryPage> => roomOf(slot).fetchHistory(before),
      roomsListed: () => this.#spawn(() => this.#adoptRooms()),
    };
  }

  /** What a room's step asks of us: the one handler of every kind of follow-up. */
  #followUp(driver: RoomDriver, item: FollowUp): void {
    const programs = this.programs;
    switch (item.kind) {
      case "Republish":
        this.#spawn(() => driver.republish());
        return;
      case "Reprofile":
        this.#spawn(() => driver.reprofile());
        return;
      case "Restatus":
        this.#spawn(() => programs.restatus(driver));
        return;
      case "JoinBuddy":
        this.#spawn(() => programs.joinClaimed(this.#roomHost, driver.room, item.request));
        return;
      case "Reseal":
        this.#spawn(() => programs.reseal(driver, item.request, item.text, item.to));
        return;
      case "Abandon":
        this.#spawn(() => programs.abandon(this.#roomHost, driver, item.request));
        return;
      default:
        assertNever(item);
    }
  }

  /** The client as its rooms and the features built on them see it (`host.ts`). */
  #makeRoomHost(): RoomHost {
    const client = this;
    return {
      get blocked() {
        return client.blocked;
      },
      get rooms() {
        return client.#rooms;
      },
      get buddyLock() {
        return client.#buddyLock;
      },
      driver: (room: RoomId) => this.#driver(room),
      sync: () => this.#sync(),
      createBuddyChat: async (name: string) => (await this.createBuddyChat(name)).id,
      join: async (link: string) => (await this.join(link)).id,
      room: (room: RoomId) => this.#view(room),
    };
  }
}

