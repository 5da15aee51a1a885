/**
 * The Room shell against a fake connection (no relay): a failing group creation fails the join, the
 * queue's catch-all reports INTERNAL and fails the waiting join instead of hanging it, and `leave`
 * leaves no listener behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ClientFrame, type RelayFrame, type ReqId, GroupStatus, asEpoch, asSeq, asSlot } from '@nullroom/protocol';
import { CryptoError, RoomGroup, deriveRoomKeys, randomRoomSecret } from '@nullroom/crypto';
import { ClientError, type ClientErrorCode, Room } from '../src/index.js';
import type { RoomLink } from '../src/room.js';

interface Harness {
  room: Room;
  crypto: RoomGroup;
  sent: ClientFrame[];
  errors: ClientErrorCode[];
  /** Feeds the room a frame from the "relay". */
  deliver(f: RelayFrame): void;
  last(type: ClientFrame['type']): ClientFrame & { reqId: ReqId };
}

async function harness(): Promise<Harness> {
  const crypto = await RoomGroup.create(await deriveRoomKeys(randomRoomSecret()));
  const sent: ClientFrame[] = [];
  let next = 1;
  const link: RoomLink = {
    online: () => true,
    request: (_room, build) => {
      const reqId = next++ as ReqId;
      sent.push(build(reqId));
      return reqId;
    },
    detach: () => undefined,
  };
  const room = new Room(crypto, 'alice', link);
  const errors: ClientErrorCode[] = [];
  room.on('error', (e) => errors.push(e.code));
  return {
    room,
    crypto,
    sent,
    errors,
    deliver: (f) => room.handle(f),
    last: (type) => {
      const f = [...sent].reverse().find((x) => x.type === type);
      assert.ok(f !== undefined, `a ${type} was sent`);
      return f as ClientFrame & { reqId: ReqId };
    },
  };
}

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
};

/** JOIN, then the relay's JOINED and GROUP_STATE{CREATE}. */
async function toCreate(h: Harness): Promise<void> {
  h.room.start(false);
  await until(() => h.sent.some((f) => f.type === 'JOIN'), 'JOIN sent');
  const room = h.crypto.locator;
  h.deliver({ type: 'JOINED', reqId: h.last('JOIN').reqId, room, slot: asSlot(1), members: 1, resume: new Uint8Array(32) });
  h.deliver({ type: 'GROUP_STATE', room, status: GroupStatus.CREATE, epoch: asEpoch(0), seq: asSeq(0), groupInfo: new Uint8Array(0) });
}

test('a createGroup that fails fails the join with JOIN_FAILED (cause: the crypto error) instead of hanging it', async () => {
  const h = await harness();
  const boom = new CryptoError('BAD_CREDENTIAL', 'no group for you');
  h.crypto.createGroup = () => Promise.reject(boom);
  const joined = h.room.whenJoined();
  await toCreate(h);
  await assert.rejects(joined, (e: unknown) => e instanceof ClientError && e.code === 'JOIN_FAILED' && e.cause === boom);
  assert.equal(h.room.state, 'left');
  assert.deepEqual(h.errors, ['JOIN_FAILED']);
  assert.ok(
    h.sent.some((f) => f.type === 'LEAVE'),
    'the relay is told',
  );
});

test('anything the queue did not expect is INTERNAL: reported, and the waiting join fails with it (cause kept)', async () => {
  const h = await harness();
  const bug = new TypeError('a bug');
  h.crypto.members = () => Promise.reject(bug);
  const joined = h.room.whenJoined();
  await toCreate(h);
  await until(() => h.sent.some((f) => f.type === 'CREATE'), 'CREATE sent');
  h.deliver({ type: 'ACK', reqId: h.last('CREATE').reqId, seq: asSeq(0) });
  await assert.rejects(
    joined,
    (e: unknown) => e instanceof ClientError && e.code === 'INTERNAL' && e.cause === bug && !e.message.includes('a bug'),
  );
  assert.deepEqual(h.errors, ['INTERNAL'], 'reported once');
  assert.ok(!h.errors.includes('BAD_MESSAGE'), 'not a message problem');
  assert.equal(h.room.state, 'left');
});

test('leave removes the phase listener it added', async () => {
  const h = await harness();
  await toCreate(h);
  await until(() => h.sent.some((f) => f.type === 'CREATE'), 'CREATE sent');
  h.deliver({ type: 'ACK', reqId: h.last('CREATE').reqId, seq: asSeq(0) });
  await h.room.whenJoined();
  const listeners = () => (h.room as unknown as { listeners: Map<string, Set<unknown>> }).listeners.get('phase')?.size ?? 0;
  const before = listeners();
  const left = h.room.leave(100);
  await until(() => h.sent.some((f) => f.type === 'LEAVE'), 'LEAVE sent');
  h.deliver({ type: 'ACK', reqId: h.last('LEAVE').reqId, seq: asSeq(0) });
  assert.equal(await left, 0);
  assert.equal(listeners(), before, 'no listener left behind');
});

test('a lost creation race (STALE_EPOCH) asks the relay again (SYNC) from a timer, not from a sleep on the queue', async () => {
  const h = await harness();
  await toCreate(h);
  await until(() => h.sent.some((f) => f.type === 'CREATE'), 'CREATE sent');
  h.deliver({ type: 'ERROR', reqId: h.last('CREATE').reqId, code: 14 });
  // A frame right behind the refusal is handled at once: the room is closed before the SYNC goes out.
  const joined = h.room.whenJoined();
  h.room.closed();
  await assert.rejects(joined, (e: unknown) => e instanceof ClientError && e.code === 'CLOSED');
  assert.equal(h.room.state, 'left');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!h.sent.some((f) => f.type === 'SYNC'), 'the retry was dropped with the room');
  assert.deepEqual(h.errors, [], 'a lost race is no error');
});
