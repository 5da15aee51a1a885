/**
 * A member holding the room secret floods the room with garbage COMMITs (issue 11, second pass,
 * point 1). Each accepted one must be voided by every member and repaired (docs/PROTOCOL.md §4.3),
 * and keeps joiners out while it goes on; the relay accepts only a few COMMITs per connection
 * (limits.commitBurst, then one per commitIntervalMs) and refuses the rest with RATE_LIMITED.
 * Honest members on a relay with default limits keep chatting, and a newcomer joins.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  DeliveryKind,
  ErrorCodes,
  type RelayFrame,
  type RoomLocator,
  SUBPROTOCOL,
  asEpoch,
  asReqId,
  decodeRelayFrame,
  encodeFrame,
} from '@nullroom/protocol';
import { closeAll, converged, member, randomRoomSecret, relay, until } from './_harness.js';

afterEach(closeAll);

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** A raw insider that sends `count` garbage COMMITs, each for the newest epoch it knows, as fast as the answers come. */
async function flood(
  url: string,
  room: RoomLocator,
  count: number,
): Promise<{ acked: number; limited: number; other: number; ms: number; close(): void }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, SUBPROTOCOL, { perMessageDeflate: false });
  const frames: RelayFrame[] = [];
  let epoch = 0;
  const waiters = new Set<() => void>();
  ws.on('message', (data: Buffer) => {
    const f = decodeRelayFrame(new Uint8Array(data));
    frames.push(f);
    if (f.type === 'GROUP_STATE') epoch = Math.max(epoch, f.epoch);
    if (f.type === 'DELIVER' && f.kind === DeliveryKind.COMMIT) epoch = Math.max(epoch, f.epoch + 1);
    for (const w of waiters) w();
  });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
  const answer = (id: number) =>
    new Promise<RelayFrame>((resolve) => {
      const check = () => {
        const f = frames.find((x) => (x.type === 'ACK' || x.type === 'ERROR') && x.reqId === id);
        if (f !== undefined) waiters.delete(check), resolve(f);
      };
      waiters.add(check);
      check();
    });
  ws.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room }));
  await until(() => frames.some((f) => f.type === 'GROUP_STATE'), 'the attacker gets the group state');
  let acked = 0;
  let limited = 0;
  let other = 0;
  const start = Date.now();
  for (let i = 0; i < count; i++) {
    const id = 100 + i;
    ws.send(encodeFrame({ type: 'COMMIT', reqId: asReqId(id), room, epoch: asEpoch(epoch), commit: random(300), groupInfo: random(500) }));
    const f = await answer(id);
    if (f.type === 'ACK') acked++, (epoch += 1);
    else if (f.type === 'ERROR' && f.code === ErrorCodes.RATE_LIMITED) limited++;
    else other++;
  }
  return { acked, limited, other, ms: Date.now() - start, close: () => ws.close() };
}

test('50 garbage COMMITs as fast as the relay answers: a handful are accepted, the room keeps chatting, a newcomer joins', async (t) => {
  const r = await relay(); // default limits
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'alice and bob');
  const start = Date.now();
  const attack = flood(r.url, a.room.locator, 50);
  // Honest chat while the flood goes on.
  a.room.send('during the flood');
  const c = await member(r.url, secret, 'carol');
  const result = await attack;
  t.after(() => result.close());
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'a newcomer joins', 20_000);
  const joinedMs = Date.now() - start;
  t.diagnostic(
    `flood: ${result.acked} accepted, ${result.limited} RATE_LIMITED, ${result.other} other (lost races) in ${result.ms} ms; newcomer converged ${joinedMs} ms after the flood began`,
  );
  // Without the limit every one of the 50 is accepted (the relay cannot judge MLS).
  assert.ok(result.acked <= 6, `${result.acked} accepted`);
  assert.ok(result.limited >= 40, `${result.limited} refused`);
  await until(() => b.messages.some((m) => m.text === 'during the flood'), 'the message sent during the flood arrives');
  c.room.send('carol is in');
  await until(() => a.messages.some((m) => m.text === 'carol is in') && b.messages.some((m) => m.text === 'carol is in'), 'carol chats');
});
