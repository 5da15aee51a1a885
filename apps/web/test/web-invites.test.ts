/**
 * Issue 13 in the browser: invite rooms can be named (the name reaches joiners and renames reach
 * everyone, end-to-end encrypted; an unnamed one shows a label from its secret, so two never look
 * alike), and a private chat ends clearly: closed by either side, or because its peer left the room.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { assertAxeClean } from './_axe.js';
import { GONE_AT_ONCE, join, open, say, screenshot, skip, withRelayAndBrowser } from './_browser.js';

const LABEL = /^Invite room [0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;
const title = (page: Page) => page.getByTestId('room-title').textContent();
const tabs = (page: Page) => page.locator('.room-tab:not(.private) .room-label').allTextContents();

test(
  'named invite rooms: the creator names one, a joiner through the link sees the name, a rename reaches everyone; an unnamed one has its own label; the relay logs none',
  { skip },
  () =>
    withRelayAndBrowser(['-v'], async (url, browser, relay) => {
      const name = 'Book club 📚';
      const phone = await open(browser, url, {
        viewport: { width: 390, height: 844 },
        locale: 'zh-CN',
        colorScheme: 'dark',
        bypassCSP: true,
      });
      await phone.page.getByTestId('invite-name').fill('读书会');
      await assertAxeClean(phone.page, 'the join screen with the invite room name, zh-CN, phone, dark');
      await screenshot(phone.page, 'invites-create-zh-CN-dark-phone');
      await phone.page.context().close();
      const host = await open(browser, url, { viewport: { width: 1280, height: 800 }, bypassCSP: true });
      await host.page.getByTestId('nick').fill('host');
      await host.page.getByTestId('invite-name').fill(`  ${name} `);
      await screenshot(host.page, 'invites-create-en-light-desktop');
      await host.page.getByTestId('create-invite').click();
      await host.page.getByTestId('composer').waitFor({ timeout: 30_000 });
      assert.equal(await title(host.page), name);
      const link = await host.page.getByTestId('invite-link').inputValue();

      const guest = await open(browser, link, { viewport: { width: 390, height: 844 }, locale: 'zh-CN', colorScheme: 'dark' });
      await guest.page.getByTestId('nick').fill('guest');
      await guest.page.getByTestId('join').click();
      await guest.page.getByTestId('composer').waitFor({ timeout: 30_000 });
      await guest.page.getByTestId('room-title').getByText(name).waitFor();
      await host.page.getByText('guest joined').waitFor();

      // A second invite room, unnamed: a label of its own, unlike any other room's.
      await host.page.getByTestId('add-room').click();
      await host.page.getByTestId('nick').fill('host');
      await host.page.getByTestId('create-invite').click();
      await host.page.getByTestId('room-title').getByText(LABEL).waitFor({ timeout: 30_000 });
      const second = await title(host.page);
      assert.match(second ?? '', LABEL);
      assert.deepEqual(await tabs(host.page), [name, second]);

      // The guest renames the first room: everyone's list and header follow, and each room says who did it.
      await guest.page.getByTestId('rename-room').click();
      await guest.page.getByTestId('rename-input').fill('');
      await guest.page.getByTestId('rename-save').click();
      await guest.page.getByRole('alert').getByText('房间名称须为 1 到 64 个字符，且不含控制字符。').waitFor();
      await guest.page.getByTestId('rename-input').fill('Reading group');
      await screenshot(guest.page, 'invites-rename-zh-CN-dark-phone');
      await guest.page.getByTestId('rename-save').click();
      await guest.page.getByText('你将房间重命名为“Reading group”').waitFor();
      await host.page.locator('.room-tab:not(.private)').first().click();
      await host.page.getByText('guest renamed the room to “Reading group”').waitFor();
      assert.equal(await title(host.page), 'Reading group');
      assert.deepEqual(await tabs(host.page), ['Reading group', second]);
      await screenshot(host.page, 'invites-renamed-en-light-desktop');
      await host.page.getByTestId('rename-room').click();
      await assertAxeClean(host.page, 'the rename form, en, desktop, light');
      await host.page.getByTestId('rename-input').press('Escape');
      await host.page.getByTestId('rename-room').waitFor();
      await screenshot(guest.page, 'invites-renamed-zh-CN-dark-phone');

      // A newcomer through the same link is told the new name.
      const late = await open(browser, link);
      await late.page.getByTestId('nick').fill('late');
      await late.page.getByTestId('join').click();
      await late.page.getByTestId('room-title').getByText('Reading group').waitFor({ timeout: 30_000 });

      // Its log: JSON lines on stdout (debug with -v), and whatever it wrote to stderr.
      const logs = [...relay.lines, ...relay.stderr].join('\n');
      assert.ok(
        relay.lines.some((l) => l.includes('"msg":"connection open"')),
        'the relay logged (-v)',
      );
      for (const n of [name, 'Book club', 'Reading group', second!]) assert.ok(!logs.includes(n), 'a room name in the relay log');
      for (const m of [host, guest, late]) assert.deepEqual(m.dialogs, []);
    }),
);

test(
  'a private chat ends clearly: closed by one side (the other sees who closed it), or because the peer left the room (the composer says why)',
  { skip },
  () =>
    withRelayAndBrowser(GONE_AT_ONCE, async (url, browser) => {
      const alice = await join(browser, url, 'alice', 'ending room', 'ending room password 3', { viewport: { width: 1280, height: 800 } });
      const bob = await join(browser, url, 'bob', 'ending room', 'ending room password 3', {
        viewport: { width: 390, height: 844 },
        locale: 'zh-CN',
        colorScheme: 'dark',
      });
      const carol = await join(browser, url, 'carol', 'ending room', 'ending room password 3');
      await alice.page.getByText('carol joined').waitFor();
      const openWith = async (page: Page, nick: string) => {
        await page.getByRole('button', { name: nick, exact: true }).click();
        await page.getByTestId('open-private').click();
        await page.getByTestId('private-close').waitFor();
      };

      // alice closes her chat with bob: the room stays, bob sees who closed it and cannot send there.
      await openWith(alice.page, 'bob');
      await say(alice.page, 'just between us');
      await bob.page.getByTestId('private-tab').click();
      await bob.page.getByText('just between us').waitFor();
      await alice.page.getByTestId('private-close').click();
      await alice.page.getByText('You closed the private chat with bob.').waitFor();
      await bob.page.getByText('alice 关闭了私聊。').waitFor();
      assert.equal(await bob.page.getByTestId('composer').isDisabled(), true);
      assert.equal(await bob.page.getByTestId('composer-blocked').textContent(), '此私聊已关闭，无法再发送消息。');
      await screenshot(bob.page, 'invites-private-closed-zh-CN-dark-phone');
      await alice.page.locator('.room-tab:not(.private)').click();
      await say(alice.page, 'the room goes on');
      await carol.page.getByText('the room goes on').waitFor();

      // carol and alice: carol leaves the room; alice's chat says so and refuses to send.
      await openWith(alice.page, 'carol');
      await say(alice.page, 'before you go');
      await carol.page.getByTestId('private-tab').click();
      await carol.page.getByText('before you go').waitFor();
      await carol.page.context().close();
      await alice.page.getByText('carol left the room: this private chat is closed.').waitFor({ timeout: 30_000 });
      assert.equal(await alice.page.getByTestId('composer').isDisabled(), true);
      assert.equal(await alice.page.getByTestId('attach').count(), 0, 'no files either');
      assert.equal(await alice.page.getByTestId('composer-blocked').textContent(), 'carol left the room: messages cannot reach them here.');
      await screenshot(alice.page, 'invites-private-peer-left-en-light-desktop');
      for (const m of [alice, bob]) assert.deepEqual(m.dialogs, []);
    }),
);
