/**
 * People of a community program for the programs and risk-path tests: each a client
 * on a real relay whose programs hooks are the SDK's own (`PROGRAMS`), wrapped so a
 * test can see the client's `RoomHost` (to send a body the SDK's own checks would
 * refuse, as Python's tests use `room._driver`) or hold back the automatic join.
 */

import type { HearthClient } from "../src/client.js";
import type { RoomState } from "../src/core/state.js";
import type { RoomHost } from "../src/host.js";
import type { MessageId, RoomId } from "../src/ids.js";
import { PROGRAMS } from "../src/programs.js";
import type { Room } from "../src/room.js";
import type { Body } from "../src/messages.js";
import { HANG, Person } from "./clientHelpers.js";

/** A person of a program whose client's programs hooks are the SDK's own, watched. */
export class Member extends Person {
  host: RoomHost | null = null;
  /** While false, the SDK's automatic join of a claimed request's buddy chat is held back. */
  autoJoin = true;

  /** Open on `relay`, live unless told otherwise; the events seen before are forgotten. */
  override open(relay: string, options: { live?: boolean } = {}): Promise<HearthClient> {
    this.events.length = 0;
    return super.open(relay, { live: options.live ?? true });
  }

  protected override prepare(client: HearthClient): void {
    client.programs = {
      ...PROGRAMS,
      unjoined: (host) => {
        this.host = host;
        return PROGRAMS.unjoined(host);
      },
      joinClaimed: (host, program, request) => (this.autoJoin ? PROGRAMS.joinClaimed(host, program, request) : Promise.resolve()),
    };
  }

  /** The room's verified state on this device (its keys and log). */
  state(room: RoomId): RoomState {
    return this.host!.driver(room).state;
  }

  /** Send `body` into `room` as it is, past the SDK's own checks. */
  sendRaw(room: RoomId, body: Body): Promise<MessageId> {
    return this.host!.driver(room).send(body);
  }
}

/** Wait until `check` holds (polled every 50 ms). */
export async function until(check: () => boolean | Promise<boolean>, what = "condition", seconds = HANG): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An owner, two supporters and three members of one program (Python's `program_of`). */
export interface Program {
  people: Member[];
  rooms: Room[];
  owner: Room;
  s1: Room;
  s2: Room;
  m1: Room;
  m2: Room;
  m3: Room;
}

export async function programOf(relay: string, dir: string, options: { offline?: readonly string[]; tag?: string } = {}): Promise<Program> {
  const names = ["owner", "s1", "s2", "m1", "m2", "m3"];
  const people = names.map((n) => new Member(dir, `${options.tag ?? "p"}-${n}`));
  for (const [i, p] of people.entries()) await p.open(relay, { live: !(options.offline ?? []).includes(names[i]!) });
  const owner = await people[0]!.c.createProgram("Grief and recovery", { topic: "peer support" });
  const supporterLink = await owner.createInvite({ maxUses: 2, role: "supporter" });
  const memberLink = await owner.createInvite({ maxUses: 3 });
  const rooms: Room[] = [owner];
  for (const [i, p] of people.slice(1).entries()) rooms.push(await p.c.join(names[i + 1]!.startsWith("s") ? supporterLink : memberLink));
  for (const p of people) if (!p.c.online) await p.c.sync();
  await until(async () => {
    for (const p of people) if (!p.c.online) await p.c.sync();
    return rooms.every((r) => r.members.size === 6);
  }, "six members everywhere");
  const [, s1, s2, m1, m2, m3] = rooms as [Room, Room, Room, Room, Room, Room];
  return { people, rooms, owner, s1, s2, m1, m2, m3 };
}

/** Every client has read everything the relay holds. */
export async function synced(program: Program, ...indices: number[]): Promise<void> {
  const who = indices.length === 0 ? program.people : indices.map((i) => program.people[i]!);
  for (const p of who) await p.c.sync();
}
