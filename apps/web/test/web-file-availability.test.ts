/**
 * Files that never hang in silence, and images from the terminal (issue 13), with a real relay, real
 * SDK members, browsers and a terminal client:
 * - a sender stuck mid-upload (an SDK member whose file stops after its first chunk): a browser that
 *   accepted says it waits for the sender; when the sender leaves, that browser, a browser that never
 *   clicked and the terminal (which fetches every offer) all say the file is no longer available;
 * - an image sent from the terminal shows its preview inline (made by the terminal), the full image
 *   once fetched, keeps the timeline at its newest line, and opens in a lightbox (Esc, close button);
 *   a file is saved with one click (Download);
 * - after a `kill -9` of the relay, an image not fetched before still loads (the relay keeps files
 *   with its rooms); after a restart without its stores, one says it is no longer available once
 *   the page is back online, instead of "0 B of …" for minutes after a click
 *   (packages/client/test/fileAvailability.test.ts: on accept).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { Page } from 'playwright-core';
import { type FileSource, NullroomClient, RoomFiles, deriveRoomSecret, fetchBlobTransport } from '@nullroom/client';
import { nodeWebSocket } from '@nullroom/client/node';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { assertAxeClean } from './_axe.js';
import { fitsWidth, join, launch, screenshot, skip, withRelayAndBrowser } from './_browser.js';
import { type Proc, run } from './_spawn.js';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

/** A source whose first chunk reads at once and whose later chunks never do: a sender stuck mid-upload. */
function stuckSource(name: string, size: number): FileSource {
  const bytes = randomBytes(size);
  return {
    name,
    size,
    mime: 'application/pdf',
    read: (offset, length) => (offset === 0 ? Promise.resolve(bytes.subarray(0, length)) : new Promise<Uint8Array>(() => undefined)),
  };
}

/** Screenshots of `page` at desktop and phone width, light and dark, and no sideways scroll at phone width. */
async function looks(page: Page, name: string): Promise<void> {
  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    await page.setViewportSize(viewport);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await screenshot(page, `${name}-${size}-${scheme}`);
    }
    if (size === 'phone') assert.ok(await fitsWidth(page), `${name}: no sideways scroll at phone width`);
  }
  await page.setViewportSize(DESKTOP);
  await page.emulateMedia({ colorScheme: 'light' });
}

const atNewest = (page: Page) => page.getByTestId('messages').evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 40);

test(
  'a sender stuck mid-upload: waiting for the sender, then no longer available in both browsers and the terminal once it leaves',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const room = 'availability room';
      const password = 'availability password 13';
      // bypassCSP only so that axe-core can be injected.
      const alice = await join(browser, url, 'alice', room, password, { viewport: DESKTOP, bypassCSP: true });
      const carol = await join(browser, url, 'carol', room, password, { viewport: PHONE, colorScheme: 'dark', locale: 'zh-CN' });
      const down = mkdtempSync(joinPath(tmpdir(), 'nullroom-term-'));
      const term = run(['chat', url, '--room', room, '--nick', 'bob', '--json', '--download-dir', down], { NULLROOM_PASSWORD: password });
      const client = new NullroomClient({ url, webSocket: nodeWebSocket() });
      try {
        await term.waitFor((e) => e['event'] === 'joined', 'terminal joined');
        await client.connect();
        const dave = await client.join({ secret: await deriveRoomSecret(room, password), nick: 'dave' });
        await alice.page.getByText('dave joined').waitFor();
        const files = new RoomFiles(dave, { blobs: fetchBlobTransport(url), chunkSize: 64 * 1024 });
        files.send(stuckSource('report.pdf', 310 * 1024 + 400));

        const card = (m: { page: Page }) => m.page.getByTestId('file-card').filter({ hasText: 'report.pdf' });
        await card(alice).getByTestId('file-download').click();
        const waiting = card(alice).locator('[data-testid=file-progress-text][data-waiting=sender]');
        await waiting.waitFor({ timeout: 15_000 });
        assert.match(await waiting.innerText(), /Waiting for the sender · 64\.0\sKiB of 310\.4\sKiB/);
        await card(carol).getByTestId('file-download').waitFor();
        await assertAxeClean(alice.page, 'a download waiting for its sender');
        await looks(alice.page, 'file-waiting');
        // At phone width the progress line breaks between its parts only.
        await alice.page.setViewportSize(PHONE);
        const lines = await waiting.evaluate((el) => Array.from(el.querySelectorAll('.nowrap'), (s) => s.getClientRects().length));
        assert.ok(
          lines.every((n) => n === 1),
          `no part of the progress line wraps inside itself (${lines})`,
        );
        await alice.page.setViewportSize(DESKTOP);

        await dave.leave();
        await client.close();
        for (const m of [alice, carol]) await card(m).and(m.page.locator('[data-state=unavailable]')).waitFor({ timeout: 15_000 });
        await card(carol).getByTestId('file-unavailable').getByText('文件已不可用').waitFor();
        assert.equal(await card(carol).getByTestId('file-download').count(), 0, 'nothing to click on a file that cannot arrive');
        const gone = await term.waitFor((e) => e['event'] === 'file-unavailable', 'the terminal says so', 15_000);
        assert.deepEqual([gone['name'], gone['from']], ['report.pdf', 'dave']);
        await assertAxeClean(alice.page, 'a file no longer available');
        await looks(alice.page, 'file-unavailable');
        await screenshot(carol.page, 'file-unavailable-offer-phone-dark');
        term.child.stdin.end();
        assert.equal(await term.exited, 0);
      } finally {
        await client.close().catch(() => undefined);
        if (term.child.exitCode === null) term.child.kill('SIGKILL');
        rmSync(down, { recursive: true, force: true });
      }
    }),
);

async function serveAt(data: string, port: string, flags: string[] = []): Promise<{ proc: Proc; url: string }> {
  const proc = run(['serve', '--port', port, '--data', data, ...flags]);
  const line = await proc.waitLine((l) => l.startsWith('nullroom listening on '), 'listening line');
  return { proc, url: line.slice('nullroom listening on '.length) };
}

function writeImages(dir: string): { png: string; jpg: string } {
  const p = new PNG({ width: 640, height: 480 });
  for (let y = 0; y < 480; y++) for (let x = 0; x < 640; x++) p.data.set([(x * 255) / 640, (y * 255) / 480, 160, 255], (y * 640 + x) * 4);
  const png = joinPath(dir, 'sunset.png');
  writeFileSync(png, PNG.sync.write(p));
  const raw = new Uint8Array(800 * 600 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) % 256));
  const jpg = joinPath(dir, 'harbour.jpg');
  writeFileSync(jpg, jpeg.encode({ data: raw, width: 800, height: 600 }, 85).data);
  return { png, jpg };
}

test('images from the terminal: preview inline, full image in a lightbox, newest line kept in view; an unfetched one survives kill -9 of the relay, and is no longer available, without a click, after a restart without stores', {
  skip,
}, async () => {
  const data = mkdtempSync(joinPath(tmpdir(), 'nullroom-restart-'));
  const dir = mkdtempSync(joinPath(tmpdir(), 'nullroom-images-'));
  const images = writeImages(dir);
  let relay = await serveAt(data, '0');
  const port = new URL(relay.url).port;
  const browser = await launch();
  const password = 'restart images password 13';
  const term = run(['chat', relay.url, '--room', 'images room', '--nick', 'bob', '--json'], { NULLROOM_PASSWORD: password });
  try {
    const alice = await join(browser, relay.url, 'alice', 'images room', password, { viewport: DESKTOP, bypassCSP: true });
    await term.waitFor(
      (e) =>
        (e['event'] === 'member-joined' && e['nick'] === 'alice') ||
        (e['event'] === 'joined' && Array.isArray(e['members']) && e['members'].includes('alice')),
      'bob sees alice',
    );
    // Enough lines that the timeline scrolls.
    for (let i = 0; i < 30; i++) term.child.stdin.write(`line ${i}\n`);
    await alice.page.getByText('line 29', { exact: true }).waitFor();

    term.child.stdin.write(`/send ${images.png}\n`);
    const card = (name: string) => alice.page.getByTestId('file-card').filter({ hasText: name });
    const thumb = card('sunset.png').getByTestId('thumbnail');
    await thumb.waitFor();
    assert.deepEqual(
      await thumb.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]),
      [320, 240],
      "the terminal's preview",
    );
    await term.waitFor((e) => e['event'] === 'file-sent' && e['name'] === 'sunset.png', 'sent');
    await thumb.click();
    const full = card('sunset.png').getByTestId('full-image');
    await full.waitFor();
    await alice.page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid=full-image]');
      return img !== null && img.complete && img.naturalWidth === 640;
    });
    assert.equal(await atNewest(alice.page), true, 'the newest line is still in view once the image loaded');

    // The lightbox: opens on click, Esc closes it and gives focus back; the close button closes it.
    const enlarge = card('sunset.png').getByTestId('enlarge');
    await enlarge.click();
    const box = alice.page.getByTestId('lightbox');
    await box.waitFor();
    assert.ok(await alice.page.getByTestId('lightbox-close').evaluate((b) => b === document.activeElement), 'focus on the close button');
    assert.equal(await box.locator('img').evaluate((img: HTMLImageElement) => img.naturalWidth), 640);
    await assertAxeClean(alice.page, 'the lightbox');
    await looks(alice.page, 'image-lightbox');
    await alice.page.keyboard.press('Escape');
    await box.waitFor({ state: 'detached' });
    assert.ok(await enlarge.evaluate((b) => b === document.activeElement), 'focus back on the image');
    await alice.page.keyboard.press('Enter');
    await box.waitFor();
    await alice.page.getByTestId('lightbox-close').click();
    await box.waitFor({ state: 'detached' });
    await looks(alice.page, 'image-inline');

    // One click from an offer to a saved file: Download fetches, verifies and saves.
    const notes = randomBytes(150 * 1024);
    writeFileSync(joinPath(dir, 'notes.bin'), notes);
    term.child.stdin.write(`/send ${joinPath(dir, 'notes.bin')}\n`);
    await term.waitFor((e) => e['event'] === 'file-sent' && e['name'] === 'notes.bin', 'sent');
    const [download] = await Promise.all([alice.page.waitForEvent('download'), card('notes.bin').getByTestId('file-download').click()]);
    assert.equal(download.suggestedFilename(), 'notes.bin');
    assert.ok(readFileSync(await download.path()).equals(notes), 'saved, the same bytes');
    await card('notes.bin').getByTestId('file-save').waitFor();

    // A second image, its preview shown but not fetched; the relay is killed and comes back from its
    // data directory: the file was kept with the room (blobKept.ts), and loads after the restart.
    const restart = async (...flags: string[]) => {
      relay.proc.child.kill('SIGKILL');
      await relay.proc.exited;
      await term.waitFor((e) => e['event'] === 'connection' && e['state'] === 'reconnecting', 'reconnecting');
      const mark = term.events.length;
      relay = await serveAt(data, port, flags);
      await term.waitFor(
        (e) => term.events.indexOf(e) >= mark && e['event'] === 'connection' && e['state'] === 'online',
        'online again',
        30_000,
      );
    };
    term.child.stdin.write(`/send ${images.jpg}\n`);
    await card('harbour.jpg').getByTestId('thumbnail').waitFor();
    await term.waitFor((e) => e['event'] === 'file-sent' && e['name'] === 'harbour.jpg', 'sent');
    await restart();
    await card('harbour.jpg').getByRole('button', { name: 'Load the full image' }).click();
    await card('harbour.jpg').getByTestId('full-image').waitFor({ timeout: 30_000 });

    // A third one, not fetched; the relay comes back without its stores (--no-room-store: files go
    // with the relay): back online, the page asks the relay about the offers nobody accepted, no click needed.
    const dunes = joinPath(dir, 'dunes.png');
    writeFileSync(dunes, readFileSync(images.png));
    term.child.stdin.write(`/send ${dunes}\n`);
    await card('dunes.png').getByTestId('thumbnail').waitFor();
    await term.waitFor((e) => e['event'] === 'file-sent' && e['name'] === 'dunes.png', 'sent');
    await restart('--no-room-store');
    await card('dunes.png').and(alice.page.locator('[data-state=unavailable]')).waitFor({ timeout: 30_000 });
    assert.ok(await card('dunes.png').getByRole('button', { name: 'Load the full image' }).isDisabled(), 'nothing to click');
    await card('dunes.png').getByText('No longer available').waitFor();
    await looks(alice.page, 'image-unavailable-after-restart');
    term.child.stdin.end();
    assert.equal(await term.exited, 0);
  } finally {
    if (term.child.exitCode === null) term.child.kill('SIGKILL');
    await browser.close();
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
    rmSync(data, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
