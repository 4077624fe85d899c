import { describe, expect, it } from "vitest";

import { fromHex, hex } from "../src/bytes.js";
import { cryptoReady, secretboxDecrypt, secretboxEncrypt, unseal } from "../src/crypto.js";
import { openDirected, sealDirected } from "../src/directed.js";
import { HearthError } from "../src/errors.js";
import { RootSeed } from "../src/keys.js";
import { bodyStructName } from "../src/messages.js";
import { signRiskAlert } from "../src/signing.js";
import { canonical, decodeJson, decodeMsgpack, toJsonValue } from "../src/wire/codec.js";
import type {
  ReportBody,
  ReportContent,
  RiskAlertBody,
  RiskAlertContent,
  RiskHelpBody,
  RiskPlanBody,
  SignedRiskAlert,
  SupportRequestBody,
  SupportRequestContent,
} from "../src/wire/schema.gen.js";
import { detRng, sealWith } from "./detrng.js";
import { checkSigned } from "./signed.js";
import { vectors } from "./vectors.js";

await cryptoReady();

const doc = vectors("risk");

function code(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    if (exc instanceof HearthError) return exc.code;
    throw exc;
  }
  return "accepted";
}

describe("risk.json", () => {
  const bodies: Record<string, any> = {};
  for (const b of doc.bodies) bodies[b.type] = decodeJson(bodyStructName(b.type)!, b.json);
  const content = decodeJson<RiskAlertContent>("RiskAlertContent", doc.signatures[0].json);
  const a = doc.alert;
  const alert = bodies["support.alert"] as RiskAlertBody;

  it("decodes each body and re-encodes it canonically", () => {
    expect(doc.bodies.map((b: any) => b.type)).toEqual(["program.risk_plan", "support.risk", "support.alert"]);
    for (const b of doc.bodies) {
      expect(bodies[b.type].type).toBe(b.type);
      expect(hex(canonical(bodyStructName(b.type)!, bodies[b.type]))).toBe(b.canonical);
      expect(toJsonValue(bodyStructName(b.type)!, bodies[b.type])).toEqual(b.json);
    }
    const plan = bodies["program.risk_plan"] as RiskPlanBody;
    const shown = bodies["support.risk"] as RiskHelpBody;
    expect([shown.text, shown.lines]).toEqual([plan.text, plan.lines]);
  });

  it("verifies the CTX_RISK_ALERT signature", () => {
    expect(doc.signatures.map((v: any) => v.context)).toEqual(["CTX_RISK_ALERT"]);
    for (const v of doc.signatures) checkSigned(v);
  });

  it("opens the alert's box with its key, and each reader's seal opens to the key", () => {
    const key = fromHex(a.key);
    const signed = secretboxDecrypt(key, alert.ciphertext);
    expect(hex(signed)).toBe(a.signed_canonical);
    expect(decodeMsgpack<SignedRiskAlert>("SignedRiskAlert", signed).content).toEqual(content);
    expect(alert.seals.map((s) => s.member)).toEqual(a.readers.map((r: any) => r.member));
    alert.seals.forEach((seal, i) => {
      const r = a.readers[i];
      const keys = new RootSeed(fromHex(r.root_seed)).roomKeys(a.room);
      expect([keys.member, hex(keys.boxPublic)]).toEqual([r.member, r.x25519_public]);
      expect(hex(unseal(keys.box, seal.box))).toBe(a.key);
      expect(hex(sealWith(keys.boxPublic, key, fromHex(r.ephemeral_seed)))).toBe(hex(seal.box));
      expect(openDirected(keys, a.sender, alert)).toEqual(content);
    });
    const outsider = new RootSeed(fromHex(a.non_reader.root_seed)).roomKeys(a.room);
    expect(outsider.member).toBe(a.non_reader.member);
    expect(outsider.member).toBe(content.member);
    expect(openDirected(outsider, a.sender, alert)).toBeNull();
  });

  it("builds the same alert from the vectors' stream", () => {
    // make_vectors.py's order of draws from DetRng("risk"): two genesis nonces, the
    // request id, the box key, one ephemeral seed per reader, then the box nonce.
    const rng = detRng("risk");
    rng(16), rng(16), rng(16);
    const key = rng(32);
    expect(hex(key)).toBe(a.key);
    const supporter = new RootSeed(detRng("root/alice")(32)).roomKeys(a.room);
    expect(supporter.member).toBe(a.sender);
    const signed = signRiskAlert(supporter, content);
    expect(hex(signed.sig)).toBe(doc.signatures[0].signature);
    const seals = a.readers.map((r: any) => ({ member: r.member, box: sealWith(fromHex(r.x25519_public), key, rng(32)) }));
    const ciphertext = secretboxEncrypt(key, canonical("SignedRiskAlert", signed), rng);
    expect(toJsonValue("RiskAlertBody", { type: "support.alert", seals, ciphertext })).toEqual(doc.bodies[2].json);
  });
});

describe("directed messages (protocol.md 3.3, 8.5, 8.10)", () => {
  const ROOM = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  const seed = (n: number) => new RootSeed(new Uint8Array(32).fill(n));
  const author = seed(1).roomKeys(ROOM);
  const mod = seed(2).roomKeys(ROOM);
  const other = seed(3).roomKeys(ROOM);
  const evidence = decodeJson<any>("Envelope", vectors("messages").vectors[0].envelope);

  const report: ReportContent = {
    room: ROOM,
    reporter: author.member,
    target: evidence.header.id,
    reason: "harassment",
    recipients: [mod.member],
    evidence,
    at: 5,
  };
  const request: SupportRequestContent = { room: ROOM, requester: author.member, text: "a chat?", recipients: [mod.member], at: 5 };

  it("seals a report to its readers, who alone open it", () => {
    const [seals, ciphertext] = sealDirected(author, report, new Map([[mod.member, mod.boxPublic]]));
    const body: ReportBody = { type: "report", seals, ciphertext };
    expect(openDirected(mod, author.member, body)).toEqual(report);
    expect(openDirected(other, author.member, body)).toBeNull();
    expect(code(() => openDirected(mod, other.member, body))).toBe("msg.bad_room");
  });

  it("refuses a report that does not name its reader, or was signed by another", () => {
    const notNamed = sealDirected(author, { ...report, recipients: [] }, [[mod.member, mod.boxPublic]]);
    expect(code(() => openDirected(mod, author.member, { type: "report", seals: notNamed[0], ciphertext: notNamed[1] }))).toBe("msg.bad_room");
    const forged = sealDirected(other, report, [[mod.member, mod.boxPublic]]);
    expect(code(() => openDirected(mod, author.member, { type: "report", seals: forged[0], ciphertext: forged[1] }))).toBe("msg.bad_signature");
    const elsewhere = sealDirected(author, { ...report, room: "B" + ROOM.slice(1) }, [[mod.member, mod.boxPublic]]);
    expect(code(() => openDirected(mod, author.member, { type: "report", seals: elsewhere[0], ciphertext: elsewhere[1] }))).toBe("msg.bad_room");
  });

  it("lets a support request's author read it back, and refuses a seal that does not open", () => {
    const [seals, ciphertext] = sealDirected(author, request, [
      [mod.member, mod.boxPublic],
      [author.member, author.boxPublic],
    ]);
    const body: SupportRequestBody = { type: "support.request", seals, ciphertext };
    expect(openDirected(author, author.member, body)).toEqual(request);
    expect(openDirected(mod, author.member, body)).toEqual(request);
    expect(openDirected(mod, author.member, { type: "support.reseal", request: "AAAAAAAAAAAAAAAAAAAAAA", seals, ciphertext })).toEqual(request);
    const wrong = { ...body, seals: [{ member: mod.member, box: seals[1]!.box }] };
    expect(code(() => openDirected(mod, author.member, wrong))).toBe("crypto.unseal_failed");
    const damaged = Uint8Array.from(ciphertext);
    damaged[30]! ^= 1;
    expect(code(() => openDirected(mod, author.member, { ...body, ciphertext: damaged }))).toBe("crypto.decrypt_failed");
  });

  it("refuses content of another kind than the body says (wire.malformed)", () => {
    const [seals, ciphertext] = sealDirected(author, request, [[mod.member, mod.boxPublic]]);
    expect(code(() => openDirected(mod, author.member, { type: "report", seals, ciphertext }))).toBe("wire.malformed");
  });

  it("refuses to seal to a key nothing can be sealed to", () => {
    expect(code(() => sealDirected(author, report, [[mod.member, new Uint8Array(31)]]))).toBe("crypto.bad_key");
  });
});
