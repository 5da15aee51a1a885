/**
 * Group management in account conversations (src/conversationMembers.ts, docs/PROTOCOL.md §11.15)
 * through the SDK's Messenger on a real relay (in-process, SQLite): adding, removing, leaving and
 * renaming, with their notices in every member's history; the removed member reads nothing new; a
 * name that never reaches the relay (a canary searched for in every byte the clients sent and in
 * the relay's database files); two members adding at once (the relay accepts one commit, the other
 * works its change out again and both end the same); and device membership following the signed
 * device lists: a removed device's leaf goes and it cannot decrypt what follows, an approved device
 * is added to the existing conversation and reads what is sent after (not before).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccountGroups } from '@nullroom/crypto';
import { decodeAccountFrame } from '@nullroom/protocol';
import { AccountError, Messenger, type ReceivedMessage } from '../src/accounts.js';
import { nodeWebSocket } from '../src/node/index.js';
import type { WebSocketFactory, WebSocketLike } from '../src/transport.js';
import { type AccountDevice as Dev, accountsRelay, approved as another, registered as account, scratch } from './_accountsRelay.js';

const dir = scratch('groups');

/** Every frame any client sent to the relay (what the relay received on its account channels). */
const sentFrames: Uint8Array[] = [];

/** Relay-to-device frames of the results the relay gave. */
const results: string[] = [];
/** Devices whose incoming MAIL frames are held back (delivered in order once released). */
const holding = new Map<string, (() => void)[]>();

/** The device's WebSocket, recording what it sends and what the relay answers, and holding its mail when asked. */
function recording(d: Dev): WebSocketFactory {
  const open = nodeWebSocket({ headers: { authorization: `Bearer ${d.token}` } });
  return (url, protocol) => {
    const ws = open(url, protocol);
    const w: WebSocketLike = {
      get binaryType() {
        return ws.binaryType;
      },
      set binaryType(v: string) {
        ws.binaryType = v;
      },
      get readyState() {
        return ws.readyState;
      },
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
      send(data: Uint8Array) {
        sentFrames.push(data.slice());
        ws.send(data);
      },
      close(code?: number, reason?: string) {
        ws.close(code, reason);
      },
    };
    ws.onopen = (e) => w.onopen?.(e);
    ws.onclose = (e) => w.onclose?.(e);
    ws.onerror = (e) => w.onerror?.(e);
    ws.onmessage = (e) => {
      const bytes = new Uint8Array(e.data as ArrayBuffer);
      if (bytes[0] === 0xc5) {
        const f = decodeAccountFrame(bytes);
        if (f.type === 'RESULT') results.push(f.status);
      }
      const held = holding.get(d.device);
      if (held !== undefined && bytes[0] === 0xc3) held.push(() => w.onmessage?.(e));
      else w.onmessage?.(e);
    };
    return w;
  };
}

function hold(d: Dev): void {
  holding.set(d.device, []);
}
function release(d: Dev): void {
  const held = holding.get(d.device) ?? [];
  holding.delete(d.device);
  for (const deliver of held) deliver();
}

async function start(url: string, d: Dev): Promise<Messenger> {
  const m = await Messenger.start({
    url,
    name: d.name,
    me: d.me,
    device: d.device,
    devices: d.devices,
    socket: recording(d),
    store: d.store,
    keyPackages: 3,
    memberStepMs: 150,
  });
  await m.caughtUp();
  return m;
}

function shown(m: Messenger) {
  const got: ReceivedMessage[] = [];
  m.on('message', (x) => got.push(x));
  return got;
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  if (process.env.GROUPS_DEBUG) console.error('until', what);
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sorted = async (m: Messenger, id: string) => (await m.members(id)).sort();
const notices = async (m: Messenger, id: string) =>
  (await m.messages(id)).filter((x) => x.kind === 'notice').map((x) => ({ ...x.notice, own: x.own }));

const relayOn = (db: string) => accountsRelay(db);

test('add, rename, remove and leave: every member sees the notices, the removed and the leaver read nothing new, the name never reaches the relay', async () => {
  const db = join(dir, 'groups.db');
  const relay = await relayOn(db);
  const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => account(relay.url, n)));
  const [mA, mB, mC, mD] = await Promise.all([alice, bob, carol, dave].map((d) => start(relay.url, d as Dev)));
  const [atA, atB, atC, atD] = [mA, mB, mC, mD].map((m) => shown(m as Messenger));
  const id = await mA!.startConversation(['bob']);
  await until('bob joined', () => mB!.list().includes(id));

  const CANARY = 'Quiet-Canary 7c1f Zebra';
  await mB!.rename(id, CANARY);
  await until('alice took the name', async () => (await mA!.conversationList()).find((c) => c.id === id)?.name === CANARY);
  await assert.rejects(mA!.rename(id, 'bad\u0007name'), (e: unknown) => e instanceof AccountError && e.code === 'BAD_CONVERSATION_NAME');
  await assert.rejects(mA!.rename(id, 'x'.repeat(65)), (e: unknown) => e instanceof AccountError && e.code === 'BAD_CONVERSATION_NAME');

  const removedAt = new Promise<{ removedUs: boolean }>((r) => mC!.on('members', (e) => e.removedUs && r(e)));
  await mA!.addMembers(id, ['carol', 'dave']);
  await until('carol and dave joined', () => mC!.list().includes(id) && mD!.list().includes(id));
  await until('bob sees four', async () => (await sorted(mB!, id)).join() === 'alice,bob,carol,dave');
  // The devices added learn the name the conversation already had, without a rename notice.
  await until('dave took the name', async () => (await mD!.conversationName(id)) === CANARY);
  await mA!.sendText(id, 'welcome both');
  await until('carol and dave read it', () => atC!.length === 1 && atD!.length === 1);
  await assert.rejects(mA!.addMembers(id, ['nobody-here']), (e: unknown) => e instanceof AccountError);

  await mA!.removeMember(id, 'carol');
  assert.equal((await removedAt).removedUs, true, 'carol is told she was removed');
  await assert.rejects(mA!.removeMember(id, 'carol'), (e: unknown) => e instanceof AccountError && e.code === 'NOT_A_MEMBER');
  await until('bob saw carol go', async () => !(await mB!.members(id)).includes('carol'));

  await mB!.leave(id);
  assert.deepEqual(mB!.list(), [], 'bob forgot the conversation at once');
  // A remaining member (alice or dave, the first in leaf order) commits bob's removal.
  await until('bob removed everywhere', async () => !(await mA!.members(id)).includes('bob') && !(await mD!.members(id)).includes('bob'));
  await mD!.sendText(id, 'after they went');
  await until('alice read it', () => atA!.some((m) => m.text === 'after they went'));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    atC!.map((m) => m.text),
    ['welcome both'],
    'carol reads nothing after her removal',
  );
  assert.ok(!atB!.some((m) => m.text === 'after they went'), 'bob reads nothing after leaving');
  assert.deepEqual(await sorted(mA!, id), ['alice', 'dave']);

  assert.deepEqual(await notices(mD!, id), [
    { what: 'removed', by: 'alice', names: ['carol'], own: false },
    { what: 'left', by: 'bob', names: ['bob'], own: false },
  ]);
  assert.deepEqual(await notices(mA!, id), [
    { what: 'renamed', by: 'bob', name: CANARY, own: false },
    { what: 'added', by: 'alice', names: ['carol', 'dave'], own: true },
    { what: 'removed', by: 'alice', names: ['carol'], own: true },
    { what: 'left', by: 'bob', names: ['bob'], own: false },
  ]);
  assert.deepEqual(await notices(mC!, id), [{ what: 'removed', by: 'alice', names: ['carol'], own: false }]);
  assert.deepEqual(
    (await notices(mB!, id)).map((n) => n.what),
    ['renamed', 'added', 'removed', 'left'],
  );
  const summary = (await mA!.conversationList()).find((c) => c.id === id);
  assert.equal(summary?.unread, 1, 'notices are not unread: only dave’s message is');
  assert.equal(summary?.name, CANARY);

  for (const m of [mA, mB, mC, mD]) m!.close();
  await relay.close();
  const canary = new TextEncoder().encode(CANARY);
  const found = (b: Uint8Array) => Buffer.from(b).includes(Buffer.from(canary));
  assert.ok(sentFrames.length > 10 && !sentFrames.some(found), 'no frame a client sent carries the name');
  for (const f of [db, `${db}-wal`, `${db}-shm`]) if (existsSync(f)) assert.ok(!found(readFileSync(f)), `${f} does not hold the name`);
});

test('two members add at once: the relay takes one commit, the other works its change out again, and all end the same', async () => {
  const relay = await relayOn(join(dir, 'race.db'));
  const devs = await Promise.all(['ann', 'ben', 'cat', 'dan'].map((n) => account(relay.url, n)));
  const [mAnn, mBen, mCat, mDan] = await Promise.all(devs.map((d) => start(relay.url, d)));
  const id = await mAnn!.startConversation(['ben']);
  await until('ben joined', () => mBen!.list().includes(id));
  // Neither sees the other's commit before making its own: both commit at epoch 1.
  hold(devs[0]!);
  hold(devs[1]!);
  const before = sentFrames.length;
  const wrongBefore = results.filter((r) => r === 'WRONG_EPOCH').length;
  const adding = Promise.all([mAnn!.addMembers(id, ['cat']), mBen!.addMembers(id, ['dan'])]);
  await until('both committed', () => sentFrames.slice(before).filter((f) => f[0] === 0x84).length >= 2);
  await new Promise((r) => setTimeout(r, 300));
  release(devs[0]!);
  release(devs[1]!);
  await adding;
  const commits = sentFrames.slice(before).filter((f) => f[0] === 0x84);
  assert.equal(commits.length, 3, 'two commits for one epoch, and one again after the loser processed the winner');
  assert.equal(results.filter((r) => r === 'WRONG_EPOCH').length - wrongBefore, 1, 'the relay refused the second for its epoch');
  await until('cat and dan joined', () => mCat!.list().includes(id) && mDan!.list().includes(id));
  for (const m of [mAnn, mBen, mCat, mDan]) {
    await until('four members', async () => (await sorted(m!, id)).join() === 'ann,ben,cat,dan');
  }
  const atDan = shown(mDan!);
  await mCat!.sendText(id, 'all here');
  await until('dan reads cat', () => atDan.some((m) => m.text === 'all here'));
  for (const m of [mAnn, mBen, mCat, mDan]) m!.close();
  await relay.close();
});

test('device membership follows the signed lists: an approved device is added and reads what follows; a removed one is removed and cannot decrypt', async () => {
  const relay = await relayOn(join(dir, 'devices.db'));
  const phone = await account(relay.url, 'erin');
  const laptop = await another(relay.url, phone);
  const frank = await account(relay.url, 'frank');
  const [mPhone, mLaptop, mFrank] = await Promise.all([phone, laptop, frank].map((d) => start(relay.url, d)));
  const id = await mPhone!.startConversation(['frank']);
  await until('frank and the laptop joined', () => mFrank!.list().includes(id) && mLaptop!.list().includes(id));
  await mFrank!.sendText(id, 'before the tablet');

  // A tablet is approved: erin's devices add it (once it published its KeyPackages) to the conversation.
  const tablet = await another(relay.url, phone);
  const mTablet = await start(relay.url, tablet);
  const atTablet = shown(mTablet);
  await until('the tablet joined', () => mTablet.list().includes(id), 20_000);
  await mFrank!.sendText(id, 'hello tablet');
  await until('the tablet reads it', () => atTablet.some((m) => m.text === 'hello tablet'));
  assert.ok(!atTablet.some((m) => m.text === 'before the tablet'), 'not the history from before it was added');
  assert.deepEqual(
    (await mFrank!.messages(id)).filter((m) => m.kind === 'notice'),
    [],
    'a new device of a member is no membership notice',
  );

  // The laptop is removed from erin's list: its leaf goes from the conversation.
  await mLaptop!.settled();
  mLaptop!.close();
  const laptopSaved = await laptop.store.load();
  const groups = await AccountGroups.open(() => true);
  const members = () => mFrank!['g'].leaves(mFrank!['conversations'].get(id)!);
  const leavesBefore = (await members()).length;
  const from = sentFrames.length;
  await phone.devices.removeDevice(laptop.device);
  await until('the laptop leaf removed', async () => (await members()).length === leavesBefore - 1, 20_000);
  await mFrank!.sendText(id, 'not for the laptop');
  await until('the tablet reads it', () => atTablet.some((m) => m.text === 'not for the laptop'));
  // Everything sent since: the laptop's last state, given every commit and message, decrypts none.
  let state = groups.importState(laptopSaved!.conversations.get(id)!);
  let removed = false;
  let removedAt = Number.POSITIVE_INFINITY;
  let read = 0;
  let tried = 0;
  for (const f of sentFrames.slice(from).map((b) => decodeAccountFrame(b))) {
    if (f.type !== 'COMMIT' && f.type !== 'SEND') continue;
    if (Buffer.from(f.conversation).toString('base64url') !== id) continue;
    // Messages of the epochs from the removal on (one a device sent at an older epoch was refused by the relay).
    const after = f.type === 'SEND' && f.epoch >= removedAt;
    if (after) tried++;
    try {
      const r = await groups.process(state, f.type === 'COMMIT' ? f.commit : f.payload);
      if (r.kind === 'commit') {
        if (r.removedUs) removedAt = r.epoch;
        removed ||= r.removedUs;
        state = r.state;
      } else if (after) read++;
    } catch {
      // expected once removed
    }
  }
  assert.equal(removed, true, 'the laptop would learn it was removed');
  assert.ok(tried >= 1, 'messages were sent after the removal');
  assert.equal(read, 0, 'and decrypts none of them');
  for (const m of [mPhone, mFrank, mTablet]) m!.close();
  await relay.close();
});
