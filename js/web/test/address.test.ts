// What an address says (src/address.ts): which relay, which invite, and that the
// secret leaves the address bar. The browser tests drive the same code through the
// relay's redirect; these pin each case of the rules.
import { describe, expect, it } from "vitest";

import { asOrigin, readAddress } from "../src/address.js";

const PAGE = "https://relay.example";
const ROOM = "A".repeat(31) + "_";
const SECRET = "s3cr3t-_x";

describe("readAddress", () => {
  it("takes the page's origin as the relay, and leaves a plain address alone", () => {
    const opened = readAddress(`${PAGE}/`, PAGE, null);
    expect(opened).toEqual({ relay: PAGE, named: false, invite: null, clean: `${PAGE}/` });
  });

  it("rebuilds the SDK's link from the relay's redirect and drops the secret from the address", () => {
    const opened = readAddress(`${PAGE}/?join=${ROOM}#${SECRET}`, PAGE, null);
    expect(opened.invite).toBe(`${PAGE}/join/${ROOM}#${SECRET}`);
    expect(opened.clean).toBe(`${PAGE}/`);
    expect(opened.clean).not.toContain(SECRET);
  });

  it("names the relay of a copy hosted elsewhere, and keeps it over a stored one", () => {
    const app = "https://app.example/hearth/";
    const relay = "https://relay.example:8443";
    const opened = readAddress(`${app}?join=${ROOM}&relay=${encodeURIComponent(relay)}#${SECRET}`, "https://app.example", "https://old.example");
    expect(opened).toEqual({ relay, named: true, invite: `${relay}/join/${ROOM}#${SECRET}`, clean: app });
    // Later visits: the stored relay, not the page's origin.
    expect(readAddress(app, "https://app.example", relay).relay).toBe(relay);
  });

  it("takes a whole link from the fragment, dropping the spaces a paste brings", () => {
    const link = `${PAGE}/join/${ROOM}#${SECRET}`;
    const opened = readAddress(`${PAGE}/#join=${encodeURIComponent(" " + link + "\n")}`, PAGE, null);
    expect(opened.invite).toBe(link);
    expect(opened.clean).toBe(`${PAGE}/`);
  });

  it("ignores what is not a relay or an invite, and still cleans the address", () => {
    for (const bad of ["javascript:alert(1)", "https://x.example/path", "https://u:p@x.example", "ftp://x.example", "https://x.example?q"]) {
      const opened = readAddress(`${PAGE}/?relay=${encodeURIComponent(bad)}`, PAGE, null);
      expect(opened.relay, bad).toBe(PAGE);
      expect(opened.named, bad).toBe(false);
      expect(opened.clean).toBe(`${PAGE}/`);
    }
    expect(readAddress(`${PAGE}/?join=short#${SECRET}`, PAGE, null).invite).toBeNull();
    expect(readAddress(`${PAGE}/?join=${ROOM}`, PAGE, null).invite).toBeNull();
    expect(readAddress(`${PAGE}/?join=${ROOM}#a<b`, PAGE, null).invite).toBeNull();
    expect(readAddress(`${PAGE}/?x=1&join=${ROOM}#${SECRET}`, PAGE, null).clean).toBe(`${PAGE}/?x=1`);
    expect(readAddress(`${PAGE}/`, PAGE, "not an origin").relay).toBe(PAGE);
  });
});

describe("asOrigin", () => {
  it("canonicalises http(s) origins and refuses the rest", () => {
    expect(asOrigin("HTTPS://Relay.Example:443")).toBe("https://relay.example");
    expect(asOrigin("http://127.0.0.1:8080/")).toBe("http://127.0.0.1:8080");
    expect(asOrigin("https://relay.example/x")).toBeNull();
    expect(asOrigin("wss://relay.example")).toBeNull();
    expect(asOrigin("")).toBeNull();
  });
});
