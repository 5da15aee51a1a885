/**
 * The web client's looks and everyday polish (issue 13): Leave asks first, the texts of a new and a
 * rejoined room, themes (each AA by axe-core, kept in prefs), icons that need no emoji font, times
 * in the app's language (grouped messages too), Chinese without italics, the safety number as one
 * 3×4 grid, the timeline that follows new messages, and avatars derived from identity keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { assertAxeClean } from './_axe.js';
import { join, say, screenshot, skip, withRelayAndBrowser, GONE_AT_ONCE } from './_browser.js';

const phone = { width: 360, height: 740 };
const desktop = { width: 1280, height: 800 };

/** Emoji and the symbols the buttons used before they had icons. */
const SYMBOLS = /\p{Extended_Pictographic}|[⚙✓⚠+]/u;

async function openMember(page: Page, nick: string): Promise<void> {
  await page.getByTestId('members').getByRole('button', { name: nick }).click();
  await page.getByTestId('member-panel').waitFor();
}

test(
  'Leave asks first in an accessible dialog (Escape or Stay keeps the room), is not the primary action, and is not offered from a private chat',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const password = 'looks room password 1';
      const alice = await join(browser, url, 'alice', 'looks room', password, { viewport: desktop, bypassCSP: true });
      await alice.page
        .getByText('Nobody is here yet: you started this room. If you expected people here, check the room name and password.')
        .waitFor();
      const li = await join(browser, url, 'li', 'looks room', password, {
        viewport: phone,
        locale: 'zh-CN',
        colorScheme: 'dark',
        bypassCSP: true,
      });
      await li.page.getByText('你加入了，房间里还有 1 位成员。').waitFor();
      await say(li.page, '你好');
      await alice.page.getByText('你好').waitFor();

      // Not the primary action: an outlined button in the error colour, not the filled accent.
      const leave = alice.page.getByTestId('leave');
      const look = await leave.evaluate((el) => ({ cls: el.className, bg: getComputedStyle(el).backgroundColor }));
      assert.match(look.cls, /\bsecondary\b/);
      assert.match(look.cls, /\bdanger\b/);
      assert.equal(look.bg, 'rgba(0, 0, 0, 0)');

      // A private chat on screen: Leave is not there (closing the chat is its own button).
      await alice.page.getByTestId('messages').getByRole('button', { name: 'About li' }).click();
      await alice.page.getByTestId('open-private').click();
      await alice.page.getByTestId('private-close').waitFor();
      assert.equal(await alice.page.getByTestId('leave').count(), 0);
      await alice.page.getByRole('button', { name: 'looks room' }).click();

      // Escape and Stay keep the room; the dialog is modal, named, described, and starts on Stay.
      for (const how of ['Escape', 'Stay'] as const) {
        await leave.click();
        const dialog = alice.page.getByRole('dialog', { name: 'Leave looks room?' });
        await dialog.waitFor();
        assert.equal(await alice.page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'confirm-cancel');
        if (how === 'Escape') {
          await assertAxeClean(alice.page, 'the Leave dialog');
          await screenshot(alice.page, 'looks-leave-confirm-en-light-desktop');
          await alice.page.keyboard.press('Escape');
        } else await dialog.getByRole('button', { name: 'Stay' }).click();
        await dialog.waitFor({ state: 'detached' });
        assert.equal(await alice.page.getByTestId('composer').count(), 1, `still in the room after ${how}`);
      }

      // In Chinese, at phone width, dark.
      await li.page.getByTestId('leave').click();
      const zh = li.page.getByRole('dialog', { name: '离开 looks room？' });
      await zh.waitFor();
      assert.ok(await zh.getByRole('button', { name: '留下' }).isVisible());
      await assertAxeClean(li.page, 'the Leave dialog, zh-CN, phone, dark');
      await screenshot(li.page, 'looks-leave-confirm-zh-CN-dark-phone');
      await li.page.keyboard.press('Escape');

      // Confirmed: alice is out (back on the join screen) and li is told.
      await leave.click();
      await alice.page.getByTestId('confirm-ok').click();
      await alice.page.getByTestId('nick').waitFor();
      await li.page.getByText('alice 离开了').waitFor();
    }),
);

test(
  'themes: at least seven, chosen in Settings, kept across a reload, each clean under axe-core (contrast included) on desktop and phone; buttons carry SVG icons, no emoji',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const password = 'looks room password 2';
      const bob = await join(browser, url, 'bob', 'theme room', password);
      for (const viewport of [desktop, phone]) {
        const alice = await join(browser, url, 'alice', 'theme room', password, { viewport, bypassCSP: true });
        await say(bob.page, `a line to read at ${viewport.width} px`);
        await say(alice.page, 'and a reply of my own');
        await alice.page.locator('.line.message.sent').last().waitFor();
        // The chrome's buttons: icons are inline SVG, never emoji or symbol characters.
        for (const id of ['settings-button', 'attach', 'emoji-button'])
          assert.equal(await alice.page.getByTestId(id).locator('svg').count(), 1);
        const texts = await alice.page.locator('button:not(.emoji)').allTextContents();
        assert.deepEqual(
          texts.filter((s) => SYMBOLS.test(s)),
          [],
        );

        if (viewport === phone) await alice.page.getByTestId('members-toggle').click();
        await openMember(alice.page, 'bob');
        await alice.page.getByTestId('settings-button').click();
        const options = await alice.page
          .getByTestId('theme')
          .locator('option')
          .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
        assert.ok(options.length >= 8, `system and at least seven themes: ${options.join(', ')}`);
        await alice.page.getByTestId('settings-button').click();
        for (const theme of options) {
          for (const scheme of theme === 'system' ? (['light', 'dark'] as const) : (['light'] as const)) {
            await alice.page.emulateMedia({ colorScheme: scheme });
            await alice.page.getByTestId('settings-button').click();
            await alice.page.getByTestId('theme').selectOption(theme);
            await alice.page.getByTestId('settings-button').click();
            assert.equal(await alice.page.evaluate(() => document.documentElement.dataset['theme'] ?? 'system'), theme);
            await assertAxeClean(alice.page, `theme ${theme} (${scheme}) at ${viewport.width} px`);
            if (viewport === desktop) await screenshot(alice.page, `looks-theme-${theme}-${scheme}-desktop`);
          }
        }
        // Kept in prefs: a reload comes back in the last theme chosen.
        await alice.page.reload();
        await alice.page.getByTestId('composer').waitFor({ timeout: 30_000 }); // back in the room
        assert.equal(await alice.page.evaluate(() => document.documentElement.dataset['theme']), options[options.length - 1]);
        await alice.page.context().close();
      }
    }),
);

test(
  'times in the app language (grouped messages too), Chinese notices without italics, text-wrap: pretty, the safety number as a 3×4 grid, panel buttons in view at 1280×800',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const password = 'looks room password 3';
      const bob = await join(browser, url, 'bob', 'time room', password);
      for (const [viewport, locale] of [
        [desktop, 'zh-CN'],
        [phone, 'en-US'],
      ] as const) {
        const m = await join(browser, url, 'li', 'time room', password, { viewport, locale, bypassCSP: true, colorScheme: 'dark' });
        await say(bob.page, 'first of two');
        await say(bob.page, 'second of two, grouped under the first');
        await m.page.getByText('second of two', { exact: false }).waitFor();
        const times = await m.page.locator('.line.message time').evaluateAll((ts) =>
          ts.map((el) => {
            const side = el.classList.contains('side');
            const parts = new Intl.DateTimeFormat(document.documentElement.lang, { hour: 'numeric', minute: '2-digit' }).formatToParts(
              new Date(el.getAttribute('datetime') ?? ''),
            );
            // Beside a grouped message, the time without its day period ("1:07"; its header says "1:07 AM").
            const want = parts
              .filter((p) => !side || p.type !== 'dayPeriod')
              .map((p) => p.value)
              .join('')
              .trim();
            return { shown: el.textContent, want, visible: el.getBoundingClientRect().width > 0, side };
          }),
        );
        assert.ok(
          times.some((x) => x.side),
          'the grouped message shows its time at the side',
        );
        for (const x of times) assert.deepEqual([x.shown, x.visible], [x.want, true]);
        const notice = await m.page
          .locator('.line.notice .notice')
          .first()
          .evaluate((el) => ({
            style: getComputedStyle(el).fontStyle,
            wrap: getComputedStyle(el).textWrapStyle,
          }));
        assert.deepEqual(notice, { style: locale === 'zh-CN' ? 'normal' : 'italic', wrap: 'pretty' });
        assert.equal(
          await m.page
            .locator('.line .text')
            .first()
            .evaluate((el) => getComputedStyle(el).textWrapStyle),
          'pretty',
        );

        if (viewport === phone) await m.page.getByTestId('members-toggle').click();
        await openMember(m.page, 'bob');
        const grid = await m.page.getByTestId('safety-number').evaluate((el) => {
          const boxes = Array.from(el.children).map((c) => c.getBoundingClientRect());
          return {
            groups: Array.from(el.children).map((c) => c.textContent?.trim()),
            rows: new Set(boxes.map((b) => Math.round(b.top))).size,
            cols: new Set(boxes.map((b) => Math.round(b.left))).size,
            font: getComputedStyle(el).fontFamily,
          };
        });
        assert.equal(grid.groups.length, 12);
        assert.ok(grid.groups.every((g) => /^\d{5}$/.test(g ?? '')));
        assert.deepEqual([grid.rows, grid.cols], [3, 4], `safety number grid at ${viewport.width} px`);
        assert.match(grid.font, /mono/);
        await screenshot(m.page, `looks-panel-${locale}-dark-${viewport.width}`);
        // No button of the panel is cut off: inside the panel, inside the window, its label not clipped.
        const cut = await m.page.getByTestId('member-panel').evaluate((panel) => {
          const p = panel.getBoundingClientRect();
          return Array.from(panel.querySelectorAll('button'))
            .filter((b) => {
              const r = b.getBoundingClientRect();
              return r.left < p.left - 1 || r.right > p.right + 1 || r.right > window.innerWidth || b.scrollWidth > b.clientWidth + 1;
            })
            .map((b) => b.textContent);
        });
        assert.deepEqual(cut, []);
        const aside = await m.page.locator('#members').evaluate((el) => [el.scrollWidth, el.clientWidth]);
        assert.ok(aside[0]! <= aside[1]!, `the member list does not scroll sideways: ${aside}`);
        await assertAxeClean(m.page, `member panel, ${locale}, ${viewport.width} px, dark`);
        await m.page.context().close();
      }
    }),
);

test('the timeline keeps the newest message in view, unless the user scrolled up: then a "new messages" button', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const password = 'looks room password 4';
    const alice = await join(browser, url, 'alice', 'scroll room', password, { viewport: desktop });
    const bob = await join(browser, url, 'bob', 'scroll room', password);
    const list = alice.page.getByTestId('messages');
    const lastInView = () =>
      list.evaluate((el) => {
        const last = el.lastElementChild?.getBoundingClientRect();
        const box = el.getBoundingClientRect();
        return last !== undefined && last.bottom <= box.bottom + 1 && last.top >= box.top - 1;
      });
    for (let i = 1; i <= 30; i++) await say(bob.page, `line ${i} of a long morning`);
    await alice.page.getByText('line 30 of a long morning').waitFor();
    assert.ok(await lastInView(), 'following new lines at the bottom');
    assert.equal(await alice.page.getByTestId('new-messages').count(), 0);

    await list.evaluate((el) => {
      el.scrollTop = 0;
      el.dispatchEvent(new Event('scroll'));
    });
    await say(bob.page, 'a line while alice reads back');
    await alice.page.getByTestId('new-messages').waitFor();
    assert.ok(!(await lastInView()), 'reading back: not pulled down');
    assert.equal(await list.evaluate((el) => el.scrollTop), 0);
    await screenshot(alice.page, 'looks-new-messages');
    await alice.page.getByTestId('new-messages').click();
    assert.ok(await lastInView());
    await alice.page.getByTestId('new-messages').waitFor({ state: 'detached' });
    // One's own message always brings the timeline down.
    await list.evaluate((el) => {
      el.scrollTop = 0;
      el.dispatchEvent(new Event('scroll'));
    });
    await say(alice.page, 'my own line');
    await alice.page.locator('.line.message', { hasText: 'my own line' }).waitFor();
    assert.ok(await lastInView());
  }),
);

test(
  'avatars come from identity keys: the same member looks the same to everyone, a new key under the same nickname looks different; clicking one opens the member',
  { skip },
  () =>
    withRelayAndBrowser(GONE_AT_ONCE, async (url, browser) => {
      const password = 'looks room password 5';
      const alice = await join(browser, url, 'alice', 'avatar room', password, { viewport: desktop });
      const carol = await join(browser, url, 'carol', 'avatar room', password);
      const bob1 = await join(browser, url, 'bob', 'avatar room', password);
      await say(bob1.page, 'bob from the first browser');
      await carol.page.getByText('bob from the first browser').waitFor();
      await alice.page.getByText('bob from the first browser').waitFor();
      const avatarOf = (page: Page, text: string) =>
        page.locator('.line.message', { hasText: text }).locator('[data-avatar]').getAttribute('data-avatar');
      const first = await avatarOf(alice.page, 'bob from the first browser');
      assert.ok(first !== null);
      assert.equal(await avatarOf(carol.page, 'bob from the first browser'), first, 'the same key, the same avatar for everyone');
      assert.equal(
        await alice.page.getByTestId('members').locator('li', { hasText: 'bob' }).locator('[data-avatar]').getAttribute('data-avatar'),
        first,
      );

      await bob1.page.context().close();
      await alice.page.getByText('bob left').waitFor({ timeout: 15_000 });
      const bob2 = await join(browser, url, 'bob', 'avatar room', password);
      await say(bob2.page, 'bob from a second browser');
      await alice.page.getByText('bob from a second browser').waitFor();
      const second = await avatarOf(alice.page, 'bob from a second browser');
      assert.ok(second !== null && second !== first, `another key under the same nickname: ${first} vs ${second}`);
      // The line of the bob who left can no longer be opened; the new bob's can, and his panel offers a private chat.
      assert.equal(
        await alice.page.locator('.line.message', { hasText: 'bob from the first browser' }).locator('button.avatar').count(),
        0,
      );
      await alice.page.locator('.line.message', { hasText: 'bob from a second browser' }).locator('button.avatar').click();
      await alice.page.getByTestId('member-panel').getByText('About bob').waitFor();
      assert.ok(await alice.page.getByTestId('open-private').isVisible());
      await screenshot(alice.page, 'looks-avatars');
    }),
);

test(
  'file progress: sizes, speed and time left never break inside a number (no-break spaces, tabular figures), at phone width',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const password = 'looks room password 6';
      const alice = await join(browser, url, 'alice', 'file room', password, { viewport: phone });
      const bob = await join(browser, url, 'bob', 'file room', password);
      // A slow uplink keeps the transfer (4 MiB chunks) on screen long enough to read its progress line.
      const cdp = await alice.page.context().newCDPSession(alice.page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 20,
        downloadThroughput: -1,
        uploadThroughput: 512 * 1024,
      });
      await alice.page
        .getByTestId('file-input')
        .setInputFiles([
          { name: 'a rather long file name for a phone.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(12 << 20, 7) },
        ]);
      await bob.page.getByTestId('file-download').click();
      const hint = alice.page.locator('.file-progress .hint');
      let seen = '';
      // Any line past the first chunk (with its speed and time left once the transfer has measured them).
      for (let i = 0; i < 80 && !/^[1-9]/.test(seen); i++) {
        await alice.page.waitForTimeout(500);
        seen = (await hint.allTextContents()).join('');
      }
      assert.match(seen, /^[1-9]/, `the progress line moved: ${seen}`);
      const line = { text: seen, numeric: await hint.evaluate((el) => getComputedStyle(el).fontVariantNumeric) };
      assert.doesNotMatch(line.text, /\d (B|[kKMG]i?B|s|sec|min)\b/, `a breakable space inside a number: ${line.text}`);
      assert.match(line.text, /\d\u00a0[kKMG]?i?B/);
      assert.equal(line.numeric, 'tabular-nums');
      await screenshot(alice.page, 'looks-file-progress-phone');
    }),
);
