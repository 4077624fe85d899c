/**
 * Crisis lines a person can reach at once: before any network, offline, on any relay
 * (mirrors `client_sdk/crisis.py`, line for line).
 *
 * A `CrisisDirectory` is two lists: a built-in one that ships with the SDK
 * (`DEFAULT_CRISIS_RESOURCES`: international directories, a few national lines and the
 * emergency-number advice), so that the very first start shows help before anything
 * was fetched; and the relay operator's list, fetched **whole** from the public
 * `GET /v1/crisis` by `fetchCrisisDirectory` (no identity, no open client, no session
 * token) and kept in a cache the app chooses (`CrisisCache`: a file in Node,
 * `src/node/`; Web Storage or any key-value store elsewhere).
 *
 * The person's region is chosen and applied on this device (`forRegion`) and never
 * sent: the SDK has no way to pass `?region=` to the relay at all, so the relay cannot
 * learn which country an address asks about. A missing or damaged cache is not an
 * error: the directory falls back to the built-in list, because a crisis screen must
 * never fail to show something. The cache holds the Python SDK's JSON, so either SDK
 * reads the other's.
 */

import { SYSTEM_CLOCK, type Clock } from "./clock.js";
import { HearthError } from "./errors.js";
import { StoreError } from "./sdkErrors.js";
import { type FetchLike, originOf, Transport } from "./transport.js";
import { decodeJson, make } from "./wire/codec.js";
import type { CrisisResource } from "./wire/schema.gen.js";

export type { CrisisResource } from "./wire/schema.gen.js";

// Where each fact below comes from (checked when this list was written; a wrong
// crisis number is harmful, so the list is short and holds only lines whose
// operators publish them as national or international services). The sources are
// those of client_sdk/crisis.py, which keeps the same list:
//
// - Emergency numbers: 112 is the single European emergency number in every EU
//   member state (Council Decision 91/396/EEC, now Article 109 of the European
//   Electronic Communications Code, Directive (EU) 2018/1972) and GSM/3GPP phones
//   treat it as an emergency number in most countries (3GPP TS 22.101); 911 in the
//   US and Canada (FCC, CRTC); 999 in the UK (Ofcom; 112 works there too); 000 in
//   Australia (triplezero.gov.au).
// - Find A Helpline, https://findahelpline.com: ThroughLine's verified directory of
//   free helplines, searchable by country.
// - Befrienders Worldwide, https://befrienders.org: the international network of
//   emotional support centres founded by the Samaritans' founder.
// - 988 Suicide & Crisis Lifeline (US), https://988lifeline.org: call or text 988,
//   24/7, since 16 July 2022 (SAMHSA; FCC designated 988 in July 2020).
// - 9-8-8: Suicide Crisis Helpline (Canada), https://988.ca: call or text 988, 24/7,
//   English and French, since 30 November 2023 (PHAC and CAMH; CRTC decision 2022).
// - Samaritans (UK and Republic of Ireland), https://www.samaritans.org: free from
//   landlines and mobiles on 116 123, 24 hours a day, every day.
// - Lifeline Australia, https://www.lifeline.org.au: 13 11 14, 24/7 crisis support
//   and suicide prevention.

function line(fields: Partial<CrisisResource> & Pick<CrisisResource, "name" | "regions">): CrisisResource {
  const resource = make<CrisisResource>("CrisisResource", fields as CrisisResource & Record<string, unknown>);
  Object.freeze(resource.regions);
  return Object.freeze(resource);
}

/** The emergency-number advice, for every region (no single number is right everywhere). */
export const EMERGENCY_ADVICE: CrisisResource = line({
  name: "Emergency services",
  regions: ["*"],
  description:
    "If you or someone else is in immediate danger, call your local emergency " +
    "number now: 112 across the EU and on most mobile phones, 911 in the US and " +
    "Canada, 999 in the UK, 000 in Australia.",
});

/** The lines the SDK ships with, shown before (and besides) any relay's list. */
export const DEFAULT_CRISIS_RESOURCES: readonly CrisisResource[] = Object.freeze([
  EMERGENCY_ADVICE,
  line({
    name: "Find A Helpline",
    regions: ["*"],
    url: "https://findahelpline.com",
    description: "Free, confidential helplines in your country, by phone, text or chat.",
  }),
  line({
    name: "Befrienders Worldwide",
    regions: ["*"],
    url: "https://befrienders.org",
    description: "Emotional support centres around the world: find one in your country.",
  }),
  line({
    name: "988 Suicide & Crisis Lifeline",
    regions: ["US"],
    phone: "988",
    sms: "988",
    url: "https://988lifeline.org",
    hours: "24/7",
  }),
  line({
    name: "9-8-8: Suicide Crisis Helpline",
    regions: ["CA"],
    phone: "988",
    sms: "988",
    url: "https://988.ca",
    hours: "24/7",
    description: "In English and French.",
  }),
  line({
    name: "Samaritans",
    regions: ["GB", "IE"],
    phone: "116 123",
    url: "https://www.samaritans.org",
    hours: "24/7",
    description: "Free to call.",
  }),
  line({
    name: "Lifeline Australia",
    regions: ["AU"],
    phone: "13 11 14",
    url: "https://www.lifeline.org.au",
    hours: "24/7",
  }),
]);

const FORMAT = "hearth-crisis-cache";
const VERSION = 1;

/**
 * `region` as an upper-case ISO 3166-1 alpha-2 code, or null for every region.
 *
 * @throws RangeError `region` is not two ASCII letters (Python's `ValueError`).
 */
export function normaliseRegion(region: string | null | undefined): string | null {
  if (region === null || region === undefined) return null;
  if (!/^[A-Za-z]{2}$/.test(region)) {
    throw new RangeError(`a region is an ISO 3166-1 alpha-2 code such as GB, not ${JSON.stringify(region)}`);
  }
  return region.toUpperCase();
}

// Python's str.split() separates on these too (the ASCII information separators).
const SPACES = /[\s\x1c-\x1f\x85]+/u;

/** Python's `casefold()` for the comparisons here: full folding (ß is ss, final sigma is σ). */
function casefold(text: string): string {
  return text.toUpperCase().toLowerCase().replace(/ς/g, "σ");
}

/** Two entries for one line: the same name and number, however spaced or cased. */
function keyOf(resource: CrisisResource): string {
  const phone = [...(resource.phone ?? "")].filter((c) => /[\p{L}\p{N}]/u.test(c)).join("");
  const name = casefold(resource.name.split(SPACES).filter((w) => w !== "").join(" "));
  return JSON.stringify([name, phone]);
}

/** Where a `CrisisDirectory` keeps the relay's list between starts. */
export interface CrisisCache {
  /** The text last written, or null if there is none (may throw: it counts as none). */
  read(): Promise<string | null>;
  /** Replace the text, so a reader finds the old text or the new one, never half of one. */
  write(text: string): Promise<void>;
}

/** A Web Storage (`localStorage`) or React Native `AsyncStorage`-like key-value store. */
export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
}

/** A `CrisisCache` under one key of a key-value store (a single `setItem` is atomic there). */
export function keyValueCrisisCache(storage: KeyValueStorage, key = "hearth-crisis-cache"): CrisisCache {
  return {
    read: async () => await storage.getItem(key),
    write: async (text) => {
      await storage.setItem(key, text);
    },
  };
}

/** Options of `new CrisisDirectory`. */
export interface CrisisDirectoryOptions {
  /** The relay the list came from (`https://relay.example`), if any. */
  readonly relayOrigin?: string | null;
  /** Unix time (seconds) of the fetch, if any. */
  readonly fetchedAt?: number | null;
  /** The lines shipped with the SDK (`DEFAULT_CRISIS_RESOURCES`). */
  readonly builtin?: Iterable<CrisisResource>;
}

/**
 * The built-in crisis lines and a relay operator's, filtered on the device.
 *
 * The relay's lines come first, in the operator's order, then the built-in ones; a
 * built-in line the operator also lists (same name and phone number, ignoring case
 * and spacing) appears once, as the operator wrote it.
 */
export class CrisisDirectory {
  /** The relay operator's lines, as fetched. */
  readonly relayResources: readonly CrisisResource[];
  /** The relay they came from, or null. */
  readonly relayOrigin: string | null;
  /** When they were fetched (Unix time, seconds), or null: the built-in lines only. */
  readonly fetchedAt: number | null;
  readonly #resources: readonly CrisisResource[];
  readonly #fromRelay: ReadonlySet<string>;

  constructor(relay: Iterable<CrisisResource> = [], options: CrisisDirectoryOptions = {}) {
    this.relayResources = Object.freeze([...relay]);
    this.relayOrigin = options.relayOrigin ?? null;
    this.fetchedAt = options.fetchedAt ?? null;
    this.#resources = Object.freeze(onceEach([...this.relayResources, ...(options.builtin ?? DEFAULT_CRISIS_RESOURCES)]));
    this.#fromRelay = new Set(this.relayResources.map(keyOf));
  }

  /** Every line, the relay's first, without duplicates. */
  get resources(): readonly CrisisResource[] {
    return this.#resources;
  }

  /** Every region code some line names, upper case and sorted (for a region picker). */
  get regions(): readonly string[] {
    const codes = new Set<string>();
    for (const r of this.#resources) for (const code of CrisisDirectory.regionsOf(r)) if (code !== "*") codes.add(code);
    return [...codes].sort();
  }

  /**
   * The lines for `region` and those for everywhere (`"*"`); all of them for null.
   *
   * The emergency-number advice is a `"*"` line, so it is always there. This runs on
   * the device: nothing is sent.
   *
   * @throws RangeError `region` is not two ASCII letters.
   */
  forRegion(region: string | null = null): CrisisResource[] {
    const wanted = normaliseRegion(region);
    if (wanted === null) return [...this.#resources];
    return this.#resources.filter((r) => CrisisDirectory.regionsOf(r).some((c) => c === wanted || c === "*"));
  }

  /**
   * Someone else's `lines` first, then this device's for `region`, each line once.
   *
   * For a program's help lines (`RiskHelpShown`): they are shown beside the person's
   * own lines, never instead, so the emergency-number advice and the lines for the
   * region chosen on this device are always there. A line both lists appears once, as
   * `lines` wrote it. Nothing is sent.
   *
   * @throws RangeError `region` is not two ASCII letters.
   */
  alongside(lines: Iterable<CrisisResource>, region: string | null = null): CrisisResource[] {
    const own = this.forRegion(region);
    return onceEach([...lines, ...own]);
  }

  /** The regions a line serves, for display: upper-case codes, `"*"` for everywhere. */
  static regionsOf(resource: CrisisResource): readonly string[] {
    return [...new Set(resource.regions.map((code) => code.toUpperCase()))];
  }

  /** True if the relay's operator lists this line, false if only the SDK does. */
  fromRelay(resource: CrisisResource): boolean {
    return this.#fromRelay.has(keyOf(resource));
  }

  // -- the cache ---------------------------------------------------------------------

  /**
   * The relay's list as the cache holds it: the Python SDK's JSON (only the relay's
   * lines: the built-in ones come from the SDK in use).
   */
  toCacheText(): string {
    return JSON.stringify({
      format: FORMAT,
      version: VERSION,
      relay: this.relayOrigin,
      fetched_at: this.fetchedAt,
      resources: this.relayResources,
    });
  }

  /**
   * The directory a cache text holds; the built-in lines alone if it holds none.
   *
   * Never throws: a missing, damaged or foreign text (or one saved for another relay
   * than `relayUrl`, when given) yields the built-in lines.
   */
  static fromCacheText(text: string | null, options: { readonly relayUrl?: string | null } = {}): CrisisDirectory {
    if (text === null) return new CrisisDirectory();
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      return new CrisisDirectory();
    }
    const parsed = readCacheRecord(record);
    if (parsed === null) return new CrisisDirectory();
    if (options.relayUrl !== undefined && options.relayUrl !== null) {
      try {
        if (originOf(options.relayUrl) !== parsed.relay) return new CrisisDirectory();
      } catch {
        return new CrisisDirectory();
      }
    }
    return new CrisisDirectory(parsed.resources, { relayOrigin: parsed.relay, fetchedAt: parsed.fetchedAt });
  }

  /**
   * The directory saved in `cache`; the built-in lines alone if there is none.
   *
   * Never rejects: a cache that cannot be read counts as empty, so a crisis screen
   * always has something to show, offline and before sign-in.
   */
  static async load(cache: CrisisCache, options: { readonly relayUrl?: string | null } = {}): Promise<CrisisDirectory> {
    let text: string | null;
    try {
      text = await cache.read();
    } catch {
      return new CrisisDirectory();
    }
    return CrisisDirectory.fromCacheText(text, options);
  }

  /**
   * Write the relay's list to `cache`.
   *
   * @throws StoreError `store.io` if the cache cannot be written (it keeps the old text).
   */
  async save(cache: CrisisCache): Promise<void> {
    try {
      await cache.write(this.toCacheText());
    } catch (exc) {
      if (exc instanceof StoreError) throw exc;
      const why = exc instanceof Error ? exc.message : String(exc);
      throw new StoreError(`cannot write the crisis cache: ${why}`, "store.io");
    }
  }
}

function onceEach(resources: readonly CrisisResource[]): CrisisResource[] {
  const seen = new Set<string>();
  const out: CrisisResource[] = [];
  for (const resource of resources) {
    const key = keyOf(resource);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(resource);
    }
  }
  return out;
}

/** The cache record as Python's `_CacheFile` decodes it (every field required), or null. */
function readCacheRecord(
  record: unknown,
): { relay: string | null; fetchedAt: number | null; resources: CrisisResource[] } | null {
  if (typeof record !== "object" || record === null || Array.isArray(record)) return null;
  const r = record as Record<string, unknown>;
  for (const field of ["format", "version", "relay", "fetched_at", "resources"]) if (!(field in r)) return null;
  const { format, version, relay, fetched_at: fetchedAt, resources } = r;
  if (format !== FORMAT || version !== VERSION) return null;
  if (relay !== null && typeof relay !== "string") return null;
  if (fetchedAt !== null && (typeof fetchedAt !== "number" || !Number.isFinite(fetchedAt))) return null;
  if (!Array.isArray(resources)) return null;
  try {
    const lines = resources.map((item) => decodeJson<CrisisResource>("CrisisResource", item));
    return { relay, fetchedAt, resources: lines };
  } catch (exc) {
    if (exc instanceof HearthError) return null;
    throw exc;
  }
}

/** Options of `fetchCrisisDirectory`. */
export interface FetchCrisisOptions {
  /** Where to keep the list (`CrisisDirectory.save`), for `CrisisDirectory.load` offline. */
  readonly cache?: CrisisCache;
  /** Seconds for the whole request (default 15). */
  readonly timeout?: number;
  /** Where `fetchedAt` is read from (and the timeout waits). */
  readonly clock?: Clock;
  /** The `fetch` to use (default: the runtime's). */
  readonly fetch?: FetchLike;
}

/**
 * Fetch the relay operator's whole crisis list; keep it in `cache` if given.
 *
 * No identity, sign-in or open client is needed, and no region is sent: the request
 * is `GET /v1/crisis` with nothing but the path, and the region is applied afterwards
 * with `CrisisDirectory.forRegion`.
 *
 * @throws RelayUnavailable The relay cannot be reached.
 * @throws RelayError The relay refused (`rate.limited` ...) or its answer is not a
 *   crisis list (`relay.bad_answer`).
 * @throws StoreError `store.io` if `cache` cannot be written.
 * @throws TypeError `relayUrl` is not an http(s) URL.
 */
export async function fetchCrisisDirectory(relayUrl: string, options: FetchCrisisOptions = {}): Promise<CrisisDirectory> {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const transport = new Transport(relayUrl, {
    timeout: options.timeout ?? 15,
    clock,
    ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
  });
  let resources: CrisisResource[];
  try {
    resources = await transport.crisis();
  } finally {
    transport.close();
  }
  const directory = new CrisisDirectory(resources, { relayOrigin: transport.origin, fetchedAt: clock.nowMs() / 1000 });
  if (options.cache !== undefined) await directory.save(options.cache);
  return directory;
}
