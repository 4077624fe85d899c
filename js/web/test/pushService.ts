// The browser tests' stand-in for a browser's push service (webpush.test.ts,
// notifications.test.ts): a local HTTP server that records what a relay pushes, a
// `PushManager` for the page that hands out endpoints on it (Chromium cannot reach a
// real push service here), and the check of a push's VAPID signature.
import { createPublicKey, verify } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "vitest";

export interface Received {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The stand-in push service: records every request, answers 201 as push services do. */
export async function standIn(): Promise<{ server: Server; base: string; received: Received[]; next: (path: string, ms: number) => Promise<Received | null> }> {
  const received: Received[] = [];
  const waiting: (() => void)[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("latin1")));
    req.on("end", () => {
      received.push({ path: req.url ?? "", method: req.method ?? "", headers: req.headers, body });
      res.writeHead(201).end();
      for (const wake of waiting.splice(0)) wake();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  async function next(path: string, ms: number): Promise<Received | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = received.find((r) => r.path === path);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, left);
        waiting.push(() => {
          clearTimeout(timer);
          wake();
        });
      });
    }
  }
  return { server, base, received, next };
}

/** In the page, before any script: a PushManager that subscribes on the stand-in. */
export function fakePushService(base: string): void {
  let made = 0;
  const subscriptions = new WeakMap<PushManager, PushSubscription>();
  const keys: string[] = [];
  (window as unknown as { __subscribedWith: string[] }).__subscribedWith = keys;
  PushManager.prototype.getSubscription = async function (this: PushManager) {
    return subscriptions.get(this) ?? null;
  };
  PushManager.prototype.subscribe = async function (this: PushManager, options?: PushSubscriptionOptionsInit) {
    if (options?.userVisibleOnly !== true) throw new DOMException("userVisibleOnly is required", "NotAllowedError");
    const raw = options.applicationServerKey;
    const key = raw instanceof ArrayBuffer ? new Uint8Array(raw) : new Uint8Array((raw as ArrayBufferView).buffer.slice(0));
    keys.push(btoa(String.fromCharCode(...key)));
    const manager = this;
    const subscription = {
      endpoint: `${base}/subscription-${++made}`,
      expirationTime: null,
      options: { applicationServerKey: key.buffer.slice(0), userVisibleOnly: true },
      async unsubscribe() {
        subscriptions.delete(manager);
        return true;
      },
    } as unknown as PushSubscription;
    subscriptions.set(this, subscription);
    return subscription;
  };
}

export function verifiedClaims(authorization: string, key: Buffer): { aud: string; exp: number; sub: string } {
  expect(authorization.startsWith("vapid ")).toBe(true);
  const fields = new Map(
    authorization
      .slice("vapid ".length)
      .split(",")
      .map((part) => part.trim())
      .map((part) => [part.slice(0, part.indexOf("=")), part.slice(part.indexOf("=") + 1)] as const),
  );
  expect(Buffer.from(fields.get("k")!, "base64url")).toEqual(key);
  const [header, claims, signature] = fields.get("t")!.split(".") as [string, string, string];
  const publicKey = createPublicKey({
    key: { kty: "EC", crv: "P-256", x: key.subarray(1, 33).toString("base64url"), y: key.subarray(33).toString("base64url") },
    format: "jwk",
  });
  const ok = verify("sha256", Buffer.from(`${header}.${claims}`), { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(signature, "base64url"));
  expect(ok).toBe(true);
  return JSON.parse(Buffer.from(claims, "base64url").toString()) as { aud: string; exp: number; sub: string };
}

