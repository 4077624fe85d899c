/**
 * The on-device draft check: does a draft suggest showing crisis resources?
 * (mirrors `client_sdk/_drafts.py`, phrase for phrase).
 *
 * An opt-in aid, off by default (`HearthClient.setDraftCheck`). It is a plain phrase
 * list, matched on whole words after lower-casing and folding apostrophes and
 * punctuation, so anyone can read exactly what it looks for and why it fired. It is
 * pure and synchronous: it runs on the device, reads nothing but its argument, writes
 * nothing, and cannot send anything anywhere. It is not a diagnosis and not a
 * classifier: it misses crises worded otherwise and fires on phrases quoted or
 * negated ("I don't want to die"). Its only use is to offer the operator's crisis
 * lines to the person writing; it never blocks, delays or reports a message.
 */

/**
 * What the check looks for, as normalised text (lower case, no apostrophes, words
 * separated by single spaces). Kept short and explicit on purpose.
 */
export const CRISIS_PHRASES: readonly string[] = Object.freeze([
  "suicide",
  "suicidal",
  "kill myself",
  "killing myself",
  "end my life",
  "ending my life",
  "take my own life",
  "taking my own life",
  "end it all",
  "want to die",
  "wanna die",
  "wish i was dead",
  "wish i were dead",
  "better off dead",
  "better off without me",
  "no reason to live",
  "nothing to live for",
  "cant go on",
  "dont want to be here anymore",
  "dont want to wake up",
  "hurt myself",
  "hurting myself",
  "harm myself",
  "self harm",
  "cut myself",
  "cutting myself",
  "overdose",
  "goodbye forever",
]);

/** What `checkDraft` found in a draft. */
export interface DraftCheck {
  /** True if the front end should offer crisis resources now. */
  readonly suggest: boolean;
  /** The phrases of `CRISIS_PHRASES` found, in list order (so a front end can say why). */
  readonly matches: readonly string[];
}

const PATTERNS: readonly (readonly [string, string])[] = CRISIS_PHRASES.map((p) => [p, ` ${p} `] as const);

/**
 * Python's `NFKD`, then `encode("ascii", "ignore")`, `lower()`, apostrophes out, every
 * run of other characters one space, padded with a space each side.
 */
function normalise(text: string): string {
  // Dropping every UTF-16 unit past U+007F drops every non-ASCII code point, as the
  // ASCII encoding with "ignore" does (lone surrogates included).
  const folded = text
    .normalize("NFKD")
    .replace(/[^\x00-\x7f]/g, "")
    .toLowerCase()
    .replace(/['`]/g, "");
  return " " + folded.replace(/[^a-z0-9]+/g, " ").trim() + " ";
}

/**
 * Look for crisis language in a draft, on this device only.
 *
 * Pure: no network, no storage, no logging. Whole words on normalised text: "cut
 * myself" fires on "I CUT myself again", "can't go on" on "cant go on", and
 * "overdose" does not fire inside another word.
 *
 * @param text The person's draft, as typed.
 */
export function checkDraft(text: string): DraftCheck {
  const normal = normalise(text);
  const matches = PATTERNS.filter(([, padded]) => normal.includes(padded)).map(([phrase]) => phrase);
  return Object.freeze({ suggest: matches.length > 0, matches: Object.freeze(matches) });
}

/** The answer of a check that did not look (the person did not opt in). */
export const NO_SUGGESTION: DraftCheck = Object.freeze({ suggest: false, matches: Object.freeze([]) as readonly string[] });
