/**
 * A hostile relay against the Messenger (src/messenger.ts; docs/SECURITY.md §13.8, §13.9): a proxy
 * in front of a real relay rewrites what the relay sends on the account channel. A stored message
 * replayed later under a new seq, two messages swapped, and a message withheld and delivered late:
 * a replay is refused by MLS and never shown twice; reordered and late messages are shown once each
 * with the sender's own time and counter, so the app can place them; nothing crashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { WebSocket, WebSocketServer } from 'ws';
import { ephemeralIdentity } from '@nullroom/crypto';
import { ACCOUNT_SUBPROTOCOL, type AccountFrame, decodeAccountFrame, encodeAccountFrame } from '@nullroom/protocol';
import { startRelay } from '@nullroom/server';
import { openSqliteAccountStore } from '@nullroom/server/accounts';
import {
  AccountClient,
  AccountDevices,
  MemoryMessengerStore,
  MemoryTrustedLists,
  Messenger,
  type ReceivedMessage,
} from '../src/accounts.js';
import { nodeWebSocket } from '../src/node/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-hostile-messenger-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

type Rewrite = (f: AccountFrame, send: (f: AccountFrame) => void) => void;

/** A WebSocket proxy to `/account` on `target` that passes each relay frame through `rewrite`. */
async function proxy(target: string, rewrite: { fn: Rewrite }) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, handleProtocols: () => ACCOUNT_SUBPROTOCOL });
  wss.on('connection', (down, req) => {
    const up = new WebSocket(`${target.replace('http', 'ws')}/account`, ACCOUNT_SUBPROTOCOL, {
      headers: { authorization: req.headers.authorization ?? '' },
    });
    const early: Buffer[] = [];
    down.on('message', (d) => (up.readyState === 1 ? up.send(d) : early.push(d as Buffer)));
    up.on('open', () => {
      for (const d of early.splice(0)) up.send(d);
    });
    up.on('message', (d) => {
      const f = decodeAccountFrame(new Uint8Array(d as Buffer));
      rewrite.fn(f, (g) => down.readyState === 1 && down.send(encodeAccountFrame(g)));
    });
    up.on('close', () => down.close());
    down.on('close', () => up.close());
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => http.close(r)) };
}

test('a replayed, a reordered and a late message: the replay refused, each shown once', async () => {
  await opaque.ready;
  const relay = await startRelay({
    port: 0,
    blobs: false,
    accounts: { store: openSqliteAccountStore(join(dir, 'h.db')), opaqueSetup: opaque.server.createSetup() },
  });
  const rewrite: { fn: Rewrite } = { fn: (f, send) => send(f) };
  const front = await proxy(relay.url, rewrite);
  try {
    const person = async (name: string, via: string) => {
      const client = new AccountClient({ url: relay.url });
      const s = await client.register(name, `pw ${name}`);
      const me = await ephemeralIdentity();
      const devices = new AccountDevices(client, name, me, new MemoryTrustedLists());
      const device = await devices.enrolFirst();
      const socket = nodeWebSocket({ headers: { authorization: `Bearer ${s.token}` } });
      return Messenger.start({ url: via, name, me, device, devices, socket, store: new MemoryMessengerStore(), keyPackages: 2 });
    };
    const alice = await person('alice', relay.url);
    const bob = await person('bob', front.url);
    const shown: ReceivedMessage[] = [];
    const warnings: string[] = [];
    bob.on('message', (m) => shown.push(m));
    bob.on('warning', (w) => warnings.push(w.code));
    const joined = new Promise((r) => bob.on('conversation', r));
    const id = await alice.startConversation(['bob']);
    await joined;

    // The relay keeps the first message and sends it again, under a new seq, after the second.
    let kept: Extract<AccountFrame, { type: 'MAIL' }> | undefined;
    rewrite.fn = (f, send) => {
      if (f.type !== 'MAIL') return send(f);
      if (kept === undefined) kept = f;
      send(f);
      if (f.seq === kept.seq + 1) send({ ...kept, seq: f.seq + 1000 });
    };
    await alice.sendText(id, 'first');
    await alice.sendText(id, 'second');
    await waitFor(() => warnings.length >= 1 && shown.length >= 2);
    assert.deepEqual(
      shown.map((m) => m.text),
      ['first', 'second'],
    );
    assert.deepEqual(warnings, ['BAD_MESSAGE'], 'the replay is refused by MLS, not shown');

    // Two messages swapped, then one withheld and delivered after the next.
    let held: Extract<AccountFrame, { type: 'MAIL' }> | undefined;
    rewrite.fn = (f, send) => {
      if (f.type !== 'MAIL') return send(f);
      if (held === undefined) {
        held = f;
        return;
      }
      send({ ...f, seq: held.seq });
      send({ ...held, seq: f.seq });
    };
    await alice.sendText(id, 'third');
    await alice.sendText(id, 'fourth');
    await waitFor(() => shown.length >= 4);
    assert.deepEqual(
      shown.slice(2).map((m) => m.text),
      ['fourth', 'third'],
      'shown as they come, once each: the sender’s time and counter let the app order them',
    );
    assert.ok(shown[3]!.sentAt <= shown[2]!.sentAt, 'the late one carries its own time');
    assert.deepEqual(warnings, ['BAD_MESSAGE'], 'no new warning: reordering within an epoch is not an attack MLS refuses');
    alice.close();
    bob.close();
  } finally {
    await front.close();
    await relay.close();
  }
});

async function waitFor(check: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
