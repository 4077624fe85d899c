/**
 * Linking a device: both screens show a short code before the root moves
 * (mirrors `client_sdk/_device_links.py`, and `PendingDeviceLink` of `client.py`).
 *
 * `DeviceLink` is the existing device's side: it filed a hello (its ephemeral X25519
 * key) under the code's first rendezvous id; it waits for the new device's answer,
 * shows the short code computed from the code and both keys, and seals the root only
 * when the person confirms that the new device shows the same digits (`confirm`), or
 * files a refusal (`refuse`). `PendingDeviceLink` is the new device's side: it claimed
 * the hello (`answerLink`) and filed its answer (under a throwaway key of its own: it
 * has no other), shows its short code, and waits for the root box.
 *
 * Someone who learned the code and answers first takes the answer id: the real new
 * device then fails (`link.taken`, or `link.used` if the hello was claimed too) and
 * shows no code, while the existing device shows the intruder's code. The person
 * refuses, and the root is never sealed for the intruder. The relay sees three
 * rendezvous ids and three boxes; it knows neither the code nor any key.
 *
 * The two sides wait for each other by claiming with a short backoff (a claim of a box
 * not filed yet is `link.not_found`), within the offer's lifetime.
 */

import { Backoff, type Rng } from "./backoff.js";
import { type Clock, SYSTEM_CLOCK } from "./clock.js";
import { BoxPrivateKey, randomBytes } from "./crypto.js";
import { LinkError } from "./errors.js";
import { Identity } from "./identity.js";
import { LinkCode, type LinkRoom, openAnswer, openHello, PersonalKeys, sealAnswer, sealHello, sealLink, shortCode } from "./personal.js";
import type { PersonalSync } from "./personalSync.js";
import { RelayError } from "./sdkErrors.js";
import { signIn } from "./sessions.js";
import { type FetchLike, Transport } from "./transport.js";
import type { LinkOffer } from "./wire/schema.gen.js";

/** Seconds either side waits for the other by default (the relay's default `link_ttl`). */
export const LINK_WAIT = 600;
const FIRST_DELAY = 0.2;
const MAX_DELAY = 5;

/** How a side of a link waits. */
export interface LinkWaitOptions {
  /** Seconds to wait for the other device (default `LINK_WAIT`). */
  readonly timeout?: number;
  readonly clock?: Clock;
  readonly rng?: Rng;
}

/**
 * Claim the box under `link`, waiting (with backoff) until it is filed.
 *
 * The waits are a `Backoff` from 0.2 s up to 5 s with full jitter; the relay's
 * `rate.limited` answer holds a poll back for its `retryAfter`.
 *
 * @throws LinkError `link.used`, `link.expired` (or nothing filed within `timeout`).
 * @throws RelayError Another refusal of the relay.
 */
export async function claimWhenFiled(transport: Transport, link: string, options: LinkWaitOptions = {}): Promise<Uint8Array> {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const timeout = options.timeout ?? LINK_WAIT;
  const deadline = clock.monotonic() + timeout;
  const backoff = new Backoff(FIRST_DELAY, MAX_DELAY, options.rng ?? Math.random);
  const expired = () => new LinkError("the other device did not answer in time", "link.expired");
  for (;;) {
    if (clock.monotonic() >= deadline) throw expired();
    let wait: number;
    try {
      return (await transport.claimLink(link)).box;
    } catch (exc) {
      if (!(exc instanceof RelayError)) throw exc;
      if (exc.code === "rate.limited") wait = Math.max(exc.retryAfter ?? 0, backoff.nextDelay());
      else if (exc.code === "link.not_found") wait = backoff.nextDelay();
      else if (exc.code.startsWith("link.")) throw new LinkError(exc.message, exc.code);
      else throw exc;
    }
    const left = deadline - clock.monotonic();
    if (left <= 0) throw expired();
    if (wait >= left) {
      await clock.sleep(left);
      throw expired();
    }
    await clock.sleep(wait);
  }
}

/** What a `DeviceLink` needs from the client that offered it. */
export interface DeviceLinkHost {
  /** The personal store's transport (its own connections, not a room key's). */
  readonly transport: Transport;
  /** File a box with the relay under the personal store's key. */
  file(offer: LinkOffer): Promise<unknown>;
  /** The rooms this device is in, with the heads it verified, when the root is sealed. */
  rooms(): LinkRoom[];
  readonly identity: Identity;
  readonly clock?: Clock;
  readonly rng?: Rng;
}

/**
 * The existing device's side of a device link; from `HearthClient.offerDeviceLink`.
 *
 * Show `code` (as text or a QR code) to the new device. Then `await claimantCode()` and
 * show the digits; the person compares them with the new device's screen and you call
 * `confirm()` (the same digits) or `refuse()` (anything else, or no digits there at all).
 */
export class DeviceLink {
  readonly #code: LinkCode;
  readonly #hello: BoxPrivateKey;
  readonly #host: DeviceLinkHost;
  #answer: Uint8Array | null = null;
  #done = false;

  /** Built by `HearthClient.offerDeviceLink` (or `offerDeviceLink` below) only. */
  constructor(code: LinkCode, hello: BoxPrivateKey, host: DeviceLinkHost) {
    this.#code = code;
    this.#hello = hello;
    this.#host = host;
  }

  toString(): string {
    return "DeviceLink(<code>)";
  }

  /** `HL2-` and 10 groups of 4 characters: what the new device types or scans. */
  get code(): string {
    return this.#code.text;
  }

  /**
   * Wait for the new device's answer; return the short code it must show (`123 456`).
   *
   * @throws LinkError `link.used` (someone else read the answer: refuse), `link.expired`
   *   (no answer within `timeout`), `link.bad_box`.
   * @throws RelayUnavailable The relay cannot be reached.
   */
  async claimantCode(options: { readonly timeout?: number } = {}): Promise<string> {
    if (this.#answer === null) {
      const box = await claimWhenFiled(this.#host.transport, this.#code.answerRendezvous, {
        timeout: options.timeout ?? LINK_WAIT,
        ...(this.#host.clock !== undefined ? { clock: this.#host.clock } : {}),
        ...(this.#host.rng !== undefined ? { rng: this.#host.rng } : {}),
      });
      this.#answer = openAnswer(this.#code, box).box_key;
    }
    return shortCode(this.#code, this.#hello.publicKey, this.#answer);
  }

  /**
   * The new device shows the same short code: seal the root and the rooms to it.
   *
   * @throws LinkError `link.no_claimant` before `claimantCode()` returned, `link.closed`
   *   after a confirm or refuse.
   * @throws RelayError `link.too_many`, `rate.limited`.
   * @throws RelayUnavailable The relay cannot be reached.
   */
  async confirm(): Promise<void> {
    const answerKey = this.#requireAnswer();
    const box = this.#host.identity.sealLink(this.#code, this.#host.rooms(), {
      hello: this.#hello,
      answerKey,
      now: (this.#host.clock ?? SYSTEM_CLOCK).nowMs(),
    });
    await this.#fileRoot(box);
  }

  /** The codes differ (or the new device shows none): the root never moves. The claimant gets `link.refused`. */
  async refuse(): Promise<void> {
    const answerKey = this.#requireAnswer();
    const box = sealLink(this.#code, { type: "link.refused" }, { hello: this.#hello, answerKey });
    await this.#fileRoot(box);
  }

  #requireAnswer(): Uint8Array {
    if (this.#done) throw new LinkError("this link was confirmed or refused already", "link.closed");
    if (this.#answer === null) throw new LinkError("no device has answered yet: await claimantCode() first", "link.no_claimant");
    return this.#answer;
  }

  async #fileRoot(box: Uint8Array): Promise<void> {
    this.#done = true;
    await this.#host.file({ id: this.#code.rootRendezvous, box });
  }
}

/** What `offerDeviceLink` needs from the client. */
export interface OfferOptions {
  /** The personal store: the offer is filed under its key, never a room key. */
  readonly personal: PersonalSync;
  /** The personal store's transport. */
  readonly transport: Transport;
  readonly identity: Identity;
  /** The rooms this device is in, with the heads it verified, read when the root is sealed. */
  readonly rooms: () => LinkRoom[];
  readonly clock?: Clock;
  readonly rng?: Rng;
}

/**
 * File a hello under a fresh code; the `DeviceLink` then waits for the new device.
 *
 * The code holds 176 random bits; from it both devices derive where the relay files
 * their boxes and the keys sealing the first two, so the relay never sees the root.
 *
 * @throws RelayError `link.too_many` (three codes wait already), `rate.limited`.
 * @throws RelayUnavailable The relay cannot be reached.
 */
export async function offerDeviceLink(options: OfferOptions): Promise<DeviceLink> {
  const { personal, transport } = options;
  const code = LinkCode.generate();
  const hello = new BoxPrivateKey(randomBytes(32));
  const box = sealHello(code, { type: "link.hello", box_key: hello.publicKey });
  await personal.authed((token) => transport.offerLink(token, { id: code.rendezvous, box }));
  return new DeviceLink(code, hello, {
    transport,
    file: (offer) => personal.authed((token) => transport.offerLink(token, offer)),
    rooms: options.rooms,
    identity: options.identity,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.rng !== undefined ? { rng: options.rng } : {}),
  });
}

/** Options of `beginDeviceLink`. */
export interface BeginOptions extends Omit<LinkWaitOptions, "timeout"> {
  /** Seconds for each request (default 15). */
  readonly timeout?: number;
  /** The `fetch` to use (default: the runtime's). */
  readonly fetch?: FetchLike;
}

/**
 * The new device's first step, for `HearthClient.beginDeviceLink`: parse the code,
 * claim the hello (once: the code is then spent) and file this device's answer.
 *
 * @param build Makes the linked client from the identity and the room list.
 * @throws LinkError `link.bad_code` (a typo: the checksum fails), `link.version`,
 *   `link.not_found`, `link.used`, `link.expired`, `link.taken`, `link.bad_box`.
 * @throws RelayError `rate.limited`.
 * @throws RelayUnavailable The relay cannot be reached.
 */
export async function beginDeviceLink<C>(
  baseUrl: string,
  code: string,
  build: (identity: Identity, rooms: LinkRoom[]) => C,
  options: BeginOptions = {},
): Promise<PendingDeviceLink<C>> {
  const parsed = LinkCode.parse(code);
  const transport = new Transport(baseUrl.replace(/\/+$/, ""), {
    timeout: options.timeout ?? 15,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
  });
  let answered: { answer: BoxPrivateKey; helloKey: Uint8Array };
  try {
    answered = await answerLink(transport, parsed);
  } catch (exc) {
    transport.close();
    throw exc;
  }
  return new PendingDeviceLink(parsed, answered, transport, build, {
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.rng !== undefined ? { rng: options.rng } : {}),
  });
}

/**
 * Claim the hello and file this device's answer; return the answer key and the hello's.
 *
 * @throws LinkError `link.not_found`, `link.used`, `link.expired` (the hello),
 *   `link.taken` (another device answered this code first: the other screen shows that
 *   device's short code; refuse there), `link.bad_box`.
 */
export async function answerLink(transport: Transport, code: LinkCode): Promise<{ answer: BoxPrivateKey; helloKey: Uint8Array }> {
  let helloKey: Uint8Array;
  try {
    helloKey = openHello(code, (await transport.claimLink(code.rendezvous)).box).box_key;
  } catch (exc) {
    if (exc instanceof RelayError && exc.code.startsWith("link.")) throw new LinkError(exc.message, exc.code);
    throw exc;
  }
  const answer = new BoxPrivateKey(randomBytes(32));
  // A throwaway key files the answer: this device holds no other key yet.
  const keys = PersonalKeys.derive(randomBytes(32));
  const session = await signIn(transport, keys);
  const offer: LinkOffer = { id: code.answerRendezvous, box: sealAnswer(code, { type: "link.answer", box_key: answer.publicKey }) };
  try {
    await transport.offerLink(session.token, offer);
  } catch (exc) {
    if (exc instanceof RelayError && exc.code === "link.exists") {
      throw new LinkError("another device answered this code first: refuse on the other device", "link.taken");
    }
    throw exc;
  }
  return { answer, helloKey };
}

/**
 * The new device's side of a device link; from `HearthClient.beginDeviceLink`.
 *
 * Show `shortCode` on this device; once the person confirmed it on the other device,
 * `finish()` returns the linked client (not yet opened).
 */
export class PendingDeviceLink<C> {
  readonly #code: LinkCode;
  readonly #answer: BoxPrivateKey;
  readonly #helloKey: Uint8Array;
  readonly #transport: Transport;
  readonly #build: (identity: Identity, rooms: LinkRoom[]) => C;
  readonly #wait: Omit<LinkWaitOptions, "timeout">;

  constructor(
    code: LinkCode,
    answered: { readonly answer: BoxPrivateKey; readonly helloKey: Uint8Array },
    transport: Transport,
    build: (identity: Identity, rooms: LinkRoom[]) => C,
    wait: Omit<LinkWaitOptions, "timeout"> = {},
  ) {
    this.#code = code;
    this.#answer = answered.answer;
    this.#helloKey = answered.helloKey;
    this.#transport = transport;
    this.#build = build;
    this.#wait = wait;
  }

  toString(): string {
    return `PendingDeviceLink(shortCode=${this.shortCode})`;
  }

  /** The six digits (`123 456`) the other device must show too. */
  get shortCode(): string {
    return shortCode(this.#code, this.#helloKey, this.#answer.publicKey);
  }

  /**
   * Wait for the other device's confirmation; return the linked client, not yet opened.
   *
   * @throws LinkError `link.refused` (the person refused on the other device),
   *   `link.expired`, `link.used`, `link.bad_box`.
   * @throws RelayUnavailable The relay cannot be reached.
   */
  async finish(options: { readonly timeout?: number } = {}): Promise<C> {
    let box: Uint8Array;
    try {
      box = await claimWhenFiled(this.#transport, this.#code.rootRendezvous, { ...this.#wait, timeout: options.timeout ?? LINK_WAIT });
    } finally {
      this.#transport.close();
    }
    const { identity, rooms } = Identity.openLink(this.#code, box, { answer: this.#answer, helloKey: this.#helloKey });
    return this.#build(identity, rooms);
  }
}
