/**
 * Crisis lines (mirrors tests/client_sdk/test_crisis.py): the built-in lines show
 * before any network, the relay's list is fetched whole (every request the SDK makes
 * is recorded: none names a region), kept in a cache and read back after the relay
 * stops; a damaged cache falls back to the built-in lines. Python's own
 * `CrisisDirectory` answers the same for the same lists, and reads the cache this SDK
 * writes (and the reverse).
 */

import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, test } from "vitest";

import {
  type CrisisCache,
  CrisisDirectory,
  type CrisisResource,
  DEFAULT_CRISIS_RESOURCES,
  EMERGENCY_ADVICE,
  fetchCrisisDirectory,
  keyValueCrisisCache,
  normaliseRegion,
} from "../src/crisis.js";
import { fileCrisisCache } from "../src/node/crisisCache.js";
import { RelayError, RelayUnavailable, StoreError } from "../src/sdkErrors.js";
import type { FetchLike } from "../src/transport.js";
import { make } from "../src/wire/codec.js";
import { python } from "./python.js";
import { CRISIS_TOML } from "./crisisFixture.js";
import { freePort, type RelayProcess, startRelay } from "./relay.js";


function tmp(): string {
  return mkdtempSync(join(tmpdir(), "hearth-crisis-"));
}

function names(resources: readonly CrisisResource[]): string[] {
  return resources.map((r) => r.name);
}

function res(fields: Partial<CrisisResource> & Pick<CrisisResource, "name" | "regions">): CrisisResource {
  return make<CrisisResource>("CrisisResource", fields as CrisisResource & Record<string, unknown>);
}

/** A fetch that records every URL and method it is asked for, then asks the real one. */
function recording(): { fetch: FetchLike; requests: string[] } {
  const requests: string[] = [];
  return {
    requests,
    fetch: (url, init) => {
      requests.push(`${init.method ?? "GET"} ${url}`);
      return globalThis.fetch(url, init);
    },
  };
}

let relay: RelayProcess;
let relayDir: string;

beforeAll(async () => {
  relayDir = tmp();
  const config = join(relayDir, "hearth.toml");
  writeFileSync(config, CRISIS_TOML);
  relay = await startRelay({ env: { HEARTH_CONFIG: config } });
});

afterAll(async () => {
  await relay?.dispose();
});

describe("before any network", () => {
  test("the built-in lines and the emergency advice show", async () => {
    const saved = globalThis.fetch;
    globalThis.fetch = () => {
      throw new Error("the code under test tried to reach the network");
    };
    try {
      const directory = await CrisisDirectory.load(fileCrisisCache(join(tmp(), "never-written.json")));
      expect(directory.relayResources).toEqual([]);
      expect(directory.fetchedAt).toBeNull();
      const gb = directory.forRegion("gb");
      expect(gb).toContain(EMERGENCY_ADVICE);
      const samaritans = gb.find((r) => r.name === "Samaritans")!;
      expect([samaritans.phone, CrisisDirectory.regionsOf(samaritans)]).toEqual(["116 123", ["GB", "IE"]]);
      const lifeline = directory.forRegion("US").find((r) => r.phone === "988")!;
      expect([lifeline.name, lifeline.sms]).toEqual(["988 Suicide & Crisis Lifeline", "988"]);
      expect(directory.forRegion("ca").find((r) => r.phone === "988")!.url).toBe("https://988.ca");
      expect(directory.forRegion("AU").find((r) => r.phone)!.phone).toBe("13 11 14");
      // Somewhere the SDK knows no national line: the international ones and the advice.
      expect(directory.forRegion("FR")).toEqual(DEFAULT_CRISIS_RESOURCES.filter((r) => r.regions.includes("*")));
      expect(EMERGENCY_ADVICE.regions).toEqual(["*"]);
      for (const number of ["112", "911", "999", "000"]) expect(EMERGENCY_ADVICE.description).toContain(number);
      expect(directory.resources.some((r) => directory.fromRelay(r))).toBe(false);
    } finally {
      globalThis.fetch = saved;
    }
  });

  test("the built-in list is Python's, field for field", () => {
    const theirs = python<unknown[]>(
      "import msgspec\nfrom client_sdk import DEFAULT_CRISIS_RESOURCES\nprint(msgspec.json.encode(DEFAULT_CRISIS_RESOURCES).decode())",
    );
    expect(JSON.parse(JSON.stringify(DEFAULT_CRISIS_RESOURCES))).toEqual(theirs);
  });
});

describe("fetching", () => {
  test("an unreachable relay raises and the built-in lines stay", async () => {
    const path = join(tmp(), "crisis.json");
    await expect(fetchCrisisDirectory(`http://127.0.0.1:${await freePort()}`, { cache: fileCrisisCache(path), timeout: 5 })).rejects.toBeInstanceOf(
      RelayUnavailable,
    );
    expect(() => readFileSync(path)).toThrow();
    expect((await CrisisDirectory.load(fileCrisisCache(path))).resources).toEqual(DEFAULT_CRISIS_RESOURCES);
  });

  test("the list is fetched whole, cached and used offline, and the region never leaves", async () => {
    const dir = join(tmp(), "app");
    mkdirSync(dir);
    const path = join(dir, "crisis.json");
    const cache = fileCrisisCache(path);
    const recorder = recording();
    const directory = await fetchCrisisDirectory(relay.url, { cache, fetch: recorder.fetch });
    // Whole: every line of the operator's, whatever the person's region will be.
    expect(names(directory.relayResources)).toEqual(["Samaritans", "988 Suicide & Crisis Lifeline", "Befrienders Worldwide"]);
    expect(directory.relayOrigin).toBe(relay.url);
    expect(directory.fetchedAt).not.toBeNull();
    expect(directory.relayResources.every((r) => directory.fromRelay(r))).toBe(true);
    expect(names(directory.forRegion("US")).slice(0, 2)).toEqual(["988 Suicide & Crisis Lifeline", "Befrienders Worldwide"]);
    directory.forRegion("GB");
    // One request, with nothing but the path: no query string, no region anywhere.
    expect(recorder.requests).toEqual([`GET ${relay.url}/v1/crisis`]);

    // The relay's answer as the client filters it (Python's client_sdk test: the
    // operator's lines first, the SDK's Samaritans and Befrienders are the operator's).
    expect(names(directory.forRegion("gb"))).toEqual(["Samaritans", "Befrienders Worldwide", "Emergency services", "Find A Helpline"]);
    const gb0 = directory.forRegion("gb")[0]!;
    expect([gb0.phone, gb0.hours, gb0.url]).toEqual(["116 123", "24/7", null]);
    expect(directory.forRegion("FR").map((r) => r.url)).toEqual(["https://befrienders.org", null, "https://findahelpline.com"]);
    expect(directory.forRegion(null).length).toBe(3 + DEFAULT_CRISIS_RESOURCES.length - 3);

    // Offline: the saved list is still there.
    const offline = await CrisisDirectory.load(cache, { relayUrl: relay.url });
    expect(offline.relayResources).toEqual(directory.relayResources);
    expect(offline.fetchedAt).toBe(directory.fetchedAt);
    expect(offline.forRegion("gb")).toEqual(directory.forRegion("GB"));
    expect(readdirSync(dir)).toEqual(["crisis.json"]); // no temp file left
    // Saved for another relay: that relay's operator did not list these lines.
    const elsewhere = await CrisisDirectory.load(cache, { relayUrl: "https://other-relay.example" });
    expect(elsewhere.resources).toEqual(DEFAULT_CRISIS_RESOURCES);
    // Python reads the same file as the same list, for the same relay.
    const theirs = python<string[]>(
      "from client_sdk import CrisisDirectory\nd = CrisisDirectory.load(data[0], relay_url=data[1])\nprint(json.dumps([r.name for r in d.for_region('US')]))",
      [path, relay.url],
    );
    expect(theirs).toEqual(names(offline.forRegion("US")));
  });

  test("bad relay answers raise typed errors and keep the saved list", async () => {
    const path = join(tmp(), "crisis.json");
    const cache = fileCrisisCache(path);
    await fetchCrisisDirectory(relay.url, { cache });
    const saved = readFileSync(path);
    const garbage: FetchLike = async () => new Response('[{"name": "x", "regions": []}]', { status: 200 });
    const bad = await fetchCrisisDirectory(relay.url, { cache, fetch: garbage }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RelayError);
    expect((bad as RelayError).code).toBe("relay.bad_answer");
    const notAList: FetchLike = async () => new Response('{"lines": []}', { status: 200 });
    expect(((await fetchCrisisDirectory(relay.url, { cache, fetch: notAList }).catch((e: unknown) => e)) as RelayError).code).toBe("relay.bad_answer");
    const down: FetchLike = async () => new Response('{"code": "internal", "message": "down for maintenance"}', { status: 503 });
    const refused = (await fetchCrisisDirectory(relay.url, { cache, fetch: down }).catch((e: unknown) => e)) as RelayError;
    expect(refused).toBeInstanceOf(RelayError);
    expect([refused.code, refused.status]).toEqual(["internal", 503]);
    expect(readFileSync(path)).toEqual(saved);
    expect((await CrisisDirectory.load(cache)).relayResources.length).toBe(3);
  });
});

describe("the cache", () => {
  const damaged: [string, string][] = [
    ["empty", ""],
    ["binary", "\x00\xff\xfe not json"],
    ["truncated", '{"format": "hearth-crisis-cache", "version": 1, "relay": "http://x", "fetch'],
    ["other-json", "[]"],
    ["other-format", '{"format": "something-else", "version": 1, "relay": "", "fetched_at": 0, "resources": []}'],
    ["other-version", '{"format": "hearth-crisis-cache", "version": 99, "relay": "", "fetched_at": 0, "resources": []}'],
    [
      "invalid",
      '{"format": "hearth-crisis-cache", "version": 1, "relay": "", "fetched_at": 0, "resources": [{"name": "x", "regions": ["GBR"], "phone": "1"}]}',
    ],
    ["missing-field", '{"format": "hearth-crisis-cache", "version": 1, "relay": "", "resources": []}'],
  ];

  test.each(damaged)("a damaged cache (%s) falls back to the built-in lines", async (_, content) => {
    const path = join(tmp(), "crisis.json");
    writeFileSync(path, content, "latin1");
    const directory = await CrisisDirectory.load(fileCrisisCache(path));
    expect(directory.relayResources).toEqual([]);
    expect(directory.resources).toEqual(DEFAULT_CRISIS_RESOURCES);
    expect(directory.forRegion("NZ")).toContain(EMERGENCY_ADVICE);
  });

  test("Python falls back on the same damaged caches", () => {
    const dir = tmp();
    const paths = damaged.map(([name, content]) => {
      const path = join(dir, `${name}.json`);
      writeFileSync(path, content, "latin1");
      return path;
    });
    const relayLines = python<number[]>(
      "from client_sdk import CrisisDirectory\nprint(json.dumps([len(CrisisDirectory.load(p).relay_resources) for p in data]))",
      paths,
    );
    expect(relayLines).toEqual(damaged.map(() => 0));
  });

  test("an unreadable cache or an unusable relay URL falls back too", async () => {
    const dir = tmp();
    expect((await CrisisDirectory.load(fileCrisisCache(dir))).resources).toEqual(DEFAULT_CRISIS_RESOURCES); // a directory
    const throwing: CrisisCache = {
      read: () => Promise.reject(new Error("no")),
      write: () => Promise.resolve(),
    };
    expect((await CrisisDirectory.load(throwing)).resources).toEqual(DEFAULT_CRISIS_RESOURCES);
    const cache = fileCrisisCache(join(dir, "crisis.json"));
    const one = res({ name: "Line", regions: ["GB"], phone: "1" });
    await new CrisisDirectory([one], { relayOrigin: "https://relay.example", fetchedAt: 1.0 }).save(cache);
    expect((await CrisisDirectory.load(cache)).relayResources).toEqual([one]);
    expect((await CrisisDirectory.load(cache, { relayUrl: "not a url" })).resources).toEqual(DEFAULT_CRISIS_RESOURCES);
  });

  test("saving is atomic, and a failed save raises store.io and leaves the old list", async () => {
    const dir = tmp();
    const path = join(dir, "crisis.json");
    const cache = fileCrisisCache(path);
    await new CrisisDirectory([res({ name: "Line one", regions: ["GB"], phone: "1" })], { relayOrigin: "https://relay.example", fetchedAt: 1.0 }).save(cache);
    const second = new CrisisDirectory([res({ name: "Line two", regions: ["GB"], phone: "2" })], {
      relayOrigin: "https://relay.example",
      fetchedAt: 2.0,
    });
    const failing: CrisisCache = { read: cache.read, write: () => Promise.reject(new Error("No space left on device")) };
    const failed = await second.save(failing).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(StoreError);
    expect((failed as StoreError).code).toBe("store.io");
    expect(names((await CrisisDirectory.load(cache)).relayResources)).toEqual(["Line one"]);
    const missing = await second.save(fileCrisisCache(join(dir, "missing-folder", "crisis.json"))).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StoreError);
    expect(readdirSync(dir)).toEqual(["crisis.json"]); // no temp file left
    await second.save(cache);
    const loaded = await CrisisDirectory.load(cache, { relayUrl: "https://relay.example/" });
    expect([names(loaded.relayResources), loaded.fetchedAt]).toEqual([["Line two"], 2.0]);
    await new CrisisDirectory().save(cache); // nothing fetched yet: it says so when read back
    const empty = await CrisisDirectory.load(cache);
    expect([empty.relayResources, empty.relayOrigin, empty.fetchedAt]).toEqual([[], null, null]);
  });

  test("a cache Python saved reads here, and one saved here reads in Python", async () => {
    const dir = tmp();
    const fromPython = join(dir, "python.json");
    python(
      "from client_sdk import CrisisDirectory, CrisisResource\n" +
        "CrisisDirectory([CrisisResource(name='Línea', regions=['es', 'MX'], phone='024', hours='24/7')], relay_origin='https://relay.example', fetched_at=12.5).save(data)\n" +
        "print('null')",
      fromPython,
    );
    const read = await CrisisDirectory.load(fileCrisisCache(fromPython), { relayUrl: "https://relay.example" });
    expect(read.relayResources).toEqual([res({ name: "Línea", regions: ["es", "MX"], phone: "024", hours: "24/7" })]);
    expect([read.relayOrigin, read.fetchedAt]).toEqual(["https://relay.example", 12.5]);
    const fromHere = join(dir, "ts.json");
    await read.save(fileCrisisCache(fromHere));
    const back = python<[string, number, string[]]>(
      "from client_sdk import CrisisDirectory\nd = CrisisDirectory.load(data, relay_url='https://relay.example')\nprint(json.dumps([d.relay_origin, d.fetched_at, [r.name for r in d.for_region('mx')]]))",
      fromHere,
    );
    expect(back).toEqual(["https://relay.example", 12.5, names(read.forRegion("mx"))]);
  });

  test("a key-value store (Web Storage, AsyncStorage) holds the cache too", async () => {
    const items = new Map<string, string>();
    const cache = keyValueCrisisCache({ getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v) });
    expect((await CrisisDirectory.load(cache)).resources).toEqual(DEFAULT_CRISIS_RESOURCES);
    const one = res({ name: "Line", regions: ["GB"], phone: "1" });
    await new CrisisDirectory([one], { relayOrigin: "https://relay.example" }).save(cache);
    expect([...items.keys()]).toEqual(["hearth-crisis-cache"]);
    expect((await CrisisDirectory.load(cache)).relayResources).toEqual([one]);
  });
});

describe("the directory", () => {
  test("each line's regions are exposed and duplicates merge", () => {
    const relayLines = [
      res({ name: "  samaritans ", regions: ["gb", "GB", "ie"], phone: "116123" }),
      res({ name: "Regional line", regions: ["de", "AT"], phone: "555 0100" }),
      res({ name: "Regional line", regions: ["CH"], phone: "555 0199" }),
    ];
    const directory = new CrisisDirectory(relayLines, { relayOrigin: "https://relay.example" });
    // The operator's Samaritans replaces the SDK's (same name and number, however
    // written); two lines of one name and different numbers both stay.
    expect(directory.resources.filter((r) => r.name.includes("amaritans")).map((r) => r.name)).toEqual(["  samaritans "]);
    expect(directory.resources.length).toBe(3 + DEFAULT_CRISIS_RESOURCES.length - 1);
    expect(relayLines.map((r) => CrisisDirectory.regionsOf(r))).toEqual([["GB", "IE"], ["DE", "AT"], ["CH"]]);
    expect(CrisisDirectory.regionsOf(EMERGENCY_ADVICE)).toEqual(["*"]);
    expect(directory.regions).toEqual(["AT", "AU", "CA", "CH", "DE", "GB", "IE", "US"]);
    expect(directory.forRegion("at").filter((r) => r.phone).map((r) => r.phone)).toEqual(["555 0100"]);
    expect(directory.forRegion("ie")[0]).toBe(relayLines[0]);
    expect(directory.fromRelay(relayLines[0]!)).toBe(true);
    expect(directory.fromRelay(DEFAULT_CRISIS_RESOURCES[DEFAULT_CRISIS_RESOURCES.length - 1]!)).toBe(false);
    expect(directory.forRegion(null)).toEqual([...directory.resources]);
  });

  test("a program's lines go first, the device's follow, each once", () => {
    const directory = new CrisisDirectory();
    const program = [res({ name: "SAMARITANS", regions: ["GB"], phone: "116 123" }), res({ name: "Program line", regions: ["*"], phone: "1" })];
    const merged = directory.alongside(program, "gb");
    expect(names(merged)).toEqual(["SAMARITANS", "Program line", "Emergency services", "Find A Helpline", "Befrienders Worldwide"]);
    expect(directory.alongside([], "US")).toEqual(directory.forRegion("US"));
  });

  test("merging, filtering and alongside answer as Python's directory does", () => {
    const relayLines = [
      res({ name: "  samaritans ", regions: ["gb", "GB", "ie"], phone: "116123" }),
      res({ name: "STRASSE line", regions: ["DE"], phone: "0800 111 0 111" }),
      res({ name: "Straße Line", regions: ["AT"], phone: "0800111 0111" }),
      res({ name: "Lifeline\tAustralia", regions: ["au"], phone: "13-11-14" }),
      res({ name: "Everywhere", regions: ["*"], url: "https://example.org" }),
    ];
    const program = [res({ name: "988 suicide & crisis lifeline", regions: ["US"], phone: "9 8 8" })];
    const regions = [null, "gb", "DE", "at", "AU", "us", "FR"];
    const theirs = python<unknown>(
      "import msgspec\nfrom client_sdk import CrisisDirectory, CrisisResource\n" +
        "lines = msgspec.convert(data['relay'], list[CrisisResource])\nprogram = msgspec.convert(data['program'], list[CrisisResource])\n" +
        "d = CrisisDirectory(lines)\n" +
        "out = {'all': [r.name for r in d.resources], 'regions': list(d.regions), 'from_relay': [d.from_relay(r) for r in d.resources],\n" +
        " 'by': {str(g): [r.name for r in d.for_region(g)] for g in data['regions']}, 'alongside': {str(g): [r.name for r in d.alongside(program, g)] for g in data['regions']}}\n" +
        "print(json.dumps(out))",
      { relay: relayLines, program, regions },
    );
    const directory = new CrisisDirectory(relayLines);
    const ours = {
      all: names(directory.resources),
      regions: [...directory.regions],
      from_relay: directory.resources.map((r) => directory.fromRelay(r)),
      by: Object.fromEntries(regions.map((g) => [String(g === null ? "None" : g), names(directory.forRegion(g))])),
      alongside: Object.fromEntries(regions.map((g) => [String(g === null ? "None" : g), names(directory.alongside(program, g))])),
    };
    expect(ours).toEqual(theirs);
  });

  test.each(["", "G", "GBR", "*", "G1", "\u00c9S", " gb"])("a region is two ASCII letters, not %j", (region) => {
    expect(() => normaliseRegion(region)).toThrow(/alpha-2/);
    expect(() => new CrisisDirectory().forRegion(region)).toThrow(RangeError);
    expect(normaliseRegion("gB")).toBe("GB");
    expect(normaliseRegion(null)).toBeNull();
  });
});
