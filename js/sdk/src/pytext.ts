/**
 * Python's string rules where the protocol depends on them and JavaScript's differ:
 * what `str.isspace`, `str.strip`, `str.split()` and `str.casefold` do.
 *
 * JavaScript's `\s` is another set (it has U+FEFF, lacks U+001C..U+001F and U+0085),
 * and `toLowerCase` is not case folding (`ß` stays `ß`, Cherokee goes the other way,
 * a final `Σ` depends on context). Names (protocol.md 8.12) and origins (9.1) are
 * compared across SDKs, so these follow Python exactly. Categories and normalisation
 * come from the platform's Unicode (`\p{…}`, `String.prototype.normalize`).
 */

/** Python's `str.isspace` per code point: bidi class WS, B or S, or category Zs. */
const SPACES: ReadonlySet<number> = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
  0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Whether the one character `char` is white space as Python's `str.isspace` says. */
export function isSpace(char: string): boolean {
  return SPACES.has(char.codePointAt(0)!);
}

/** Python's `text.strip()`: white space off both ends. */
export function strip(text: string): string {
  const chars = [...text];
  let start = 0;
  let end = chars.length;
  while (start < end && isSpace(chars[start]!)) start++;
  while (end > start && isSpace(chars[end - 1]!)) end--;
  return chars.slice(start, end).join("");
}

/** Python's `text.split()`: the runs between white space, none empty. */
export function splitWhitespace(text: string): string[] {
  const out: string[] = [];
  let word = "";
  for (const c of text) {
    if (isSpace(c)) {
      if (word !== "") out.push(word);
      word = "";
    } else word += c;
  }
  if (word !== "") out.push(word);
  return out;
}

/**
 * Full case foldings (Unicode's CaseFolding.txt, status C and F) of the characters
 * whose folding is not their lower case, apart from the Cherokee ranges below.
 * Written as escapes, in pairs "character folding", separated by spaces.
 */
const FOLDS_TEXT =
  "\u00b5 \u03bc \u0149 \u02bcn \u017f s \u03d0 \u03b2 \u03d1 \u03b8 \u03d5 \u03c6 \u03d6 \u03c0 " +
  "\u03f0 \u03ba \u03f1 \u03c1 \u03f5 \u03b5 \u0587 \u0565\u0582 \u1e9a a\u02be \u1e9b \u1e61 " +
  "\u1fbe \u03b9 \u1fd3 \u03b9\u0308\u0301 \u1fe3 \u03c5\u0308\u0301 \ufb00 ff \ufb01 fi \ufb02 fl " +
  "\ufb03 ffi \ufb04 ffl \ufb05 st \ufb06 st \ufb13 \u0574\u0576 \ufb14 \u0574\u0565 " +
  "\ufb15 \u0574\u056b \ufb16 \u057e\u0576 \ufb17 \u0574\u056d " +
  "\u00df ss \u01f0 \u006a\u030c \u0345 \u03b9 \u0390 \u03b9\u0308\u0301 \u03b0 \u03c5\u0308\u0301 \u03c2 \u03c3 " +
  "\u1c80 \u0432 \u1c81 \u0434 \u1c82 \u043e \u1c83 \u0441 \u1c84 \u0442 \u1c85 \u0442 \u1c86 \u044a \u1c87 \u0463 " +
  "\u1c88 \ua64b \u1e96 \u0068\u0331 \u1e97 \u0074\u0308 \u1e98 \u0077\u030a \u1e99 \u0079\u030a \u1e9e ss " +
  "\u1f50 \u03c5\u0313 \u1f52 \u03c5\u0313\u0300 \u1f54 \u03c5\u0313\u0301 \u1f56 \u03c5\u0313\u0342 " +
  "\u1fb2 \u1f70\u03b9 \u1fb3 \u03b1\u03b9 \u1fb4 \u03ac\u03b9 \u1fb6 \u03b1\u0342 \u1fb7 \u03b1\u0342\u03b9 " +
  "\u1fbc \u03b1\u03b9 \u1fc2 \u1f74\u03b9 \u1fc3 \u03b7\u03b9 \u1fc4 \u03ae\u03b9 \u1fc6 \u03b7\u0342 " +
  "\u1fc7 \u03b7\u0342\u03b9 \u1fcc \u03b7\u03b9 \u1fd2 \u03b9\u0308\u0300 \u1fd6 \u03b9\u0342 " +
  "\u1fd7 \u03b9\u0308\u0342 \u1fe2 \u03c5\u0308\u0300 \u1fe4 \u03c1\u0313 \u1fe6 \u03c5\u0342 " +
  "\u1fe7 \u03c5\u0308\u0342 \u1ff2 \u1f7c\u03b9 \u1ff3 \u03c9\u03b9 \u1ff4 \u03ce\u03b9 \u1ff6 \u03c9\u0342 " +
  "\u1ff7 \u03c9\u0342\u03b9 \u1ffc \u03c9\u03b9";

function folds(): ReadonlyMap<number, string> {
  const out = new Map<number, string>();
  const parts = FOLDS_TEXT.split(" ");
  for (let i = 0; i < parts.length; i += 2) out.set(parts[i]!.codePointAt(0)!, parts[i + 1]!);
  // Greek with a subscript iota (U+1F80..U+1FAF): the base vowel with its breathing and
  // accent, lower case, then iota; capitals (…8..…F) fold like their small letters.
  const bases = [0x1f00, 0x1f20, 0x1f60];
  for (let block = 0; block < 3; block++) {
    for (let i = 0; i < 16; i++) out.set(0x1f80 + block * 16 + i, String.fromCodePoint(bases[block]! + (i % 8)) + "\u03b9");
  }
  return out;
}

const FOLDS = folds();

/** Python's `text.casefold()`: per code point, with no context (unlike `toLowerCase`). */
export function casefold(text: string): string {
  let out = "";
  for (const c of text) {
    const cp = c.codePointAt(0)!;
    const fold = FOLDS.get(cp);
    if (fold !== undefined) out += fold;
    // Cherokee folds to its capitals (U+13A0..U+13F5), the reverse of lower-casing.
    else if (cp >= 0x13a0 && cp <= 0x13f5) out += c;
    else if (cp >= 0x13f8 && cp <= 0x13fd) out += String.fromCodePoint(cp - 8);
    else if (cp >= 0xab70 && cp <= 0xabbf) out += String.fromCodePoint(cp - 0xab70 + 0x13a0);
    else out += c.toLowerCase();
  }
  return out;
}
