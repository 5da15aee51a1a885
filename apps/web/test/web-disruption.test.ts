/**
 * The browser client when someone with the room secret disrupts the room (issue 11, "a member that
 * keeps disrupting is identified to the others"; docs/PROTOCOL.md §4.3): the page shows one calm
 * line naming the culprit (a count, not a line per event, when it repeats), no error, and keeps
 * chatting with an SDK member; a joiner that meets unusable group information says that it waits
 * for the room to repair it. The attacker is a raw `ws` client with hand-built relay frames.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Socket, connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import type { RoomLocator } from '@nullroom/protocol';
import { RoomGroup, deriveRoomKeys } from '@nullroom/crypto';
import { NullroomClient, deriveRoomSecret } from '@nullroom/client';
import { nodeWebSocket } from '@nullroom/client/node';
import type * as InsiderModule from '../../../packages/client/dist/test/_insider.js';
import { assertAxeClean } from './_axe.js';
import { type Member, fitsWidth, join, joinRoom, open, say, screenshot, skip, withRelayAndBrowser, GONE_AT_ONCE } from './_browser.js';

// The hostile-member tests' insider (packages/client/test/_insider.ts), compiled beside them.
const Insiders = (await import(new URL('../../../packages/client/dist/test/_insider.js', import.meta.url).href)) as typeof InsiderModule;

const phone = { width: 360, height: 740 };
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

async function until(ok: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw relay connection in one room that sends whatever it likes (it holds the room secret). */
const insider = (url: string, room: RoomLocator) => Insiders.insider(url, room, 15_000);

/** A TCP proxy in front of the relay whose connections can be cut, refusing new ones for a while. */
async function cuttableProxy(target: URL) {
  const sockets = new Set<Socket>();
  let refuseUntil = 0;
  const server = createServer((client) => {
    if (Date.now() < refuseUntil) return void client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    const end = () => {
      for (const x of [client, upstream]) x.destroy(), sockets.delete(x);
    };
    for (const x of [client, upstream]) sockets.add(x), x.on('error', end), x.on('close', end);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut(ms: number) {
      refuseUntil = Date.now() + ms;
      for (const x of sockets) x.destroy();
    },
    close() {
      for (const x of sockets) x.destroy();
      server.close();
    },
  };
}

/** Nothing alarming on the page: no error line, no dialog, no script error. */
async function calm(m: Member): Promise<void> {
  const page = m.page;
  for (const code of ['BAD_COMMIT', 'BAD_GROUP_INFO', 'JOIN_FAILED'])
    assert.equal(await page.getByText(code).count(), 0, `the page shows ${code}`);
  assert.equal(
    await page.locator('.line.error').count(),
    0,
    `an error line: ${(await page.locator('.line.error').allTextContents()).join(' / ')}`,
  );
  assert.deepEqual(m.dialogs, []);
  assert.deepEqual(
    m.console.filter((c) => c.startsWith('pageerror')),
    [],
  );
  assert.ok(await fitsWidth(page), 'the page fits 360 px');
}

/**
 * axe-core finds no violations (contrast of the disruption lines included) at desktop and phone
 * widths, light and dark; at phone width also with the member list open. Needs a context with `bypassCSP`.
 */
async function audit(page: Page, where: string): Promise<void> {
  const size = page.viewportSize() ?? phone;
  for (const [width, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', phone],
  ] as const) {
    await page.setViewportSize(viewport);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await assertAxeClean(page, `${where} (${width}, ${scheme})`);
      const toggle = page.getByTestId('members-toggle');
      if (width === 'phone' && (await toggle.isVisible())) {
        await toggle.click();
        await assertAxeClean(page, `${where} with the member list (${width}, ${scheme})`);
        await toggle.click();
      }
    }
  }
  await page.setViewportSize(size);
}

/** Screenshots in the page's own scheme and in the other one. */
async function shots(page: Page, name: string, scheme: 'light' | 'dark'): Promise<void> {
  await screenshot(page, `${name}-${scheme}`);
  const other = scheme === 'light' ? 'dark' : 'light';
  await page.emulateMedia({ colorScheme: other });
  await screenshot(page, `${name}-${other}`);
  await page.emulateMedia({ colorScheme: scheme });
}

test(
  'garbage commits from an insider: the page shows one calm line that counts them, keeps chatting with an SDK member, shows no error; a member that disrupts is named',
  { skip },
  (t) =>
    withRelayAndBrowser([], async (url, browser) => {
      const room = 'hostile room';
      const password = 'a long enough room password';
      const alice = await join(browser, url, 'alice', room, password, { viewport: phone, locale: 'en-US', colorScheme: 'light' });
      const li = await join(browser, url, 'li', room, password, { viewport: phone, locale: 'zh-CN', colorScheme: 'dark' });
      const secret = await deriveRoomSecret(room, password);
      const client = new NullroomClient({ url, webSocket: nodeWebSocket() });
      try {
        await client.connect();
        const bob = await client.join({ secret, nick: 'bob' });
        const heard: string[] = [];
        let disrupted = 0;
        bob.on('message', (e) => heard.push(e.text));
        bob.on('disruption', () => disrupted++);
        await alice.page.getByText('bob joined').waitFor();

        const keys = await deriveRoomKeys(secret);
        const mallory = await insider(url, keys.locator);
        // One garbage commit: the relay accepts it (it cannot judge MLS); every member finds it void.
        let start = Date.now();
        await mallory.garbage();
        await alice.page.getByText('Someone who is not a member sent something the room could not use; it was ignored.').waitFor();
        await li.page.getByText('一位非成员发送了房间无法使用的内容，已被忽略。').waitFor();
        t.diagnostic(`garbage commit -> the line on both pages in ${Date.now() - start} ms`);

        // It keeps at it, back to back: the same line counts, no new line per commit.
        let accepted = 1; // a repair that wins the race makes the next garbage commit stale
        for (let i = 0; i < 10; i++)
          if ((await mallory.commit(random(300), random(300), (await mallory.sync()).epoch)) === 'ACK') accepted++;
        await until(() => disrupted === accepted, 'the SDK member reports every accepted garbage commit');
        t.diagnostic(`${accepted} of 11 garbage commits accepted by the relay, shown as one line`);
        await alice.page.getByText(`sent something the room could not use, ${accepted} times; each was ignored`).waitFor();
        await li.page.getByText(`已 ${accepted} 次发送房间无法使用的内容`).waitFor();
        for (const m of [alice, li])
          assert.equal(
            await m.page.locator('.line.notice', { hasText: /Someone who is not a member|一位非成员/ }).count(),
            1,
            'one line for the whole burst',
          );

        // The room goes on: the page and the SDK member chat both ways.
        start = Date.now();
        await say(alice.page, 'still here after the garbage');
        await until(() => heard.includes('still here after the garbage'), 'bob hears alice');
        bob.send('so am I');
        await alice.page.getByText('so am I').waitFor();
        await li.page.getByText('so am I').waitFor();
        t.diagnostic(`after the burst: page -> SDK -> both pages in ${Date.now() - start} ms`);

        // Now as a member ("sam", a real external join made with the room secret, on a new connection:
        // the slot that disrupted is removed by every repair): named, then removed by the repair.
        mallory.close();
        const sam = await insider(url, keys.locator);
        const crypto = await RoomGroup.create(keys);
        for (let i = 0; ; i++) {
          const gs = await sam.sync();
          const joinSam = await crypto.joinExternal(await crypto.readGroupInfo(gs.groupInfo), { nick: 'sam', slot: sam.slot });
          if ((await sam.commit(joinSam.message, joinSam.groupInfo, gs.epoch)) === 'ACK') break;
          assert.ok(i < 10, "the relay accepts sam's join");
        }
        await alice.page.getByText('sam joined').waitFor();
        await sam.garbage();
        await alice.page.getByText('sam sent something the room could not use; it was ignored.').waitFor();
        await li.page.getByText('sam 发送了房间无法使用的内容，已被忽略。').waitFor();
        await alice.page.getByText('sam left').waitFor({ timeout: 10_000 });
        sam.close();

        await say(li.page, 'and after sam');
        await until(() => heard.includes('and after sam'), 'bob hears li');
        await alice.page.getByText('and after sam').waitFor();
        for (const m of [alice, li]) await calm(m);
        await shots(alice.page, 'web-disruption-en', 'light');
        await shots(li.page, 'web-disruption-zh-CN', 'dark');
      } finally {
        await client.close();
      }
    }),
);

test(
  'a joiner that meets group information it cannot use says it waits for the room to repair it, then joins once it is usable',
  { skip },
  (t) =>
    withRelayAndBrowser([], async (url, browser) => {
      const room = 'broken room';
      const password = 'another long room password';
      const keys = await deriveRoomKeys(await deriveRoomSecret(room, password));
      // The only connection in the room stores garbage, then a garbage commit on top (relay epoch 1):
      // not a room that a joiner may found anew (§4.3 "Re-founding"), so joiners wait for a repair.
      const mallory = await insider(url, keys.locator);
      try {
        assert.equal(await mallory.create(random(400)), 'ACK');
        assert.equal(await mallory.commit(random(300), random(400), 0), 'ACK');
        // bypassCSP only so that axe-core can be injected (the audit below).
        const en = await open(browser, url, { viewport: phone, locale: 'en-US', colorScheme: 'light', bypassCSP: true });
        const zh = await open(browser, url, { viewport: phone, locale: 'zh-CN', colorScheme: 'dark' });
        const joins = [joinRoom(en.page, 'alice', room, password), joinRoom(zh.page, 'li', room, password)];
        await en.page
          .getByTestId('join-repairing')
          .getByText('Waiting for the room to repair its group information.', { exact: false })
          .waitFor({ timeout: 15_000 });
        await zh.page
          .getByTestId('join-repairing')
          .getByText('正在等待房间修复其群组信息。', { exact: false })
          .waitFor({ timeout: 15_000 });
        await shots(en.page, 'web-join-repairing-en', 'light');
        await audit(en.page, 'the join form waiting for a repair');
        await shots(zh.page, 'web-join-repairing-zh-CN', 'dark');

        // Someone stores usable group information (here the insider, as the repairing member would):
        // the joiners' next retry joins.
        const { groupInfo } = await (await RoomGroup.create(keys)).createGroup({ nick: 'mallory', slot: mallory.slot });
        const start = Date.now();
        assert.equal(await mallory.commit(random(300), groupInfo, 1), 'ACK');
        await Promise.all(joins);
        t.diagnostic(`usable GroupInfo stored -> both joiners in ${Date.now() - start} ms`);
        for (const m of [en, zh]) assert.equal(await m.page.getByTestId('join-repairing').count(), 0);
        await say(en.page, 'we got in');
        await zh.page.getByText('we got in').waitFor();
        for (const m of [en, zh]) await calm(m);
      } finally {
        mallory.close();
      }
    }),
);

test('a culprit that comes back after a quiet minute gets a new line (the old one keeps its count)', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const room = 'patient room';
    const password = 'yet another long room password';
    // bypassCSP only so that axe-core can be injected (the audit below).
    const alice = await join(browser, url, 'alice', room, password, { viewport: phone, locale: 'en-US', bypassCSP: true });
    const mallory = await insider(url, (await deriveRoomKeys(await deriveRoomSecret(room, password))).locator);
    try {
      await mallory.garbage();
      await mallory.garbage();
      await alice.page.getByText('could not use, 2 times; each was ignored').waitFor();
      // A minute later (the page's clock moves on; its timers are not touched).
      await alice.page.clock.setSystemTime(Date.now() + 61_000);
      await mallory.garbage();
      await alice.page.getByText('could not use, 3 times; each was ignored').waitFor();
      const lines = alice.page.getByTestId('disruption');
      assert.equal(await lines.count(), 2);
      assert.match((await lines.first().textContent()) ?? '', /2 times/);
      await say(alice.page, 'still fine');
      await alice.page.locator('.line.message', { hasText: 'still fine' }).waitFor();
      await audit(alice.page, 'a timeline with disruption lines');
      await calm(alice);
    } finally {
      mallory.close();
    }
  }),
);

test('a page that reconnects into unusable group information shows the wait in its timeline, then rejoins, with no error', { skip }, (t) =>
  withRelayAndBrowser(GONE_AT_ONCE, async (url, browser) => {
    const room = 'flaky room';
    const password = 'one more long room password';
    const keys = await deriveRoomKeys(await deriveRoomSecret(room, password));
    const proxy = await cuttableProxy(new URL(url));
    // alice (through the proxy) founds the room; mallory holds a connection in it without being a member.
    const alice = await join(browser, proxy.url, 'alice', room, password, { viewport: phone, locale: 'en-US' });
    const mallory = await insider(url, keys.locator);
    try {
      // alice drops; meanwhile the relay stores mallory's garbage, and nobody is left to repair it.
      proxy.cut(1500);
      await mallory.garbage();
      await alice.page
        .getByTestId('disruption')
        .getByText('Waiting for the room to repair its group information.', { exact: false })
        .waitFor({ timeout: 20_000 });
      await screenshot(alice.page, 'web-rejoin-repairing-en-light');
      const start = Date.now();
      const gs = await mallory.sync();
      const { groupInfo } = await (await RoomGroup.create(keys)).createGroup({ nick: 'mallory', slot: mallory.slot });
      assert.equal(await mallory.commit(random(300), groupInfo, gs.epoch), 'ACK');
      await alice.page.getByText('Reconnected.').waitFor({ timeout: 20_000 });
      t.diagnostic(`usable GroupInfo stored -> the page rejoined in ${Date.now() - start} ms`);
      assert.equal(await alice.page.getByText('Waiting for the room to repair', { exact: false }).count(), 1, 'one wait line per rejoin');
      await calm(alice);
    } finally {
      mallory.close();
      proxy.close();
    }
  }),
);
