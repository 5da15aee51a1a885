/**
 * The Messenger's history and delivery receipts (src/messenger.ts, src/conversationLog.ts;
 * docs/PROTOCOL.md §11.13) on a real relay with real MLS:
 *  - receipts: alice's phone sends; bob and alice's laptop confirm, and both of alice's devices see
 *    `deliveredTo` grow to both; bob's answer is confirmed by both of alice's devices; receipts
 *    are neither messages nor unread; markRead clears the count;
 *  - the crash window: bob's (sealed, terminal) store fails the save after the history took the
 *    message; the Messenger stops without acknowledging, the relay sends it again to a restarted
 *    Messenger on the same stores, MLS decrypts it again and the history keeps it once;
 *  - the history survives a restart on the terminal's sealed records;
 *  - receipts are batched per drain (20 queued messages, a couple of SENDs) and not sent at all in
 *    a conversation over the device bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { decodeAccountFrame } from '@nullroom/protocol';
import { MessageHistory, Messenger, type MessengerEvents, type MessengerSnapshot, type MessengerStore } from '../src/accounts.js';
import { FileMessengerStore, nodeWebSocket } from '../src/node/index.js';
import type { WebSocketFactory } from '../src/transport.js';
import { type AccountDevice, accountsRelay, approved, registered, scratch, until } from './_accountsRelay.js';

const dir = scratch('messenger-history');

interface Dev extends Omit<AccountDevice, 'store'> {
  store: MessengerStore;
  history: MessageHistory;
  /** SEND frames this device wrote. */
  sends: number;
}

const relay = () => accountsRelay(join(dir, `${Math.random()}.db`));

async function device(url: string, name: string, first?: Dev): Promise<Dev> {
  const d = first === undefined ? await registered(url, name) : await approved(url, first);
  return { ...d, history: MessageHistory.memory(), sends: 0 };
}

function start(url: string, d: Dev, extra: { receiptMaxDevices?: number } = {}): Promise<Messenger> {
  const inner = nodeWebSocket({ headers: { authorization: `Bearer ${d.token}` } });
  const socket: WebSocketFactory = (u, p) => {
    const ws = inner(u, p);
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      if (decodeAccountFrame(data).type === 'SEND') d.sends++;
      send(data);
    };
    return ws;
  };
  const { name, me, device: id, devices, store, history } = d;
  return Messenger.start({ url, name, me, device: id, devices, socket, store, history, keyPackages: 3, ...extra });
}

/** Every event of these types a messenger emits, and a way to wait for a condition on them. */
function watch(m: Messenger) {
  const seen: { [K in keyof MessengerEvents]?: MessengerEvents[K][] } = {};
  for (const t of ['message', 'sent', 'delivered', 'warning', 'conversation'] as const) {
    m.on(t, (e) => {
      (seen[t] ??= [] as never[]).push(e as never);
    });
  }
  return {
    seen,
    of: <K extends keyof MessengerEvents>(t: K) => (seen[t] ?? []) as MessengerEvents[K][],
  };
}

const sorted = (a: readonly string[] | undefined) => [...(a ?? [])].sort();

test('receipts: each device of both accounts sees who has its messages; receipts are neither messages nor unread', async () => {
  const r = await relay();
  try {
    const phone = await device(r.url, 'alice');
    const laptop = await device(r.url, 'alice', phone);
    const bob = await device(r.url, 'bob');
    const mPhone = await start(r.url, phone);
    const mLaptop = await start(r.url, laptop);
    const mBob = await start(r.url, bob);
    const [atPhone, atLaptop, atBob] = [watch(mPhone), watch(mLaptop), watch(mBob)];
    const id = await mPhone.startConversation(['bob']);
    await until(() => atBob.of('conversation').length === 1 && atLaptop.of('conversation').length === 1, 'the joins');

    const hello = await mPhone.sendText(id, 'hello bob');
    assert.deepEqual(
      atPhone.of('sent').map((s) => [s.message.id, s.message.status]),
      [
        [hello, 'sending'],
        [hello, 'sent'],
      ],
    );
    await until(() => sorted(atPhone.of('delivered').at(-1)?.deliveredTo).length === 2, 'both receipts at the phone');
    assert.deepEqual(sorted(atPhone.of('delivered').at(-1)?.deliveredTo), sorted([bob.key, laptop.key]));
    assert.equal(atPhone.of('delivered').at(-1)?.recipients, 2, 'it was for two other devices');
    await until(
      () => atLaptop.of('delivered').some((d) => d.id === hello && d.deliveredTo.includes(bob.key)),
      'bob’s receipt at the laptop',
    );

    const answer = await mBob.sendText(id, 'hi alice');
    await until(() => sorted(atBob.of('delivered').at(-1)?.deliveredTo).length === 2, 'alice’s two receipts at bob');
    assert.deepEqual(sorted(atBob.of('delivered').at(-1)?.deliveredTo), sorted([phone.key, laptop.key]));
    assert.equal(atBob.of('delivered').at(-1)?.id, answer);

    await Promise.all([mPhone.settled(), mLaptop.settled(), mBob.settled()]);
    const atBobNow = await mBob.messages(id);
    assert.deepEqual(
      atBobNow.map((m) => [m.text, m.own, m.from]),
      [
        ['hello bob', false, 'alice'],
        ['hi alice', true, 'bob'],
      ],
      'receipts never show as messages',
    );
    assert.equal(atBobNow[1]?.status, 'sent');
    assert.deepEqual(sorted(atBobNow[1]?.deliveredTo), sorted([phone.key, laptop.key]), 'kept in the history');
    const onPhone = await mPhone.messages(id);
    assert.deepEqual(sorted(onPhone[0]?.deliveredTo), sorted([bob.key, laptop.key]));
    assert.equal(onPhone[1]?.fromDevice, bob.key);
    const laptopView = await mLaptop.messages(id);
    assert.deepEqual(
      laptopView.map((m) => [m.own, m.fromDevice]),
      [
        [true, phone.key],
        [false, bob.key],
      ],
      'what the phone sent is the laptop’s own message too',
    );
    assert.deepEqual(
      (await mBob.conversationList()).map((c) => [c.id, c.unread, c.last?.text, sorted(c.members)]),
      [[id, 1, 'hi alice', ['alice', 'bob']]],
      'only alice’s text is unread at bob: not receipts, not his own',
    );
    assert.equal((await mPhone.conversationList())[0]?.unread, 1);
    await mBob.markRead(id);
    assert.equal((await mBob.conversationList())[0]?.unread, 0);
    assert.equal(atBob.of('message').length, 1, 'one message event at bob: the text');
    for (const m of [mPhone, mLaptop, mBob]) m.close();
  } finally {
    await r.close();
  }
});

/** A terminal store whose saves fail while `failing` is set: a crash between the history append and the save. */
class FailingStore implements MessengerStore {
  failing = false;
  constructor(private readonly inner: FileMessengerStore) {}
  load(): Promise<MessengerSnapshot | undefined> {
    return this.inner.load();
  }
  async save(s: MessengerSnapshot): Promise<void> {
    if (this.failing) throw new Error('the disk went away');
    return this.inner.save(s);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

test('the crash window: kept in the history, not saved, not acknowledged; sent again, decrypted again, kept and shown once; the history survives restarts', async () => {
  const r = await relay();
  try {
    const alice = await device(r.url, 'alice');
    const bob = await device(r.url, 'bob');
    const keyDir = join(dir, 'bob-keys');
    const open = async () => {
      const file = await FileMessengerStore.open(keyDir, r.url, 'bob');
      const store = new FailingStore(file);
      bob.store = store;
      bob.history = new MessageHistory(file.history());
      return store;
    };
    let store = await open();
    const mAlice = await start(r.url, alice);
    let mBob = await start(r.url, bob);
    let atBob = watch(mBob);
    const atAlice = watch(mAlice);
    const id = await mAlice.startConversation(['bob']);
    await until(() => atBob.of('conversation').length === 1, 'bob joins');
    await mAlice.sendText(id, 'before');
    await until(() => atBob.of('message').length === 1, 'the first message');
    await mBob.settled();

    store.failing = true;
    const crashed = await mAlice.sendText(id, 'in the crash window');
    await until(() => atBob.of('warning').some((w) => w.code === 'STORE_FAILED'), 'the failed save');
    assert.deepEqual(
      (await mBob.messages(id)).map((m) => m.text),
      ['before', 'in the crash window'],
      'appended before the save',
    );
    mBob.close();
    await store.close();

    // bob starts again from what was saved: the relay sends the message again (never acknowledged) and MLS opens it again.
    store = await open();
    mBob = await start(r.url, bob);
    atBob = watch(mBob);
    await mBob.caughtUp();
    await mBob.settled();
    assert.deepEqual(
      (await mBob.messages(id)).map((m) => [m.text, m.index]),
      [
        ['before', 0],
        ['in the crash window', 1],
      ],
      'kept once',
    );
    assert.equal(atBob.of('message').length, 0, 'not shown again: it was shown when it was kept');
    assert.equal((await mBob.conversationList())[0]?.unread, 2);
    // Its receipt (sent only after a drain is saved) proves the restarted Messenger decrypted it again.
    await until(() => atAlice.of('delivered').some((d) => d.id === crashed && d.deliveredTo.includes(bob.key)), 'its receipt at alice');

    const mine = await mBob.sendText(id, 'from bob');
    await mBob.markRead(id);
    await mBob.settled();
    mBob.close();
    await store.close();
    store = await open();
    mBob = await start(r.url, bob);
    await mBob.caughtUp();
    const kept = await mBob.messages(id);
    assert.deepEqual(
      kept.map((m) => [m.text, m.own, m.status]),
      [
        ['before', false, undefined],
        ['in the crash window', false, undefined],
        ['from bob', true, 'sent'],
      ],
    );
    assert.equal(kept[2]?.id, mine);
    assert.equal((await mBob.conversationList())[0]?.unread, 0, 'markRead survived the restart');
    mBob.close();
    mAlice.close();
    await store.close();
  } finally {
    await r.close();
  }
});

test('receipts go once per drain, not once per message, and not at all over the device bound', async () => {
  const r = await relay();
  try {
    const alice = await device(r.url, 'alice');
    const bob = await device(r.url, 'bob');
    const carol = await device(r.url, 'carol');
    const mAlice = await start(r.url, alice);
    // bob's bound is 2 devices: the conversation has 3, so bob sends none.
    const mBob = await start(r.url, bob, { receiptMaxDevices: 2 });
    let mCarol = await start(r.url, carol);
    const atAlice = watch(mAlice);
    const atBob = watch(mBob);
    const joined = watch(mCarol);
    const id = await mAlice.startConversation(['bob', 'carol']);
    await until(() => atBob.of('conversation').length === 1 && joined.of('conversation').length === 1, 'the joins');
    await mCarol.settled();
    mCarol.close();

    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await mAlice.sendText(id, `queued ${i}`));
    await until(() => atBob.of('message').length === 20, 'bob reads all 20');
    carol.sends = 0;
    mCarol = await start(r.url, carol);
    await mCarol.caughtUp();
    await until(
      async () => (await mAlice.messages(id)).every((m) => m.deliveredTo?.includes(carol.key)),
      'carol’s receipts for all 20 at alice',
    );
    assert.ok(carol.sends >= 1 && carol.sends <= 3, `carol confirmed 20 queued messages in ${carol.sends} SENDs`);
    await mBob.settled();
    assert.equal(bob.sends, 0, 'bob, over his bound, sent no receipt');
    const shown = await mAlice.messages(id);
    assert.ok(
      shown.every((m) => !m.deliveredTo?.includes(bob.key) && m.status === 'sent' && m.recipients === 2),
      'alice sees carol only',
    );
    assert.ok(atAlice.of('delivered').length >= 20);
    for (const m of [mAlice, mBob, mCarol]) m.close();
  } finally {
    await r.close();
  }
});
