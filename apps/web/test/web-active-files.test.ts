/**
 * Received files are never active content (issue #11, point 9). A member sends an HTML page, an
 * SVG with a script, an HTML page labelled image/png, a real PNG and a PNG with an HTML page
 * appended; another member receives them and opens each one every way a user can: Save, and every
 * URL the app hands out (on the card, or made for a download) opened in a new tab, from the page
 * ("Open in new tab": the app is the opener) and as an address pasted into a new tab (no opener,
 * and then Chromium gives a blob: document none of the app's CSP). On main before this fix, the
 * pasted HTML and SVG ran their script in the app's origin and listed its IndexedDB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import { join, screenshot, skip, withRelayAndBrowser } from './_browser.js';

/** What every hostile file tries: mark the app's localStorage, list its IndexedDB, retitle the opener. */
const PAYLOAD =
  "localStorage.setItem('pwned', location.href);" +
  "indexedDB.databases().then((d) => localStorage.setItem('pwned-idb', JSON.stringify(d)));" +
  "try { opener.document.title = 'PWNED' } catch {}";
const HTML = `<!doctype html><title>hi</title><script>${PAYLOAD}</script>`;
const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>${PAYLOAD}</script><rect width="10" height="10"/></svg>`;

/** The markers a hostile file's script set in the app's origin (and clears them for the next try). */
function markers(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const set = ['pwned', 'pwned-idb'].filter((k) => localStorage.getItem(k) !== null).map((k) => `${k}=${localStorage.getItem(k)}`);
    if (document.title !== 'Nullroom') set.push(`opener title=${document.title}`);
    localStorage.removeItem('pwned');
    localStorage.removeItem('pwned-idb');
    return set;
  });
}

/** Records every object URL the page creates (a download's URL never appears in the DOM). */
function recordObjectUrls(page: Page): Promise<void> {
  return page.evaluate(() => {
    const w = window as unknown as { __urls: string[] };
    w.__urls = [];
    const create = URL.createObjectURL.bind(URL);
    URL.createObjectURL = (o: Blob | MediaSource) => {
      const u = create(o);
      w.__urls.push(u);
      return u;
    };
  });
}
const takeObjectUrls = (page: Page): Promise<string[]> => page.evaluate(() => (window as unknown as { __urls: string[] }).__urls.splice(0));

/** Every path in the page's origin private file system ("dir/" for folders). */
function opfs(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    type Dir = { entries(): AsyncIterable<[string, { kind: string }]> };
    const out: string[] = [];
    const walk = async (dir: Dir, prefix: string): Promise<void> => {
      try {
        for await (const [name, h] of dir.entries()) {
          out.push(h.kind === 'directory' ? `${prefix}${name}/` : `${prefix}${name}`);
          if (h.kind === 'directory') await walk(h as unknown as Dir, `${prefix}${name}/`);
        }
      } catch (e) {
        // A folder the app removed while we listed it (a gone page's received files): it is not there.
        if (!(e instanceof DOMException && e.name === 'NotFoundError')) throw e;
      }
    };
    await walk((await navigator.storage.getDirectory()) as unknown as Dir, '');
    return out.sort();
  });
}

/** The blob: URLs a card exposes: links and images. */
const cardUrls = async (card: Locator): Promise<string[]> =>
  [
    ...(await card.locator('a[href]').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href))),
    ...(await card.locator('img[src]').evaluateAll((is) => is.map((i) => (i as HTMLImageElement).src))),
  ].filter((u) => u.startsWith('blob:'));

/**
 * Opens `u` in a new tab from the page and as a pasted address. Returns what ran in the app's
 * origin, and what the pasted tab showed (its document's type, or "download").
 */
async function openInTabs(page: Page, u: string, name: string): Promise<{ ran: string[]; shown: string }> {
  const ran: string[] = [];
  // window.open from a real click (a user gesture, so no popup blocker), the app as its opener.
  await page.evaluate((href) => {
    const b = document.body.appendChild(document.createElement('button'));
    b.id = 'open-test';
    b.textContent = 'open';
    b.onclick = () => (window.open(href, '_blank'), b.remove());
  }, u);
  const popup = page.context().waitForEvent('page', { timeout: 5_000 });
  await page.locator('#open-test').click();
  const opened = await popup;
  // A tab that only downloads closes itself.
  await opened.waitForLoadState().catch(() => undefined);
  await page.waitForTimeout(400);
  await opened.close().catch(() => undefined);
  for (const m of await markers(page)) ran.push(`${name} opened from the page: ${m}`);
  const tab = await page.context().newPage();
  // A download "fails" the navigation: that is the safe outcome.
  const shown = await tab.goto(u).then(
    () => tab.evaluate(() => document.contentType),
    () => 'download',
  );
  await page.waitForTimeout(400);
  await tab.close().catch(() => undefined);
  for (const m of await markers(page)) ran.push(`${name} pasted into a tab: ${m}`);
  return { ran, shown };
}

test(
  'received HTML, SVG and PNG-labelled HTML run no script in the app, however opened; real PNGs still preview, as images',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const password = 'active files room 11';
      // alice keeps photo metadata, so the polyglot below is sent as it is (re-encoding would drop its tail).
      const keepMetadata = {
        origin: new URL(url).origin,
        localStorage: [{ name: 'nullroom.prefs', value: JSON.stringify({ stripMetadata: false }) }],
      };
      const alice = await join(browser, url, 'alice', 'active files', password, { storageState: { cookies: [], origins: [keepMetadata] } });
      const bob = await join(browser, url, 'bob', 'active files', password);
      await alice.page.getByText('bob joined').waitFor();
      const png = Buffer.from(
        await alice.page.evaluate(() => {
          const c = document.createElement('canvas');
          c.width = 64;
          c.height = 48;
          const g = c.getContext('2d')!;
          g.fillStyle = '#2457d6';
          g.fillRect(0, 0, 64, 48);
          return c.toDataURL('image/png').split(',')[1]!;
        }),
        'base64',
      );
      await alice.page.getByTestId('file-input').setInputFiles([
        { name: 'invoice.html', mimeType: 'text/html', buffer: Buffer.from(HTML) },
        { name: 'logo.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(SVG) },
        { name: 'cat.png', mimeType: 'image/png', buffer: Buffer.from(HTML) },
        { name: 'real.png', mimeType: 'image/png', buffer: png },
      ]);

      const hostile = ['invoice.html', 'logo.svg', 'cat.png'];
      for (const name of [...hostile, 'real.png']) {
        const card = bob.page.getByTestId('file-card').filter({ hasText: name });
        await card.waitFor({ timeout: 30_000 });
        const thumb = card.getByTestId('thumbnail');
        await ((await thumb.count()) > 0 ? thumb : card.getByTestId('file-download')).click();
        await card.and(bob.page.locator('[data-state=done]')).waitFor({ timeout: 30_000 });
      }
      await recordObjectUrls(bob.page);

      const ran: string[] = [];
      for (const name of hostile) {
        const card = bob.page.getByTestId('file-card').filter({ hasText: name });
        assert.equal(await card.locator('img').count(), 0, `${name}: no preview`);
        assert.deepEqual(await cardUrls(card), [], `${name}: the card exposes no URL to open`);
        // Saved as a download, under its name, through a URL that only ever downloads.
        const [download] = await Promise.all([bob.page.waitForEvent('download'), card.getByTestId('file-save').click()]);
        assert.equal(download.suggestedFilename(), name);
        const made = await takeObjectUrls(bob.page);
        assert.equal(made.length, 1, `${name}: one URL for the download`);
        const opened = await openInTabs(bob.page, made[0]!, name);
        ran.push(...opened.ran);
        assert.equal(opened.shown, 'download', `${name}: its download URL, opened in a tab, only downloads`);
      }
      assert.equal(
        await bob.page.getByTestId('file-card').filter({ hasText: 'cat.png' }).getByTestId('not-image').count(),
        1,
        'cat.png says why it is not shown',
      );

      // The real PNG previews; its preview opened in a tab is an image document, never one with script.
      const real = bob.page.getByTestId('file-card').filter({ hasText: 'real.png' });
      await real.getByTestId('full-image').waitFor();
      assert.ok(await real.getByTestId('full-image').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 64));
      const previews = await cardUrls(real);
      assert.equal(previews.length, 1, 'the preview is the only URL on the card');
      const opened = await openInTabs(bob.page, previews[0]!, 'real.png');
      ran.push(...opened.ran);
      assert.equal(opened.shown, 'image/png');
      const [download] = await Promise.all([bob.page.waitForEvent('download'), real.getByTestId('file-save').click()]);
      assert.equal(download.suggestedFilename(), 'real.png');

      // A real PNG with an HTML page after its end: shown as the PNG it is, and only as that.
      await alice.page
        .getByTestId('file-input')
        .setInputFiles([{ name: 'polyglot.png', mimeType: 'image/png', buffer: Buffer.concat([png, Buffer.from(HTML)]) }]);
      const poly = bob.page.getByTestId('file-card').filter({ hasText: 'polyglot.png' });
      await poly.getByTestId('thumbnail').click();
      await poly.getByTestId('full-image').waitFor({ timeout: 30_000 });
      const polyOpened = await openInTabs(bob.page, (await cardUrls(poly))[0]!, 'polyglot.png');
      ran.push(...polyOpened.ran);
      assert.equal(polyOpened.shown, 'image/png');

      // A name that reads backwards ("photo" RLO "gpj.html" shows as "photolmth.jpg"): shown and saved as it is.
      await alice.page
        .getByTestId('file-input')
        .setInputFiles([{ name: 'photo\u202egpj.html', mimeType: 'text/html', buffer: Buffer.from(HTML) }]);
      const rlo = bob.page.getByTestId('file-card').filter({ hasText: 'photo_gpj.html' });
      await rlo.getByTestId('file-download').click();
      const [renamed] = await Promise.all([bob.page.waitForEvent('download'), rlo.getByTestId('file-save').click({ timeout: 30_000 })]);
      assert.equal(renamed.suggestedFilename(), 'photo_gpj.html');
      assert.ok(!(await bob.page.locator('#app').innerText()).includes('\u202e'), 'no bidirectional override on screen');
      await takeObjectUrls(bob.page);

      // The sender's own card follows the same rules: its SVG and HTML are not shown nor openable.
      for (const name of ['invoice.html', 'logo.svg', 'cat.png']) {
        const card = alice.page.getByTestId('file-card').filter({ hasText: name });
        assert.equal(await card.locator('img').count(), 0, `sender's ${name}: no preview`);
        assert.deepEqual(await cardUrls(card), []);
      }

      // How the cards read, in English and in Chinese (test-results/).
      const cards = bob.page.getByTestId('file-card').filter({ hasText: /cat\.png|invoice\.html|real\.png/ });
      await cards.first().scrollIntoViewIfNeeded();
      await screenshot(bob.page, 'web-active-files-en');
      await bob.page.getByTestId('settings-button').click();
      await bob.page.getByTestId('language').selectOption('zh-CN');
      await bob.page.keyboard.press('Escape');
      await screenshot(bob.page, 'web-active-files-zh');

      // Received files are plaintext on disk (the private file system), in one folder per page; they
      // go when the room is left, and a page that is gone leaves nothing behind for longer than the
      // next visit, while a page still open keeps its own.
      const before = await opfs(bob.page);
      const folder = before.find((p) => /^received\/[0-9a-f]{16}\/$/.test(p))!;
      assert.equal(
        before.filter((p) => p.startsWith(folder) && p.endsWith('.part')).length,
        6,
        `six received files in ${folder}: ${before.join(' ')}`,
      );
      await bob.page.getByTestId('leave').click();
      await bob.page.getByTestId('confirm-ok').click();
      await bob.page.getByTestId('join').waitFor();
      for (let i = 0; i < 50 && (await opfs(bob.page)).some((p) => p.endsWith('.part')); i++) await bob.page.waitForTimeout(100);
      assert.deepEqual(await opfs(bob.page), ['received/', folder], 'leaving the room deleted its files');
      await bob.page.evaluate(async () => {
        const root = await navigator.storage.getDirectory();
        const stale = await (await root.getDirectoryHandle('received')).getDirectoryHandle('00000000deadbeef', { create: true });
        await (await (await stale.getFileHandle('left.part', { create: true })).createWritable()).close();
        await (await (await root.getDirectoryHandle('incoming', { create: true })).getFileHandle('old.part', { create: true }))
          .createWritable()
          .then((w) => w.close());
      });
      const second = await bob.page.context().newPage();
      await second.goto(url);
      await second.locator('#app > *').first().waitFor();
      // Settled once the stale folders are gone and the new page has its own: the count alone can
      // read 3 while the stale folder is still there and the new page's not yet made.
      const settled = (paths: string[]) => paths.length === 3 && !paths.some((p) => p.includes('deadbeef') || p.startsWith('incoming'));
      let after: string[] = [];
      for (let i = 0; i < 200 && !settled((after = await opfs(second))); i++) await second.waitForTimeout(100);
      assert.ok(
        !after.some((p) => p.includes('deadbeef') || p.startsWith('incoming')),
        `a gone page's files are deleted: ${after.join(' ')}`,
      );
      assert.ok(after.includes(folder), 'the open page keeps its folder');
      assert.equal(after.length, 3, `received/, the open page's folder and the new page's: ${after.join(' ')}`);
      await second.close();

      assert.deepEqual(ran, [], 'no received file ran script in the app');
      assert.deepEqual(bob.dialogs, []);
      for (const m of [alice, bob]) assert.deepEqual(await markers(m.page), []);
    }),
);
