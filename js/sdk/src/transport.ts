/**
 * The thin I/O driver between the SDK and a relay: `fetch` for HTTP, `WebSocket` for
 * the stream (mirrors `client_sdk/_transport.py`, endpoint for endpoint).
 *
 * One method per endpoint of `docs/api.md`, taking and returning the wire types of
 * `wire/schema.gen.ts`. No decision is made here beyond encoding, decoding and
 * error translation, at this boundary and nowhere else:
 *
 * - a request that cannot reach the relay, or gets no answer within `timeout`
 *   seconds (by the transport's `Clock`), is `RelayUnavailable` (`net.unavailable`);
 * - a refusal is `RelayError` with the relay's stable code, its HTTP status, its
 *   `detail` and `Retry-After` (seconds) as `retryAfter`; a refusal whose body is
 *   not an `ErrorBody` is `internal` (5xx) or `relay.bad_answer`;
 * - an answer that does not decode is the relay's fault (`relay.bad_answer`), never
 *   a crash.
 *
 * Only web-platform APIs are used (`fetch`, `AbortController`, `WebSocket`), and
 * both `fetch` and the `WebSocket` constructor can be handed in: Node 20 has no
 * global `WebSocket`, so a Node app passes the `ws` package's. Requests send no
 * cookies (`credentials: "omit"`): a session is its bearer token and nothing else.
 */

import { canonicalOrigin } from "./auth.js";
import { type Clock, SYSTEM_CLOCK } from "./clock.js";
import { DecodeError, HearthError } from "./errors.js";
import { RelayError, RelayUnavailable } from "./sdkErrors.js";
import { decodeJson, toJson } from "./wire/codec.js";
import type {
  AckFrame,
  AppendResult,
  AuthFrame,
  AuthRequest,
  Challenge,
  ChallengeRequest,
  CrisisResource,
  DeleteRequest,
  Envelope,
  ErasedEvent,
  ErrorBody,
  ErrorFrame,
  EventFrame,
  EventsFrame,
  HistoryPage,
  InviteReadRequest,
  LinkClaim,
  LinkOffer,
  LinkOffered,
  LogEvent,
  LogPage,
  MessageAck,
  MessageEvent,
  PersonalDocument,
  PersonalFrame,
  PersonalIndex,
  PersonalInfo,
  PersonalSubscribeFrame,
  PersonalWrite,
  PushRegistration,
  PushVapidKey,
  ReadyFrame,
  RemovedEvent,
  SendFrame,
  Session,
  SignedOp,
  SubscribeFrame,
  SyncRequest,
  SyncResponse,
  TombstoneEvent,
} from "./wire/schema.gen.js";

/** A stored event of a room (protocol.md 3.4, union `RoomEvent`). */
export type RoomEvent = LogEvent | MessageEvent | TombstoneEvent | RemovedEvent | ErasedEvent;

/** What the client sends on the stream (union `ClientFrame`). */
export type ClientFrame = AuthFrame | SubscribeFrame | SendFrame | PersonalSubscribeFrame;

/** What the relay sends on the stream (union `ServerFrame`). */
export type ServerFrame = ReadyFrame | EventFrame | EventsFrame | AckFrame | ErrorFrame | PersonalFrame;

const CLIENT_FRAMES: Readonly<Record<ClientFrame["type"], string>> = {
  auth: "AuthFrame",
  subscribe: "SubscribeFrame",
  send: "SendFrame",
  "personal.subscribe": "PersonalSubscribeFrame",
};

const SERVER_FRAMES: Readonly<Record<ServerFrame["type"], string>> = {
  ready: "ReadyFrame",
  event: "EventFrame",
  events: "EventsFrame",
  ack: "AckFrame",
  error: "ErrorFrame",
  personal: "PersonalFrame",
};

/** Websocket close codes of docs/api.md and the error codes they stand for. */
export const CLOSE_CODES: ReadonlyMap<number, string> = new Map([
  [4400, "wire.malformed"],
  [4401, "auth.invalid"],
  [4403, "auth.forbidden"],
  [4409, "stream.behind"],
  [4430, "stream.too_many"],
  [4422, "msg.invalid"],
  [4429, "rate.limited"],
  [1009, "request.too_large"],
  [1011, "internal"],
  [1012, "stream.shutdown"],
]);

/** `fetch` as the transport calls it. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The parts of a WHATWG `WebSocket` the stream uses (browsers' own, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "error", listener: (event: unknown) => void): void;
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { readonly code: number; readonly reason: string }) => void): void;
}

/** A `WebSocket` constructor: `globalThis.WebSocket` in browsers, `ws`'s in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** How a `Transport` reaches its relay. */
export interface TransportOptions {
  /** Seconds a request may take in all (default 15); opening the stream takes at most 10. */
  timeout?: number;
  /** Where timeouts are measured (default `SYSTEM_CLOCK`). */
  clock?: Clock;
  /** The `fetch` to use (default the global one, looked up at each request). */
  fetch?: FetchLike;
  /** The `WebSocket` constructor (default `globalThis.WebSocket`). */
  WebSocket?: WebSocketConstructor;
}

/** The canonical origin of a relay URL; a malformed URL is a `TypeError` here, as Python's is a `ValueError`. */
export function originOf(url: string): string {
  try {
    return canonicalOrigin(url);
  } catch (exc) {
    if (exc instanceof HearthError) throw new TypeError(exc.message);
    throw exc;
  }
}

function bearer(tokens: readonly string[]): Record<string, string> {
  return { authorization: "Bearer " + tokens.join(",") };
}

function decodeAnswer<T>(kind: string, text: string, what: string): T {
  try {
    return decodeJson<T>(kind, text);
  } catch (exc) {
    if (exc instanceof DecodeError) {
      throw new RelayError(`the relay's ${what} does not decode: ${exc.message}`, { code: "relay.bad_answer" });
    }
    throw exc;
  }
}

/** Seconds of a `Retry-After` header given in seconds (an HTTP date is not read, as in Python). */
function retryAfterOf(header: string | null): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (!/^[+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(text)) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** The `RelayError` a refusal stands for: the relay's code, status, detail and `Retry-After`. */
export function refusal(status: number, body: string, retryAfterHeader: string | null): RelayError {
  const retryAfter = retryAfterOf(retryAfterHeader);
  let error: ErrorBody;
  try {
    error = decodeJson<ErrorBody>("ErrorBody", body);
  } catch (exc) {
    if (!(exc instanceof DecodeError)) throw exc;
    return new RelayError(`relay answered HTTP ${status}`, {
      code: status >= 500 ? "internal" : "relay.bad_answer",
      status,
      retryAfter,
    });
  }
  return new RelayError(error.message, { code: error.code, status, detail: error.detail ?? null, retryAfter });
}

/** The seconds a close reason `<code> retry_ms=<n>` asks to wait, if it asks. */
export function comeback(reason: string): number | null {
  for (const part of reason.split(" ").slice(1)) {
    const eq = part.indexOf("=");
    const key = eq >= 0 ? part.slice(0, eq) : part;
    const value = eq >= 0 ? part.slice(eq + 1) : "";
    if (key === "retry_ms" && /^[0-9]{1,9}$/.test(value)) return Number(value) / 1000;
  }
  return null;
}

/**
 * The error a stream closed by the relay with `code` and `reason` stands for.
 *
 * A close code of `CLOSE_CODES` is a `RelayError` with its error code (and, for
 * 1012, the `retry_ms` the relay named as `retryAfter`); 1011 `storage.unavailable`
 * is the relay being up but unable to write, told apart from "offline"; any other
 * close, 1011 `internal` included, is `RelayUnavailable`.
 */
export function closeError(code: number | null, reason: string): RelayError | RelayUnavailable {
  const mapped = code === null ? undefined : CLOSE_CODES.get(code);
  if (code !== null && mapped !== undefined && code !== 1011) {
    return new RelayError(`relay closed the stream (${code} ${reason})`.trim(), {
      code: mapped,
      detail: { close: code },
      retryAfter: comeback(reason),
    });
  }
  if (code === 1011 && reason === "storage.unavailable") {
    return new RelayError("the relay cannot store messages right now", {
      code: "storage.unavailable",
      detail: { close: code },
    });
  }
  return new RelayUnavailable(`stream closed (${code})`);
}

/** Decode one stream frame by its `type` tag, as strictly as msgspec decodes the union. */
export function decodeServerFrame(text: string): ServerFrame {
  try {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (exc) {
      throw new DecodeError(`JSON is malformed: ${(exc as Error).message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new DecodeError(`Expected \`object\`, got \`${Array.isArray(value) ? "array" : value === null ? "null" : typeof value}\` - at \`$\``);
    }
    const tag = (value as Record<string, unknown>)["type"];
    if (tag === undefined) throw new DecodeError("Object missing required field `type` - at `$`");
    if (typeof tag !== "string") throw new DecodeError("Expected `str` - at `$.type`");
    const name = Object.prototype.hasOwnProperty.call(SERVER_FRAMES, tag) ? SERVER_FRAMES[tag as ServerFrame["type"]] : undefined;
    if (name === undefined) throw new DecodeError(`Invalid value '${tag}' - at \`$.type\``);
    return decodeJson<ServerFrame>(name, value);
  } catch (exc) {
    if (exc instanceof DecodeError) {
      throw new RelayError(`the relay's stream frame does not decode: ${exc.message}`, { code: "relay.bad_answer" });
    }
    throw exc;
  }
}

const OPEN = 1;

interface Waiter {
  resolve(frame: ServerFrame): void;
  reject(error: HearthError): void;
}

/** One open websocket to `/v1/stream`: frames in, frames out. */
export class StreamConnection {
  private readonly socket: WebSocketLike;
  private readonly inbox: string[] = [];
  private readonly waiters: Waiter[] = [];
  private ended: RelayError | RelayUnavailable | null = null;

  /** @internal Made by `Transport.openStream` around a socket that is open. */
  constructor(socket: WebSocketLike) {
    this.socket = socket;
    socket.addEventListener("message", (event) => this.received(event.data));
    socket.addEventListener("close", (event) => this.closed(closeError(event.code, event.reason)));
  }

  /** Whether the relay's side is still open. */
  get open(): boolean {
    return this.ended === null && this.socket.readyState === OPEN;
  }

  /**
   * Send one client frame.
   *
   * @throws RelayError The relay closed the stream with a close code of its table.
   * @throws RelayUnavailable The connection is gone otherwise.
   */
  send(frame: ClientFrame): void {
    if (this.ended !== null) throw this.ended;
    if (this.socket.readyState !== OPEN) throw new RelayUnavailable("stream broke: the socket is not open");
    const name = CLIENT_FRAMES[frame.type];
    try {
      this.socket.send(toJson(name, frame));
    } catch (exc) {
      if (exc instanceof HearthError || exc instanceof TypeError) throw exc;
      throw new RelayUnavailable(`stream broke: ${(exc as Error).name}`);
    }
  }

  /**
   * The next server frame; frames that came before a close are delivered first.
   *
   * @throws RelayError The relay closed the stream with a close code of its table
   *   (`auth.invalid`, `stream.behind`, `stream.shutdown` ...), or sent a frame that
   *   does not decode (`relay.bad_answer`).
   * @throws RelayUnavailable The connection ended otherwise.
   */
  recv(): Promise<ServerFrame> {
    const text = this.inbox.shift();
    if (text !== undefined) {
      try {
        return Promise.resolve(decodeServerFrame(text));
      } catch (exc) {
        return Promise.reject(exc);
      }
    }
    if (this.ended !== null) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Close the websocket (errors on the way out are ignored). A `recv` waiting, or
   * one called later, fails at once rather than when the closing handshake ends.
   */
  close(code = 1000): void {
    try {
      this.socket.close(code);
    } catch {
      // already closing, or never opened: nothing to undo
    }
    this.closed(new RelayUnavailable("the stream was closed on this side"));
  }

  private received(data: unknown): void {
    let text: string;
    if (typeof data === "string") text = data;
    else if (data instanceof ArrayBuffer) text = new TextDecoder().decode(data);
    else if (data instanceof Uint8Array) text = new TextDecoder().decode(data);
    else text = ""; // not JSON: recv reports relay.bad_answer
    const waiter = this.waiters.shift();
    if (waiter === undefined) {
      this.inbox.push(text);
      return;
    }
    try {
      waiter.resolve(decodeServerFrame(text));
    } catch (exc) {
      waiter.reject(exc as HearthError);
    }
  }

  private closed(error: RelayError | RelayUnavailable): void {
    if (this.ended !== null) return;
    this.ended = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

type Params = Record<string, number | string>;

interface RequestOptions {
  tokens?: readonly string[];
  /** The wire structure `body` is, for its JSON (omit for no body). */
  bodyType?: string;
  body?: unknown;
  params?: Params;
}

/** HTTP and websocket access to one relay. */
export class Transport {
  /** The relay's base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** The canonical origin of `baseUrl`: what a challenge must name. */
  readonly origin: string;
  /** `ws(s)://.../v1/stream`. */
  readonly streamUrl: string;
  private readonly timeout: number;
  private readonly clock: Clock;
  private readonly fetchImpl: FetchLike | undefined;
  private readonly WebSocketImpl: WebSocketConstructor | undefined;
  private readonly closing = new AbortController();

  /** @throws TypeError `baseUrl` is not an http(s) URL with a host. */
  constructor(baseUrl: string, options: TransportOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.origin = originOf(this.baseUrl);
    const scheme = this.baseUrl.startsWith("https") ? "wss" : "ws";
    this.streamUrl = scheme + this.baseUrl.slice(this.baseUrl.indexOf(":")) + "/v1/stream";
    this.timeout = options.timeout ?? 15;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.fetchImpl = options.fetch;
    this.WebSocketImpl = options.WebSocket;
  }

  /** Abort every request still running (they fail with `net.unavailable`). */
  close(): void {
    this.closing.abort();
  }

  private async exchange(method: string, path: string, options: RequestOptions): Promise<{ status: number; text: string; retryAfter: string | null }> {
    const query = options.params === undefined ? "" : "?" + new URLSearchParams(Object.entries(options.params).map(([k, v]) => [k, String(v)])).toString();
    const headers: Record<string, string> = options.tokens !== undefined && options.tokens.length > 0 ? bearer(options.tokens) : {};
    let body: string | undefined;
    if (options.bodyType !== undefined) {
      body = toJson(options.bodyType, options.body);
      headers["content-type"] = "application/json";
    }
    if (this.fetchImpl === undefined && typeof globalThis.fetch !== "function") {
      throw new TypeError("no fetch in this runtime: pass the fetch option");
    }
    // Called on globalThis: a browser's fetch taken off `window` throws "Illegal invocation".
    const fetchImpl: FetchLike = this.fetchImpl ?? ((url, init) => globalThis.fetch(url, init));
    const abort = new AbortController();
    const stopTimer = new AbortController();
    let timedOut = false;
    const onClose = () => abort.abort();
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    void this.clock.sleep(this.timeout, stopTimer.signal).then((passed) => {
      if (passed) {
        timedOut = true;
        abort.abort();
      }
    });
    try {
      const response = await fetchImpl(this.baseUrl + path + query, {
        method,
        headers,
        body,
        signal: abort.signal,
        credentials: "omit",
        redirect: "follow",
      });
      // The timeout covers the body too: a relay that stalls mid-answer is unavailable.
      const text = await response.text();
      return { status: response.status, text, retryAfter: response.headers.get("retry-after") };
    } catch (exc) {
      if (exc instanceof HearthError) throw exc;
      if (timedOut) throw new RelayUnavailable(`${method} ${path}: no answer within ${this.timeout} s`);
      if (this.closing.signal.aborted) throw new RelayUnavailable(`${method} ${path}: the transport was closed`);
      throw new RelayUnavailable(`${method} ${path}: ${describe(exc)}`);
    } finally {
      stopTimer.abort();
      this.closing.signal.removeEventListener("abort", onClose);
    }
  }

  /**
   * One request: `kind` names the wire structure of the answer.
   *
   * @throws RelayUnavailable The relay could not be reached or did not answer in time.
   * @throws RelayError The relay refused (its code), or its answer does not decode (`relay.bad_answer`).
   */
  async request<T>(method: string, path: string, kind: string, options: RequestOptions = {}): Promise<T> {
    const answer = await this.exchange(method, path, options);
    if (answer.status >= 400) throw refusal(answer.status, answer.text, answer.retryAfter);
    return decodeAnswer<T>(kind, answer.text, `answer to ${method} ${path}`);
  }

  private async noContent(method: string, path: string, options: RequestOptions): Promise<void> {
    const answer = await this.exchange(method, path, options);
    if (answer.status >= 400) throw refusal(answer.status, answer.text, answer.retryAfter);
  }

  // -- authentication ----------------------------------------------------------

  challenge(key: string): Promise<Challenge> {
    const body: ChallengeRequest = { key };
    return this.request("POST", "/v1/auth/challenge", "Challenge", { bodyType: "ChallengeRequest", body });
  }

  session(request: AuthRequest): Promise<Session> {
    return this.request("POST", "/v1/auth/session", "Session", { bodyType: "AuthRequest", body: request });
  }

  // -- rooms and logs -----------------------------------------------------------

  createRoom(token: string, op: SignedOp): Promise<AppendResult> {
    return this.request("POST", "/v1/rooms", "AppendResult", { tokens: [token], bodyType: "SignedOp", body: op });
  }

  append(token: string, room: string, op: SignedOp): Promise<AppendResult> {
    return this.request("POST", `/v1/rooms/${room}/log`, "AppendResult", { tokens: [token], bodyType: "SignedOp", body: op });
  }

  log(token: string, room: string, after: number, limit = 500): Promise<LogPage> {
    return this.request("GET", `/v1/rooms/${room}/log`, "LogPage", { tokens: [token], params: { after, limit } });
  }

  inviteLog(token: string, room: string, request: InviteReadRequest, after: number, limit = 500): Promise<LogPage> {
    return this.request("POST", `/v1/rooms/${room}/invite-log`, "LogPage", {
      tokens: [token],
      bodyType: "InviteReadRequest",
      body: request,
      params: { after, limit },
    });
  }

  // -- messages -------------------------------------------------------------------

  send(token: string, envelope: Envelope): Promise<MessageAck> {
    const room = envelope.header.room;
    return this.request("POST", `/v1/rooms/${room}/messages`, "MessageAck", { tokens: [token], bodyType: "Envelope", body: envelope });
  }

  history(token: string, room: string, before: number, limit = 200): Promise<HistoryPage> {
    return this.request("GET", `/v1/rooms/${room}/messages`, "HistoryPage", { tokens: [token], params: { before, limit } });
  }

  delete(token: string, request: DeleteRequest): Promise<TombstoneEvent> {
    const room = request.content.room;
    return this.request("POST", `/v1/rooms/${room}/deletions`, "TombstoneEvent", {
      tokens: [token],
      bodyType: "DeleteRequest",
      body: request,
    });
  }

  sync(tokens: readonly string[], request: SyncRequest): Promise<SyncResponse> {
    return this.request("POST", "/v1/sync", "SyncResponse", { tokens, bodyType: "SyncRequest", body: request });
  }

  // -- push -----------------------------------------------------------------------

  registerPush(token: string, room: string, device: string, endpoint: string, webPush = false): Promise<void> {
    const body: PushRegistration = { endpoint, web_push: webPush };
    return this.noContent("PUT", `/v1/rooms/${room}/push/${device}`, { tokens: [token], bodyType: "PushRegistration", body });
  }

  /** The relay's VAPID public key (`GET /v1/push/vapid`, no session). */
  vapidKey(): Promise<PushVapidKey> {
    return this.request("GET", "/v1/push/vapid", "PushVapidKey", {});
  }

  unregisterPush(token: string, room: string, device: string): Promise<void> {
    return this.noContent("DELETE", `/v1/rooms/${room}/push/${device}`, { tokens: [token] });
  }

  // -- linking devices and the personal store ----------------------------------------

  offerLink(token: string, offer: LinkOffer): Promise<LinkOffered> {
    return this.request("POST", "/v1/links", "LinkOffered", { tokens: [token], bodyType: "LinkOffer", body: offer });
  }

  claimLink(link: string): Promise<LinkClaim> {
    return this.request("POST", `/v1/links/${link}/claim`, "LinkClaim");
  }

  personalIndex(token: string): Promise<PersonalIndex> {
    return this.request("GET", "/v1/personal", "PersonalIndex", { tokens: [token] });
  }

  personalGet(token: string, doc: string): Promise<PersonalDocument> {
    return this.request("GET", `/v1/personal/${doc}`, "PersonalDocument", { tokens: [token] });
  }

  personalPut(token: string, doc: string, write: PersonalWrite): Promise<PersonalInfo> {
    return this.request("PUT", `/v1/personal/${doc}`, "PersonalInfo", { tokens: [token], bodyType: "PersonalWrite", body: write });
  }

  // -- public ---------------------------------------------------------------------

  /** The operator's crisis resources: the whole list, never `?region=` (the region is applied on the device). */
  async crisis(): Promise<CrisisResource[]> {
    const answer = await this.exchange("GET", "/v1/crisis", {});
    if (answer.status >= 400) throw refusal(answer.status, answer.text, answer.retryAfter);
    let items: unknown;
    try {
      items = JSON.parse(answer.text);
    } catch {
      items = null;
    }
    if (!Array.isArray(items)) {
      throw new RelayError("the relay's answer to GET /v1/crisis does not decode: Expected `array`", { code: "relay.bad_answer" });
    }
    return items.map((item) => decodeAnswer<CrisisResource>("CrisisResource", JSON.stringify(item), "answer to GET /v1/crisis"));
  }

  // -- the stream -----------------------------------------------------------------

  /**
   * Open the websocket (no frame sent yet).
   *
   * @throws RelayUnavailable It did not open, or not within `min(timeout, 10)` seconds.
   */
  async openStream(): Promise<StreamConnection> {
    const Socket = this.WebSocketImpl ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Socket === undefined) throw new TypeError("no WebSocket in this runtime: pass the WebSocket option");
    let socket: WebSocketLike;
    try {
      socket = new Socket(this.streamUrl);
    } catch (exc) {
      throw new RelayUnavailable(`cannot open the stream: ${describe(exc)}`);
    }
    socket.binaryType = "arraybuffer";
    // Listening from the start: nothing the relay sends after the handshake is missed.
    const connection = new StreamConnection(socket);
    const stop = new AbortController();
    const opened = await new Promise<boolean>((resolve) => {
      socket.addEventListener("open", () => resolve(true));
      socket.addEventListener("close", () => resolve(false));
      socket.addEventListener("error", () => resolve(false));
      void this.clock.sleep(Math.min(this.timeout, 10), stop.signal).then((passed) => {
        if (passed) resolve(false);
      });
    });
    stop.abort();
    if (!opened || socket.readyState !== OPEN) {
      connection.close();
      throw new RelayUnavailable("cannot open the stream");
    }
    return connection;
  }
}

function describe(exc: unknown): string {
  if (exc instanceof Error) {
    const cause = (exc as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? ` (${cause.message})` : "";
    return `${exc.name}${detail}`;
  }
  return String(exc);
}
