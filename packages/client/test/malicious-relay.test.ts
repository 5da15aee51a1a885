/**
 * A relay modified to attack its users (docs/SECURITY.md §2). Each test rewrites what the real relay
 * sends through its `transformOut` hook; every honest client must refuse or flag the attack and
 * keep working.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import * as mls from 'ts-mls';
import { type DeliverFrame, DeliveryKind, asEpoch, asSeq, asSlot, decodeFrame, encodeFrame } from '@nullroom/protocol';
import { RoomGroup, deriveRoomKeys } from '@nullroom/crypto';
import type { RelayHooks } from '@nullroom/server/instrumented';
import { converged, member, randomRoomSecret, relay, until, type TestClient, closeAll } from './_harness.js';

afterEach(closeAll);

type Transform = NonNullable<RelayHooks['transformOut']>;

async function room(transformOut: Transform, hooks: Partial<RelayHooks> = {}) {
  let transform: Transform = (_c, b) => [b];
  const r = await relay({ hooks: { transformOut: (c, b) => transform(c, b), ...hooks } });
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  const c = await member(r.url, secret, 'carol');
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  transform = transformOut; // the attack starts once the room is set up
  return { r, secret, a, b, c };
}

const isApp = (bytes: Uint8Array): DeliverFrame | undefined => {
  try {
    const f = decodeFrame(bytes);
    return f.type === 'DELIVER' && f.kind === DeliveryKind.APP ? f : undefined;
  } catch {
    return undefined;
  }
};
const errors = (c: TestClient, code: string) => c.events.filter((e) => e.type === 'error' && (e.e as { code: string }).code === code);
const texts = (c: TestClient) => c.messages.map((m) => m.text);

test('malicious relay (b): alters a ciphertext byte -> BAD_MESSAGE, and the room keeps working', async (t) => {
  let done = false;
  const { r, a, b, c } = await room((_conn, bytes) => {
    const f = isApp(bytes);
    if (f === undefined || done) return [bytes];
    done = true;
    const data = new Uint8Array(f.data); // a copy: Buffer#slice would alias the frame every recipient shares
    data[data.length - 10]! ^= 0x40;
    return [encodeFrame({ ...f, data })];
  });
  t.after(() => r.close());
  a.room.send('tampered in transit');
  await until(() => [b, c].some((x) => errors(x, 'BAD_MESSAGE').length === 1), 'one receiver flags it');
  const victim = errors(b, 'BAD_MESSAGE').length === 1 ? b : c;
  assert.deepEqual(texts(victim), []);
  a.room.send('after the attack');
  await until(() => texts(victim).includes('after the attack') && texts(b === victim ? c : b).length === 2, 'chat goes on');
  await Promise.all([a, b, c].map((x) => x.client.close()));
});

test('malicious relay (c): replays an earlier message -> refused, shown once', async (t) => {
  let first: Uint8Array | undefined;
  let target: number | undefined;
  const { r, a, b, c } = await room((conn, bytes) => {
    if (isApp(bytes) === undefined) return [bytes];
    if (first === undefined) {
      first = bytes;
      target = conn;
      return [bytes];
    }
    return conn === target ? [bytes, first] : [bytes]; // the old message again, right after the next one
  });
  t.after(() => r.close());
  a.room.send('pay bob 10');
  await until(() => b.messages.length + c.messages.length === 2, 'delivered');
  a.room.send('second');
  await until(() => [b, c].some((x) => errors(x, 'BAD_MESSAGE').length > 0), 'replay flagged');
  for (const x of [b, c]) await until(() => texts(x).join('|') === 'pay bob 10|second', 'each message once');
  await Promise.all([a, b, c].map((x) => x.client.close()));
});

test('malicious relay (d): reorders two messages -> OUT_OF_ORDER flagged', async (t) => {
  let held: Uint8Array | undefined;
  let target: number | undefined;
  let count = 0;
  const { r, a, b, c } = await room((conn, bytes) => {
    if (isApp(bytes) === undefined) return [bytes];
    target ??= conn;
    if (conn !== target) return [bytes];
    count++;
    if (count === 2) {
      held = bytes; // hold the second message...
      return [];
    }
    if (count === 3 && held !== undefined) return [bytes, held]; // ...and deliver it after the third
    return [bytes];
  });
  t.after(() => r.close());
  for (const m of ['one', 'two', 'three']) a.room.send(m);
  await until(() => [b, c].some((x) => errors(x, 'OUT_OF_ORDER').length === 1), 'reordering flagged');
  const victim = errors(b, 'OUT_OF_ORDER').length === 1 ? b : c;
  assert.deepEqual(texts(victim), ['one', 'three', 'two']);
  a.room.send('four');
  await until(() => texts(victim).includes('four'), 'chat goes on');
  await Promise.all([a, b, c].map((x) => x.client.close()));
});

test('malicious relay (a): adds its own member -> every client voids it, names the slot, and keeps chatting', async (t) => {
  let sealedGroupInfo: Uint8Array | undefined;
  let inject: ((conn: number, bytes: Uint8Array) => Uint8Array[]) | undefined;
  const { r, secret, a, b, c } = await room((conn, bytes) => (inject === undefined ? [bytes] : inject(conn, bytes)), {
    onWire: (dir, _conn, bytes) => {
      if (dir !== 'in') return;
      const f = decodeFrame(bytes);
      if (f.type === 'COMMIT' || f.type === 'CREATE') sealedGroupInfo = new Uint8Array(f.groupInfo);
    },
  });
  t.after(() => r.close());
  // The strongest case: assume the relay even got the plaintext GroupInfo (the test opens it with
  // the room secret). It still has no credential key, so it uses a credential of its own making.
  const crypto = await RoomGroup.create(await deriveRoomKeys(secret));
  const snapshot = await crypto.readGroupInfo(sealedGroupInfo!);
  const impl = await mls.getCiphersuiteImpl('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
  const identity = new Uint8Array([0x4e, 0x52, 0x31, 0, 0, 0, 99, ...new TextEncoder().encode('mallory-relay-made-this-up')]);
  const kp = await mls.generateKeyPackage({
    credential: { credentialType: mls.defaultCredentialTypes.basic, identity },
    cipherSuite: impl,
  });
  const { publicMessage } = await mls.joinGroupExternal({
    context: { cipherSuite: impl, authService: mls.unsafeTestingAuthenticationService },
    groupInfo: snapshot.info,
    keyPackage: kp.publicPackage,
    privateKeys: kp.privatePackage,
    resync: false,
  });
  const commit = mls.encode(mls.mlsMessageEncoder, {
    wireformat: mls.wireformats.mls_public_message,
    version: mls.protocolVersions.mls10,
    publicMessage,
  });
  const evil = encodeFrame({
    type: 'DELIVER',
    room: a.room.locator,
    seq: asSeq(1_000_000),
    kind: DeliveryKind.COMMIT,
    epoch: asEpoch(snapshot.epoch),
    from: asSlot(99),
    data: commit,
  });
  const injectedTo = new Set<number>();
  inject = (conn, bytes) => {
    if (isApp(bytes) === undefined || injectedTo.has(conn)) return [bytes];
    injectedTo.add(conn);
    return [evil, bytes];
  };
  a.room.send('trigger');
  await until(
    () => [b, c].every((x) => errors(x, 'BAD_COMMIT').length + errors(x, 'FORBIDDEN_PROPOSAL').length >= 1),
    'both flag the fake join',
  );
  inject = undefined;
  const seenNicks = new Set(
    [a, b, c].flatMap((x) => x.events.filter((e) => e.type === 'member-joined').map((e) => (e.e as { nick: string }).nick)),
  );
  assert.ok(![...seenNicks].some((n) => n.includes('mallory')));
  // The commit is void (docs/PROTOCOL.md §4.3): b and c keep their state, nobody rejoins, and the
  // room settles (the relay's epoch counter they followed is fixed by the repair's lost race).
  const rejoined = (x: TestClient) => x.events.some((e) => e.type === 'joined' && (e.e as { rejoin: boolean }).rejoin);
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'the room settles with the three honest members', 15_000);
  assert.ok(![a, b, c].some(rejoined));
  for (const x of [b, c]) assert.ok(x.events.some((e) => e.type === 'disruption' && (e.e as { slot: number }).slot === 99));
  for (const x of [a, b, c]) assert.ok(x.room.members().every((m) => ['alice', 'bob', 'carol'].includes(m.nick)));
  b.room.send('still private?');
  await until(() => texts(a).includes('still private?') && texts(c).includes('still private?'), 'chat goes on');
  await Promise.all([a, b, c].map((x) => x.client.close()));
});

test('malicious relay (e): silently drops a message -> MISSING_MESSAGES flagged', async (t) => {
  let target: number | undefined;
  let count = 0;
  const { r, a, b, c } = await room((conn, bytes) => {
    if (isApp(bytes) === undefined) return [bytes];
    target ??= conn;
    return conn === target && ++count === 2 ? [] : [bytes];
  });
  t.after(() => r.close());
  for (const m of ['one', 'two', 'three']) a.room.send(m);
  await until(() => [b, c].some((x) => errors(x, 'MISSING_MESSAGES').length === 1), 'the gap is flagged');
  const victim = errors(b, 'MISSING_MESSAGES').length === 1 ? b : c;
  assert.deepEqual(texts(victim), ['one', 'three']);
  await Promise.all([a, b, c].map((x) => x.client.close()));
});

test('malicious relay (f): withholds one commit from one member -> that member finds itself out of step and rejoins; the room converges', async (t) => {
  const joiners: number[] = []; // connections in the order they sent JOIN: alice, bob, carol, ...
  let armed = false;
  let dropped = 0;
  const { r, secret, a, b, c } = await room(
    (conn, bytes) => {
      if (!armed || dropped > 0 || conn !== joiners[2]) return [bytes];
      const f = decodeFrame(bytes);
      if (f.type !== 'DELIVER' || f.kind !== DeliveryKind.COMMIT) return [bytes];
      dropped++;
      return []; // carol never learns of dave's join
    },
    {
      onWire: (dir, conn, bytes) =>
        void (dir === 'in' && !joiners.includes(conn) && decodeFrame(bytes).type === 'JOIN' && joiners.push(conn)),
    },
  );
  t.after(() => r.close());
  armed = true;
  const d = await member(r.url, secret, 'dave');
  await until(() => dropped === 1, 'the relay withheld the join commit from carol');
  // The next commit (bob leaves; alice removes his leaf) is framed for an epoch carol is not in.
  await b.room.leave();
  const rejoined = (x: TestClient) => x.events.some((e) => e.type === 'joined' && (e.e as { rejoin: boolean }).rejoin);
  await until(() => rejoined(c), 'carol rejoins through the GroupInfo of the state the others share', 15_000);
  await until(() => converged([a, c, d], ['alice', 'carol', 'dave']), 'the room converges', 15_000);
  assert.ok(!rejoined(a) && !rejoined(d));
  c.room.send('back in step');
  await until(() => texts(a).includes('back in step') && texts(d).includes('back in step'), 'chat goes on');
});
