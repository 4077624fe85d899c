/**
 * The HTTP and websocket driver (src/transport.ts): every foreign failure becomes the
 * SDK's own error with the Python SDK's code, at this boundary.
 *
 * Refusals come from a real `hearth serve`; what a real relay never sends (an answer
 * that does not decode, a 5xx without a body, a relay that accepts and never
 * answers) comes from an injected `fetch` or a silent TCP listener.
 */

import { createServer, type Server, type Socket } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";

import { ManualClock } from "../src/clock.js";
import { RelayError, RelayUnavailable } from "../src/sdkErrors.js";
import { CLOSE_CODES, Transport, closeError, comeback, decodeServerFrame, originOf, refusal } from "../src/transport.js";
import { freePort, type RelayProcess, startRelay } from "./relay.js";

function answering(status: number, body: string, headers: Record<string, string> = {}) {
  return async () => new Response(body, { status, headers });
}

describe("refusals", () => {
  it("carry the relay's code, status, detail and Retry-After", () => {
    const body = JSON.stringify({ code: "rate.limited", message: "slow down", detail: { reason: "send", retry_after: 7 } });
    const error = refusal(429, body, "7");
    expect(error).toBeInstanceOf(RelayError);
    expect([error.code, error.message, error.status, error.retryAfter]).toEqual(["rate.limited", "slow down", 429, 7]);
    expect(error.detail).toEqual({ reason: "send", retry_after: 7 });
    expect(error.retryable).toBe(true);
  });

  it("are internal when a 5xx has no error body, and the relay's fault when a 4xx has none", () => {
    expect([refusal(502, "<html>bad gateway</html>", null).code, refusal(502, "", null).retryable]).toEqual(["internal", true]);
    const bad = refusal(404, "not json", "soon");
    expect([bad.code, bad.status, bad.retryAfter, bad.retryable]).toEqual(["relay.bad_answer", 404, null, false]);
  });

  it("read Retry-After as a number of seconds, and nothing else", () => {
    const of = (header: string) => refusal(503, "{}", header).retryAfter;
    expect([of("5"), of(" 1.5 "), of("+2"), of("1e1"), of(".5")]).toEqual([5, 1.5, 2, 10, 0.5]);
    // An HTTP date is not read, as Python's float() does not read one; nor hex, nor junk.
    expect([of(""), of("Wed, 21 Oct 2015 07:28:00 GMT"), of("0x10"), of("soon")]).toEqual([null, null, null, null]);
  });
});

describe("stream closes", () => {
  it("map the close table's codes to the relay's error codes", () => {
    for (const [close, code] of CLOSE_CODES) {
      if (close === 1011) continue;
      const error = closeError(close, code);
      expect(error).toBeInstanceOf(RelayError);
      expect([error.code, (error as RelayError).detail]).toEqual([code, { close }]);
    }
    expect(closeError(4401, "auth.expired").code).toBe("auth.invalid"); // by close code, as Python
  });

  it("carry a graceful shutdown's comeback, and tell storage trouble apart from offline", () => {
    const shutdown = closeError(1012, "stream.shutdown retry_ms=2500") as RelayError;
    expect([shutdown.code, shutdown.retryAfter, shutdown.retryable]).toEqual(["stream.shutdown", 2.5, true]);
    const plain = closeError(1012, "") as RelayError; // an older relay, or a proxy
    expect([plain.code, plain.retryAfter]).toEqual(["stream.shutdown", null]);
    const storage = closeError(1011, "storage.unavailable") as RelayError;
    expect(storage).toBeInstanceOf(RelayError);
    expect([storage.code, storage.retryable]).toEqual(["storage.unavailable", true]);
    for (const junk of ["stream.shutdown retry_ms=", "stream.shutdown retry_ms=-5", "x retry_ms=1e9", "x retry_ms=\u00b2", "x retry_ms=1234567890"]) {
      expect(comeback(junk)).toBeNull();
    }
    expect(comeback("stream.shutdown retry_ms=0")).toBe(0);
    for (const [code, reason] of [[1011, "internal"], [1006, ""], [1000, ""], [null, ""]] as const) {
      const error = closeError(code, reason);
      expect(error).toBeInstanceOf(RelayUnavailable);
      expect(error.code).toBe("net.unavailable");
    }
  });

  it("decode server frames by their tag, and refuse the rest as the relay's fault", () => {
    expect(decodeServerFrame('{"members":["' + "A".repeat(43) + '"],"type":"ready"}')).toEqual({ type: "ready", members: ["A".repeat(43)] });
    expect(decodeServerFrame('{"type":"error","code":"wire.malformed","message":"m"}')).toEqual({
      type: "error",
      code: "wire.malformed",
      message: "m",
      id: null,
      retry_after: null,
    });
    for (const [text, says] of [
      ['{"members":[]}', "missing required field `type`"],
      ['{"type":"poll"}', "Invalid value 'poll'"],
      ['{"type":"ack","room":"x"}', "at `$.room`"],
      ["[1]", "Expected `object`"],
      ["{", "JSON is malformed"],
    ] as const) {
      let caught: unknown = null;
      try {
        decodeServerFrame(text);
      } catch (exc) {
        caught = exc;
      }
      expect(caught).toBeInstanceOf(RelayError);
      expect((caught as RelayError).code).toBe("relay.bad_answer");
      expect((caught as RelayError).message).toContain(says);
    }
  });
});

describe("HTTP failures", () => {
  it("refuses a relay URL with no origin at construction", () => {
    expect(() => new Transport("relay.example")).toThrow(TypeError);
    expect(originOf("HTTP://127.0.0.1:80/")).toBe("http://127.0.0.1");
    const transport = new Transport("https://relay.example:8443/hearth/");
    expect([transport.baseUrl, transport.origin, transport.streamUrl]).toEqual([
      "https://relay.example:8443/hearth",
      "https://relay.example:8443",
      "wss://relay.example:8443/hearth/v1/stream",
    ]);
  });

  it("calls an unreachable relay net.unavailable", async () => {
    const transport = new Transport(`http://127.0.0.1:${await freePort()}`);
    const failed = transport.challenge("A".repeat(43));
    await expect(failed).rejects.toBeInstanceOf(RelayUnavailable);
    await expect(failed).rejects.toMatchObject({ code: "net.unavailable" });
  });

  it("calls an answer that does not decode relay.bad_answer", async () => {
    const transport = new Transport("http://relay.example", { fetch: answering(200, '{"challenge":"nope"}') });
    await expect(transport.challenge("A".repeat(43))).rejects.toMatchObject({ code: "relay.bad_answer", name: "RelayError" });
    const list = new Transport("http://relay.example", { fetch: answering(200, '{"not":"a list"}') });
    await expect(list.crisis()).rejects.toMatchObject({ code: "relay.bad_answer" });
  });

  it("gives up on a relay that accepts and never answers, after the timeout by its clock", async () => {
    const held: Socket[] = [];
    const silent: Server = createServer((socket) => held.push(socket)); // reads nothing, answers nothing
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const clock = new ManualClock();
    const transport = new Transport(`http://127.0.0.1:${port}`, { clock, timeout: 15 });
    try {
      const waiting = clock.nextSleep();
      let settled = false;
      const request = transport.challenge("A".repeat(43)).finally(() => {
        settled = true;
      });
      request.catch(() => undefined);
      expect(await waiting).toBe(15);
      await new Promise((resolve) => setTimeout(resolve, 50)); // a real moment: the request is held, not failed
      expect(settled).toBe(false);
      clock.advance(15);
      await expect(request).rejects.toMatchObject({ code: "net.unavailable", message: expect.stringContaining("no answer within 15 s") });
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  it("aborts what is in flight when closed", async () => {
    const transport = new Transport("http://relay.example", {
      fetch: (_url, init) =>
        new Promise((_resolve, reject) => init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")))),
    });
    const request = transport.sync(["t"], { positions: {} });
    transport.close();
    await expect(request).rejects.toMatchObject({ code: "net.unavailable", message: expect.stringContaining("closed") });
  });
});

describe("against a real relay", () => {
  let relay: RelayProcess;
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(() => relay?.dispose());

  it("sends requests the relay decodes, and carries its refusals with their codes", async () => {
    const calls: Array<{ url: string; headers: Record<string, string> }> = [];
    const transport = new Transport(relay.url + "/", {
      fetch: (url, init) => {
        calls.push({ url, headers: init.headers as Record<string, string> });
        return fetch(url, init);
      },
    });
    const challenge = await transport.challenge("A".repeat(43));
    expect(challenge.challenge.length).toBe(32);
    expect(challenge.origin).toBe(transport.origin);
    expect(challenge.pow_difficulty).toBe(6);
    expect(calls[0]).toEqual({ url: `${relay.url}/v1/auth/challenge`, headers: { "content-type": "application/json" } });

    await expect(transport.sync([], { positions: {} })).rejects.toMatchObject({ code: "auth.required", status: 401 });
    const refused = transport.sync(["not-a-token"], { positions: {} });
    await expect(refused).rejects.toBeInstanceOf(RelayError);
    await expect(refused).rejects.toMatchObject({ code: "auth.invalid", status: 401, retryable: false });
    expect(calls.at(-1)?.headers).toEqual({ authorization: "Bearer not-a-token", "content-type": "application/json" });
    await expect(transport.log("not-a-token", "A".repeat(32), 0)).rejects.toMatchObject({ code: "auth.invalid" });
    expect(calls.at(-1)?.url).toBe(`${relay.url}/v1/rooms/${"A".repeat(32)}/log?after=0&limit=500`);
    expect(await transport.crisis()).toEqual([]);
  });

  it("calls the global fetch on globalThis, as a browser's fetch must be called", async () => {
    const real = globalThis.fetch;
    const seen: string[] = [];
    globalThis.fetch = function (this: unknown, url: string | URL | Request, init?: RequestInit) {
      if (this !== globalThis) throw new TypeError("Failed to execute 'fetch' on 'Window': Illegal invocation");
      seen.push(String(url));
      return real(url, init);
    } as typeof fetch;
    try {
      await new Transport(relay.url).challenge("A".repeat(43));
    } finally {
      globalThis.fetch = real;
    }
    expect(seen).toEqual([`${relay.url}/v1/auth/challenge`]);
  });

  it("opens the stream with an injected WebSocket, and maps the relay's close", async () => {
    const transport = new Transport(relay.url, { WebSocket });
    const stream = await transport.openStream();
    stream.send({ type: "auth", tokens: ["not-a-token"] });
    const closed = stream.recv();
    await expect(closed).rejects.toBeInstanceOf(RelayError);
    await expect(closed).rejects.toMatchObject({ code: "auth.invalid", status: 0, detail: { close: 4401 } });
    expect(stream.open).toBe(false);
    expect(() => stream.send({ type: "subscribe", positions: {} })).toThrow(RelayError);
  });

  it("calls a stream that cannot open net.unavailable", async () => {
    const transport = new Transport(`http://127.0.0.1:${await freePort()}`, { WebSocket });
    await expect(transport.openStream()).rejects.toMatchObject({ code: "net.unavailable", name: "RelayUnavailable" });
  });
});
