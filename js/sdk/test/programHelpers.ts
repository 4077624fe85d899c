/**
 * People of a community program for the programs and risk-path tests: each a client
 * on a real relay whose programs hooks are the SDK's own (`PROGRAMS`), wrapped so a
 * test can see the client's `RoomHost` (to send a body the SDK's own checks would
 * refuse, as Python's tests use `room._driver`) or hold back the automatic join.
 */

import { WebSocket } from "ws";

import { HearthClient } from "../src/client.js";
import type { RoomState } from "../src/core/state.js";
import type { Event } from "../src/events.js";
import type { RoomHost } from "../src/host.js";
import { Identity } from "../src/identity.js";
import type { MessageId, RoomId } from "../src/ids.js";
import { FileBackend } from "../src/node/fileBackend.js";
import { PROGRAMS } from "../src/programs.js";
import type { Room } from "../src/room.js";
import type { WebSocketConstructor } from "../src/transport.js";
import type { Body } from "../src/messages.js";
import { HANG } from "./clientHelpers.js";

export class Member {
  readonly name: string;
  readonly identity: Identity;
  readonly storePath: string;
  client: HearthClient | null = null;
  host: RoomHost | null = null;
  readonly events: Event[] = [];
  /** While false, the SDK's automatic join of a claimed request's buddy chat is held back. */
  autoJoin = true;
  #reading: Promise<void> | null = null;
  #watchers = new Set<() => void>();

  constructor(dir: string, name: string, identity: Identity = Identity.generate()) {
    this.name = name;
    this.identity = identity;
    this.storePath = `${dir}/${name}.store`;
  }

  get c(): HearthClient {
    if (this.client === null) throw new Error(`${this.name} is not open`);
    return this.client;
  }

  async open(relay: string, options: { live?: boolean } = {}): Promise<HearthClient> {
    const client = new HearthClient({
      relay,
      identity: this.identity,
      store: await FileBackend.open(this.storePath),
      webSocket: WebSocket as unknown as WebSocketConstructor,
      reconnectDelay: [0.05, 0.5],
      live: options.live ?? true,
    });
    client.programs = {
      ...PROGRAMS,
      unjoined: (host) => {
        this.host = host;
        return PROGRAMS.unjoined(host);
      },
      joinClaimed: (host, program, request) => (this.autoJoin ? PROGRAMS.joinClaimed(host, program, request) : Promise.resolve()),
    };
    await client.open();
    this.client = client;
    this.events.length = 0;
    this.#reading = (async () => {
      for await (const event of client.events()) {
        this.events.push(event);
        for (const w of this.#watchers) w();
      }
    })();
    return client;
  }

  async close(): Promise<void> {
    await this.client?.close();
    await this.#reading;
    this.client = null;
  }

  /** The room's verified state on this device (its keys and log). */
  state(room: RoomId): RoomState {
    return this.host!.driver(room).state;
  }

  /** Send `body` into `room` as it is, past the SDK's own checks. */
  sendRaw(room: RoomId, body: Body): Promise<MessageId> {
    return this.host!.driver(room).send(body);
  }

  async waitFor<T extends Event>(test: (e: Event) => e is T, seconds?: number): Promise<T>;
  async waitFor(test: (e: Event) => boolean, seconds?: number): Promise<Event>;
  async waitFor(test: (e: Event) => boolean, seconds = HANG): Promise<Event> {
    const found = () => this.events.find(test);
    const now = found();
    if (now !== undefined) return now;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#watchers.delete(watch);
        reject(new Error(`${this.name}: no matching event within ${seconds} s; got ${this.events.map((e) => e.type).join(", ")}`));
      }, seconds * 1000);
      const watch = () => {
        const got = found();
        if (got !== undefined) {
          clearTimeout(timer);
          this.#watchers.delete(watch);
          resolve(got);
        }
      };
      this.#watchers.add(watch);
    });
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
