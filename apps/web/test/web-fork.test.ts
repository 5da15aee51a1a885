/**
 * The web app against a relay that forks the room (docs/PROTOCOL.md §8, docs/SECURITY.md §3): the
 * browser member's panel shows the fingerprint of its history (equal to bob's, not to carol's, for
 * the same epoch), and its chat shows the fork warning once carol's messages cross the fork.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startInstrumentedRelay } from '@nullroom/server/instrumented';
import { NullroomClient, type Room, deriveRoomSecret, formatRoomFingerprint } from '@nullroom/client';
import { nodeWebSocket } from '@nullroom/client/node';
import type * as Fork from '../../../packages/client/dist/test/_fork.js';
import { join, launch, screenshot, skip } from './_browser.js';

// The forking relay of packages/client/test/fork.test.ts, compiled there (test helpers are not in the package's exports).
const { forkingRelay } = (await import(new URL('../../../packages/client/dist/test/_fork.js', import.meta.url).href)) as typeof Fork;
const webDist = fileURLToPath(new URL('../dist/', import.meta.url));

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("browser: a forking relay -> the member panel shows its own history's fingerprint and the chat warns", { skip }, async () => {
  const fork = forkingRelay();
  const relay = await startInstrumentedRelay({ host: '127.0.0.1', port: 0, staticDir: webDist }, { transformOut: fork.transformOut });
  const browser = await launch();
  const clients: NullroomClient[] = [];
  try {
    const name = 'fork room';
    const password = 'fork room password 9';
    const alice = await join(browser, relay.url, 'alice', name, password); // the creator: leaf 0, the designated remover
    await alice.page.getByText('Nobody is here yet: you started this room.').waitFor();
    const secret = await deriveRoomSecret(name, password);
    const node = async (nick: string): Promise<Room> => {
      const client = new NullroomClient({ url: relay.url, webSocket: nodeWebSocket(), timings: { removalGraceMs: 300 } });
      clients.push(client);
      await client.connect();
      return client.join({ secret, nick });
    };
    const bob = await node('bob');
    const carol = await node('carol');
    const dave = await node('dave');
    await alice.page.getByText('dave joined').waitFor();
    await until(() => [bob, carol, dave].every((r) => r.epoch === 3), 'everyone at epoch 3');

    // As in packages/client/test/fork.test.ts: hide alice's removal of dave from carol, and
    // acknowledge carol's own removal of dave for the same epoch.
    fork.fork(carol.profile()!.slot);
    await clients[2]!.close(); // dave leaves
    await alice.page.getByText('dave left').waitFor();
    await until(() => fork.faked() && bob.epoch === 4 && carol.epoch === 4, 'bob and carol at epoch 4');

    await alice.page.getByRole('button', { name: 'bob', exact: true }).click();
    const shown = (await alice.page.getByTestId('room-fingerprint').textContent())?.trim();
    assert.equal(shown, formatRoomFingerprint(bob.fingerprint()!), 'alice and bob: one history');
    assert.notEqual(shown, formatRoomFingerprint(carol.fingerprint()!), 'carol: another, at the same epoch');
    assert.match(shown ?? '', /^epoch 4 · \d{4} \d{4} \d{4}$/);

    carol.send('are you there?');
    carol.send('hello?');
    await alice.page.getByText('stopped decrypting in a way only a split room explains', { exact: false }).waitFor();
    await alice.page
      .getByText(shown!.replace(/^epoch 4 · /, ''), { exact: false })
      .first()
      .waitFor();
    assert.equal(await alice.page.getByText('are you there?').count(), 0);
    await screenshot(alice.page, 'web-fork-suspected');
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await browser.close();
    await relay.close();
  }
});
