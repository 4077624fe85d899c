/**
 * A room's persisted form: `RoomSnapshot`, and moving the core into and out of it
 * (mirrors `client_sdk/_core/persistence.py`).
 *
 * The snapshot holds everything of a room's state that is not its log or epoch
 * secrets (those are stored apart, and the log is verified again on every restore: a
 * store somebody edited cannot smuggle an operation past `RoomLog`). It is plain data
 * (objects, arrays, strings, numbers, booleans, null and `Uint8Array`; no `Map`, no
 * class), so a store can keep it as it is (IndexedDB's structured clone) or encode it
 * (MessagePack). Fields only ever get defaults added, never change meaning: `load`
 * takes a snapshot with fields missing and fills in the defaults. `banned` is written
 * but never read back: the verified log says who is banned. The counter tracker is
 * rebuilt through its public API by replaying the counters.
 *
 * `dump` and `load` read and write the facade through `Persisted`, the attributes
 * they need, so this module does not import the facade (which imports it).
 */

import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";

import { DecodeError } from "../errors.js";
import type { AlarmKind } from "../events.js";
import type { RoomKeys } from "../keys.js";
import { SupportBook, type SupportSnapshot } from "../supportBook.js";
import type { ProfileBody, RiskPlanBody, RulesBody, ScheduleBody, VerifiedHead } from "../wire/schema.gen.js";
import type { Alarms } from "./alarms.js";
import type { Bodies } from "./bodies.js";
import { type Counters, type Purge, type StreamCounter, Walk } from "./counters.js";
import type { Ledger, Status } from "./ledger.js";
import type { Mod, Moderation } from "./moderation.js";
import type { Names } from "./names.js";
import type { Outgoing } from "./outgoing.js";
import type { Programs } from "./programs.js";
import { compareTuples, counterKey, streamKey } from "./util.js";

/** One (sender, device) stream's counters. */
export interface SnapshotStream {
  readonly sender: string;
  readonly device: Uint8Array;
  readonly highest: number;
  readonly missing: readonly number[];
  readonly forgiven: number;
}

/** One open alarm. */
export interface SnapshotAlarm {
  readonly alarmId: number;
  readonly kind: string;
  readonly detail: string;
  readonly code: string | null;
  readonly freezes: boolean;
}

/** A `removed` placeholder waiting for the event `by` names. */
export interface SnapshotPlaceholder {
  readonly seq: number;
  readonly target: string;
  readonly sender: string;
  readonly by: number;
}

/** Everything of a room's state that is not its log or epoch secrets. */
export interface RoomSnapshot {
  readonly position: number;
  readonly seqIndex: number;
  readonly floor: number;
  readonly startSeq: number;
  readonly lowWater: number;
  readonly status: Status;
  readonly joinedEpoch: number;
  readonly profile: ProfileBody | null;
  readonly rules: RulesBody | null;
  readonly schedule: ScheduleBody | null;
  readonly accepted: Readonly<Record<string, number>>;
  readonly muted: readonly string[];
  readonly banned: readonly string[];
  readonly moderation: readonly Mod[];
  readonly sendCounter: number;
  readonly refused: readonly number[];
  readonly epochMessages: number;
  readonly streams: readonly SnapshotStream[];
  /** Erased messages of each member we never read, proven by its signed erasure. */
  readonly allowance: Readonly<Record<string, number>>;
  readonly excused: readonly StreamCounter[];
  readonly placeholders: readonly SnapshotPlaceholder[];
  readonly positionTs: number;
  readonly purge: Purge | null;
  readonly purgeHighs: readonly StreamCounter[];
  readonly first: readonly StreamCounter[];
  readonly backLow: readonly StreamCounter[];
  readonly backNext: number | null;
  readonly rebase: readonly string[];
  readonly alarmed: readonly StreamCounter[];
  readonly alarms: readonly SnapshotAlarm[];
  readonly nextAlarm: number;
  readonly support: SupportSnapshot | null;
  /** (seq, log index) of the operations seen in the room's event sequence. */
  readonly opSeqs: readonly (readonly [number, number])[];
  readonly pinned: VerifiedHead | null;
  readonly riskPlan: RiskPlanBody | null;
  /** Each member's display name (`member.profile`). */
  readonly names: Readonly<Record<string, string>>;
}

/** The snapshot of a room nothing happened in: what `load` fills missing fields from. */
export const EMPTY_SNAPSHOT: RoomSnapshot = Object.freeze({
  position: 0,
  seqIndex: 0,
  floor: 1,
  startSeq: 1,
  lowWater: 0,
  status: "active",
  joinedEpoch: 1,
  profile: null,
  rules: null,
  schedule: null,
  accepted: {},
  muted: [],
  banned: [],
  moderation: [],
  sendCounter: 0,
  refused: [],
  epochMessages: 0,
  streams: [],
  allowance: {},
  excused: [],
  placeholders: [],
  positionTs: 0,
  purge: null,
  purgeHighs: [],
  first: [],
  backLow: [],
  backNext: null,
  rebase: [],
  alarmed: [],
  alarms: [],
  nextAlarm: 1,
  support: null,
  opSeqs: [],
  pinned: null,
  riskPlan: null,
  names: {},
});

/** What `dump` and `load` read and write of the room state. */
export interface Persisted {
  readonly keys: RoomKeys;
  position: number;
  floor: number;
  startSeq: number;
  lowWater: number;
  status: Status;
  joinedEpoch: number;
  epochMessages: number;
  positionTs: number;
  readonly ledger: Ledger;
  readonly counters: Counters;
  readonly alarmBook: Alarms;
  readonly moderation: Moderation;
  readonly bodies: Bodies;
  readonly names: Names;
  readonly programs: Programs;
  readonly outgoing: Outgoing;
  readonly secrets: Map<number, Uint8Array>;
}

function counters(list: readonly StreamCounter[], key: (c: StreamCounter) => string = (c) => streamKey(c.sender, c.device)): Map<string, StreamCounter> {
  return new Map(list.map((c) => [key(c), { sender: c.sender, device: c.device, counter: c.counter }]));
}

function sortedCounters(list: Iterable<StreamCounter>): StreamCounter[] {
  return [...list].sort((a, b) => compareTuples([a.sender, a.device, a.counter], [b.sender, b.device, b.counter]));
}

/** Put a snapshot (and the stored secrets) into a state whose log is loaded already. */
export function load(state: Persisted, secrets: ReadonlyMap<number, Uint8Array>, stored: Partial<RoomSnapshot>): void {
  const snapshot: RoomSnapshot = { ...EMPTY_SNAPSHOT, ...stored };
  const keys = state.keys;
  const { ledger, counters: book, bodies } = state;
  for (const [e, s] of secrets) state.secrets.set(e, s);
  state.position = snapshot.position;
  ledger.seqIndex = snapshot.seqIndex;
  state.floor = snapshot.floor;
  state.startSeq = snapshot.startSeq;
  state.lowWater = snapshot.lowWater;
  state.status = snapshot.status;
  state.joinedEpoch = snapshot.joinedEpoch;
  bodies.profile = snapshot.profile;
  bodies.rules = snapshot.rules;
  bodies.schedule = snapshot.schedule;
  bodies.riskPlan = snapshot.riskPlan;
  bodies.accepted = new Map(Object.entries(snapshot.accepted));
  state.moderation.muted = new Set(snapshot.muted);
  // `snapshot.banned` is not read back: the verified log says who is banned.
  for (const [seq, index] of snapshot.opSeqs) ledger.noteOpSeq(seq, index);
  state.moderation.records = snapshot.moderation.map((m) => ({ ...m }));
  state.outgoing.sendCounter = snapshot.sendCounter;
  state.outgoing.refused = new Set(snapshot.refused);
  state.epochMessages = snapshot.epochMessages;
  const tracker = book.tracker;
  for (const s of snapshot.streams) {
    const missing = new Set(s.missing);
    // Replaying the counters rebuilds the tracker through its public API. Forgiven
    // gaps were stored as seen: they never raise an alarm anyway.
    for (let counter = 1; counter <= s.highest; counter++) {
      if (!missing.has(counter)) tracker.observe(s.sender, s.device, counter);
    }
    tracker.raiseFloor(s.sender, s.device, s.forgiven);
  }
  book.allowance = new Map(Object.entries(snapshot.allowance));
  for (const c of snapshot.excused) tracker.excuse(c.sender, c.device, c.counter);
  book.placeholders = new Map(snapshot.placeholders.map((p) => [p.seq, { by: p.by, target: p.target, sender: p.sender }]));
  state.positionTs = snapshot.positionTs;
  book.purge = snapshot.purge === null ? null : { ...snapshot.purge };
  book.purgeHighs = counters(snapshot.purgeHighs);
  book.walk = new Walk(counters(snapshot.first), counters(snapshot.backLow), snapshot.backNext);
  book.rebase = new Set(snapshot.rebase);
  book.alarmed = counters(snapshot.alarmed, (c) => counterKey(c.sender, c.device, c.counter));
  for (const a of snapshot.alarms) {
    state.alarmBook.restore(
      { type: "SecurityAlarm", roomId: keys.room, kind: a.kind as AlarmKind, detail: a.detail, alarmId: a.alarmId, code: a.code },
      a.freezes,
    );
  }
  state.alarmBook.nextId = snapshot.nextAlarm;
  ledger.pinned = snapshot.pinned;
  state.names.restore(new Map(Object.entries(snapshot.names)));
  if (snapshot.support !== null) state.programs.book = SupportBook.restore(keys.room, keys.member, snapshot.support);
}

/** The persisted form of everything but the log and the secrets. */
export function dump(state: Persisted): RoomSnapshot {
  const { ledger, counters: book, bodies } = state;
  const tracker = book.tracker;
  const missing = new Map<string, number[]>();
  for (const { sender, device, counters: list } of tracker.missing()) missing.set(streamKey(sender, device), list);
  const streams: SnapshotStream[] = [...tracker.streams()]
    .sort((a, b) => compareTuples(a, b))
    .map(([sender, device]) => {
      const floor = tracker.floor(sender, device);
      return {
        sender,
        device,
        highest: tracker.highest(sender, device),
        missing: (missing.get(streamKey(sender, device)) ?? []).filter((c) => c > floor),
        forgiven: floor,
      };
    });
  const walk = book.walk;
  const support = state.programs.book;
  const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    position: state.position,
    seqIndex: ledger.seqIndex,
    floor: state.floor,
    startSeq: state.startSeq,
    lowWater: state.lowWater,
    status: state.status,
    joinedEpoch: state.joinedEpoch,
    profile: bodies.profile,
    rules: bodies.rules,
    schedule: bodies.schedule,
    riskPlan: bodies.riskPlan,
    accepted: Object.fromEntries(bodies.accepted),
    muted: [...state.moderation.muted].sort(byString),
    banned: [...ledger.log.banned.keys()].sort(byString),
    moderation: state.moderation.records.map((m) => ({ ...m })),
    sendCounter: state.outgoing.sendCounter,
    refused: [...state.outgoing.refused].sort((a, b) => a - b),
    epochMessages: state.epochMessages,
    streams,
    allowance: Object.fromEntries(book.allowance),
    excused: sortedCounters(tracker.excusedAhead().map(([sender, device, counter]) => ({ sender, device, counter }))),
    placeholders: [...book.placeholders]
      .map(([seq, p]) => ({ seq, target: p.target, sender: p.sender, by: p.by }))
      .sort((a, b) => a.seq - b.seq),
    positionTs: state.positionTs,
    purge: book.purge === null ? null : { ...book.purge },
    purgeHighs: sortedCounters(book.purgeHighs.values()),
    first: sortedCounters(walk.first.values()),
    backLow: sortedCounters(walk.low.values()),
    backNext: walk.next,
    rebase: [...book.rebase].sort(byString),
    alarmed: sortedCounters(book.alarmed.values()),
    alarms: [...state.alarmBook.open.values()].map(([a, freezes]) => ({
      alarmId: a.alarmId,
      kind: a.kind,
      detail: a.detail,
      code: a.code,
      freezes,
    })),
    nextAlarm: state.alarmBook.nextId,
    pinned: ledger.pinned,
    support: support.empty ? null : support.snapshot(),
    opSeqs: ledger.opSeqs.map((seq, i) => [seq, ledger.opIndexes[i]!] as const),
    names: Object.fromEntries([...state.names.chosen].sort((a, b) => byString(a[0], b[0]))),
  };
}

/** The snapshot as MessagePack bytes, for a store that keeps bytes (what `Store.saveRoom` takes). */
export function encodeSnapshot(snapshot: RoomSnapshot): Uint8Array {
  return msgpackEncode(snapshot, { ignoreUndefined: true });
}

/**
 * A snapshot read back from `encodeSnapshot`'s bytes; fields it lacks (a store written
 * before they existed) take their defaults in `load`. Throws `DecodeError` for bytes
 * that are not a MessagePack map.
 */
export function decodeSnapshot(data: Uint8Array): Partial<RoomSnapshot> {
  let value: unknown;
  try {
    value = msgpackDecode(data);
  } catch (exc) {
    throw new DecodeError(`a room snapshot does not decode: ${(exc as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new DecodeError("a room snapshot is a map");
  }
  return value as Partial<RoomSnapshot>;
}
