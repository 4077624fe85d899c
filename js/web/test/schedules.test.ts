// A room's meetings in the web app, through the real relay serving the built app:
// the owner plans a weekly meeting from "Meetings" in the room's menu, the upcoming
// ones are listed in the schedule's zone, and "Add to calendar" downloads the SDK's
// iCalendar file, which holds the meeting's time and what the owner typed for it,
// never the room's messages. The download needs no change to the page's CSP (the
// page fails on any violation). axe-core checks the meetings screen.
import { readFileSync } from "node:fs";
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, onboard, person, send, seriousViolations, useApp } from "./harness.js";

const WAIT = { timeout: 60_000 };

describe.skipIf(!haveChromium)("meetings in the web app", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("an owner plans weekly meetings, the next ones are listed, and Add to calendar downloads an .ics of the meeting only", async () => {
    const ana = await person(browser);
    const page = ana.page;
    await page.goto(relay.url + "/");
    await onboard(page);
    await createGroup(page, "Monday circle");
    await send(page, "a private sentence that stays in the room");

    await page.getByRole("button", { name: "Meetings" }).click();
    const dialog = page.getByRole("dialog", { name: "Meetings of Monday circle" });
    await dialog.getByText("This room has no meetings planned.").waitFor(WAIT);
    await dialog.getByLabel("Title").fill("Monday evening circle");
    await dialog.getByLabel("First meeting starts").fill("2030-01-07T19:00");
    await dialog.getByLabel("How often").selectOption("weekly");
    await dialog.getByLabel("Length in minutes").fill("90");
    await dialog.getByLabel("Time zone").fill("Europe/Berlin");
    await dialog.getByRole("button", { name: "Set the meetings" }).click();
    await dialog.getByText("Monday evening circle: every week, 90 minutes.").waitFor(WAIT);
    const listed = dialog.getByRole("list", { name: "Upcoming meetings" }).getByRole("listitem");
    await expect.poll(() => listed.count(), WAIT).toBe(5);
    expect(await listed.first().textContent()).toMatch(/Monday, (January 7, 2030|7 January 2030), (19:00|07:00 PM) to (20:30|08:30 PM) \(Europe\/Berlin\)/);
    expect(await seriousViolations(page)).toEqual([]);

    const [download] = await Promise.all([page.waitForEvent("download", WAIT), dialog.getByRole("button", { name: "Add to calendar" }).click()]);
    expect(download.suggestedFilename()).toBe("Monday-circle.ics");
    const ics = readFileSync((await download.path())!, "utf8");
    // It parses as iCalendar: CRLF lines, one VCALENDAR with one VEVENT, every line a NAME(;params):value.
    const lines = ics.replace(/\r\n[ \t]/g, "").split("\r\n").filter((line) => line !== "");
    expect(ics.endsWith("\r\n")).toBe(true);
    expect(lines[0]).toBe("BEGIN:VCALENDAR");
    expect(lines.at(-1)).toBe("END:VCALENDAR");
    for (const line of lines) expect(line).toMatch(/^[A-Z-]+(;[A-Z-]+=[^:;]+)*:/);
    expect(lines.filter((line) => line === "BEGIN:VEVENT")).toHaveLength(1);
    expect(lines).toContain("DTSTART;TZID=Europe/Berlin:20300107T190000");
    expect(lines).toContain("DURATION:PT90M");
    expect(lines).toContain("RRULE:FREQ=WEEKLY");
    expect(lines).toContain("SUMMARY:Monday evening circle");
    expect(lines).toContain("BEGIN:VTIMEZONE");
    expect(ics).not.toContain("private sentence");
    await dialog.getByText("Downloaded Monday-circle.ics").waitFor();
    await dialog.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "detached" });
    await expectClean(ana);
  });
});
