/**
 * Files, images and private chats in the browser (issue #4), with a real terminal client in the
 * same room: a browser sends an image (its EXIF removed) and files to the terminal and receives a
 * file back (the saved bytes match; the progress bar moves); another browser sees the image's
 * preview at once and loads the full image on click; a private chat between browser and terminal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { join, say, screenshot, skip, withRelayAndBrowser } from './_browser.js';
import { run } from './_spawn.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('browser <-> terminal: images without EXIF, several files at once, a file back with progress, previews, private chat', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const password = 'files room password 5';
    const alice = await join(browser, url, 'alice', 'files room', password);
    const carol = await join(browser, url, 'carol', 'files room', password);
    const down = mkdtempSync(joinPath(tmpdir(), 'nullroom-term-'));
    const term = run(['chat', url, '--room', 'files room', '--nick', 'bob', '--json', '--download-dir', down], {
      NULLROOM_PASSWORD: password,
    });
    // A failed assertion must not leave the terminal client running (it would keep this test file alive).
    try {
      await term.waitFor((e) => e['event'] === 'joined', 'terminal joined');
      await alice.page.getByText('bob joined').waitFor();

      // A JPEG made by the browser, with an EXIF block carrying a "GPS" canary spliced in after SOI.
      const jpeg = Buffer.from(
        (await alice.page.evaluate(() => {
          const c = document.createElement('canvas');
          c.width = 640;
          c.height = 480;
          const g = c.getContext('2d')!;
          g.fillStyle = '#2457d6';
          g.fillRect(0, 0, 640, 480);
          g.fillStyle = '#ffb454';
          g.fillRect(100, 100, 300, 200);
          return c.toDataURL('image/jpeg', 0.9).split(',')[1]!;
        })) as string,
        'base64',
      );
      const exifBody = Buffer.concat([Buffer.from('Exif\0\0'), Buffer.from('MM\0*\0\0\0\x08'), Buffer.from('GPSCanary 48.8584N 2.2945E')]);
      const app1 = Buffer.concat([
        Buffer.from([0xff, 0xe1]),
        Buffer.from([(exifBody.length + 2) >> 8, (exifBody.length + 2) & 0xff]),
        exifBody,
      ]);
      const photo = Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
      const dir = mkdtempSync(joinPath(tmpdir(), 'nullroom-upload-'));
      writeFileSync(joinPath(dir, 'holiday.jpg'), photo);
      const notes = randomBytes(200 * 1024);
      writeFileSync(joinPath(dir, 'notes.bin'), notes);
      const big = randomBytes(24 * 1024 * 1024);
      writeFileSync(joinPath(dir, 'big.bin'), big);

      // Record, inside the page, every value the big file's progress bar takes (a busy page answers
      // the test's own queries slowly; an observer in the page misses nothing).
      await alice.page.evaluate(() => {
        const w = window as unknown as { __progress: number[] };
        w.__progress = [];
        new MutationObserver((records) => {
          for (const r of records) {
            const el = r.target as HTMLProgressElement;
            if (el.closest('[data-testid=file-card]')?.textContent?.includes('big.bin')) w.__progress.push(el.value);
          }
        }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['value'] });
      });
      // Several at once, through the file picker.
      await alice.page
        .getByTestId('file-input')
        .setInputFiles([joinPath(dir, 'holiday.jpg'), joinPath(dir, 'notes.bin'), joinPath(dir, 'big.bin')]);
      const got: Record<string, Record<string, unknown>> = {};
      for (const name of ['holiday.jpg', 'notes.bin', 'big.bin'])
        got[name] = await term.waitFor((e) => e['event'] === 'file' && e['name'] === name, `${name} reaches the terminal`, 60_000);
      assert.ok(readFileSync(String(got['notes.bin']!['path'])).equals(notes));
      assert.equal(got['big.bin']!['sha256'], sha(big));
      await alice.page
        .getByTestId('file-card')
        .filter({ hasText: 'big.bin' })
        .and(alice.page.locator('[data-state=done]'))
        .waitFor({ timeout: 60_000 });
      const moved = new Set(
        (await alice.page.evaluate(() => (window as unknown as { __progress: number[] }).__progress)).filter(
          (v) => v > 0 && v < big.byteLength,
        ),
      );
      assert.ok(moved.size >= 2, `the progress bar moved through ${moved.size} values on its way`);
      const received = readFileSync(String(got['holiday.jpg']!['path']));
      assert.deepEqual([...received.subarray(0, 2)], [0xff, 0xd8], 'still a JPEG');
      assert.ok(photo.includes('GPSCanary') && !received.includes('GPSCanary'), 'the EXIF block was removed before sending');

      // carol (another browser) sees the preview at once and loads the full image on click.
      const card = carol.page.getByTestId('file-card').filter({ hasText: 'holiday.jpg' });
      await card.getByTestId('thumbnail').waitFor();
      await card.getByTestId('thumbnail').click();
      await card.getByTestId('full-image').waitFor();
      assert.ok(await card.getByTestId('full-image').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 640));
      await screenshot(carol.page, 'web-image-received');

      // A file back from the terminal: download, progress, save; the saved bytes match.
      const back = randomBytes(6 * 1024 * 1024 + 3);
      writeFileSync(joinPath(dir, 'from terminal.bin'), back);
      term.child.stdin.write(`/send "${joinPath(dir, 'from terminal.bin')}"\n`);
      const offer = alice.page.getByTestId('file-card').filter({ hasText: 'from terminal.bin' });
      await offer.getByTestId('file-download').click();
      await offer.getByTestId('file-save').waitFor({ timeout: 60_000 });
      const [download] = await Promise.all([alice.page.waitForEvent('download'), offer.getByTestId('file-save').click()]);
      assert.equal(download.suggestedFilename(), 'from terminal.bin');
      assert.ok(readFileSync(await download.path()).equals(back));
      await screenshot(alice.page, 'web-files');

      // A private chat, browser to terminal; carol reads nothing of it.
      await alice.page.getByRole('button', { name: 'bob', exact: true }).click();
      await alice.page.getByTestId('open-private').click();
      await alice.page.getByRole('heading', { name: /Private chat with bob/ }).waitFor();
      await say(alice.page, 'just between us');
      const pm = await term.waitFor((e) => e['event'] === 'message' && e['private'] === true, 'terminal gets the private message');
      assert.equal(pm['with'], 'alice');
      term.child.stdin.write('/dm alice understood\n');
      await alice.page.getByText('understood').waitFor();
      // A file in the private chat reaches bob only.
      const privateFile = randomBytes(300 * 1024);
      writeFileSync(joinPath(dir, 'contract.pdf'), privateFile);
      await alice.page.getByTestId('file-input').setInputFiles([joinPath(dir, 'contract.pdf')]);
      const pf = await term.waitFor(
        (e) => e['event'] === 'file' && e['name'] === 'contract.pdf',
        'the private file reaches the terminal',
        60_000,
      );
      assert.equal(pf['private'], true);
      assert.ok(readFileSync(String(pf['path'])).equals(privateFile));
      await screenshot(alice.page, 'web-private-chat');
      assert.equal(await carol.page.getByText('contract.pdf').count(), 0, 'carol saw no private file');
      assert.equal(await carol.page.getByText('just between us').count(), 0);
      assert.equal(await carol.page.getByText('understood').count(), 0);
      for (const m of [alice, carol]) {
        assert.deepEqual(m.foreign, [], 'nothing fetched from anywhere but the relay');
        assert.ok(!m.console.join('\n').includes('just between us'));
      }
      term.child.stdin.end();
      assert.equal(await term.exited, 0);
    } finally {
      if (term.child.exitCode === null) term.child.kill('SIGKILL');
    }
  }),
);
