/** The on-device draft check, as tests/client_sdk/test_crisis.py holds the Python one. */

import { describe, expect, test } from "vitest";

import { checkDraft, CRISIS_PHRASES } from "../src/drafts.js";
import { python } from "./python.js";

describe("checkDraft", () => {
  test("the phrase list matches whole words after normalising", () => {
    expect(checkDraft("I want to KILL MYSELF tonight").matches).toEqual(["kill myself"]);
    expect(checkDraft("I can\u2019t go on like this").matches).toEqual(["cant go on"]);
    expect(checkDraft("thinking about self-harm again").suggest).toBe(true);
    const found = checkDraft("I don't want to be here anymore, I want to die");
    expect(found.matches).toEqual(["want to die", "dont want to be here anymore"]);
    expect(checkDraft("That film killed me, I laughed so much").suggest).toBe(false);
    expect(checkDraft("The overdosed plant needs less water").suggest).toBe(false);
    expect(checkDraft("").suggest).toBe(false);
    for (const p of CRISIS_PHRASES) {
      expect(p).toBe(p.split(/\s+/).join(" "));
      expect(p).toBe(p.toLowerCase());
    }
  });

  test("the phrase list is Python's, in Python's order", () => {
    expect(python("from client_sdk import CRISIS_PHRASES\nprint(json.dumps(list(CRISIS_PHRASES)))")).toEqual([...CRISIS_PHRASES]);
  });

  test("every draft gets the answer Python's check_draft gives", () => {
    const drafts = [
      "I want to KILL MYSELF tonight",
      "I can\u2019t go on like this",
      "I CAN\u2018T GO ON",
      "i can`t go on",
      "thinking about self-harm again",
      "SELF_HARM",
      "I don't want to be here anymore, I want to die",
      "wanna   die...",
      "Ｉ ｗａｎｔ ｔｏ ｄｉｅ", // full-width: NFKD folds it to ASCII
      "I wańt to díe", // accents drop with NFKD
      "ﬁnally, I will end it all", // a ligature NFKD splits
      "suicide\u200bal", // a zero-width space is dropped, not a separator
      "my sister's overdose",
      "overdosed",
      "goodbye\nforever",
      "better-off-dead",
      "end my life\u0301",
      "\ud83d\ude22 nothing to live for \ud83d\ude22",
      "",
      "   ",
      "see you all on Thursday",
      "cut myself",
      "KILLING MYSELF",
      "no reason to live!!!",
      "wish I were dead; wish I was dead",
    ];
    const pythonAnswers = python<[boolean, string[]][]>(
      "from client_sdk import check_draft\nprint(json.dumps([[c.suggest, list(c.matches)] for c in map(check_draft, data)]))",
      drafts,
    );
    expect(drafts.map((d) => { const c = checkDraft(d); return [c.suggest, [...c.matches]]; })).toEqual(pythonAnswers);
  });
});
