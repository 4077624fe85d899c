/**
 * Identity and keystore: the root round-trips through a passphrase and only through
 * it, and a keystore file moves between this SDK and the Python SDK both ways.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { b64url, hex, utf8 } from "../src/bytes.js";
import { BoxPrivateKey, cryptoReady, randomBytes } from "../src/crypto.js";
import { PhraseError } from "../src/errors.js";
import { Identity, KeystoreError, STRENGTHS } from "../src/identity.js";
import { loadIdentityFile, saveIdentityFile } from "../src/node/keystore.js";
import { LinkCode, PersonalKeys } from "../src/personal.js";
import { REPO } from "./vectors.js";

beforeAll(() => cryptoReady());

const PYTHON = join(REPO, ".venv", "bin", "python");
const havePython = existsSync(PYTHON);
if (!havePython) console.warn(`skipping the Python keystore round trips: no ${PYTHON} (make .venv/.hearth-dev)`);

/** Run a Python snippet with the repository's venv; its argv[1:] are `args`. */
function python(code: string, ...args: string[]): string {
  return execFileSync(PYTHON, ["-c", code, ...args], { cwd: REPO, encoding: "utf8" }).trim();
}

const ROOM = b64url(new Uint8Array(24).fill(3));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hearth-keystore-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("an identity", () => {
  it("is restored from its recovery phrase with every room key", () => {
    const me = Identity.generate();
    const again = Identity.fromRecoveryPhrase(me.recoveryPhrase.toLowerCase().replaceAll("-", " "));
    expect(again.equals(me)).toBe(true);
    expect(again.roomKeys(ROOM).member).toBe(me.roomKeys(ROOM).member);
    expect(me.roomKeys(ROOM).member).not.toBe(me.roomKeys(b64url(new Uint8Array(24).fill(4))).member);
    expect(Identity.generate().equals(me)).toBe(false);
    expect(hex(again.storeKey())).toBe(hex(me.storeKey()));
    expect(me.newRoom().room).toHaveLength(32);
  });

  it("never shows its secret", () => {
    const me = Identity.generate();
    const phrase = me.recoveryPhrase;
    for (const shown of [String(me), JSON.stringify({ me }), inspect(me, { showHidden: true, depth: 5 })]) {
      expect(shown).toContain("secret");
      expect(shown).not.toContain(phrase);
      expect(shown.replaceAll("-", "")).not.toContain(phrase.replaceAll("-", "").slice(0, 12));
    }
  });

  it("catches a typo in the phrase", () => {
    const phrase = Identity.generate().recoveryPhrase;
    const typo = (phrase[0] !== "1" ? "1" : "2") + phrase.slice(1);
    expect(() => Identity.fromRecoveryPhrase(typo)).toThrow(PhraseError);
    try {
      Identity.fromRecoveryPhrase(typo);
    } catch (exc) {
      expect((exc as PhraseError).code).toBe("phrase.checksum");
    }
  });
});

describe("an identity's personal keys and device links", () => {
  it("derives the personal store's keys from the root", () => {
    const me = Identity.generate();
    const again = Identity.fromRecoveryPhrase(me.recoveryPhrase);
    expect(me.personalKeys().member).toBe(again.personalKeys().member);
    expect(me.personalKeys()).toBeInstanceOf(PersonalKeys);
    expect(me.personalKeys().member).not.toBe(Identity.generate().personalKeys().member);
  });

  it("seals the root and its rooms for the answering device alone, rooms in order", () => {
    const me = Identity.generate();
    const code = LinkCode.generate();
    const hello = new BoxPrivateKey(randomBytes(32));
    const answer = new BoxPrivateKey(randomBytes(32));
    const rooms = [{ room: b64url(new Uint8Array(24).fill(9)) }, { room: ROOM, verified: { index: 4, head: new Uint8Array(32).fill(1) } }];
    const box = me.sealLink(code, rooms, { hello, answerKey: answer.publicKey, now: 1_700_000_000_000 });
    const opened = Identity.openLink(code, box, { answer, helloKey: hello.publicKey });
    expect(opened.identity.equals(me)).toBe(true);
    expect(opened.rooms.map((r) => r.room)).toEqual([ROOM, rooms[0]!.room]);
    expect(opened.rooms[0]!.verified).toEqual({ index: 4, head: new Uint8Array(32).fill(1) });
    const stranger = new BoxPrivateKey(randomBytes(32));
    expect(() => Identity.openLink(code, box, { answer: stranger, helloKey: hello.publicKey })).toThrow(
      expect.objectContaining({ code: "link.bad_box" }),
    );
  });
});

describe("the keystore", () => {
  it("round-trips through the passphrase, and the file is private", async () => {
    const me = Identity.generate();
    const path = join(dir, "me.key");
    await saveIdentityFile(me, path, "correct horse battery staple", "interactive");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["me.key"]); // no temporary file left behind
    const text = await readFile(path, "utf8");
    expect(text.replaceAll("-", "")).not.toContain(me.recoveryPhrase.replaceAll("-", ""));
    expect((await loadIdentityFile(path, "correct horse battery staple")).equals(me)).toBe(true);
    // Replaced atomically: a second save over it reads back the new identity.
    const other = Identity.generate();
    await saveIdentityFile(other, path, "pw", "interactive");
    expect((await loadIdentityFile(path, "pw")).equals(other)).toBe(true);
  });

  it("is the Python SDK's JSON, moderate by default", async () => {
    const record = JSON.parse(new TextDecoder().decode(await Identity.generate().save("pw")));
    expect(Object.keys(record)).toEqual(["format", "version", "kdf", "opslimit", "memlimit", "salt", "box"]);
    expect(record).toMatchObject({ format: "hearth-keystore", version: 1, kdf: "argon2id", opslimit: 3, memlimit: 256 * 1024 * 1024 });
    expect(STRENGTHS.interactive).toEqual([2, 64 * 1024 * 1024]);
  });

  it("refuses a wrong passphrase (keystore.wrong_passphrase)", async () => {
    const data = await Identity.generate().save("right", "interactive");
    await expect(Identity.load(data, "wrong")).rejects.toBeInstanceOf(KeystoreError);
    await expect(Identity.load(data, "wrong")).rejects.toMatchObject({ code: "keystore.wrong_passphrase" });
  });

  const damage: [string, (r: Record<string, unknown>) => unknown, string][] = [
    ["an altered box", (r) => ({ ...r, box: (r.box as string).slice(0, -4) + "AAA=" }), "keystore.wrong_passphrase"],
    ["a later version", (r) => ({ ...r, version: 99 }), "keystore.version"],
    ["a huge memlimit", (r) => ({ ...r, memlimit: 2 ** 40 }), "keystore.corrupt"],
    ["a huge opslimit", (r) => ({ ...r, opslimit: 17 }), "keystore.corrupt"],
    ["a short salt", (r) => ({ ...r, salt: "AAAA" }), "keystore.corrupt"],
    ["another format", (r) => ({ ...r, format: "other" }), "keystore.corrupt"],
    ["another kdf", (r) => ({ ...r, kdf: "scrypt" }), "keystore.corrupt"],
    ["a missing field", ({ box: _box, ...r }) => r, "keystore.corrupt"],
    ["a version as text", (r) => ({ ...r, version: "1" }), "keystore.corrupt"],
    ["bad base64", (r) => ({ ...r, box: "not base64!" }), "keystore.corrupt"],
    ["a list", () => [], "keystore.corrupt"],
    ["not JSON", () => "not json", "keystore.corrupt"],
  ];
  it.each(damage)("refuses %s", async (_what, change, code) => {
    const path = join(dir, "me.key");
    await saveIdentityFile(Identity.generate(), path, "pw", "interactive");
    const record = change(JSON.parse(await readFile(path, "utf8")));
    await writeFile(path, typeof record === "string" ? record : JSON.stringify(record));
    await expect(loadIdentityFile(path, "pw")).rejects.toMatchObject({ code });
  });

  it("refuses an empty passphrase and reports a missing file (keystore.io)", async () => {
    await expect(Identity.generate().save("")).rejects.toMatchObject({ code: "keystore.passphrase" });
    await expect(saveIdentityFile(Identity.generate(), join(dir, "k"), "")).rejects.toMatchObject({ code: "keystore.passphrase" });
    await expect(loadIdentityFile(join(dir, "missing"), "pw")).rejects.toMatchObject({ code: "keystore.io" });
    await expect(saveIdentityFile(Identity.generate(), join(dir, "no", "such", "dir"), "pw", "interactive")).rejects.toMatchObject({
      code: "keystore.io",
    });
  });

  it("refuses invalid UTF-8 as not a keystore", async () => {
    await expect(Identity.load(Uint8Array.from([0xff, 0xfe, 0x7b]), "pw")).rejects.toMatchObject({ code: "keystore.corrupt" });
    await expect(Identity.load(utf8("{}"), "pw")).rejects.toMatchObject({ code: "keystore.corrupt" });
  });
});

describe.skipIf(!havePython)("a keystore file between the SDKs", () => {
  it("written by Python (its default strength) opens here, with the same room and store keys", async () => {
    const path = join(dir, "py.key");
    const [phrase, member, storeKey] = python(
      [
        "import sys",
        "from client_sdk import Identity",
        "from protocol.ids import RoomId",
        "me = Identity.generate()",
        "me.save(sys.argv[1], sys.argv[2])",
        "print(me.recovery_phrase); print(me.room_keys(RoomId(sys.argv[3])).member); print(me.store_key().hex())",
      ].join("\n"),
      path,
      "pässphrase with ünïcode",
      ROOM,
    ).split("\n");
    const me = await loadIdentityFile(path, "pässphrase with ünïcode");
    expect(me.recoveryPhrase).toBe(phrase);
    expect(me.roomKeys(ROOM).member).toBe(member);
    expect(hex(me.storeKey())).toBe(storeKey);
    await expect(loadIdentityFile(path, "passphrase with unicode")).rejects.toMatchObject({ code: "keystore.wrong_passphrase" });
  });

  it("a root box sealed here opens in Python's Identity.open_link", () => {
    const me = Identity.generate();
    const code = LinkCode.generate();
    const hello = new BoxPrivateKey(randomBytes(32));
    const answerSecret = randomBytes(32);
    const answer = new BoxPrivateKey(answerSecret);
    const box = me.sealLink(code, [{ room: ROOM }], { hello, answerKey: answer.publicKey, now: 1_700_000_000_000 });
    const out = python(
      [
        "import sys",
        "from client_sdk import Identity",
        "from protocol.crypto import box_keypair_from_seed",
        "from protocol.personal import LinkCode",
        "me, rooms = Identity.open_link(LinkCode.parse(sys.argv[1]), bytes.fromhex(sys.argv[2]),",
        "    answer=box_keypair_from_seed(bytes.fromhex(sys.argv[3])), hello_key=bytes.fromhex(sys.argv[4]))",
        "print(me.recovery_phrase); print([r.room for r in rooms])",
      ].join("\n"),
      code.text,
      hex(box),
      hex(answerSecret),
      hex(hello.publicKey),
    ).split("\n");
    expect(out).toEqual([me.recoveryPhrase, `['${ROOM}']`]);
  });

  it("written here opens in Python, byte for byte the JSON msgspec writes", async () => {
    const me = Identity.generate();
    const path = join(dir, "ts.key");
    await saveIdentityFile(me, path, "ünïcode passphrase", "interactive");
    const out = python(
      [
        "import sys, msgspec",
        "from pathlib import Path",
        "from client_sdk import Identity, KeystoreError",
        "from client_sdk._keystore import _KeystoreFile",
        "data = Path(sys.argv[1]).read_bytes()",
        "print(msgspec.json.encode(msgspec.json.decode(data, type=_KeystoreFile)) == data)",
        "print(Identity.load(sys.argv[1], sys.argv[2]).recovery_phrase)",
        "try:\n    Identity.load(sys.argv[1], 'wrong')\nexcept KeystoreError as exc:\n    print(exc.code)",
      ].join("\n"),
      path,
      "ünïcode passphrase",
    ).split("\n");
    expect(out).toEqual(["True", me.recoveryPhrase, "keystore.wrong_passphrase"]);
  });
});
