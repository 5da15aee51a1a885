/**
 * A reload keeps what can still be fetched and what can still change (issue 13; docs/PROTOCOL.md
 * §4.5), two real browsers: a file offered before the reload downloads after it (the same bytes),
 * an image received before it says it must be fetched again and its full picture comes back on
 * click; the reaction on a message from before the reload is still there (and ours), a new one
 * reaches the sender, and the sender's edit of that message shows on both pages; the sender, reloaded
 * in turn, fetches its own file back from the relay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { Page } from 'playwright-core';
import { dump, join, say, screenshot, skip, withRelayAndBrowser } from './_browser.js';

const ROOM = 'kept files room';
const PASSWORD = 'kept files room password 3';

/** The timeline line (li) whose own text (not a quote in it) holds `text`. */
const lineOf = (page: Page, text: string) => page.getByTestId('message').filter({ has: page.locator('p.text', { hasText: text }) });
const card = (page: Page, name: string) => page.getByTestId('file-card').filter({ hasText: name });

async function react(page: Page, text: string, search: string): Promise<void> {
  await lineOf(page, text).hover();
  await lineOf(page, text).getByTestId('action-react').click();
  await page.getByTestId('emoji-search').fill(search);
  await page.getByTestId('emoji-search').press('Enter');
}

test(
  'after a reload: a file offered before it downloads (same bytes), an image received before it is fetched again, reactions and edits of earlier messages work',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const alice = await join(browser, url, 'alice', ROOM, PASSWORD);
      const bob = await join(browser, url, 'bob', ROOM, PASSWORD);
      await alice.page.getByText('bob joined').waitFor();

      const png = Buffer.from(
        (await alice.page.evaluate(() => {
          const c = document.createElement('canvas');
          c.width = 320;
          c.height = 200;
          const g = c.getContext('2d')!;
          g.fillStyle = '#2457d6';
          g.fillRect(0, 0, 320, 200);
          return c.toDataURL('image/png').split(',')[1]!;
        })) as string,
        'base64',
      );
      const data = randomBytes(300 * 1024 + 5);
      const dir = mkdtempSync(joinPath(tmpdir(), 'nullroom-upload-'));
      writeFileSync(joinPath(dir, 'kept.bin'), data);
      writeFileSync(joinPath(dir, 'picture.png'), png);
      await alice.page.getByTestId('file-input').setInputFiles([joinPath(dir, 'kept.bin'), joinPath(dir, 'picture.png')]);
      await card(alice.page, 'kept.bin').and(alice.page.locator('[data-state=done]')).waitFor({ timeout: 30_000 });
      await card(alice.page, 'picture.png').and(alice.page.locator('[data-state=done]')).waitFor({ timeout: 30_000 });
      await say(alice.page, 'said before the reload');
      await lineOf(bob.page, 'said before the reload').waitFor();
      await card(bob.page, 'kept.bin').getByTestId('file-download').waitFor();
      // bob loads the picture before the reload, and reacts to alice's message.
      await card(bob.page, 'picture.png').getByTestId('thumbnail').click();
      await card(bob.page, 'picture.png').getByTestId('full-image').waitFor({ timeout: 30_000 });
      await react(bob.page, 'said before the reload', 'thumbs');
      await lineOf(alice.page, 'said before the reload').getByTestId('reaction').filter({ hasText: '👍' }).waitFor();

      // What bob's page keeps is sealed: no file name, message or nickname in the clear.
      await bob.page.waitForTimeout(1000); // the history is written half a second after a change
      const stored = await dump(bob.page);
      for (const canary of ['kept.bin', 'picture.png', 'said before the reload', '"alice"', ROOM])
        assert.ok(!stored.includes(canary), `IndexedDB holds "${canary}" in the clear`);

      await bob.page.reload();
      await bob.page.getByText('Back after the reload').waitFor({ timeout: 30_000 });

      // The offer is offered again, and downloads: the same bytes.
      const offer = card(bob.page, 'kept.bin');
      await offer.getByTestId('file-download').click();
      await offer.getByTestId('file-save').waitFor({ timeout: 30_000 });
      const [download] = await Promise.all([bob.page.waitForEvent('download'), offer.getByTestId('file-save').click()]);
      assert.equal(download.suggestedFilename(), 'kept.bin');
      assert.ok(readFileSync(await download.path()).equals(data), 'the file fetched after the reload is the file sent');
      // The picture received before: its bytes were not kept; it says so, and its full image comes back on click.
      const picture = card(bob.page, 'picture.png');
      await picture.getByTestId('file-again').waitFor();
      await screenshot(bob.page, 'reload-files-again');
      await picture.getByTestId('thumbnail').click();
      await picture.getByTestId('full-image').waitFor({ timeout: 30_000 });
      assert.ok(await picture.getByTestId('full-image').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 320));
      assert.equal(await picture.getByTestId('file-again').count(), 0);

      // Bob's reaction is still his; a new one reaches alice; alice's edit of the earlier message shows on both pages.
      const mine = lineOf(bob.page, 'said before the reload').getByTestId('reaction').filter({ hasText: '👍' });
      assert.equal(await mine.getAttribute('aria-pressed'), 'true');
      await react(bob.page, 'said before the reload', 'heart');
      await lineOf(alice.page, 'said before the reload').getByTestId('reaction').filter({ hasText: '❤️' }).waitFor();
      await lineOf(alice.page, 'said before the reload').hover();
      await lineOf(alice.page, 'said before the reload').getByTestId('action-edit').click();
      await alice.page.getByTestId('composer').fill('edited after bob’s reload');
      await alice.page.getByTestId('composer').press('Enter');
      await lineOf(bob.page, 'edited after bob’s reload').getByTestId('edited').waitFor();
      await lineOf(alice.page, 'edited after bob’s reload').getByTestId('edited').waitFor();
      // Bob takes his earlier reaction back: it goes on alice's page too.
      await lineOf(bob.page, 'edited after bob’s reload').getByTestId('reaction').filter({ hasText: '👍' }).click();
      await lineOf(alice.page, 'edited after bob’s reload')
        .getByTestId('reaction')
        .filter({ hasText: '👍' })
        .waitFor({ state: 'detached' });

      // The sender reloads too: its own file is fetched from the relay again, the same bytes.
      await alice.page.waitForTimeout(1000); // the history is written half a second after a change
      await alice.page.reload();
      await alice.page.getByText('Back after the reload').waitFor({ timeout: 30_000 });
      const own = card(alice.page, 'kept.bin');
      await own.getByTestId('file-again').getByText('Sent before the reload', { exact: false }).waitFor();
      await own.getByTestId('file-download').click();
      await own.getByTestId('file-save').waitFor({ timeout: 30_000 });
      const [back] = await Promise.all([alice.page.waitForEvent('download'), own.getByTestId('file-save').click()]);
      assert.ok(readFileSync(await back.path()).equals(data), 'the sender fetched its own file back after its reload');
      await screenshot(alice.page, 'reload-files-own');
      assert.deepEqual(bob.dialogs, []);
      assert.deepEqual(alice.dialogs, []);
    }),
);
