/**
 * One contract for every RoomService (src/roomService.ts): what raw clients see of a room, whether
 * the rooms are one relay's (in process) or shared by relay nodes through Redis. `nodes` gives the
 * relays; member i connects to node i (mod their number), so in a cluster the members of every room
 * here sit on different nodes, and must see exactly what they would see on one relay.
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
  encodeFrame,
} from '@nullroom/protocol';
import type { RelayLimits } from '../src/index.js';
import { type RawPeer, connect, locator } from './_raw.js';

export interface Nodes {
  /** The URL of node i (mod the number of nodes). */
  url(i: number): string;
  close(): Promise<void>;
}
export type MakeNodes = (limits: Partial<RelayLimits>) => Promise<Nodes>;

const rq = asReqId;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const text = (s: string) => new TextEncoder().encode(s);
const GI = Uint8Array.of(7, 7, 7);
let nextRoom = 100;

interface Member {
  p: RawPeer;
  slot: number;
  token: Uint8Array;
  members: number;
}

async function join(url: string, room: RoomLocator): Promise<Member> {
  const p = await connect(url);
  p.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room }));
  const j = await p.next('JOINED');
  const state = await p.next('GROUP_STATE');
  if (state.status === GroupStatus.CREATE) {
    p.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room, groupInfo: GI }));
    await p.next('ACK', (f) => f.reqId === 2);
  } else if (state.status === GroupStatus.WAIT) await p.next('GROUP_STATE', (f) => f.status === GroupStatus.READY);
  return { p, slot: j.slot, token: j.resume, members: j.members };
}

/** A room with `n` members, member i on node i; the first creates it. */
async function room(nodes: Nodes, n: number): Promise<{ room: RoomLocator; m: Member[] }> {
  const r = locator(nextRoom++ % 250);
  const m: Member[] = [];
  for (let i = 0; i < n; i++) m.push(await join(nodes.url(i), r));
  return { room: r, m };
}

const delivered = (p: RawPeer) => p.frames.filter((f): f is Extract<RelayFrame, { type: 'DELIVER' }> => f.type === 'DELIVER');

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

export function roomServiceContract(name: string, make: MakeNodes, skip?: string): void {
  const t0 = skip === undefined ? test : (n: string, _f: unknown) => test(n, { skip });
  const withNodes = async (t: { after(fn: () => unknown): void }, limits: Partial<RelayLimits> = {}) => {
    const nodes = await make(limits);
    t.after(() => nodes.close());
    return nodes;
  };

  t0(`${name}: every member sees the same deliveries in the same order, each ACK right after the delivery before it`, async (t) => {
    const nodes = await withNodes(t);
    const { room: r, m } = await room(nodes, 4);
    const per = 25;
    for (let k = 0; k < per; k++)
      for (let i = 0; i < m.length; i++)
        m[i]!.p.send(encodeFrame({ type: 'APP', reqId: rq(100 + k), room: r, epoch: asEpoch(0), data: text(`${i}:${k}`) }));
    const total = per * m.length;
    await until(() => m.every((x) => delivered(x.p).length === total - per), 'every delivery');
    // One order for all: seq -> (from, data), the same at every member, gap-free with the own ACKs.
    const order = new Map<number, string>();
    for (const x of m) {
      const acks = x.p.frames.filter((f) => f.type === 'ACK' && f.reqId >= 100) as Extract<RelayFrame, { type: 'ACK' }>[];
      assert.equal(acks.length, per);
      for (const d of delivered(x.p)) {
        const v = `${d.from}|${new TextDecoder().decode(d.data)}`;
        assert.equal(order.get(d.seq) ?? v, v, `seq ${d.seq} differs between members`);
        order.set(d.seq, v);
      }
      // What one member reads of the stream (deliveries and own ACKs) never goes back.
      const seqs = x.p.frames.flatMap((f) => (f.type === 'DELIVER' || (f.type === 'ACK' && f.reqId >= 100) ? [Number(f.seq)] : []));
      for (let i = 1; i < seqs.length; i++)
        assert.ok(seqs[i]! >= seqs[i - 1]!, `member ${x.slot} read seq ${seqs[i]} after ${seqs[i - 1]}`);
      const own = acks.map((a) => Number(a.seq));
      assert.deepEqual(
        own,
        [...own].sort((a, b) => a - b),
      );
    }
    assert.deepEqual(
      [...order.keys()].sort((a, b) => a - b),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    // Each sender's messages are sequenced in the order it sent them.
    for (let i = 0; i < m.length; i++) {
      const mine = [...order.entries()].filter(([, v]) => v.startsWith(`${m[i]!.slot}|`)).sort((a, b) => a[0] - b[0]);
      assert.deepEqual(
        mine.map(([, v]) => v.split('|')[1]),
        Array.from({ length: per }, (_, k) => `${i}:${k}`),
      );
    }
  });

  t0(`${name}: one commit per epoch, whichever node the racers are on`, async (t) => {
    const nodes = await withNodes(t);
    const { room: r, m } = await room(nodes, 3);
    for (const x of m)
      x.p.send(encodeFrame({ type: 'COMMIT', reqId: rq(50), room: r, epoch: asEpoch(0), commit: text(`c${x.slot}`), groupInfo: GI }));
    const answers = await Promise.all(
      m.map((x) => Promise.race([x.p.next('ACK', (f) => f.reqId === 50), x.p.next('ERROR', (f) => f.reqId === 50)])),
    );
    const won = answers.filter((a) => a.type === 'ACK');
    assert.equal(won.length, 1);
    for (const a of answers) if (a.type === 'ERROR') assert.equal(a.code, ErrorCodes.STALE_EPOCH);
    const winner = m[answers.findIndex((a) => a.type === 'ACK')]!;
    for (const x of m) {
      if (x === winner) continue;
      const d = await x.p.next('DELIVER', (f) => f.kind === 2 || f.kind === 1);
      assert.equal(d.epoch, 0);
      assert.equal(d.from, winner.slot);
      assert.equal(new TextDecoder().decode(d.data), `c${winner.slot}`);
    }
    m[1]!.p.send(encodeFrame({ type: 'APP', reqId: rq(60), room: r, epoch: asEpoch(0), data: text('old') }));
    assert.equal((await m[1]!.p.next('ERROR', (f) => f.reqId === 60)).code, ErrorCodes.STALE_EPOCH);
    m[1]!.p.send(encodeFrame({ type: 'APP', reqId: rq(61), room: r, epoch: asEpoch(1), data: text('new') }));
    await m[1]!.p.next('ACK', (f) => f.reqId === 61);
    m[2]!.p.send(encodeFrame({ type: 'SYNC', reqId: rq(62), room: r }));
    const s = await m[2]!.p.next('GROUP_STATE', (f) => f.status === GroupStatus.READY && f.epoch === 1);
    assert.equal(Number(s.seq), 2);
  });

  t0(`${name}: creation, waiting and the creator's deadline across nodes`, async (t) => {
    const nodes = await withNodes(t, { createTimeoutMs: 300, pingIntervalMs: 100 });
    const r = locator(nextRoom++ % 250);
    const a = await connect(nodes.url(0));
    a.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: r }));
    assert.equal((await a.next('JOINED')).members, 1);
    assert.equal((await a.next('GROUP_STATE')).status, GroupStatus.CREATE);
    const b = await connect(nodes.url(1));
    b.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: r }));
    assert.equal((await b.next('JOINED')).members, 2);
    assert.equal((await b.next('GROUP_STATE')).status, GroupStatus.WAIT);
    // The creator says nothing: after its deadline, creation is open to the others.
    assert.equal((await b.next('GROUP_STATE', undefined, 3000)).status, GroupStatus.CREATE);
    b.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: r, groupInfo: GI }));
    await b.next('ACK', (f) => f.reqId === 2);
    const ready = await a.next('GROUP_STATE', (f) => f.status === GroupStatus.READY);
    assert.deepEqual([...ready.groupInfo], [...GI]);
    a.send(encodeFrame({ type: 'CREATE', reqId: rq(3), room: r, groupInfo: GI }));
    assert.equal((await a.next('ERROR', (f) => f.reqId === 3)).code, ErrorCodes.NOT_CREATOR);
  });

  t0(`${name}: departures, DIRECT and the room's caps reach across nodes`, async (t) => {
    const nodes = await withNodes(t, { maxMembersPerRoom: 3 });
    const { room: r, m } = await room(nodes, 3);
    assert.deepEqual(
      m.map((x) => x.members),
      [1, 2, 3],
    );
    const d = await connect(nodes.url(3));
    d.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: r }));
    assert.equal((await d.next('ERROR')).code, ErrorCodes.ROOM_FULL);
    m[0]!.p.send(encodeFrame({ type: 'DIRECT', reqId: rq(5), room: r, to: asSlot(m[1]!.slot), data: text('psst') }));
    await m[0]!.p.next('ACK', (f) => f.reqId === 5);
    const dd = await m[1]!.p.next('DIRECT_DELIVER');
    assert.equal(dd.from, m[0]!.slot);
    assert.equal(new TextDecoder().decode(dd.data), 'psst');
    m[0]!.p.send(encodeFrame({ type: 'DIRECT', reqId: rq(6), room: r, to: asSlot(m[0]!.slot), data: text('me') }));
    assert.equal((await m[0]!.p.next('ERROR', (f) => f.reqId === 6)).code, ErrorCodes.NO_SUCH_PEER);
    m[2]!.p.send(encodeFrame({ type: 'LEAVE', reqId: rq(7), room: r }));
    await m[2]!.p.next('ACK', (f) => f.reqId === 7);
    for (const x of m.slice(0, 2)) assert.equal((await x.p.next('PEER_GONE')).slot, m[2]!.slot);
    m[2]!.p.send(encodeFrame({ type: 'APP', reqId: rq(8), room: r, epoch: asEpoch(0), data: text('x') }));
    assert.equal((await m[2]!.p.next('ERROR', (f) => f.reqId === 8)).code, ErrorCodes.NOT_IN_ROOM);
    d.send(encodeFrame({ type: 'JOIN', reqId: rq(9), room: r }));
    assert.equal((await d.next('JOINED')).members, 3);
  });

  t0(`${name}: per-address room caps hold across nodes`, async (t) => {
    const nodes = await withNodes(t, { maxRoomsPerAddress: 2 });
    const rooms = [locator(nextRoom++ % 250), locator(nextRoom++ % 250), locator(nextRoom++ % 250)];
    const peers = await Promise.all([0, 1, 2].map((i) => connect(nodes.url(i))));
    for (let i = 0; i < 2; i++) {
      peers[i]!.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: rooms[i]! }));
      await peers[i]!.next('JOINED');
    }
    peers[2]!.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: rooms[2]! }));
    assert.equal((await peers[2]!.next('ERROR')).code, ErrorCodes.ADDRESS_LIMIT);
  });

  t0(
    `${name}: a lost connection's slot resumes on another node with what it missed, DIRECTs in place; grace ends in PEER_GONE`,
    async (t) => {
      const nodes = await withNodes(t, { resumeGraceMs: 1500, pingIntervalMs: 100 });
      const { room: r, m } = await room(nodes, 3);
      const [a, b, c] = m as [Member, Member, Member];
      a.p.send(encodeFrame({ type: 'APP', reqId: rq(10), room: r, epoch: asEpoch(0), data: text('seen') }));
      const seen = await b.p.next('DELIVER');
      b.p.ws.terminate();
      await sleep(150);
      a.p.send(encodeFrame({ type: 'APP', reqId: rq(11), room: r, epoch: asEpoch(0), data: text('m1') }));
      await a.p.next('ACK', (f) => f.reqId === 11);
      a.p.send(encodeFrame({ type: 'DIRECT', reqId: rq(12), room: r, to: asSlot(b.slot), data: text('held') }));
      await a.p.next('ACK', (f) => f.reqId === 12);
      c.p.send(encodeFrame({ type: 'APP', reqId: rq(13), room: r, epoch: asEpoch(0), data: text('m2') }));
      await c.p.next('ACK', (f) => f.reqId === 13);
      const back = await connect(nodes.url(2));
      back.send(
        encodeFrame({ type: 'RESUME', reqId: rq(14), room: r, slot: asSlot(b.slot), token: b.token, seq: asSeq(Number(seen.seq)) }),
      );
      const resumed = await back.next('RESUMED');
      const got = back.frames.map((f) =>
        f.type === 'DELIVER'
          ? `D${f.seq}:${new TextDecoder().decode(f.data)}`
          : f.type === 'DIRECT_DELIVER'
            ? `X:${new TextDecoder().decode(f.data)}`
            : f.type,
      );
      const s = Number(seen.seq);
      assert.deepEqual(got, [`D${s + 1}:m1`, 'X:held', `D${s + 2}:m2`, 'RESUMED']);
      assert.equal(Number(resumed.seq), s + 2);
      assert.equal(
        a.p.frames.some((f) => f.type === 'PEER_GONE'),
        false,
      );
      a.p.send(encodeFrame({ type: 'APP', reqId: rq(15), room: r, epoch: asEpoch(0), data: text('live') }));
      assert.equal(new TextDecoder().decode((await back.next('DELIVER', (f) => Number(f.seq) === s + 3)).data), 'live');
      // A wrong token changes nothing.
      const other = await connect(nodes.url(1));
      other.send(encodeFrame({ type: 'RESUME', reqId: rq(16), room: r, slot: asSlot(c.slot), token: new Uint8Array(32), seq: asSeq(0) }));
      assert.equal((await other.next('ERROR')).code, ErrorCodes.CANNOT_RESUME);
      // c goes for good: after the grace, the others are told.
      c.p.ws.terminate();
      assert.equal((await a.p.next('PEER_GONE', undefined, 5000)).slot, c.slot);
      assert.equal((await back.next('PEER_GONE', undefined, 5000)).slot, c.slot);
    },
  );
}
