/**
 * Everyday chat in the browser (issue 13; docs/PROTOCOL.md §5.4): a browser and a terminal in one
 * room reply to, react to, edit and delete each other's messages and see the other typing; a
 * hostile member (the SDK in this process, sending forged payloads) cannot edit or delete another's
 * message nor flood one with reactions; typing can be turned off; the emoji picker searches in
 * English and Chinese. Screenshots of the new states, desktop and phone, light and dark.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { NullroomClient, deriveRoomSecret } from '@nullroom/client';
import { nodeWebSocket } from '@nullroom/client/node';
import { assertAxeClean } from './_axe.js';
import { join, say, screenshot, skip, withRelayAndBrowser } from './_browser.js';
import { type Proc, run } from './_spawn.js';

const ROOM = 'everyday room';
const PASSWORD = 'everyday chat password';

/** The timeline line (li) whose own text (not a quote in it) holds `text`. */
const lineOf = (page: Page, text: string) => page.getByTestId('message').filter({ has: page.locator('p.text', { hasText: text }) });

async function shots(page: Page, name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await screenshot(page, `${name}-${scheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

test('a browser and a terminal reply, react, edit, delete and see each other typing', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const alice = await join(browser, url, 'alice', ROOM, PASSWORD);
    const bob: Proc = run(['chat', url, '--room', ROOM, '--nick', 'bob', '--json'], { NULLROOM_PASSWORD: PASSWORD });
    try {
      await bob.waitFor((e) => e['event'] === 'joined', 'bob joined');
      await alice.page.getByText('bob joined').waitFor();
      const page = alice.page;
      bob.child.stdin.write('hello from the terminal\n');
      await lineOf(page, 'hello from the terminal').waitFor();

      // Reply: the action puts a quote above the composer; the terminal reads the reply with it.
      await lineOf(page, 'hello from the terminal').hover();
      await lineOf(page, 'hello from the terminal').getByTestId('action-reply').click();
      await page.getByTestId('compose-reply').getByText('hello from the terminal').waitFor();
      await say(page, 'hi terminal');
      const reply = await bob.waitFor((e) => e['event'] === 'message' && e['text'] === 'hi terminal', 'bob reads the reply');
      assert.deepEqual(
        [(reply['re'] as Record<string, unknown>)['from'], (reply['re'] as Record<string, unknown>)['text']],
        ['bob', 'hello from the terminal'],
      );
      assert.equal(await page.getByTestId('compose-reply').count(), 0, 'the quote above the composer is gone once sent');
      await lineOf(page, 'hi terminal').getByTestId('quote').getByText('hello from the terminal').waitFor();

      // Reactions both ways; the picker searches.
      await lineOf(page, 'hello from the terminal').hover();
      await lineOf(page, 'hello from the terminal').getByTestId('action-react').click();
      await page.getByTestId('emoji-search').fill('heart');
      await page.getByTestId('emoji-search').press('Enter');
      const r = await bob.waitFor((e) => e['event'] === 'reaction', 'bob sees the reaction');
      assert.deepEqual(r['reactions'], [{ emoji: '❤️', count: 1, from: ['alice'] }]);
      bob.child.stdin.write(`/react ${reply['ref']} 🎉\n`);
      await page.getByRole('button', { name: /bob reacted with 🎉/ }).waitFor();

      // bob types: alice sees it under the messages.
      await page
        .getByTestId('typing')
        .getByText('bob is typing…')
        .waitFor({ state: 'detached' })
        .catch(() => undefined);
      // Alice types: the terminal gets a typing event.
      await page.getByTestId('composer').pressSequentially('abc');
      await bob.waitFor((e) => e['event'] === 'typing' && e['from'] === 'alice' && e['on'] === true, 'bob sees alice typing');
      await page.getByTestId('composer').fill('');

      // Edit: the composer takes the text; the terminal reads the new one; the line says "(edited)".
      await lineOf(page, 'hi terminal').hover();
      await lineOf(page, 'hi terminal').getByTestId('action-edit').click();
      assert.equal(await page.getByTestId('composer').inputValue(), 'hi terminal');
      await page.getByTestId('compose-edit').waitFor();
      await page.getByTestId('composer').fill('hi terminal, again');
      await page.getByTestId('composer').press('Enter');
      const edited = await bob.waitFor((e) => e['event'] === 'edited', 'bob sees the edit');
      assert.deepEqual([edited['text'], edited['ref']], ['hi terminal, again', reply['ref']]);
      await lineOf(page, 'hi terminal, again').getByTestId('edited').waitFor();
      // The terminal cannot edit or delete alice's line.
      bob.child.stdin.write(`/edit ${reply['ref']} forged\n/delete ${reply['ref']}\n`);
      await bob.waitFor((e) => e['event'] === 'error' && e['code'] === 'NOT_YOURS', 'refused');
      bob.child.stdin.write(`/reply ${reply['ref']} nice\n`);
      await lineOf(page, 'nice').getByTestId('quote').getByText('hi terminal, again').waitFor();
      await page.setViewportSize({ width: 1280, height: 800 });
      await lineOf(page, 'nice').hover();
      await shots(page, 'web-chat-actions-desktop');
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await assertAxeClean(page, `quotes, reactions, actions (${scheme})`);
      }
      await page.emulateMedia({ colorScheme: 'light' });
      // Replying, in Chinese, with someone typing.
      await page.getByRole('button', { name: 'Settings' }).click();
      await page.getByTestId('language').selectOption('zh-CN');
      await page.getByTestId('settings').getByRole('button', { name: '完成' }).click();
      await lineOf(page, 'nice').hover();
      await lineOf(page, 'nice').getByTestId('action-reply').click();
      bob.child.stdin.write('/react 1 👍\n');
      await page.getByTestId('compose-reply').getByText('回复 bob').waitFor();
      await shots(page, 'web-chat-reply-zh');
      await assertAxeClean(page, 'replying, zh-CN');
      await page.getByTestId('composer').press('Escape');
      await page.getByRole('button', { name: '设置' }).click();
      await page.getByTestId('language').selectOption('en');
      await page.getByTestId('settings').getByRole('button', { name: 'Done' }).click();

      // bob deletes his first line: a placeholder for alice, and her reply's quote says so.
      bob.child.stdin.write('/delete 1\n');
      await page.getByTestId('deleted').waitFor();
      await lineOf(page, 'hi terminal, again').getByTestId('quote').getByText('deleted').waitFor();
      assert.equal(await page.getByText('hello from the terminal').count(), 0, 'the deleted text is gone everywhere');
      // alice deletes hers, after confirming.
      await lineOf(page, 'hi terminal, again').hover();
      await lineOf(page, 'hi terminal, again').getByTestId('action-delete').click();
      await page.getByTestId('confirm-ok').click();
      await bob.waitFor((e) => e['event'] === 'deleted' && e['from'] === 'alice', 'bob sees alice delete hers');
      await lineOf(page, 'nice').getByTestId('quote').getByText('deleted').waitFor();
      // A deleted line can no longer be answered.
      bob.child.stdin.write(`/reply ${reply['ref']} still there?\n`);
      await bob.waitFor((e) => e['event'] === 'error' && e['code'] === 'NO_SUCH_MESSAGE', 'refused');

      // The phone: a long press opens a message's actions.
      await page.setViewportSize({ width: 390, height: 844 });
      await lineOf(page, 'nice').hover();
      await lineOf(page, 'nice').getByTestId('action-reply').click();
      await page.getByTestId('composer').pressSequentially('x');
      await shots(page, 'web-chat-actions-phone');
      await page.getByTestId('compose-cancel').click();
      assert.equal(await page.getByTestId('compose-reply').count(), 0);
      bob.child.stdin.end();
      assert.equal(await bob.exited, 0);
    } finally {
      if (bob.child.exitCode === null) bob.child.kill('SIGTERM');
    }
  }),
);

test(
  'a hostile member cannot edit or delete another’s message nor flood it with reactions; typing can be turned off; emoji search',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const alice = await join(browser, url, 'alice', ROOM, PASSWORD);
      const carol = await join(browser, url, 'carol', ROOM, PASSWORD);
      const mallory = new NullroomClient({ url, webSocket: nodeWebSocket({}) });
      try {
        await mallory.connect();
        const room = await mallory.join({ secret: await deriveRoomSecret(ROOM, PASSWORD), nick: 'mallory' });
        await alice.page.getByText('mallory joined').waitFor();
        const ids: string[] = [];
        room.on('message', (e) => ids.push(e.id));
        await say(alice.page, 'the meeting is at 3');
        await new Promise<void>((resolve) => {
          const t = setInterval(() => ids.length > 0 && (clearInterval(t), resolve()), 20);
        });
        const id = ids[0]!;
        room.sendPayload({ type: 'edit', target: id, text: 'the meeting is cancelled' });
        room.sendPayload({ type: 'delete', target: id });
        for (let i = 0; i < 40; i++) room.sendPayload({ type: 'react', target: id, emoji: String.fromCodePoint(0x1f600 + i), on: true });
        // A reply to a message nobody has: shown, with "original not available".
        room.sendPayload({ type: 'text', text: 'an orphan reply', re: 'ab'.repeat(16) });
        room.send('done');
        for (const m of [alice, carol]) {
          await lineOf(m.page, 'done').waitFor();
          await lineOf(m.page, 'the meeting is at 3').waitFor();
          assert.equal(await lineOf(m.page, 'the meeting is at 3').getByTestId('edited').count(), 0);
          assert.equal(await m.page.getByTestId('deleted').count(), 0);
          assert.equal(await lineOf(m.page, 'the meeting is at 3').getByTestId('reaction').count(), 8, 'at most 8 of one member');
          await lineOf(m.page, 'an orphan reply').getByTestId('quote').getByText('Original message not available').waitFor();
        }

        // Typing: carol sees alice; alice turns it off and carol sees nothing more.
        await alice.page.getByTestId('composer').pressSequentially('typing');
        await carol.page.getByTestId('typing').getByText('alice is typing…').waitFor();
        await alice.page.getByTestId('composer').fill('');
        await carol.page.getByTestId('typing').getByText('alice is typing…').waitFor({ state: 'detached', timeout: 10_000 });
        await alice.page.getByRole('button', { name: 'Settings' }).click();
        await alice.page.getByTestId('send-typing').uncheck();
        await alice.page.getByTestId('settings').getByRole('button', { name: 'Done' }).click();
        await alice.page.getByTestId('composer').pressSequentially('quiet now');
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(await carol.page.getByTestId('typing').textContent(), '');

        // On a phone a long press opens a message's actions (there is no hover); a touch elsewhere closes them.
        const phone = carol.page;
        await phone.setViewportSize({ width: 390, height: 844 });
        await phone.mouse.move(0, 0);
        const done = lineOf(phone, 'done');
        assert.equal(await done.getByTestId('message-tools').isVisible(), false);
        await done.dispatchEvent('pointerdown', { pointerType: 'touch', isPrimary: true });
        await done.getByTestId('message-tools').waitFor({ state: 'visible' });
        await done.dispatchEvent('pointerup', { pointerType: 'touch', isPrimary: true });
        await done.getByTestId('action-react').click();
        await phone.getByTestId('emoji-search').fill('joy');
        await screenshot(phone, 'web-chat-phone-react');
        await phone.getByTestId('emoji-search').press('Enter');
        await lineOf(alice.page, 'done')
          .getByRole('button', { name: /carol reacted with 😂/ })
          .waitFor();
        await done.dispatchEvent('pointerdown', { pointerType: 'touch', isPrimary: true });
        await done.getByTestId('message-tools').waitFor({ state: 'visible' });
        await done.dispatchEvent('pointerup', { pointerType: 'touch', isPrimary: true });
        await phone.mouse.move(0, 0); // the test's clicks moved the mouse over the message: no hover on a phone
        await phone.locator('.room-bar').dispatchEvent('pointerdown', { pointerType: 'touch' });
        await done.getByTestId('message-tools').waitFor({ state: 'hidden' });
        // The keyboard: a message is one tab stop; its reactions, then its actions come next.
        await lineOf(alice.page, 'done').focus();
        const focused = () => alice.page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
        await alice.page.keyboard.press('Tab');
        assert.equal(await focused(), '😂 1: carol reacted with 😂');
        await alice.page.keyboard.press('Tab');
        assert.equal(await focused(), 'React with 👍');

        // A private chat has the same: carol answers alice's private line, reacts, and alice edits it.
        await phone.setViewportSize({ width: 1100, height: 700 });
        await alice.page.getByRole('button', { name: 'carol', exact: true }).click();
        await alice.page.getByTestId('open-private').click();
        await alice.page.getByRole('heading', { name: /Private chat with carol/ }).waitFor();
        await say(alice.page, 'just for you');
        await carol.page.getByTestId('private-tab').click();
        await lineOf(carol.page, 'just for you').hover();
        await lineOf(carol.page, 'just for you').getByTestId('action-reply').click();
        await say(carol.page, 'thanks');
        await lineOf(alice.page, 'thanks').getByTestId('quote').getByText('just for you').waitFor();
        await lineOf(carol.page, 'just for you').hover();
        await lineOf(carol.page, 'just for you').getByRole('button', { name: 'React with ❤️' }).click();
        await lineOf(alice.page, 'just for you')
          .getByRole('button', { name: /carol reacted with ❤️/ })
          .waitFor();
        assert.equal(await lineOf(carol.page, 'just for you').getByTestId('action-edit').count(), 0, 'not hers to edit');
        await lineOf(alice.page, 'just for you').hover();
        await lineOf(alice.page, 'just for you').getByTestId('action-edit').click();
        await alice.page.getByTestId('composer').fill('just for you, carol');
        await alice.page.getByTestId('composer').press('Enter');
        await lineOf(carol.page, 'just for you, carol').getByTestId('edited').waitFor();

        // The emoji picker finds by English name (in Chinese too: web-emoji.test.ts), and is driven by keyboard.
        await alice.page.getByTestId('composer').fill('');
        await alice.page.getByTestId('emoji-button').click();
        await alice.page.getByTestId('emoji-search').fill('dumpling');
        await alice.page.getByRole('option', { name: 'dumpling' }).waitFor(); // the data is loaded on first open
        assert.deepEqual(await alice.page.getByTestId('emoji-picker').locator('button.emoji').allTextContents(), ['🥟']);
        await alice.page.getByTestId('emoji-search').fill('thumbs');
        await alice.page.getByTestId('emoji-search').press('ArrowDown');
        await alice.page.keyboard.press('ArrowRight');
        await alice.page.keyboard.press('Enter');
        assert.equal(await alice.page.getByTestId('composer').inputValue(), '👎');
        await alice.page.getByTestId('emoji-button').click();
        await alice.page.getByTestId('emoji-search').fill('smile');
        await screenshot(alice.page, 'web-chat-emoji-search');
        await alice.page.keyboard.press('Escape');
        assert.equal(await alice.page.getByTestId('emoji-picker').count(), 0);
      } finally {
        await mallory.close();
      }
    }),
);
