/**
 * A signed-in session: the SDK's client on this browser's encrypted store, talking
 * to the relay at the page's own origin, and its events handed to the screens.
 *
 * - The relay is the page's own origin (the relay serves the app at `/`), unless
 *   the address named another (`address.ts`, for a copy hosted apart); the SDK
 *   derives the websocket URL from it (`ws:`/`wss:` on the same host).
 * - The store is an IndexedDB database named after a hash of the identity's store
 *   key, so a second identity restored in the same browser never meets the first
 *   one's store.
 * - The connection state is what is known: "connecting" until the SDK's
 *   `ConnectionChanged` (or a sync that reached or failed to reach the relay) says
 *   otherwise, so it never reads "offline" while the relay is up.
 */

import { type Event, HearthClient, type Identity, IndexedDBBackend, RelayUnavailable } from "@hearth/sdk";

export type Connection = "connecting" | "online" | "offline";

async function storeName(identity: Identity): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", identity.storeKey() as Uint8Array<ArrayBuffer>));
  return `hearth-store-${[...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

type Listener = (event: Event) => void;

export class Session {
  readonly client: HearthClient;
  #connection: Connection = "connecting";
  readonly #listeners = new Set<Listener>();
  readonly #connectionListeners = new Set<(state: Connection) => void>();
  readonly #roomListeners = new Set<() => void>();

  private constructor(client: HearthClient) {
    this.client = client;
  }

  /** Open the client on this browser's store and start following the relay. */
  static async open(identity: Identity, relay: string, linkedRooms: HearthClient["linkedRooms"] = []): Promise<Session> {
    const store = await IndexedDBBackend.open(await storeName(identity));
    const client = new HearthClient({ relay, identity, store });
    client.linkedRooms = linkedRooms; // a device link's rooms, with the heads the other device verified
    await client.open();
    const session = new Session(client);
    void session.#pump();
    void session.sync();
    return session;
  }

  /** One catch-up pass (it also takes up the rooms of a restored identity); sets the state it learnt. */
  async sync(): Promise<void> {
    try {
      await this.client.sync();
      if (this.#connection === "connecting" || this.client.online) this.#setConnection("online");
    } catch (exc) {
      if (exc instanceof RelayUnavailable) this.#setConnection("offline");
    }
    for (const listener of [...this.#roomListeners]) listener();
  }

  get connection(): Connection {
    return this.#connection;
  }

  /** Be told of every SDK event. */
  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Be told when a catch-up ended (a restore's rooms may have been taken up). */
  onCaughtUp(listener: () => void): () => void {
    this.#roomListeners.add(listener);
    return () => this.#roomListeners.delete(listener);
  }

  onConnection(listener: (state: Connection) => void): () => void {
    this.#connectionListeners.add(listener);
    return () => this.#connectionListeners.delete(listener);
  }

  #setConnection(state: Connection): void {
    if (state === this.#connection) return;
    this.#connection = state;
    for (const listener of [...this.#connectionListeners]) listener(state);
  }

  #emit(event: Event): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (exc) {
        console.error("hearth web: a screen failed on an event", exc);
      }
    }
  }

  async #pump(): Promise<void> {
    for await (const event of this.client.events()) {
      if (event.type === "ConnectionChanged") this.#setConnection(event.online ? "online" : "offline");
      this.#emit(event);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
