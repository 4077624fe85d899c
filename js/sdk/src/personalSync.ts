/**
 * The personal store's driver: documents kept locally, synced by compare-and-swap
 * (mirrors `client_sdk/_personal.py`).
 *
 * Each document (`rooms`, `settings`, `blocked`, `notes`) lives in the local store
 * twice: `base`, the version last read from the relay, and `local`, what this device
 * has, `dirty` until the relay took it. A change is applied to `local` and saved
 * first, so an edit made offline survives a restart; then it is pushed: `PUT` with
 * the base's version as `expected`. On `personal.conflict` the relay's newer version
 * is fetched, merged three-way (`merge`: `keep` for notes, `lww` for the rest) into
 * `local`, and the push is retried. A newer version announced by the relay (a
 * `personal` frame on this store's own websocket, or the index at sync) is fetched
 * and merged the same way.
 *
 * The store authenticates with its own key and its own `Transport` (HTTP and
 * websocket), so no request, connection or session of it is shared with a room
 * key's: the relay cannot tie the store to rooms through them.
 */

import { Backoff, type Rng } from "./backoff.js";
import { ascii, equalBytes } from "./bytes.js";
import { type Clock, SYSTEM_CLOCK } from "./clock.js";
import { kdf, PERSON_ROOM_DEVICE } from "./crypto.js";
import { CryptoError, HearthError } from "./errors.js";
import type { Event } from "./events.js";
import { Lock } from "./lock.js";
import { type MergeRule, merge, openDocument, type PersonalKeys, sealDocument } from "./personal.js";
import { RelayError, RelayUnavailable } from "./sdkErrors.js";
import { SignInPacer, signIn } from "./sessions.js";
import type { Store } from "./store.js";
import type { StreamConnection, Transport } from "./transport.js";
import { canonical, decodeMsgpack } from "./wire/codec.js";
import type { Document, Entry, PersonalFrame, Session } from "./wire/schema.gen.js";

/** Every personal document and its merge rule. */
export const DOCUMENTS: ReadonlyMap<string, MergeRule> = new Map([
  ["rooms", "lww"],
  ["settings", "lww"],
  ["blocked", "lww"],
  ["notes", "keep"],
]);

const MAX_RETRIES = 8;
const MARGIN_MS = 60_000;

/** What the driver needs from the client. */
export interface PersonalHost {
  /** Queue an event for the app. */
  emit(event: Event): void;
  /** The `rooms` document changed: take up rooms it lists that we do not follow. */
  roomsListed(): void;
}

/** How a `PersonalSync` runs. */
export interface PersonalSyncOptions {
  /** Seconds to wait for the stream's `ready` (default 15). */
  timeout?: number;
  /** `[low, high]` of the reconnect backoff, seconds. */
  reconnectDelay?: readonly [number, number];
  /** The pacer every sign-in of the client shares. */
  pacer?: SignInPacer;
  clock?: Clock;
  rng?: Rng;
}

interface Held {
  version: number;
  base: Document;
  local: Document;
  dirty: boolean;
}

const EMPTY: Document = { entries: {} };

function decode(data: Uint8Array): Document {
  return data.length > 0 ? decodeMsgpack<Document>("Document", data) : EMPTY;
}

function sameEntry(a: Entry, b: Entry): boolean {
  const values = a.value === null || b.value === null ? a.value === b.value : equalBytes(a.value, b.value);
  return values && a.at === b.at && equalBytes(a.device, b.device);
}

/** Two documents hold the same entries (Python's struct equality). */
export function sameDocument(a: Document, b: Document): boolean {
  const x = a.entries ?? {};
  const y = b.entries ?? {};
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  return keys.every((k) => Object.hasOwn(y, k) && sameEntry(x[k]!, y[k]!));
}

/** One identity's personal store on one relay. */
export class PersonalSync {
  readonly keys: PersonalKeys;
  /** Where this store's stamps come from (notes stamp their creation by it too). */
  readonly clock: Clock;
  readonly #pacer: SignInPacer;
  readonly #store: Store;
  readonly #device: Uint8Array;
  readonly #transport: Transport;
  readonly #host: PersonalHost;
  readonly #timeout: number;
  readonly #reconnectDelay: readonly [number, number];
  readonly #rng: Rng;
  #session: Session | null = null;
  readonly #lock = new Lock();
  readonly #ids: Map<string, string>;
  #stopped = false;
  #ws: StreamConnection | null = null;
  readonly #stop = new AbortController();
  #following: Promise<void> | null = null;

  constructor(keys: PersonalKeys, store: Store, transport: Transport, host: PersonalHost, options: PersonalSyncOptions = {}) {
    this.keys = keys;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.#pacer = options.pacer ?? new SignInPacer(undefined, this.clock);
    this.#store = store;
    // The tie-breaking id this device stamps on its entries: derived, so the device
    // secret behind its per-room ids never leaves the device.
    this.#device = kdf(store.device, ascii("personal"), PERSON_ROOM_DEVICE, 16);
    this.#transport = transport;
    this.#host = host;
    this.#timeout = options.timeout ?? 15;
    this.#reconnectDelay = options.reconnectDelay ?? [0.25, 10];
    this.#rng = options.rng ?? Math.random;
    this.#ids = new Map([...DOCUMENTS.keys()].map((name) => [keys.documentId(name), name]));
  }

  // -- local reads and changes ---------------------------------------------------

  async #state(name: string): Promise<Held> {
    const found = await this.#store.personalLoad(name);
    if (found === null) return { version: 0, base: EMPTY, local: EMPTY, dirty: false };
    try {
      return { version: found.version, base: decode(found.base), local: decode(found.local), dirty: found.dirty };
    } catch (exc) {
      // Only a damaged store gets here; start over from the relay's copy.
      if (exc instanceof HearthError) return { version: 0, base: EMPTY, local: EMPTY, dirty: false };
      throw exc;
    }
  }

  #save(name: string, held: Held): Promise<void> {
    return this.#store.personalSave(name, {
      version: held.version,
      base: canonical("Document", held.base),
      local: canonical("Document", held.local),
      dirty: held.dirty,
    });
  }

  /** This device's view of a document (including changes not yet pushed). */
  async document(name: string): Promise<Document> {
    return (await this.#state(name)).local;
  }

  /**
   * Set entries (`null` removes one), save, and push if the relay answers.
   *
   * Offline, the change waits in the local store and is pushed at the next sync or
   * reconnect.
   *
   * @throws RelayError The relay refused the document (`personal.quota`).
   */
  async change(name: string, values: ReadonlyMap<string, Uint8Array | null>): Promise<void> {
    const now = this.clock.nowMs();
    await this.#lock.run(async () => {
      const held = await this.#state(name);
      const entries: Record<string, Entry> = { ...(held.local.entries ?? {}) };
      for (const [key, value] of values) {
        const old = Object.hasOwn(entries, key) ? entries[key] : undefined;
        // A clock that went backwards must not lose a change to an older stamp.
        const at = old !== undefined ? Math.max(now, old.at + 1) : now;
        entries[key] = { value, at, device: this.#device };
      }
      await this.#save(name, { ...held, local: { entries }, dirty: true });
    });
    try {
      await this.push(name);
    } catch (exc) {
      if (exc instanceof RelayError) {
        if (!exc.retryable) throw exc; // personal.quota: the app must know, the change stays local
      } else if (!(exc instanceof RelayUnavailable)) {
        throw exc;
      }
      // offline or throttled: the change waits in the local store
    }
  }

  // -- talking to the relay --------------------------------------------------------

  async #token(): Promise<string> {
    const usable = (): string | null => {
      const s = this.#session;
      return s !== null && s.expires_at - this.clock.nowMs() > MARGIN_MS ? s.token : null;
    };
    const held = usable();
    if (held !== null) return held;
    return this.#pacer.turn(async () => {
      const again = usable();
      if (again !== null) return again; // signed in while this call waited its turn
      this.#session = await signIn(this.#transport, this.keys);
      return this.#session.token;
    });
  }

  /** Run `call` with the store's token; sign in again once if it is refused. */
  async authed<T>(call: (token: string) => Promise<T>): Promise<T> {
    try {
      return await call(await this.#token());
    } catch (exc) {
      if (!(exc instanceof RelayError) || (exc.code !== "auth.invalid" && exc.code !== "auth.expired")) throw exc;
    }
    this.#session = null;
    return call(await this.#token());
  }

  /** Write a dirty document, merging and retrying on `personal.conflict`. */
  async push(name: string): Promise<void> {
    const docId = this.keys.documentId(name);
    let changed = false;
    await this.#lock.run(async () => {
      for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
        const held = await this.#state(name);
        if (!held.dirty) return;
        const box = sealDocument(this.keys, docId, held.version + 1, held.local);
        let version: number;
        try {
          version = (await this.authed((t) => this.#transport.personalPut(t, docId, { expected: held.version, box }))).version;
        } catch (exc) {
          if (!(exc instanceof RelayError) || exc.code !== "personal.conflict") throw exc;
          changed = (await this.#pullLocked(name)) || changed;
          continue;
        }
        await this.#save(name, { version, base: held.local, local: held.local, dirty: false });
        return;
      }
      throw new RelayError("the document kept changing; try again", { code: "personal.conflict" });
    });
    this.#announce(name, changed);
  }

  /** Fetch a document if the relay holds a newer version, and merge it in. */
  async pull(name: string): Promise<void> {
    const changed = await this.#lock.run(() => this.#pullLocked(name));
    this.#announce(name, changed);
  }

  #announce(name: string, changed: boolean): void {
    if (!changed) return;
    this.#host.emit({ type: "PersonalDataChanged", document: name });
    if (name === "rooms") this.#host.roomsListed();
  }

  /** Merge the relay's current version in; true if this device's view changed. */
  async #pullLocked(name: string): Promise<boolean> {
    const docId = this.keys.documentId(name);
    let remote;
    try {
      remote = await this.authed((t) => this.#transport.personalGet(t, docId));
    } catch (exc) {
      if (exc instanceof RelayError && exc.code === "personal.not_found") return false;
      throw exc;
    }
    const held = await this.#state(name);
    if (remote.version <= held.version) return false; // an older version served is ignored
    let theirs: Document;
    try {
      theirs = openDocument(this.keys, docId, remote.version, remote.box);
    } catch (exc) {
      if (exc instanceof CryptoError) {
        throw new RelayError("a personal document from the relay does not decrypt", { code: "relay.bad_answer" });
      }
      throw exc;
    }
    const merged = held.dirty ? merge(held.base, held.local, theirs, DOCUMENTS.get(name)!) : theirs;
    await this.#save(name, { version: remote.version, base: theirs, local: merged, dirty: !sameDocument(merged, theirs) });
    return !sameDocument(merged, held.local);
  }

  /** Fetch every document the relay has newer, then push every local change. */
  async sync(): Promise<void> {
    const index = await this.authed((t) => this.#transport.personalIndex(t));
    for (const info of index.docs) {
      const name = this.#ids.get(info.id);
      if (name === undefined) continue; // a document of a newer SDK
      if (info.version > (await this.#state(name)).version) await this.pull(name);
    }
    for (const name of DOCUMENTS.keys()) if ((await this.#state(name)).dirty) await this.push(name);
  }

  // -- live ----------------------------------------------------------------------

  /** Keep this store's websocket open until `stop()`: sync on connect, then fetch what changes. */
  follow(): Promise<void> {
    this.#following ??= this.#follow();
    return this.#following;
  }

  /** End `follow()` and every wait of it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop.abort();
    this.#ws?.close();
    await this.#following;
  }

  async #follow(): Promise<void> {
    const backoff = new Backoff(this.#reconnectDelay[0], this.#reconnectDelay[1], this.#rng);
    while (!this.#stopped) {
      let hint: number | null = null;
      try {
        const token = await this.#token();
        const ws = await this.#transport.openStream();
        this.#ws = ws;
        try {
          if (this.#stopped) return;
          ws.send({ type: "auth", tokens: [token], batch: false });
          const ready = await this.#within(ws.recv(), this.#timeout);
          if (ready.type !== "ready") throw new RelayError("the stream did not authenticate", { code: "auth.invalid" });
          ws.send({ type: "personal.subscribe", owner: this.keys.member });
          backoff.reset();
          await this.#quietly(() => this.sync());
          for (;;) {
            const frame = await ws.recv();
            if (frame.type === "personal") await this.#quietly(() => this.#announced(frame));
          }
        } finally {
          this.#ws = null;
          ws.close();
        }
      } catch (exc) {
        if (exc instanceof HearthError) {
          if (exc.code.startsWith("auth.")) this.#session = null;
          if (exc instanceof RelayError && exc.code === "stream.shutdown") hint = exc.retryAfter; // the relay's restart
        }
        // anything else: a bug must not end the reconnecting for good
      }
      if (this.#stopped) return;
      await this.clock.sleep(backoff.nextDelay(hint), this.#stop.signal);
    }
  }

  async #within<T>(work: Promise<T>, seconds: number): Promise<T> {
    const stop = new AbortController();
    const timeout = this.clock.sleep(seconds, stop.signal).then((passed) => {
      if (passed) throw new RelayUnavailable(`no answer on the personal stream within ${seconds} s`);
      return new Promise<never>(() => undefined);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      stop.abort();
    }
  }

  /**
   * Run a sync step; a refusal of one document must not drop the stream.
   *
   * A refused write (`personal.quota`) stays local and is retried at the next change
   * or reconnect; losing the relay ends the connection as usual.
   */
  async #quietly(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (exc) {
      if (exc instanceof RelayError && !exc.code.startsWith("auth.")) return;
      throw exc;
    }
  }

  async #announced(frame: PersonalFrame): Promise<void> {
    const name = this.#ids.get(frame.id);
    if (name === undefined || frame.owner !== this.keys.member) return;
    let held = await this.#state(name);
    if (frame.version > held.version) {
      await this.pull(name);
      held = await this.#state(name);
    }
    if (held.dirty) await this.push(name);
  }
}
