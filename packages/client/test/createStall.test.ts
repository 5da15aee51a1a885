/**
 * The CREATE stall (issue 11, point 5): a locator holder joins first and never sends CREATE. After
 * createTimeoutMs the relay lets every subscriber create (the first CREATE wins), so an honest SDK
 * client ends up with a working room instead of waiting forever.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { GroupStatus, SUBPROTOCOL, asReqId, decodeRelayFrame, encodeFrame } from '@nullroom/protocol';
import { deriveRoomKeys } from '@nullroom/crypto';
import { closeAll, member, randomRoomSecret, relay, until } from './_harness.js';

afterEach(closeAll);

test('a first subscriber that never creates: the SDK client is asked to create after the deadline and joins', async (t) => {
  const r = await relay({ limits: { createTimeoutMs: 500 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const { locator } = await deriveRoomKeys(secret);
  const staller = new WebSocket(`${r.url.replace('http', 'ws')}/ws`, SUBPROTOCOL);
  const states: number[] = [];
  staller.on('message', (d: Buffer) => {
    const f = decodeRelayFrame(new Uint8Array(d));
    if (f.type === 'GROUP_STATE') states.push(f.status);
  });
  await new Promise((res) => staller.once('open', res));
  staller.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room: locator }));
  await until(() => states[0] === GroupStatus.CREATE, 'the staller is asked to create');
  const started = Date.now();
  const a = await member(r.url, secret, 'alice');
  assert.equal(a.room.created, true);
  assert.ok(Date.now() - started >= 400, 'after the deadline, not before');
  await until(() => states.at(-1) === GroupStatus.READY, 'the staller saw the group');
  const b = await member(r.url, secret, 'bob');
  a.room.send('hello');
  await until(() => b.messages.length === 1, 'bob reads alice');
  staller.close();
});

test('a refused JOIN (here TOO_MANY_NEW_ROOMS) fails the join with the relay reason instead of waiting forever', async (t) => {
  const r = await relay({ limits: { newRoomBurst: 1, newRoomIntervalMs: 60_000 } });
  t.after(() => r.close());
  await member(r.url, randomRoomSecret(), 'alice');
  await assert.rejects(
    member(r.url, randomRoomSecret(), 'bob'),
    (e: Error & { code?: string }) => e.code === 'JOIN_FAILED' && /TOO_MANY_NEW_ROOMS/.test(e.message),
  );
});
