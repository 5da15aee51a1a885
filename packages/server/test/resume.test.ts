/**
 * Resumable slots (docs/PROTOCOL.md §4.5), against a real relay with raw clients: a lost
 * connection leaves its slot away for the grace period, RESUME replays what it missed (its own
 * deliveries and the DIRECT frames held for it included), refusals change nothing, the log is
 * bounded, and a relay restarted on the same store gives the members their slots back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type RelayFrame,
  type RoomLocator,
  ErrorCodes,
  GroupStatus,
  asEpoch,
  asReqId,
  asSeq,
  asSlot,
  decodeRelayFrame,
  encodeFrame,
  locatorKey,
} from '@nullroom/protocol';
import { type Relay, type RelayOptions, type RelayLimits, startRelay } from '../src/index.js';
import type { RoomStore, StoredCommit, StoredDirect, StoredEntry, StoredRoom } from '../src/roomStore.js';
import { startInstrumentedRelay } from './_instrumented.js';
import { type RawPeer, connect, locator } from './_raw.js';

const R = locator(21);
const rq = asReqId;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const bytesOf = (s: string) => new TextEncoder().encode(s);

async function relay(t: { after(fn: () => unknown): void }, limits: Partial<RelayLimits>, opts: RelayOptions = {}): Promise<Relay> {
  const r = await startRelay({ port: 0, ...opts, limits });
  t.after(() => r.close());
  return r;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

interface Member {
  p: RawPeer;
  slot: number;
  token: Uint8Array;
}

/** Joins `room` on a new connection; the creator (the first) creates the group. */
async function join(r: Relay, room: RoomLocator = R): Promise<Member> {
  const p = await connect(r.url);
  p.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room }));
  const j = await p.next('JOINED');
  const state = await p.next('GROUP_STATE');
  if (state.status === GroupStatus.CREATE) {
    p.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room, groupInfo: Uint8Array.of(7, 7, 7) }));
    await p.next('ACK', (f) => f.reqId === 2);
  }
  return { p, slot: j.slot, token: j.resume };
}

const app = (p: RawPeer, reqId: number, text: string, room: RoomLocator = R) =>
  p.send(encodeFrame({ type: 'APP', reqId: rq(reqId), room, epoch: asEpoch(0), data: bytesOf(text) }));
const direct = (p: RawPeer, reqId: number, to: number, text: string, room: RoomLocator = R) =>
  p.send(encodeFrame({ type: 'DIRECT', reqId: rq(reqId), room, to: asSlot(to), data: bytesOf(text) }));
const resumeFrame = (reqId: number, m: Member, seq: number, room: RoomLocator = R) =>
  encodeFrame({ type: 'RESUME', reqId: rq(reqId), room, slot: asSlot(m.slot), token: m.token, seq: asSeq(seq) });

/** What a connection read, shortly: frame types with their text payloads. */
function transcript(frames: readonly RelayFrame[]): string[] {
  const dec = new TextDecoder();
  return frames.map((f) => {
    if (f.type === 'DELIVER') return `DELIVER ${f.seq} from ${f.from}: ${dec.decode(f.data)}`;
    if (f.type === 'DIRECT_DELIVER') return `DIRECT from ${f.from}: ${dec.decode(f.data)}`;
    if (f.type === 'RESUMED') return `RESUMED ${f.reqId} epoch ${f.epoch} seq ${f.seq}`;
    if (f.type === 'ERROR') return `ERROR ${f.reqId} ${f.code}`;
    return f.type;
  });
}

/** Waits until the relay has seen `n` connections close (their slots are away from then on). */
const connections = (r: Relay, n: number) => until(() => r.stats().connections === n, `${n} connections`);

test('a lost connection leaves its slot away: no PEER_GONE within the grace, the slot still counts, PEER_GONE after it', async (t) => {
  const r = await relay(t, { resumeGraceMs: 400, pingIntervalMs: 100, maxMembersPerRoom: 2 });
  const a = await join(r);
  const b = await join(r);
  b.p.ws.terminate();
  await connections(r, 1);
  const lost = Date.now();
  // The away slot still holds its place in the room.
  const c = await connect(r.url);
  c.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  assert.equal((await c.next('ERROR')).code, ErrorCodes.ROOM_FULL);
  await sleep(200);
  assert.equal(
    a.p.frames.some((f) => f.type === 'PEER_GONE'),
    false,
    'nobody is told within the grace period',
  );
  assert.equal((await a.p.next('PEER_GONE', undefined, 3000)).slot, b.slot);
  assert.ok(Date.now() - lost >= 300, 'not before the grace period ended');
  // Both gone: the room lives while it has an away slot, and goes with the last one.
  a.p.ws.terminate();
  await connections(r, 1);
  assert.equal(r.stats().rooms, 1);
  await until(() => r.stats().rooms === 0, 'room deleted after the grace');
  assert.deepEqual({ groupInfoBytes: r.stats().groupInfoBytes, logBytes: r.stats().logBytes }, { groupInfoBytes: 0, logBytes: 0 });
  c.ws.close();
});

test('RESUME replays exactly the missed deliveries in order, its own included, with held DIRECTs in place, then RESUMED', async (t) => {
  const r = await relay(t, {});
  const a = await join(r);
  const b = await join(r);
  app(a.p, 10, 'one'); // seq 1
  assert.equal((await b.p.next('DELIVER')).seq, 1);
  app(b.p, 11, 'mine'); // seq 2: its ACK "lost", so b resumes from 1
  assert.equal((await b.p.next('ACK', (f) => f.reqId === 11)).seq, 2);
  b.p.ws.terminate();
  await connections(r, 1);
  app(a.p, 12, 'three'); // seq 3
  direct(a.p, 13, b.slot, 'held after 3');
  app(a.p, 14, 'four'); // seq 4
  direct(a.p, 15, b.slot, 'held after 4');
  direct(a.p, 16, b.slot, 'also after 4');
  assert.deepEqual(
    await Promise.all([12, 13, 14, 15, 16].map(async (id) => (await a.p.next('ACK', (f) => f.reqId === id)).seq)),
    [3, 3, 4, 4, 4],
    'held DIRECTs are acknowledged',
  );
  const b2 = await connect(r.url);
  b2.send(resumeFrame(20, b, 1));
  await b2.next('RESUMED');
  assert.deepEqual(transcript(b2.frames), [
    'DELIVER 2 from 2: mine',
    'DELIVER 3 from 1: three',
    'DIRECT from 1: held after 3',
    'DELIVER 4 from 1: four',
    'DIRECT from 1: held after 4',
    'DIRECT from 1: also after 4',
    'RESUMED 20 epoch 0 seq 4',
  ]);
  // The slot is b2's now, both ways; the others noticed nothing.
  app(a.p, 21, 'five');
  assert.equal((await b2.next('DELIVER', (f) => f.seq === 5)).from, a.slot);
  app(b2, 22, 'back');
  assert.equal((await a.p.next('DELIVER', (f) => f.seq === 6)).from, b.slot);
  direct(a.p, 23, b.slot, 'live');
  assert.equal((await b2.next('DIRECT_DELIVER', (f) => f.data.length === 4)).from, a.slot);
  assert.equal(r.stats().logBytes > 0, true);
  assert.equal(
    a.p.frames.some((f) => f.type === 'PEER_GONE'),
    false,
  );
  // A second resume of the same gap gets no held frame twice: they were handed over.
  b2.ws.terminate();
  await connections(r, 1);
  const b3 = await connect(r.url);
  b3.send(resumeFrame(30, b, 4));
  await b3.next('RESUMED');
  assert.deepEqual(transcript(b3.frames), ['DELIVER 5 from 1: five', 'DELIVER 6 from 2: back', 'RESUMED 30 epoch 0 seq 6']);
  for (const p of [a.p, b3]) p.ws.close();
});

test('CANNOT_RESUME: unknown room or slot, wrong token, seq too high, trimmed log; nothing changes', async (t) => {
  const r = await relay(t, { maxLogBytesPerRoom: 400 });
  const a = await join(r);
  const b = await join(r);
  b.p.ws.terminate();
  await connections(r, 1);
  for (let i = 0; i < 5; i++) app(a.p, 10 + i, `message ${i} `.padEnd(100, '.')); // seq 1..5, ~160 bytes each
  await a.p.next('ACK', (f) => f.reqId === 14);
  const q = await connect(r.url);
  const refusals: [string, Uint8Array][] = [
    ['unknown room', resumeFrame(1, b, 5, locator(99))],
    ['unknown slot', resumeFrame(2, { ...b, slot: 9 }, 5)],
    ['wrong token', resumeFrame(3, { ...b, token: new Uint8Array(32).fill(1) }, 5)],
    ['the token of another slot', resumeFrame(4, { ...b, token: a.token }, 5)],
    ['seq beyond the room', resumeFrame(5, b, 6)],
    ['deliveries after it dropped from the log', resumeFrame(6, b, 0)],
  ];
  for (const [why, frame] of refusals) {
    q.send(frame);
    const e = await q.next('ERROR');
    assert.equal(e.code, ErrorCodes.CANNOT_RESUME, why);
  }
  assert.equal(q.frames.filter((f) => f.type !== 'ERROR').length, 0, 'nothing replayed');
  // Nothing changed: the slot is still away and resumes from a seq the log still holds.
  q.send(resumeFrame(7, b, 4));
  await q.next('RESUMED');
  assert.deepEqual(transcript(q.frames).slice(-2), [`DELIVER 5 from 1: ${'message 4 '.padEnd(100, '.')}`, 'RESUMED 7 epoch 0 seq 5']);
  // JOIN's refusals come first: the slot is this connection's already.
  q.send(resumeFrame(8, b, 5));
  assert.equal((await q.next('ERROR', (f) => f.reqId === 8)).code, ErrorCodes.ALREADY_IN_ROOM);
  assert.equal(
    a.p.frames.some((f) => f.type === 'PEER_GONE'),
    false,
  );
  for (const p of [a.p, q]) p.ws.close();
});

test('RESUME while the old connection is still open takes the slot over; the old one stays open for its other rooms', async (t) => {
  const r = await relay(t, {});
  const a = await join(r);
  const b = await join(r);
  const other = locator(22);
  b.p.send(encodeFrame({ type: 'JOIN', reqId: rq(5), room: other }));
  await b.p.next('GROUP_STATE', (f) => locatorKey(f.room) === locatorKey(other));
  app(a.p, 10, 'before');
  await b.p.next('DELIVER');
  const b2 = await connect(r.url);
  b2.send(resumeFrame(1, b, 1));
  assert.deepEqual(await b2.next('RESUMED'), { type: 'RESUMED', reqId: 1, room: R, epoch: 0, seq: 1 });
  app(a.p, 11, 'after');
  assert.equal((await b2.next('DELIVER')).seq, 2);
  app(b.p, 12, 'from the old connection');
  assert.equal((await b.p.next('ERROR', (f) => f.reqId === 12)).code, ErrorCodes.NOT_IN_ROOM);
  await sleep(50);
  assert.equal(b.p.frames.filter((f) => f.type === 'DELIVER').length, 1, 'the old connection gets no more of the room');
  // Still open, still in its other room.
  b.p.send(encodeFrame({ type: 'SYNC', reqId: rq(13), room: other }));
  await b.p.next('GROUP_STATE', (f) => locatorKey(f.room) === locatorKey(other));
  b.p.ws.close();
  await connections(r, 2);
  await sleep(50);
  assert.equal(
    a.p.frames.some((f) => f.type === 'PEER_GONE'),
    false,
    'the old connection closing is nobody`s business',
  );
  for (const p of [a.p, b2]) p.ws.close();
});

test('the log is bounded: per room the oldest go first, in total the room with the largest log loses its oldest; a DIRECT that does not fit is refused', async (t) => {
  const r = await relay(t, { maxLogBytesPerRoom: 4000, maxLogBytes: 3000 });
  const [X, Y] = [locator(31), locator(32)];
  const [ax, bx, ay, by] = [await join(r, X), await join(r, X), await join(r, Y), await join(r, Y)];
  for (const m of [bx, by]) m.p.ws.terminate();
  await connections(r, 2);
  const big = 'x'.repeat(500); // a DELIVER of ~560 bytes
  for (let i = 0; i < 4; i++) app(ax.p, 10 + i, big, X); // ~2240 bytes in X
  await ax.p.next('ACK', (f) => f.reqId === 13);
  for (let i = 0; i < 2; i++) app(ay.p, 10 + i, big, Y); // Y's second pushes the total past 3000
  await ay.p.next('ACK', (f) => f.reqId === 11);
  assert.ok(r.stats().logBytes <= 3000);
  // A DIRECT for an away slot larger than the room's bound: refused, nothing held.
  direct(ay.p, 20, by.slot, 'y'.repeat(4000), Y);
  assert.equal((await ay.p.next('ERROR', (f) => f.reqId === 20)).code, ErrorCodes.OVER_BUDGET);
  const [bx2, by2] = [await connect(r.url), await connect(r.url)];
  bx2.send(resumeFrame(1, bx, 0, X));
  assert.equal((await bx2.next('ERROR')).code, ErrorCodes.CANNOT_RESUME, 'X lost its oldest delivery');
  bx2.send(resumeFrame(2, bx, 1, X));
  await bx2.next('RESUMED');
  assert.deepEqual(
    bx2.frames.filter((f) => f.type === 'DELIVER').map((f) => f.seq),
    [2, 3, 4],
  );
  by2.send(resumeFrame(1, by, 0, Y));
  await by2.next('RESUMED');
  assert.deepEqual(
    transcript(by2.frames).map((l) => l.slice(0, 9)),
    ['DELIVER 1', 'DELIVER 2', 'RESUMED 1'],
    'Y kept its log, and no DIRECT was held',
  );
  for (const p of [ax.p, ay.p, bx2, by2]) p.ws.close();
});

test('resumeGraceMs 0: a lost connection leaves at once, as before resumable slots existed', async (t) => {
  const r = await relay(t, { resumeGraceMs: 0 });
  const a = await join(r);
  const b = await join(r);
  b.p.ws.terminate();
  assert.equal((await a.p.next('PEER_GONE', undefined, 2000)).slot, b.slot);
  direct(a.p, 10, b.slot, 'to nobody');
  assert.equal((await a.p.next('ERROR', (f) => f.reqId === 10)).code, ErrorCodes.NO_SUCH_PEER);
  const b2 = await connect(r.url);
  b2.send(resumeFrame(1, b, 0));
  assert.equal((await b2.next('ERROR')).code, ErrorCodes.CANNOT_RESUME);
  a.p.ws.terminate();
  await until(() => r.stats().rooms === 0, 'the last one out deletes the room');
  b2.ws.close();
});

test('per-address memberships follow the slot: away slots stay charged, RESUME moves the charge, expiry releases it', async (t) => {
  const r = await relay(t, { maxRoomsPerAddress: 2, resumeGraceMs: 300, pingIntervalMs: 100 });
  const a = await join(r);
  const b = await join(r); // the address now holds 2
  b.p.ws.terminate();
  await connections(r, 1);
  const c = await connect(r.url);
  c.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(40) }));
  assert.equal((await c.next('ERROR')).code, ErrorCodes.ADDRESS_LIMIT, 'the away slot is still charged');
  c.send(resumeFrame(2, b, 0)); // same address: the charge moves, nothing grows
  await c.next('RESUMED');
  c.ws.terminate();
  await connections(r, 1);
  await a.p.next('PEER_GONE', undefined, 3000);
  const d = await connect(r.url);
  d.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(40) }));
  await d.next('JOINED');
  for (const p of [a.p, d]) p.ws.close();
});

/** A store that outlives a relay (as a file would), and says what it held when each frame left. */
class MemoryStore implements RoomStore {
  readonly rooms = new Map<
    string,
    {
      key: string;
      locator: Uint8Array;
      epoch: number;
      seq: number;
      nextSlot: number;
      groupInfo: Uint8Array | undefined;
      slots: Map<number, Uint8Array>;
      log: StoredEntry[];
      directs: StoredDirect[];
    }
  >();
  closed = 0;
  load(): StoredRoom[] {
    return [...this.rooms.values()].map((r) => ({
      ...r,
      slots: [...r.slots].sort((x, y) => x[0] - y[0]).map(([slot, tokenHash]) => ({ slot, tokenHash })),
      log: [...r.log],
      directs: [...r.directs],
    }));
  }
  private room(key: string) {
    const r = this.rooms.get(key);
    assert.ok(r !== undefined, 'a write for a room the store has');
    return r;
  }
  createRoom(key: string, locator: Uint8Array): void {
    assert.equal(this.rooms.has(key), false);
    const room = { key, locator: new Uint8Array(locator), epoch: 0, seq: 0, nextSlot: 1, groupInfo: undefined };
    this.rooms.set(key, { ...room, slots: new Map(), log: [], directs: [] });
  }
  addSlot(key: string, slot: number, tokenHash: Uint8Array, nextSlot: number): void {
    this.room(key).slots.set(slot, new Uint8Array(tokenHash));
    this.room(key).nextSlot = nextSlot;
  }
  removeSlot(key: string, slot: number): void {
    this.room(key).slots.delete(slot);
    this.releaseDirects(key, slot);
  }
  setGroupInfo(key: string, groupInfo: Uint8Array, epoch: number): void {
    Object.assign(this.room(key), { groupInfo: new Uint8Array(groupInfo), epoch });
  }
  append(key: string, entry: StoredEntry, commit?: StoredCommit): void {
    if (commit !== undefined) this.setGroupInfo(key, commit.groupInfo, commit.epoch);
    this.room(key).log.push(entry);
    this.room(key).seq = entry.seq;
  }
  trim(key: string, upTo: number): void {
    this.room(key).log = this.room(key).log.filter((e) => e.seq > upTo);
  }
  holdDirect(key: string, direct: StoredDirect): void {
    this.room(key).directs.push(direct);
  }
  releaseDirects(key: string, slot: number): void {
    this.room(key).directs = this.room(key).directs.filter((d) => d.slot !== slot);
  }
  deleteRoom(key: string): void {
    this.rooms.delete(key);
  }
  close(): void {
    this.closed++;
  }
}

/**
 * Whether the store already held what a frame leaving the relay stands for: the slot of a JOINED,
 * the delivery of a DELIVER or of an APP's ACK, the GroupInfo of a CREATE's ACK, a held DIRECT.
 */
function storedBefore(store: MemoryStore, f: RelayFrame, acks: Map<number, (s: MemoryStore) => boolean>): string | undefined {
  const room = store.rooms.get(locatorKey(R));
  if (f.type === 'JOINED' && room?.slots.has(f.slot) !== true) return `JOINED ${f.slot} before its slot`;
  if (f.type === 'DELIVER' && !(room !== undefined && room.seq >= f.seq)) return `DELIVER ${f.seq} before its entry`;
  if (f.type === 'ACK' && acks.get(f.reqId)?.(store) === false) return `ACK ${f.reqId} before its write`;
  return undefined;
}

test('restart: a relay on the same store restores the rooms and slots, and a RESUME after it gets the replay; every write precedes its frame', async (t) => {
  const store = new MemoryStore();
  const lines: string[] = [];
  const early: string[] = [];
  const key = locatorKey(R);
  // What each request's ACK stands for, checked when the ACK leaves the relay.
  const acks = new Map<number, (s: MemoryStore) => boolean>([
    [2, (s) => s.rooms.get(key)?.groupInfo !== undefined],
    [10, (s) => (s.rooms.get(key)?.seq ?? 0) >= 1],
    [11, (s) => (s.rooms.get(key)?.seq ?? 0) >= 2],
    [12, (s) => s.rooms.get(key)?.directs.length === 1],
    [13, (s) => (s.rooms.get(key)?.seq ?? 0) >= 3],
  ]);
  const watch = {
    onWire(dir: 'in' | 'out', _conn: number, bytes: Uint8Array) {
      if (dir !== 'out') return;
      const why = storedBefore(store, decodeRelayFrame(bytes), acks);
      if (why !== undefined) early.push(why);
    },
  };
  const opts = { port: 0, store, log: (l: string) => lines.push(l) };
  const r1 = await startInstrumentedRelay(opts, watch);
  const a = await join(r1);
  const b = await join(r1);
  app(a.p, 10, 'secret one');
  await b.p.next('DELIVER');
  app(b.p, 11, 'secret two');
  await a.p.next('DELIVER');
  b.p.ws.terminate();
  await connections(r1, 1);
  direct(a.p, 12, b.slot, 'secret held');
  app(a.p, 13, 'secret three');
  await a.p.next('ACK', (f) => f.reqId === 13);
  await r1.close();
  assert.equal(store.closed, 1);
  assert.deepEqual(early, [], 'every write came before the frame it belongs to');

  const r2 = await startInstrumentedRelay(opts, watch);
  t.after(() => r2.close());
  assert.equal(r2.stats().rooms, 1);
  const [a2, b2] = [await connect(r2.url), await connect(r2.url)];
  b2.send(resumeFrame(1, b, 2));
  await b2.next('RESUMED');
  assert.deepEqual(transcript(b2.frames), ['DIRECT from 1: secret held', 'DELIVER 3 from 1: secret three', 'RESUMED 1 epoch 0 seq 3']);
  a2.send(resumeFrame(1, a, 3));
  await a2.next('RESUMED');
  assert.deepEqual(transcript(a2.frames), ['RESUMED 1 epoch 0 seq 3']);
  app(a2, 14, 'after the restart');
  assert.equal((await b2.next('DELIVER', (f) => f.seq === 4)).from, a.slot);
  // LEAVE is for good, and stored before its ACK.
  a2.send(encodeFrame({ type: 'LEAVE', reqId: rq(15), room: R }));
  assert.equal((await b2.next('PEER_GONE')).slot, a.slot);
  assert.equal(store.rooms.get(key)?.slots.has(a.slot), false, 'LEAVE is stored');
  const hex = Buffer.from(R).toString('hex');
  assert.deepEqual(
    lines.filter((l) => l.includes('secret') || l.includes(hex)),
    [],
    'no plaintext or room in the relay log',
  );
  assert.deepEqual(early, []);
  for (const p of [a2, b2]) p.ws.close();
});
