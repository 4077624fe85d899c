/**
 * The part of Python's `urllib.parse.urlsplit` (3.11) that a relay's origin is read
 * with (`canonicalOrigin`, protocol.md 9.1): scheme, network location, host, port
 * and user info, with the same acceptance rules, so that both SDKs agree on which
 * URL has which origin and which has none. The WHATWG `URL` class is another parser
 * (it maps international names, percent-decodes, knows more schemes), so it is not
 * used here. Internal: `canonicalOrigin` is the public surface.
 */

/** What Python raises as `ValueError` while splitting or reading the port. */
export class UrlError extends Error {}

export interface SplitUrl {
  readonly scheme: string;
  readonly netloc: string;
  /** Lower case; `null` when empty (Python's `hostname`). */
  readonly hostname: string | null;
  /** `null` when absent or empty (Python's `port`); throws `UrlError` if not a port. */
  readonly port: number | null;
  /** Whether the network location has user info (an `@`): Python's `username is not None`. */
  readonly hasUserInfo: boolean;
}

const C0_OR_SPACE = /^[\x00-\x20]+/;
const SCHEME_CHARS = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const ASCII = /^[\x00-\x7f]*$/;

function partition(text: string, sep: string): [string, string, string] {
  const i = text.indexOf(sep);
  return i < 0 ? [text, "", ""] : [text.slice(0, i), sep, text.slice(i + sep.length)];
}

function rpartition(text: string, sep: string): [string, string, string] {
  const i = text.lastIndexOf(sep);
  return i < 0 ? ["", "", text] : [text.slice(0, i), sep, text.slice(i + sep.length)];
}

/** Split `url` as `urllib.parse.urlsplit` does; throws `UrlError` where Python raises. */
export function urlsplit(input: string): SplitUrl {
  let url = input.replace(C0_OR_SPACE, "").replace(/[\t\r\n]/g, "");
  let scheme = "";
  const colon = url.indexOf(":");
  if (colon > 0 && SCHEME_CHARS.test(url.slice(0, colon))) {
    scheme = url.slice(0, colon).toLowerCase();
    url = url.slice(colon + 1);
  }
  let netloc = "";
  if (url.startsWith("//")) {
    let end = url.length;
    for (const c of "/?#") {
      const i = url.indexOf(c, 2);
      if (i >= 0) end = Math.min(end, i);
    }
    netloc = url.slice(2, end);
    const open = netloc.includes("[");
    const close = netloc.includes("]");
    if (open !== close) throw new UrlError("Invalid IPv6 URL");
    if (open && close) checkBracketedHost(partition(partition(netloc, "[")[2], "]")[0]);
  }
  checkNetloc(netloc);
  return {
    scheme,
    netloc,
    hasUserInfo: netloc.includes("@"),
    get hostname() {
      const host = hostinfo(netloc)[0];
      if (host === "") return null;
      const [name, percent, zone] = partition(host, "%");
      return name.toLowerCase() + percent + zone;
    },
    get port() {
      const port = hostinfo(netloc)[1];
      if (port === null) return null;
      if (!/^[0-9]+$/.test(port)) throw new UrlError(`Port could not be cast to integer value as '${port}'`);
      const n = Number(port);
      if (n > 65535) throw new UrlError("Port out of range 0-65535");
      return n;
    },
  };
}

function hostinfo(netloc: string): [string, string | null] {
  const info = rpartition(netloc, "@")[2];
  const [, bracket, bracketed] = partition(info, "[");
  let host: string;
  let port: string;
  if (bracket !== "") {
    let rest: string;
    [host, , rest] = partition(bracketed, "]");
    port = partition(rest, ":")[2];
  } else {
    [host, , port] = partition(info, ":");
  }
  return [host, port === "" ? null : port];
}

/** Characters NFKC must not introduce into a network location (Python's `_checknetloc`). */
function checkNetloc(netloc: string): void {
  if (netloc === "" || ASCII.test(netloc)) return;
  const n = netloc.replace(/[@:#?]/g, "");
  const normal = n.normalize("NFKC");
  if (n === normal) return;
  for (const c of "/?#@:") {
    if (normal.includes(c)) throw new UrlError(`netloc '${netloc}' contains invalid characters under NFKC normalization`);
  }
}

function checkBracketedHost(host: string): void {
  if (host.startsWith("v")) {
    if (!/^v[a-fA-F0-9]+\.[^\n]+$/.test(host)) throw new UrlError("IPvFuture address is invalid");
    return;
  }
  if (!isIPv6(host)) throw new UrlError(`'${host}' does not appear to be an IPv6 address`);
}

/** Python's `ipaddress.IPv6Address` acceptance, scope id included. */
function isIPv6(text: string): boolean {
  if (text.includes("/")) return false;
  const [addr, sep, scope] = partition(text, "%");
  if (sep !== "" && (scope === "" || scope.includes("%"))) return false;
  if (addr === "") return false;
  const parts = addr.split(":");
  if (parts.length < 3) return false;
  if (parts[parts.length - 1]!.includes(".")) {
    if (!isIPv4(parts.pop()!)) return false;
    parts.push("0", "0");
  }
  if (parts.length > 9) return false;
  let skip: number | null = null;
  for (let i = 1; i < parts.length - 1; i++) {
    if (parts[i] === "") {
      if (skip !== null) return false;
      skip = i;
    }
  }
  let hi: number;
  let lo: number;
  if (skip !== null) {
    hi = skip;
    lo = parts.length - skip - 1;
    if (parts[0] === "" && --hi !== 0) return false;
    if (parts[parts.length - 1] === "" && --lo !== 0) return false;
    if (8 - (hi + lo) < 1) return false;
  } else {
    if (parts.length !== 8) return false;
    hi = parts.length;
    lo = 0;
  }
  const hextets = [...parts.slice(0, hi), ...parts.slice(parts.length - lo)];
  return hextets.every((h) => /^[0-9a-fA-F]{1,4}$/.test(h));
}

function isIPv4(text: string): boolean {
  const octets = text.split(".");
  return (
    octets.length === 4 &&
    octets.every((o) => /^[0-9]{1,3}$/.test(o) && (o === "0" || o[0] !== "0") && Number(o) <= 255)
  );
}

