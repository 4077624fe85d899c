/**
 * The HTTP sync pass: every followed room caught up with the relay, page by page
 * (mirrors `client_sdk/_syncpass.py`).
 *
 * `syncPass` pages through `POST /v1/sync` for all followed rooms at once, one page
 * ahead of the one being stored. While a page is checked and stored (each room's
 * events through its `RoomDriver`, under the room's lock), the next is already
 * requested with the positions the current page will leave. That page is used only
 * if the positions after storing match those it was asked with; otherwise it is
 * dropped and asked again, so the pass is exactly the sequential one. After a
 * complete pass each room judges its counter gaps and expires what its retention
 * drops.
 *
 * Python verifies and decrypts the page ahead in a worker thread; JavaScript has one
 * thread here, so the page's messages are opened (`openAhead`) when it arrives, and
 * only the network round trip overlaps with storing the page before it.
 */

import { type Opened, openAhead } from "./core/step.js";
import type { RoomDriver } from "./driver.js";
import type { RoomId } from "./ids.js";
import { RelayError } from "./sdkErrors.js";
import type { Transport } from "./transport.js";
import type { SyncResponse } from "./wire/schema.gen.js";

const SYNC_PAGE = 500;
/** Messages in a sync page below which `receive` opens them itself. */
const OPEN_AHEAD_MIN = 16;

type Page = { response: SyncResponse; opened: Map<RoomId, Map<number, Opened>> };

interface Ahead {
  positions: Record<RoomId, number>;
  page: Promise<Page>;
}

function samePositions(a: Record<RoomId, number>, b: Record<RoomId, number>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** The positions storing `response` should leave (if every event is taken). */
function positionsAfter(positions: Record<RoomId, number>, response: SyncResponse): Record<RoomId, number> {
  const after = { ...positions };
  for (const page of response.rooms) {
    const last = page.events.at(-1);
    if (Object.hasOwn(after, page.room) && last !== undefined) after[page.room] = Math.max(after[page.room]!, last.seq);
  }
  return after;
}

/**
 * Page through `POST /v1/sync` until the relay has nothing more (module comment).
 *
 * `followed` gives the rooms to ask for, again before every page (a room can be
 * left, frozen or taken up meanwhile); `refused` forgets the session tokens once,
 * when the relay refuses them, before one more try.
 */
export async function syncPass(
  transport: Transport,
  rooms: ReadonlyMap<RoomId, RoomDriver>,
  followed: () => RoomDriver[],
  options: { refused: () => void },
): Promise<void> {
  let reauthenticated = false;
  let ahead: Ahead | null = null;
  for (;;) {
    const drivers = followed();
    if (drivers.length === 0) break;
    const positions: Record<RoomId, number> = Object.fromEntries(drivers.map((d) => [d.room, d.state.position]));
    let page: Promise<Page>;
    if (ahead !== null && samePositions(ahead.positions, positions)) {
      page = ahead.page;
    } else {
      page = (await fetchPage(transport, positions, drivers)).page; // an unwanted page ahead is dropped
    }
    ahead = null;
    let response: SyncResponse;
    let opened: Map<RoomId, Map<number, Opened>>;
    try {
      ({ response, opened } = await page);
    } catch (exc) {
      if (exc instanceof RelayError) {
        if ((exc.code === "auth.invalid" || exc.code === "auth.expired") && !reauthenticated) {
          reauthenticated = true;
          options.refused();
          continue;
        }
        const lost = String(exc.detail["room"] ?? "");
        const driver = rooms.get(lost);
        if (exc.code === "room.not_found" && driver !== undefined) {
          await driver.unreachable();
          continue;
        }
      }
      throw exc;
    }
    if (response.more) {
      const guess = positionsAfter(positions, response);
      if (!samePositions(guess, positions)) ahead = { positions: guess, page: (await fetchPage(transport, guess, drivers)).page };
    }
    for (const roomPage of response.rooms) {
      const driver = rooms.get(roomPage.room);
      if (driver === undefined) continue;
      await driver.slot.lock.run(async () => {
        driver.state.noteLowWater(roomPage.low_water);
        await driver.ingest(roomPage.events, opened.get(roomPage.room) ?? null);
      });
    }
    const progressed = drivers.some((d) => d.state.position !== positions[d.room]);
    if (!response.more || !progressed) break; // a relay saying "more" without moving us on is not followed
  }
  for (const driver of followed()) await driver.settle();
}

/** Request a sync page (its messages opened once it arrives). Resolves once the tokens are at hand. */
async function fetchPage(transport: Transport, positions: Record<RoomId, number>, drivers: readonly RoomDriver[]): Promise<{ page: Promise<Page> }> {
  const tokens: string[] = [];
  for (const d of drivers) tokens.push(await d.token());
  // Copies: more secrets may arrive while the page is on its way.
  const secrets = new Map(drivers.map((d) => [d.room, new Map(d.state.secrets)]));
  const page = transport.sync(tokens, { positions, limit: SYNC_PAGE }).then((response) => {
    const opened = new Map<RoomId, Map<number, Opened>>();
    const count = response.rooms.reduce((n, p) => n + p.events.length, 0);
    if (count >= OPEN_AHEAD_MIN) {
      for (const p of response.rooms) {
        const known = secrets.get(p.room);
        if (known !== undefined) opened.set(p.room, openAhead(p.room, p.events, known));
      }
    }
    return { response, opened };
  });
  page.catch(() => undefined); // a page ahead nobody takes must not be an unhandled rejection
  return { page };
}
