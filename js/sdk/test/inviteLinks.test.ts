/** Invite links: the Python SDK's form and its parsing, agreed with it link by link. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

import { b64url, hex } from "../src/bytes.js";
import { cryptoReady, SigningKey } from "../src/crypto.js";
import { HearthError } from "../src/errors.js";
import { InviteError, InviteKey, inviteLink, parseInvite } from "../src/inviteLinks.js";
import { REPO } from "./vectors.js";

beforeAll(() => cryptoReady());

const ROOM = b64url(Uint8Array.from({ length: 24 }, (_, i) => i * 7));
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const A32 = "A".repeat(32);
const A43 = "A".repeat(43);

function code(link: string): string {
  try {
    parseInvite(link);
    return "ok";
  } catch (exc) {
    return exc instanceof HearthError ? exc.code : `foreign ${String(exc)}`;
  }
}

const MALFORMED = [
  "",
  "https://relay.example/join/short#abc",
  `https://relay.example/rooms/${A32}#${A43}`,
  `https://relay.example/join/${A32}`,
  `https://relay.example/join/${A32}#tooshort`,
  `https://relay.example/join/${"A".repeat(30)}==#${A43}`,
  `https://relay.example/join/${"A".repeat(31)}#${A43}`,
  "https://relay.example/join/AAAAAAAAAAAAAAAAAAAAAA#tooshort",
  `https://relay.example/join/${A32}#${A43}=`,
  `https://relay.example/join/${A32}#${"A".repeat(42)}B`, // not the canonical spelling
  `https://join/${A32}#${A43}`, // "join" is the host here, not a path segment
  `https://relay.example/join/${"A".repeat(31)}é#${A43}`,
];

/** Links Python's urlsplit raises ValueError for, outside parse_invite's translation: malformed here. */
const UNSPLITTABLE = [`https://[::1/join/${A32}#${A43}`, `https://[not-ipv6]/join/${A32}#${A43}`];

describe("invite links", () => {
  it("carry the room in the path and the secret in the fragment", () => {
    const invite = new InviteKey(SECRET);
    const link = inviteLink("https://relay.example/", ROOM, invite);
    expect(link).toBe(`https://relay.example/join/${ROOM}#${b64url(SECRET)}`);
    const parsed = parseInvite(`  ${link}\n`);
    expect(parsed.room).toBe(ROOM);
    expect(parsed.invite.secret).toEqual(SECRET);
    expect(parsed.invite.publicKey).toEqual(new SigningKey(SECRET).publicKey);
    expect(String(parsed.invite)).not.toContain(b64url(SECRET));
  });

  it("parse with a query, trailing slashes, or no scheme", () => {
    expect(parseInvite(`https://relay.example/base/join/${ROOM}/?x=1#${b64url(SECRET)}`).room).toBe(ROOM);
    expect(parseInvite(`relay.example/join/${ROOM}#${b64url(SECRET)}`).room).toBe(ROOM);
    expect(parseInvite(`hearth:join/${ROOM}#${b64url(SECRET)}`).room).toBe(ROOM);
  });

  it.each(MALFORMED)("refuse %j as invite.malformed", (link) => {
    expect(() => parseInvite(link)).toThrow(InviteError);
    expect(code(link)).toBe("invite.malformed");
  });

  it.each(UNSPLITTABLE)("refuse %j, which Python's urlsplit cannot split, as invite.malformed", (link) => {
    expect(code(link)).toBe("invite.malformed");
  });

  it("refuse a link of protocol version 1 by name", () => {
    try {
      parseInvite(`https://relay.example/join/${"A".repeat(22)}#${A43}`);
      expect.unreachable();
    } catch (exc) {
      expect(exc).toBeInstanceOf(InviteError);
      expect((exc as InviteError).code).toBe("invite.old_version");
      expect((exc as InviteError).message).toContain("version 1");
      expect((exc as InviteError).message).toContain("version 2");
    }
  });

  it("generate fresh keys", () => {
    expect(hex(InviteKey.generate().secret)).not.toBe(hex(InviteKey.generate().secret));
    expect(() => new InviteKey(new Uint8Array(31))).toThrow(RangeError);
  });
});

const PYTHON = join(REPO, ".venv", "bin", "python");

describe.skipIf(!existsSync(PYTHON))("invite links between the SDKs", () => {
  it("parse to the same room and secret, or fail with the same code, as in Python", () => {
    const links = [
      ...MALFORMED,
      inviteLink("https://relay.example", ROOM, new InviteKey(SECRET)),
      `https://relay.example/base/join/${ROOM}/?x=1#${b64url(SECRET)}`,
      `relay.example/join/${ROOM}#${b64url(SECRET)}`,
      `hearth:join/${ROOM}#${b64url(SECRET)}`,
      `\t https://relay.example/jo\nin/${ROOM}#${b64url(SECRET)}`,
      `https://relay.example/join/${"A".repeat(22)}#${A43}`,
      `https://relay.example/join/${"A".repeat(21)}B#${A43}`,
      `https://user@relay.example:8443/join/${ROOM}#${b64url(SECRET)}`,
      `//relay.example/join/${ROOM}#${b64url(SECRET)}`,
      `/join/${ROOM}#${b64url(SECRET)}`,
      `join/${ROOM}#${b64url(SECRET)}`,
      `https://relay.example/join/${ROOM}#${b64url(SECRET)}#more`,
      `\u2003https://relay.example/join/${ROOM}#${b64url(SECRET)}\u00a0`,
      `\ufeffhttps://relay.example/join/${ROOM}#${b64url(SECRET)}`,
      `https://relay.example/join/${ROOM}#${b64url(SECRET)}\ufeff`,
      `https://relay.example:99999/join/${ROOM}#${b64url(SECRET)}`,
    ];
    const script = [
      "import json, sys",
      "from client_sdk import InviteError",
      "from client_sdk._invite_links import parse_invite",
      "out = []",
      "for link in json.loads(sys.argv[1]):",
      "    try:",
      "        room, key = parse_invite(link)",
      "        out.append(['ok', room, key.secret.hex()])",
      "    except InviteError as exc:",
      "        out.append([exc.code])",
      "print(json.dumps(out))",
    ].join("\n");
    const python = JSON.parse(execFileSync(PYTHON, ["-c", script, JSON.stringify(links)], { cwd: REPO, encoding: "utf8" }));
    const ours = links.map((link) => {
      try {
        const { room, invite } = parseInvite(link);
        return ["ok", room, hex(invite.secret)];
      } catch (exc) {
        return [(exc as InviteError).code];
      }
    });
    expect(ours).toEqual(python);
  });
});
