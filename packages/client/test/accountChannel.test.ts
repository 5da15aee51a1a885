/**
 * The account channel end to end (client src/accountChannel.ts, relay accounts/accountChannel.ts,
 * channelHub.ts; docs/PROTOCOL.md §11.11) on a real relay with the embedded store, with real MLS
 * (@nullroom/crypto's AccountGroups) and real device keys: alice starts a conversation with bob
 * from his KeyPackage, he joins from the Welcome, they talk; bob goes offline, alice sends three
 * messages, the relay restarts, and bob gets exactly those three, once each, in order. Presence
 * goes to contacts only. A channel without a session, or with a device key that is not the
 * account's, never gets a mailbox.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import {
  AccountGroups,
  type ConversationState,
  ephemeralIdentity,
  fromBase64Url,
  type IdentitySigner,
  toBase64Url,
} from '@nullroom/crypto';
import { ACCOUNT_AUTH_LABEL, decodeAccountFrame, encodeAccountFrame } from '@nullroom/protocol';
import { startRelay } from '@nullroom/server';
import { openSqliteAccountStore } from '@nullroom/server/accounts';
import { AccountChannel, AccountClient, AccountDevices, ChannelError, type MailEvent, MemoryTrustedLists } from '../src/accounts.js';
import { nodeWebSocket } from '../src/node/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-channel-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function relayAt(path: string, opaqueSetup: string) {
  return startRelay({ port: 0, blobs: false, accounts: { store: openSqliteAccountStore(path), opaqueSetup } });
}

interface Person {
  name: string;
  client: AccountClient;
  token: string;
  me: IdentitySigner;
  device: string;
  devices: AccountDevices;
}

async function person(url: string, name: string): Promise<Person> {
  const client = new AccountClient({ url });
  const s = await client.register(name, `pw ${name}`);
  const me = await ephemeralIdentity();
  const devices = new AccountDevices(client, name, me, new MemoryTrustedLists());
  return { name, client, token: s.token!, me, device: await devices.enrolFirst(), devices };
}

function channel(url: string, p: Person): Promise<AccountChannel> {
  return AccountChannel.open(url, nodeWebSocket({ headers: { authorization: `Bearer ${p.token}` } }), p.me, p.device);
}

/** The mail a channel receives, in order, acknowledged as it comes. */
function inbox(ch: AccountChannel) {
  const got: MailEvent[] = [];
  const waiters: (() => void)[] = [];
  ch.on('mail', (m) => {
    got.push(m);
    ch.ack(m.seq);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (n: number) => {
    while (got.length < n) await new Promise<void>((r) => waiters.push(r));
    return got.slice(0, n);
  };
  return { got, next };
}

test('a conversation through the relay: started from a KeyPackage, joined from the Welcome; offline mail survives a restart, once each, in order', async () => {
  const db = join(dir, 'a.db');
  await opaque.ready;
  const setup = opaque.server.createSetup();
  let relay = await relayAt(db, setup);
  // Who is a device of whom: here from the lists each side verified through the relay (§11.8).
  const lists = new Map<string, AccountDevices>();
  const isDevice = async (name: string, key: Uint8Array) =>
    (await lists.get('viewer')!.deviceList(name)).head.devices.some((d) => d.every((b, i) => b === key[i]));
  const alice = await person(relay.url, 'alice');
  const bob = await person(relay.url, 'bob');
  lists.set('viewer', alice.devices);
  const g = await AccountGroups.open(isDevice);
  const kp = await g.newKeyPackage('bob', bob.me);
  await bob.devices.uploadKeyPackages(bob.device, [kp.keyPackage]);

  const a = await channel(relay.url, alice);
  let b = await channel(relay.url, bob);
  let bobIn = inbox(b);
  // alice: a new conversation, bob added from the KeyPackage the relay hands out for him.
  let sa: ConversationState = await g.create('alice', alice.me);
  const conv = toBase64Url(g.conversationId(sa));
  assert.equal((await a.create(conv)).status, 'ACCEPTED');
  assert.equal((await a.create(conv)).status, 'EXISTS');
  const claimed = await alice.devices.claimKeyPackages('bob');
  const added = await g.add(sa, [claimed.devices[0]!.keyPackage]);
  const r = await a.commit(conv, 0, added.commit, [claimed.devices[0]!.device], [], added.welcome);
  assert.deepEqual(r, { status: 'ACCEPTED', epoch: 1 });
  sa = added.state;
  const [welcome] = await bobIn.next(1);
  assert.deepEqual([welcome!.kind, welcome!.conversation, welcome!.sender, welcome!.epoch], ['welcome', conv, alice.device, 1]);
  let sb = (await g.join(welcome!.payload, [kp.pending])).state;

  const say = async (from: AccountChannel, s: ConversationState, words: string) => {
    const out = await g.encrypt(s, new TextEncoder().encode(words));
    const res = await from.send(conv, g.epoch(s), out.message);
    assert.equal(res.status, 'ACCEPTED', words);
    return out.state;
  };
  sa = await say(a, sa, 'hello bob');
  const [, m1] = await bobIn.next(2);
  const got1 = await g.process(sb, m1!.payload);
  assert.ok(got1.kind === 'message' && text(got1.plaintext) === 'hello bob' && got1.sender.name === 'alice');
  sb = got1.state;
  assert.equal((await a.send(conv, 0, new Uint8Array(10))).status, 'WRONG_EPOCH');

  // bob goes offline; alice sends three; the relay restarts; bob comes back.
  b.close();
  for (const w of ['one', 'two', 'three']) sa = await say(a, sa, w);
  a.close();
  await relay.close();
  relay = await relayAt(db, setup);
  b = await channel(relay.url, bob);
  bobIn = inbox(b);
  const back = await bobIn.next(3);
  const words: string[] = [];
  for (const m of back) {
    const x = await g.process(sb, m.payload);
    assert.ok(x.kind === 'message');
    sb = x.state;
    words.push(text(x.plaintext));
  }
  assert.deepEqual(words, ['one', 'two', 'three']);
  assert.deepEqual(
    back.map((m) => m.seq),
    [3, 4, 5],
  );
  await new Promise((r) => setTimeout(r, 200));
  b.close();
  // Acknowledged: a new channel gets nothing more.
  const again = await channel(relay.url, bob);
  const none = inbox(again);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(none.got, []);
  again.close();
  await relay.close();
});

test('only a signed-in device of the account gets a channel; presence only to contacts', async () => {
  await opaque.ready;
  const relay = await relayAt(join(dir, 'b.db'), opaque.server.createSetup());
  try {
    const carol = await person(relay.url, 'carol');
    const dave = await person(relay.url, 'dave');
    const erin = await person(relay.url, 'erin');
    await assert.rejects(
      AccountChannel.open(relay.url, nodeWebSocket(), carol.me, carol.device),
      (e: unknown) => e instanceof ChannelError,
    );
    // dave's session with carol's device id, or with a key that is not his device's.
    await assert.rejects(
      AccountChannel.open(relay.url, nodeWebSocket({ headers: { authorization: `Bearer ${dave.token}` } }), carol.me, carol.device),
      (e: unknown) => e instanceof ChannelError && e.code === 'CHANNEL_REFUSED',
    );
    await assert.rejects(
      AccountChannel.open(
        relay.url,
        nodeWebSocket({ headers: { authorization: `Bearer ${dave.token}` } }),
        await ephemeralIdentity(),
        dave.device,
      ),
      (e: unknown) => e instanceof ChannelError && e.code === 'CHANNEL_REFUSED',
    );
    await carol.client.requestContact('dave');
    await dave.client.acceptContact('carol');
    const c = await channel(relay.url, carol);
    const seen: string[] = [];
    c.on('presence', (p) => seen.push(`${p.name}:${p.online}`));
    const e = await channel(relay.url, erin);
    const d = await channel(relay.url, dave);
    await new Promise((r) => setTimeout(r, 200));
    d.close();
    await new Promise((r) => setTimeout(r, 200));
    e.close();
    c.close();
    assert.deepEqual(seen, ['dave:true', 'dave:false'], 'erin is not carol’s contact');
  } finally {
    await relay.close();
  }
});

test('a channel that does not answer pings is closed; one that authenticates twice is closed', async () => {
  await opaque.ready;
  const relay = await startRelay({
    port: 0,
    blobs: false,
    accounts: {
      store: openSqliteAccountStore(join(dir, 'c.db')),
      opaqueSetup: opaque.server.createSetup(),
      channelLimits: { pingIntervalMs: 150 },
    },
  });
  try {
    const fay = await person(relay.url, 'fay');
    const headers = { authorization: `Bearer ${fay.token}` };
    const { WebSocket } = await import('ws');
    // autoPong off: the relay's pings go unanswered, as from a dead peer.
    const deaf = () =>
      AccountChannel.open(
        relay.url,
        (url, protocol) =>
          new WebSocket(url, protocol, { headers, autoPong: false }) as unknown as ReturnType<ReturnType<typeof nodeWebSocket>>,
        fay.me,
        fay.device,
      );
    const silent = await deaf();
    const ended = new Promise<number>((r) => silent.on('closed', (e) => r(e.code)));
    const live = await channel(relay.url, fay).catch(() => undefined); // replaces the silent one: same device
    assert.ok(live !== undefined);
    assert.equal(await ended, 4409, 'the same device connecting again replaces the old channel');
    const liveEnded = { closed: false };
    live.on('closed', () => {
      liveEnded.closed = true;
    });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(liveEnded.closed, false, 'a channel that answers pings stays open');
    live.close();
    const mute = await deaf();
    const muteEnded = new Promise<number>((r) => mute.on('closed', (e) => r(e.code)));
    assert.equal(await muteEnded, 1006, 'no pong: the relay drops the connection');
    // A valid AUTH sent twice: the second, read while the first is checked, closes the channel (4401) before READY.
    const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/account`, 'nullroom.account.v1', { headers });
    const seen: string[] = [];
    const code = await new Promise<number>((resolve) => {
      ws.on('message', async (d) => {
        const f = decodeAccountFrame(new Uint8Array(d as Buffer));
        seen.push(f.type);
        if (f.type !== 'CHALLENGE') return;
        const device = fromBase64Url(fay.device);
        const signature = await fay.me.sign(new Uint8Array([...ACCOUNT_AUTH_LABEL, ...f.nonce, ...device]));
        const auth = encodeAccountFrame({ type: 'AUTH', device, signature });
        ws.send(auth);
        ws.send(auth);
      });
      ws.on('close', (c) => resolve(c));
    });
    assert.deepEqual([code, seen], [4401, ['CHALLENGE']]);
  } finally {
    await relay.close();
  }
});
