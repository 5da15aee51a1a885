/**
 * Delivery state (issue 12): our own messages show a clock, faded, until the relay acknowledges
 * them (the SDK's `sent` event), then a check; a message the relay never took shows a failure mark.
 * The page's WebSocket runs through Playwright's WebSocket route, which can hold the relay's frames
 * to the page (its ACKs among them) and cut the connection, so each state can be seen on screen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import { join, joinRoom, open, relayLink, say, screenshot, skip, withRelayAndBrowser, GONE_AT_ONCE } from './_browser.js';

const ROOM = 'delivery room';
const PASSWORD = 'delivery room password 4';

/** The delivery mark of our message with `text`. */
const mark = (page: Page, text: string): Locator =>
  page.getByTestId('messages').locator('li.self', { hasText: text }).getByTestId('delivery');

async function expectState(m: Locator, state: 'pending' | 'sent' | 'failed', label: string): Promise<void> {
  await m.and(m.page().locator(`[data-state="${state}"]`)).waitFor({ timeout: 30_000 });
  assert.equal(await m.getAttribute('aria-label'), label);
  // An inline SVG, not a character: nothing depends on an emoji font.
  assert.equal(await m.locator('svg').count(), 1);
  assert.equal((await m.textContent())?.trim(), '');
}

test(
  'delivery: a message shows pending until the relay acknowledges it, then sent; across a reconnect it stays pending and is sent once; a hidden private message too',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const bob = await join(browser, url, 'bob', ROOM, PASSWORD);
      const alice = await open(browser, url);
      const link = await relayLink(alice.page);
      await joinRoom(alice.page, 'alice', ROOM, PASSWORD);
      await bob.page.getByText('alice joined').waitFor();

      await say(alice.page, 'first words');
      await expectState(mark(alice.page, 'first words'), 'sent', 'Sent');
      await bob.page.getByText('first words').waitFor();

      // The relay has the message (bob reads it) but its ACK has not reached alice: still pending.
      link.hold();
      await say(alice.page, 'held back');
      await bob.page.getByText('held back').waitFor();
      await expectState(mark(alice.page, 'held back'), 'pending', 'Sending…');
      assert.ok(await alice.page.locator('li.self.pending', { hasText: 'held back' }).count(), 'the pending line is marked (faded)');
      await screenshot(alice.page, 'web-delivery-pending');
      link.release();
      await expectState(mark(alice.page, 'held back'), 'sent', 'Sent');
      assert.equal(await alice.page.locator('li.self.pending').count(), 0);
      await screenshot(alice.page, 'web-delivery-sent');

      // The connection drops before the ACK: pending while the room reconnects, then the SDK re-sends it and it is sent.
      link.hold();
      await say(alice.page, 'through a reconnect');
      await bob.page.getByText('through a reconnect').waitFor();
      await link.cut();
      await expectState(mark(alice.page, 'through a reconnect'), 'pending', 'Sending…');
      await expectState(mark(alice.page, 'through a reconnect'), 'sent', 'Sent');
      assert.ok(link.connections >= 2, 'the page reconnected');
      // Receivers drop the re-sent copy by its id: bob sees it once.
      assert.equal(await bob.page.getByText('through a reconnect').count(), 1);
      // Nobody else's messages carry a mark.
      await say(bob.page, 'from bob');
      await alice.page.getByText('from bob').waitFor();
      assert.equal(await alice.page.locator('li.message:not(.self)').getByTestId('delivery').count(), 0);

      // A private message in the default (hidden) routing travels inside the room's stream: pending until the relay acknowledged it too.
      await alice.page.getByRole('button', { name: 'bob', exact: true }).click();
      await alice.page.getByTestId('open-private').click();
      await alice.page.getByRole('heading', { name: /Private chat with bob/ }).waitFor();
      link.hold();
      await say(alice.page, 'privately held');
      await bob.page.getByTestId('private-tab').click();
      await bob.page.getByText('privately held').waitFor();
      await expectState(mark(alice.page, 'privately held'), 'pending', 'Sending…');
      link.release();
      await expectState(mark(alice.page, 'privately held'), 'sent', 'Sent');
      for (const m of [alice, bob]) assert.deepEqual(m.dialogs, []);
    }),
);

test(
  'delivery: a private chat whose peer left the room says so and refuses to send (it used to show a message as sent); the labels follow the language',
  { skip },
  () =>
    withRelayAndBrowser(GONE_AT_ONCE, async (url, browser) => {
      const direct = {
        origin: new URL(url).origin,
        localStorage: [{ name: 'nullroom.prefs', value: JSON.stringify({ privateRouting: 'direct' }) }],
      };
      const alice = await join(browser, url, 'alice', ROOM, PASSWORD, { storageState: { cookies: [], origins: [direct] } });
      const bob = await join(browser, url, 'bob', ROOM, PASSWORD);
      await alice.page.getByText('bob joined').waitFor();
      await alice.page.getByRole('button', { name: 'bob', exact: true }).click();
      await alice.page.getByTestId('open-private').click();
      await alice.page.getByRole('heading', { name: /Private chat with bob/ }).waitFor();
      await say(alice.page, 'while you are here');
      await bob.page.getByTestId('private-tab').waitFor();
      await expectState(mark(alice.page, 'while you are here'), 'sent', 'Sent');

      // bob goes; once his departure reaches alice's room, she looks at their private chat again.
      await bob.page.context().close();
      await alice.page.locator('.room-tab:not(.private)').click();
      await alice.page.getByText('bob left').waitFor({ timeout: 30_000 });
      await alice.page.getByTestId('private-tab').click();
      await alice.page.getByRole('heading', { name: /Private chat with bob/ }).waitFor();
      // Not a message that shows as sent (or fails later): the chat says bob left, and the composer says why it is off.
      await alice.page.getByText('bob left the room: this private chat is closed.').waitFor();
      assert.equal(await alice.page.getByTestId('composer').isDisabled(), true);
      assert.equal(await alice.page.getByTestId('composer-blocked').textContent(), 'bob left the room: messages cannot reach them here.');
      await screenshot(alice.page, 'web-private-peer-left');

      await alice.page.getByTestId('settings-button').click();
      await alice.page.getByTestId('language').selectOption('zh-CN');
      await alice.page.getByText('bob 已离开房间：此私聊已关闭。').waitFor();
      assert.equal(await alice.page.getByTestId('composer-blocked').textContent(), 'bob 已离开房间：消息无法送达。');
      await expectState(mark(alice.page, 'while you are here'), 'sent', '已发送');
      assert.deepEqual(alice.dialogs, []);
    }),
);
