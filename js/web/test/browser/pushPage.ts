// A page of the web app's origin that drives webpush.ts with a real SDK client (an
// IndexedDB store, the relay's API over fetch and WebSocket), for webpush.test.ts.
// The test calls these functions one by one through `window.__api`.
import { HearthClient, Identity, IndexedDBBackend } from "@hearth/sdk";
import { enableWebPush, pushScopeOf } from "../../src/webpush.js";

let client: HearthClient | null = null;

const api = {
  async open(relay: string): Promise<void> {
    client = await HearthClient.open({
      relay,
      identity: Identity.generate(),
      store: await IndexedDBBackend.open(`hearth-${Math.random().toString(36).slice(2)}`),
    });
  },
  async createGroup(name: string): Promise<{ room: string; link: string }> {
    const room = await client!.createGroup(name);
    return { room: room.id, link: await room.createInvite({ maxUses: 1 }) };
  },
  async enable(): Promise<{ room: string; scope: string; endpoint: string }[]> {
    await enableWebPush(client!);
    const out = [];
    for (const room of client!.rooms) {
      const scope = new URL(pushScopeOf(room), location.href).href;
      const registration = await navigator.serviceWorker.getRegistration(scope);
      const subscription = await registration!.pushManager.getSubscription();
      out.push({ room: room.id, scope: registration!.scope, endpoint: subscription!.endpoint });
    }
    return out;
  },
  async close(): Promise<void> {
    await client?.close();
    client = null;
  },
};

(window as unknown as { __api: typeof api }).__api = api;
