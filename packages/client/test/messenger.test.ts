/**
 * Account conversations through the SDK's Messenger (src/messenger.ts) on a real relay: alice (two
 * devices, the second approved with its code) starts a conversation with bob; every device of
 * both joins from the Welcome; messages go both ways; bob goes offline, alice sends three, the
 * relay restarts, and bob's restarted messenger (same store) shows exactly those three, once each,
 * in order, and nothing again after another restart. KeyPackages used by Welcomes are replaced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { ephemeralIdentity } from '@nullroom/crypto';
import { startRelay } from '@nullroom/server';
import { openSqliteAccountStore } from '@nullroom/server/accounts';
import {
  AccountClient,
  AccountDevices,
  MemoryMessengerStore,
  MemoryTrustedLists,
  Messenger,
  type MessengerStore,
  type ReceivedMessage,
} from '../src/accounts.js';
import { nodeWebSocket } from '../src/node/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-messenger-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

interface Dev {
  name: string;
  client: AccountClient;
  token: string;
  devices: AccountDevices;
  me: Awaited<ReturnType<typeof ephemeralIdentity>>;
  device: string;
  store: MessengerStore;
}

async function signIn(url: string, name: string, how: 'register' | 'login'): Promise<Omit<Dev, 'device'>> {
  const client = new AccountClient({ url });
  const s = how === 'register' ? await client.register(name, `pw ${name}`) : await client.login(name, `pw ${name}`);
  const me = await ephemeralIdentity();
  return {
    name,
    client,
    token: s.token!,
    me,
    devices: new AccountDevices(client, name, me, new MemoryTrustedLists()),
    store: new MemoryMessengerStore(),
  };
}

function start(url: string, d: Dev): Promise<Messenger> {
  return Messenger.start({
    url,
    name: d.name,
    me: d.me,
    device: d.device,
    devices: d.devices,
    socket: nodeWebSocket({ headers: { authorization: `Bearer ${d.token}` } }),
    store: d.store,
    keyPackages: 3,
  });
}

/** Messages a messenger shows, and a way to wait for n of them. */
function shown(m: Messenger) {
  const got: ReceivedMessage[] = [];
  const waiters: (() => void)[] = [];
  m.on('message', (x) => {
    got.push(x);
    for (const w of waiters.splice(0)) w();
  });
  return {
    got,
    async next(n: number) {
      const until = Date.now() + 10_000;
      while (got.length < n) {
        if (Date.now() > until) throw new Error(`waited for ${n} messages, got ${got.length}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
      return got.slice(0, n);
    },
  };
}

test('a conversation across accounts and devices, offline delivery across a relay restart, once each, in order', async () => {
  await opaque.ready;
  const db = join(dir, 'm.db');
  const setup = opaque.server.createSetup();
  let relay = await startRelay({ port: 0, blobs: false, accounts: { store: openSqliteAccountStore(db), opaqueSetup: setup } });
  const phoneIn = await signIn(relay.url, 'alice', 'register');
  const phone: Dev = { ...phoneIn, device: await phoneIn.devices.enrolFirst() };
  const laptopIn = await signIn(relay.url, 'alice', 'login');
  const asked = await laptopIn.devices.requestApproval();
  const waiting = asked.wait({ intervalMs: 50 });
  await phone.devices.approve(asked.code);
  const laptop: Dev = { ...laptopIn, device: (await waiting).device };
  const bobIn = await signIn(relay.url, 'bob', 'register');
  const bob: Dev = { ...bobIn, device: await bobIn.devices.enrolFirst() };

  const mPhone = await start(relay.url, phone);
  const mLaptop = await start(relay.url, laptop);
  let mBob = await start(relay.url, bob);
  const atLaptop = shown(mLaptop);
  let atBob = shown(mBob);
  const atPhone = shown(mPhone);
  const joined = new Promise<{ id: string; members: string[] }>((r) => mBob.on('conversation', r));
  const id = await mPhone.startConversation(['bob']);
  assert.deepEqual((await joined).id, id);
  assert.deepEqual((await mPhone.members(id)).sort(), ['alice', 'bob']);

  await mPhone.sendText(id, 'hello bob');
  assert.deepEqual(
    (await atBob.next(1)).map((m) => [m.from, m.text]),
    [['alice', 'hello bob']],
  );
  assert.deepEqual(
    (await atLaptop.next(1)).map((m) => [m.from, m.text]),
    [['alice', 'hello bob']],
    'alice’s other device reads what her phone sent',
  );
  await mBob.sendText(id, 'hi alice');
  assert.equal((await atPhone.next(1))[0]?.text, 'hi alice');
  assert.equal((await atLaptop.next(2))[1]?.text, 'hi alice');

  // bob goes offline; alice sends three; the relay restarts; bob starts again from his store.
  await mBob.settled();
  mBob.close();
  for (const t of ['one', 'two', 'three']) await mPhone.sendText(id, t);
  mPhone.close();
  mLaptop.close();
  await relay.close();
  relay = await startRelay({ port: 0, blobs: false, accounts: { store: openSqliteAccountStore(db), opaqueSetup: setup } });
  bob.client = new AccountClient({ url: relay.url, token: bob.token });
  bob.devices = new AccountDevices(bob.client, 'bob', bob.me, new MemoryTrustedLists());
  mBob = await start(relay.url, bob);
  atBob = shown(mBob);
  const back = await atBob.next(3);
  assert.deepEqual(
    back.map((m) => m.text),
    ['one', 'two', 'three'],
  );
  assert.deepEqual(
    back.map((m) => m.from),
    ['alice', 'alice', 'alice'],
  );
  await mBob.settled();
  await new Promise((r) => setTimeout(r, 200));
  mBob.close();
  const again = await start(relay.url, bob);
  const none = shown(again);
  await new Promise((r) => setTimeout(r, 400));
  await again.settled();
  assert.deepEqual(none.got, [], 'nothing shown twice');
  assert.deepEqual(again.list(), [id], 'the conversation was kept');
  again.close();
  await relay.close();
});
