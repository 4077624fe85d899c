// A person using the SDK in a real browser page (bundled for the browser with no
// polyfills), on a relay hosted on another origin: the page's origin is in the
// relay's allowed_origins, so every request is a CORS request the relay must
// answer, preflights included, and the live stream is a browser WebSocket. The
// store is the browser's IndexedDB. The test calls these functions one by one.
import { HearthClient, Identity, IndexedDBBackend, type Room } from "../../src/index.js";

let client: HearthClient | null = null;
const texts: string[] = [];

function room(id: string): Room {
  if (client === null) throw new Error("open first");
  return client.room(id);
}

const api = {
  async open(relay: string, phrase: string | null): Promise<string> {
    const identity = phrase === null ? Identity.generate() : Identity.fromRecoveryPhrase(phrase);
    client = await HearthClient.open({
      relay,
      identity,
      store: await IndexedDBBackend.open(`hearth-${Math.random().toString(36).slice(2)}`),
    });
    void (async () => {
      for await (const event of client!.events()) {
        if (event.type === "MessageReceived") texts.push(event.message.text);
      }
    })();
    return identity.recoveryPhrase;
  },
  async createGroup(name: string): Promise<{ room: string; link: string }> {
    const created = await client!.createGroup(name, { rules: "Be kind." });
    return { room: created.id, link: await created.createInvite({ maxUses: 2 }) };
  },
  async join(link: string): Promise<string> {
    const joined = await client!.join(link);
    return joined.id;
  },
  async acceptRules(id: string): Promise<void> {
    await room(id).acceptRules();
  },
  async send(id: string, text: string): Promise<string> {
    return room(id).send(text);
  },
  async waitText(text: string, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!texts.includes(text)) {
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
    return true;
  },
  online(): boolean {
    return client?.online ?? false;
  },
  async messages(id: string): Promise<string[]> {
    return (await room(id).messages({ limit: 100 })).map((m) => m.text);
  },
  async members(id: string): Promise<string[]> {
    return [...room(id).members.keys()];
  },
  async close(): Promise<void> {
    await client?.close();
  },
};

(window as unknown as { __api: typeof api }).__api = api;
