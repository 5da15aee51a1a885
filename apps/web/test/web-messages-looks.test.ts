/**
 * The screenshot matrix of Messages (src/ui/Messages.tsx and its panes): the contacts with an online
 * dot, a conversation with text, a photo and a reply from the other side, and the members panel, in
 * English and Chinese, light and dark, desktop and phone; each fits the width and is axe-clean.
 * Saved under test-results/ as messages-{contacts,conversation,members}-LANG-SCHEME-SIZE.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { assertAxeClean } from './_axe.js';
import { register } from './_messages.js';
import { fitsWidth, open, screenshot, skip, withRelayAndBrowser } from './_browser.js';

async function check(page: Page, name: string): Promise<void> {
  await screenshot(page, name);
  assert.ok(await fitsWidth(page), `${name} overflows`);
  await assertAxeClean(page, name);
}

test('screenshots of Messages: contacts, a conversation, its members; en and zh-CN, light and dark, desktop and phone', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const bob = await open(browser, url);
    await register(bob.page, 'bob');
    for (const lang of ['en', 'zh-CN'] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        for (const [size, viewport] of [
          ['desktop', { width: 1100, height: 700 }],
          ['phone', { width: 360, height: 740 }],
        ] as const) {
          const label = `${lang}-${scheme}-${size}`;
          const me = await open(browser, url, { viewport, colorScheme: scheme, locale: lang });
          const name = `${lang === 'en' ? 'alice' : '小明'}-${scheme}-${size}`;
          await register(me.page, name);
          await me.page.getByTestId('contact-name').fill('bob');
          await me.page.getByTestId('contact-add').click();
          await bob.page.getByTestId('contacts-tab').click();
          await bob.page.getByTestId('incoming').getByText(name).waitFor({ timeout: 20_000 });
          await bob.page.getByTestId('incoming').locator('li').filter({ hasText: name }).getByTestId('accept').click();
          await me.page.locator('[data-testid="contact"][data-online="yes"]').waitFor({ timeout: 20_000 });
          await check(me.page, `messages-contacts-${label}`);

          await me.page.getByTestId('message-contact').click();
          await me.page.getByTestId('account-composer').fill(lang === 'en' ? 'Are we still on for Saturday?' : '周六还照常吗？');
          await me.page.getByTestId('account-composer').press('Enter');
          await bob.page.getByTestId('contacts-tab').click();
          await bob.page.getByTestId('conversation-tab').filter({ hasText: name }).click({ timeout: 20_000 });
          await bob.page
            .getByTestId('account-composer')
            .fill(
              lang === 'en'
                ? 'Yes! 8:00 at the station, and a far too long line that wraps on a phone.'
                : '照常！八点车站见，这是一行在手机上会自动换行的很长的消息。',
            );
          await bob.page.getByTestId('account-composer').press('Enter');
          await me.page.getByTestId('account-message').nth(1).waitFor({ timeout: 20_000 });
          await me.page.getByTestId('account-message').first().getByTestId('delivered').waitFor({ timeout: 20_000 });
          await check(me.page, `messages-conversation-${label}`);

          await me.page.getByTestId('group-open').click();
          await me.page.getByTestId('group-members').waitFor();
          await check(me.page, `messages-members-${label}`);
          await me.page.context().close();
        }
      }
    }
  }),
);
