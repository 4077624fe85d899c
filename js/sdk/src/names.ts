/**
 * Members' display names (mirrors `protocol/names.py`, protocol.md 8.12): which names
 * a receiver accepts, and when two look alike.
 *
 * A member picks a display name per room and sends it as an encrypted
 * `member.profile` message, signed by its room key like any message: a name is never
 * one object shared across rooms, so it links nothing. Two rules here are protocol
 * behaviour, so that every client shows the same names and tells the same ones apart:
 *
 * - `memberName`: the name as shown is the NFC normalisation of what was sent; it is
 *   refused (the message counts for nothing) unless it has 1 to `MAX_NAME_CHARS`
 *   code points, no control, surrogate, private-use, line or paragraph separator or
 *   bidirectional formatting character, no white space at either end, and at least
 *   one visible character.
 * - `nameSkeleton`: what a name looks like, for comparison only: NFKC, without
 *   invisible characters, case folded, with letters of other scripts that look like
 *   Latin ones (and `0`/`O`, `1`/`l`/`I`, `rn`/`m`, `vv`/`w`) mapped to one form,
 *   white space collapsed. The table is Python's, a deliberate subset of Unicode's
 *   confusables (UTS #39): a collision only adds a suffix, a miss shows two similar names.
 *
 * White space and case folding are Python's (`pytext.ts`); categories and
 * normalisation are the platform's Unicode tables.
 */

import { casefold, isSpace, splitWhitespace } from "./pytext.js";

/** A display name's length limit, in code points after NFC normalisation. */
export const MAX_NAME_CHARS = 64;

const REFUSED = /^[\p{Cc}\p{Cs}\p{Co}\p{Zl}\p{Zp}]$/u;
/** Characters that reorder what follows them: a name could make later text read backwards. */
const BIDI_CONTROLS: ReadonlySet<string> = new Set([..."\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]);
const INVISIBLE = /^[\p{Cf}\p{Mn}\p{Me}]$/u;
const FORMAT = /^\p{Cf}$/u;

function visible(char: string): boolean {
  return !isSpace(char) && !INVISIBLE.test(char);
}

function hex4(char: string): string {
  return char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
}

/**
 * The display name `raw` stands for: its NFC form, if it is acceptable.
 * Throws `RangeError` saying why the name is refused (see the module comment).
 */
export function memberName(raw: string): string {
  const name = raw.normalize("NFC");
  const chars = [...name];
  if (chars.length < 1 || chars.length > MAX_NAME_CHARS) throw new RangeError(`a name has 1 to ${MAX_NAME_CHARS} characters`);
  for (const c of chars) {
    if (REFUSED.test(c) || BIDI_CONTROLS.has(c)) throw new RangeError(`a name cannot hold the control character U+${hex4(c)}`);
  }
  if (isSpace(chars[0]!) || isSpace(chars[chars.length - 1]!)) throw new RangeError("a name cannot start or end with a space");
  if (!chars.some(visible)) throw new RangeError("a name needs at least one visible character");
  return name;
}

/**
 * `"Aa Bb"`: each look-alike character, then the Latin letter it maps to. The
 * look-alikes are written as escapes: on screen they are, by design,
 * indistinguishable from the letters they map to.
 */
function table(pairs: string): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const pair of pairs.split(" ")) {
    const [first, ...rest] = [...pair];
    out.set(first!, rest.join(""));
  }
  return out;
}

const BEFORE_CASEFOLD = table(
  // Capitals that look like a Latin letter whose own lower case differs from theirs.
  // Cyrillic: A B E S I I J K M H O P C T X Y Y Q W
  "\u0410a \u0412b \u0415e \u0405s \u0406l \u04c0l \u0408j \u041ak \u041cm \u041dh " +
    "\u041eo \u0420p \u0421c \u0422t \u0425x \u0423y \u04aey \u051aq \u051cw " +
    // Greek: A B E Z H I K M N O P T Y X
    "\u0391a \u0392b \u0395e \u0396z \u0397h \u0399l \u039ak \u039cm \u039dn \u039fo " +
    "\u03a1p \u03a4t \u03a5y \u03a7x " +
    // Latin capital I and lower-case l, and the digits and bar that look like letters.
    "Il 0o 1l |l",
);
const AFTER_CASEFOLD = table(
  // Cyrillic: a e o p c y x s i j d h l q w
  "\u0430a \u0435e \u043eo \u0440p \u0441c \u0443y \u0445x \u0455s \u0456i \u0458j " +
    "\u0501d \u04bbh \u04cfl \u051bq \u051dw " +
    // Greek: a o v p i k u x c j
    "\u03b1a \u03bfo \u03bdv \u03c1p \u03b9i \u03bak \u03c5u \u03c7x \u03f2c \u03f3j " +
    // Armenian: o u n g h
    "\u0585o \u057du \u0578n \u0581g \u0570h " +
    // Latin: dotless i, script g, alpha; digits and bar again (case folding keeps them)
    "\u0131i \u0261g \u0251a 0o 1l |l",
);
const SEQUENCES: readonly (readonly [string, string])[] = [
  ["rn", "m"],
  ["vv", "w"],
];

function translate(text: string, map: ReadonlyMap<string, string>): string {
  let out = "";
  for (const c of text) out += map.get(c) ?? c;
  return out;
}

/**
 * What `name` looks like, for telling look-alike names apart (never shown).
 * Equal skeletons mean two names a reader could take for one another.
 */
export function nameSkeleton(name: string): string {
  let text = "";
  for (const c of name.normalize("NFKC")) {
    if (!FORMAT.test(c) && !(c >= "\ufe00" && c <= "\ufe0f")) text += c;
  }
  text = casefold(translate(text, BEFORE_CASEFOLD));
  text = translate(text.normalize("NFKC"), AFTER_CASEFOLD);
  for (const [sequence, letter] of SEQUENCES) text = text.replaceAll(sequence, letter);
  return splitWhitespace(text).join(" ");
}
