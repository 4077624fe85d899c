/**
 * Signing in (src/sessions.ts) against a real relay, as a front end does: a key signs
 * in once and its token is reused until a minute before it expires by the client's
 * clock; a token the relay refuses is replaced once; a relay naming another origin
 * gets no signature; and every refused sign-in carries the code the Python SDK
 * reports for the same refusal, asked of the Python SDK itself.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { memberOf, signAuth } from "../src/auth.js";
import { b64urlDecode } from "../src/bytes.js";
import { ManualClock } from "../src/clock.js";
import { SigningKey, cryptoReady, powCheck, powSolve, randomBytes } from "../src/crypto.js";
import { RelayError } from "../src/sdkErrors.js";
import { PACE_S, Sessions, SignInPacer, signIn, solvePow } from "../src/sessions.js";
import { type FetchLike, Transport } from "../src/transport.js";
import type { AuthRequest } from "../src/wire/schema.gen.js";
import { PythonPeer } from "./peer.js";
import { type RelayProcess, startRelay } from "./relay.js";

beforeAll(() => cryptoReady());

/** A week: the relay's default token_ttl (server/config.py). */
const TOKEN_TTL_S = 7 * 24 * 3600;

function freshKey(): SigningKey {
  return new SigningKey(randomBytes(32));
}

/** The real fetch, counting the challenges asked for. */
function counting(): { fetch: FetchLike; challenges: () => number } {
  let challenges = 0;
  return {
    fetch: (url, init) => {
      if (url.endsWith("/v1/auth/challenge")) challenges++;
      return fetch(url, init);
    },
    challenges: () => challenges,
  };
}

describe("sign-in against a relay", () => {
  let relay: RelayProcess;
  let strict: RelayProcess; // challenges expire after one second
  let peer: PythonPeer;
  let strictPeer: PythonPeer;

  beforeAll(async () => {
    // 16 bits of proof of work, not the 6 of the other tests: a sign-in without one
    // sends nonce 0, which the relay takes as a proof when it happens to solve the
    // challenge (1 in 64 at 6 bits), and "this key may not create" must hold here.
    [relay, strict] = await Promise.all([
      startRelay({ env: { HEARTH_POW_DIFFICULTY: "16" } }),
      startRelay({ env: { HEARTH_CHALLENGE_TTL: "1" } }),
    ]);
    [peer, strictPeer] = await Promise.all([PythonPeer.start(relay.url), PythonPeer.start(strict.url)]);
  });
  afterAll(async () => {
    await Promise.all([peer?.close(), strictPeer?.close()]);
    await Promise.all([relay?.dispose(), strict?.dispose()]);
  });

  it("signs a key in once and reuses its token until a minute before it expires", async () => {
    const clock = new ManualClock();
    const spy = counting();
    const transport = new Transport(relay.url, { fetch: spy.fetch });
    const sessions = new Sessions(transport, { clock });
    const key = freshKey();
    const first = await sessions.token(key);
    expect(await sessions.token(key)).toBe(first);
    expect(spy.challenges()).toBe(1);
    // The token works: the relay resolves it to the key (a sync of no rooms).
    expect(await transport.sync([first], { positions: {} })).toEqual({ rooms: [], more: false });
    clock.advance(TOKEN_TTL_S - 65); // 65 s (and the sign-in's round trip) left
    expect(await sessions.token(key)).toBe(first);
    clock.advance(10); // under a minute left by our clock: sign in again
    const second = await sessions.token(key);
    expect(second).not.toBe(first);
    expect(spy.challenges()).toBe(2);
  });

  it("signs in again, once, when the relay refuses a token", async () => {
    const spy = counting();
    const transport = new Transport(relay.url, { fetch: spy.fetch });
    const sessions = new Sessions(transport);
    const key = freshKey();
    const used: string[] = [];
    const answer = await sessions.call(key, async (token) => {
      // The first call presents a token the relay no longer takes.
      const presented = used.length === 0 ? token.slice(0, -2) + (token.endsWith("AA") ? "BB" : "AA") : token;
      used.push(presented);
      return transport.sync([presented], { positions: {} });
    });
    expect(answer.more).toBe(false);
    expect(used.length).toBe(2);
    expect(spy.challenges()).toBe(2);

    // Anything but auth.invalid / auth.expired is not the token's fault: no second sign-in.
    await expect(
      sessions.call(key, async () => {
        throw new RelayError("no", { code: "room.not_found", status: 404 });
      }),
    ).rejects.toMatchObject({ code: "room.not_found" });
    expect(spy.challenges()).toBe(2);
  });

  it("signs in a key that may create rooms with a proof of work", async () => {
    const transport = new Transport(relay.url);
    const session = await signIn(transport, freshKey(), { create: true });
    expect(session.can_create).toBe(true);
    const plain = await signIn(transport, freshKey());
    expect(plain.can_create).toBe(false);
    // A session that may not create is not reused for one that must.
    const sessions = new Sessions(transport);
    const key = freshKey();
    const token = await sessions.token(key);
    expect(await sessions.token(key, { create: true })).not.toBe(token);
  });

  it("signs nothing for a relay that names another origin", async () => {
    // The same relay, configured as localhost: its challenges name 127.0.0.1.
    const signed: AuthRequest[] = [];
    const transport = new Transport(relay.url.replace("127.0.0.1", "localhost"), {
      fetch: async (url, init) => {
        if (url.endsWith("/v1/auth/session")) signed.push(JSON.parse(String(init.body)) as AuthRequest);
        return fetch(url, init);
      },
    });
    const refused = signIn(transport, freshKey());
    await expect(refused).rejects.toBeInstanceOf(RelayError);
    await expect(refused).rejects.toMatchObject({ code: "auth.origin_mismatch", status: 0 });
    expect(signed).toEqual([]);
  });

  async function refusedSignIn(target: RelayProcess, test: "bad_signature" | "reused" | "expired"): Promise<RelayError> {
    const transport = new Transport(target.url);
    const key = freshKey();
    const challenge = await transport.challenge(memberOf(key));
    if (test === "expired") {
      // Past the challenge's own expiry (one second on this relay), by the relay's clock, which is this machine's.
      while (Date.now() <= challenge.expires_at + 50) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const signer = test === "bad_signature" ? freshKey() : key;
    const sig = signAuth(signer, { origin: challenge.origin, challenge: challenge.challenge, expiresAt: challenge.expires_at });
    const request: AuthRequest = { key: memberOf(key), challenge: challenge.challenge, sig };
    try {
      await transport.session(request);
      if (test === "reused") await transport.session(request);
    } catch (exc) {
      expect(exc).toBeInstanceOf(RelayError);
      return exc as RelayError;
    }
    throw new Error(`the relay took a ${test} sign-in`);
  }

  it.each([
    ["bad_signature", "auth.bad_signature"],
    ["reused", "auth.invalid"],
    ["expired", "auth.expired"],
  ] as const)("refuses a %s sign-in with the Python SDK's code (%s)", async (test, code) => {
    const target = test === "expired" ? strict : relay;
    const python = await (test === "expired" ? strictPeer : peer).call<{ code: string; status: number }>({ op: "refusal", case: test });
    const ours = await refusedSignIn(target, test);
    expect({ code: ours.code, status: ours.status }).toEqual(python);
    expect(ours.code).toBe(code);
    expect(ours.status).toBe(401);
    expect(ours.retryable).toBe(false);
  });
});

describe("the sign-in pacer", () => {
  it("takes turns, with a random pause between close sign-ins by its clock", async () => {
    const clock = new ManualClock();
    const pacer = new SignInPacer(PACE_S, clock);
    const order: string[] = [];
    let inside = 0;
    let most = 0;
    const signIns = ["a", "b", "c"].map((name) =>
      pacer.turn(async () => {
        inside++;
        most = Math.max(most, inside);
        order.push(name);
        await Promise.resolve();
        inside--;
      }),
    );
    // The first goes at once; each next one waits a random while in [pace/4, pace).
    const waits: number[] = [];
    for (let i = 0; i < 2; i++) {
      const wait = await clock.nextSleep();
      waits.push(wait);
      expect(wait).toBeGreaterThanOrEqual(PACE_S / 4);
      expect(wait).toBeLessThan(PACE_S);
      clock.advance(wait);
    }
    await Promise.all(signIns);
    expect(order).toEqual(["a", "b", "c"]);
    expect(most).toBe(1);
    expect(waits[0]).not.toBe(waits[1]); // random, not one fixed delay
    // A pace after the last one by its clock (and a microsecond, against rounding),
    // the next sign-in does not wait.
    clock.advance(PACE_S + 1e-6);
    const went = pacer.turn(async () => "went");
    await new Promise((resolve) => setTimeout(resolve, 0)); // every microtask has run
    expect(clock.sleeping()).toEqual([]);
    expect(await went).toBe("went");
  });

  it("solves the proof of work as the reference solver does, yielding between slices", async () => {
    const key = b64urlDecode(memberOf(freshKey()));
    // A challenge whose answer takes several slices of 8192 tries, so yielding shows.
    let challenge = randomBytes(32);
    while (powSolve(challenge, key, 16) < 3 * 8192) challenge = randomBytes(32);
    let turns = 0;
    const ticking = setInterval(() => turns++, 0);
    try {
      const nonce = await solvePow(challenge, key, 16);
      expect(nonce).toBe(powSolve(challenge, key, 16));
      expect(powCheck(challenge, key, nonce, 16)).toBe(true);
      expect(turns).toBeGreaterThan(0); // the event loop ran while it solved
    } finally {
      clearInterval(ticking);
    }
  });
});
