/**
 * The emoji picker (issue 13): every emoji of emojibase-data, grouped by category in Unicode's
 * order, found by English name and shortcode, and by Chinese name and keyword when the page is in
 * Chinese; skin tone variants are not listed; options are named in the page's language; the data
 * is loaded from the relay only when a picker first opens (never from elsewhere); keyboard and axe.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { assertAxeClean } from './_axe.js';
import { join, say, screenshot, skip, withRelayAndBrowser } from './_browser.js';

const options = (page: Page) => page.getByTestId('emoji-picker').getByRole('option');
const names = (page: Page) => options(page).evaluateAll((all) => all.map((o) => o.getAttribute('aria-label')));
const focusedName = (page: Page) => page.evaluate(() => document.activeElement?.getAttribute('aria-label'));

async function setLanguage(page: Page, lang: string, done: string, settings: string): Promise<void> {
  await page.getByRole('button', { name: settings }).click();
  await page.getByTestId('language').selectOption(lang);
  await page.getByTestId('settings').getByRole('button', { name: done }).click();
}

test(
  'emoji picker: emojibase data loaded on first open, grouped, searched by name and shortcode in English and by name and keyword in Chinese; keyboard; axe',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const alice = await join(browser, url, 'alice', 'emoji room', 'emoji room password', { bypassCSP: true });
      const page = alice.page;
      const requests: string[] = [];
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      const chunks = () => requests.filter((p) => /\/assets\/(compact|github)-/.test(p));
      assert.deepEqual(chunks(), [], 'no emoji data before the picker opens');

      // Open: every emoji, by group in emojibase's order, base emoji only (no skin tone variants).
      await page.getByTestId('emoji-button').click();
      const list = page.getByRole('listbox', { name: 'Emoji' });
      await list.getByRole('option', { name: 'grinning face', exact: true }).waitFor();
      const groups = await list.getByRole('group').evaluateAll((all) => all.map((g) => g.getAttribute('aria-labelledby')));
      const groupNames = await Promise.all(groups.map((id) => page.locator(`[id="${id}"]`).textContent()));
      assert.deepEqual(groupNames, [
        'Smileys & emotion',
        'People & body',
        'Animals & nature',
        'Food & drink',
        'Travel & places',
        'Activities',
        'Objects',
        'Symbols',
        'Flags',
      ]);
      const all = await options(page).allTextContents();
      assert.ok(all.length > 1800, `every emoji (${all.length})`);
      assert.equal(all[0], '😀');
      assert.ok(!all.some((e) => /[\u{1F3FB}-\u{1F3FF}]/u.test(e)), 'no skin tone variant');
      assert.ok(all.includes('👍') && all.includes('🇨🇳') && all.includes('🥟'));
      assert.equal(chunks().length, 2, 'the English names and the shortcodes, once');
      assert.deepEqual(alice.foreign, [], 'nothing from anywhere but the relay');
      await screenshot(page, 'web-emoji-groups');
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await assertAxeClean(page, `emoji picker, all groups (${scheme})`);
      }
      await page.emulateMedia({ colorScheme: 'light' });

      // The results are one tab stop; the arrow keys move by row as shown (8 columns here).
      await page.getByTestId('emoji-search').press('ArrowDown');
      assert.equal(await focusedName(page), 'grinning face');
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowDown');
      assert.equal(await focusedName(page), (await names(page))[9]);
      await page.keyboard.press('ArrowUp');
      await page.keyboard.press('ArrowUp');
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'emoji-search');

      // A button per group goes to its first emoji.
      await page.getByTestId('emoji-groups').getByRole('button', { name: 'Flags' }).click();
      assert.equal(await focusedName(page), 'chequered flag');
      await page.getByTestId('emoji-groups').getByRole('button', { name: 'Smileys & emotion' }).click();
      assert.equal(await focusedName(page), 'grinning face');

      // English: by a word of the name, the whole name, shortcodes with or without colons.
      await page.getByTestId('emoji-search').fill('thumbs');
      await page.getByRole('listbox', { name: 'Emoji found' }).waitFor();
      assert.deepEqual(await names(page), ['thumbs up', 'thumbs down']);
      for (const [query, first] of [
        ['+1', '👍'],
        [':joy:', '😂'],
        ['heart', '❤️'],
        ['tada', '🎉'],
        ['dumpling', '🥟'],
        ['\u{1F44D}\uFE0F', '👍'], // emojibase's spelling, with a needless U+FE0F
      ] as const) {
        await page.getByTestId('emoji-search').fill(query);
        await options(page).first().filter({ hasText: first }).waitFor();
      }
      await page.getByTestId('emoji-search').fill('饺子');
      await page.getByTestId('emoji-picker').getByText('No emoji found').waitFor();
      await page.getByTestId('emoji-search').fill('thumbs');
      await page.getByRole('option', { name: 'thumbs up' }).click();
      assert.equal(await page.getByTestId('composer').inputValue(), '👍');

      // The picker's 👍 is the quick reaction's 👍 (Unicode's fully-qualified form, not emojibase's
      // U+1F44D U+FE0F): picking it on a message that has ours takes ours back.
      await say(page, 'react to me');
      const line = page.getByTestId('message').filter({ hasText: 'react to me' });
      await line.hover();
      await line.getByRole('button', { name: 'React with 👍' }).click();
      await line.getByTestId('reaction').waitFor();
      await line.hover();
      await line.getByTestId('action-react').click();
      await page.getByTestId('emoji-search').fill('thumbs up');
      await page.getByTestId('emoji-search').press('Enter');
      await line.getByTestId('reaction').waitFor({ state: 'detached' });

      // Chinese: the names, groups and keywords in Chinese, loaded when the picker next opens.
      await setLanguage(page, 'zh-CN', '完成', 'Settings');
      await page.getByTestId('emoji-button').click();
      await page.getByRole('listbox', { name: '表情' }).getByRole('group', { name: '笑脸和情感' }).waitFor();
      assert.equal(chunks().length, 3, 'the Chinese names too, now');
      await page.getByTestId('emoji-search').fill('赞');
      await page.getByRole('listbox', { name: '找到的表情' }).waitFor();
      assert.equal((await names(page))[0], '拇指向上');
      await screenshot(page, 'web-emoji-search-zh');
      await assertAxeClean(page, 'emoji search, zh-CN');
      await page.getByTestId('emoji-search').fill('饺子');
      assert.deepEqual(await options(page).allTextContents(), ['🥟']);
      await page.getByTestId('emoji-search').fill('笑哭');
      await page.getByRole('option', { name: '笑哭了' }).click();
      assert.equal(await page.getByTestId('composer').inputValue(), '😂');
      // Shortcodes are ASCII: they find in Chinese as well.
      await page.getByTestId('emoji-button').click();
      await page.getByTestId('emoji-search').fill(':+1:');
      await page.getByTestId('emoji-search').press('Enter');
      assert.equal(await page.getByTestId('composer').inputValue(), '😂👍');
      await page.getByTestId('emoji-button').click();
      await page.getByTestId('emoji-search').press('Escape');
      assert.equal(await page.getByTestId('emoji-picker').count(), 0);
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'composer');
      assert.equal(chunks().length, 3, 'each language loaded once');
      assert.deepEqual(alice.foreign, []);
    }),
);
