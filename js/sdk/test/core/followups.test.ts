/**
 * Typed follow-ups (`src/core/followups.ts`), ported from
 * `tests/client_sdk/test_followups.py`: how a step collects them. (The Python file
 * also pins the client's one handler; the TypeScript driver's handler is held by the
 * compiler's exhaustiveness check through `assertNever`.)
 */

import { describe, expect, it } from "vitest";

import { FOLLOW_UP_KINDS, type FollowUp, ONCE } from "../../src/core/followups.js";
import { Step } from "../../src/core/step.js";

describe("follow-ups", () => {
  it("has the six kinds Python has, three of them once per step", () => {
    expect([...FOLLOW_UP_KINDS].sort()).toEqual(["Abandon", "JoinBuddy", "Reprofile", "Republish", "Reseal", "Restatus"]);
    expect([...ONCE].sort()).toEqual(["Reprofile", "Republish", "Restatus"]);
  });

  it("a step asks once for what runs once and keeps the order", () => {
    const step = new Step();
    step.follow({ kind: "Republish" });
    step.follow({ kind: "JoinBuddy", request: "a" });
    const other = new Step();
    const asked: FollowUp[] = [
      { kind: "Republish" },
      { kind: "Restatus" },
      { kind: "JoinBuddy", request: "a" },
      { kind: "Abandon", request: "b" },
      { kind: "Reseal", request: "b", text: "help", to: ["m"] },
      { kind: "Restatus" },
      { kind: "Reprofile" },
      { kind: "Reprofile" },
    ];
    for (const f of asked) other.follow(f);
    step.extend(other);
    expect(step.followUps).toEqual([
      { kind: "Republish" },
      { kind: "JoinBuddy", request: "a" },
      { kind: "Restatus" },
      { kind: "JoinBuddy", request: "a" },
      { kind: "Abandon", request: "b" },
      { kind: "Reseal", request: "b", text: "help", to: ["m"] },
      { kind: "Reprofile" },
    ]);
  });
});
