/**
 * The browser client's features beyond chatting (issue #3): several rooms with unread counts,
 * verification that survives a reload (IndexedDB) and a warning when a verified member's key
 * changes, emoji, settings (language, theme), the password strength hint, accessibility (axe-core),
 * and no plaintext on the console.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertAxeClean } from './_axe.js';
import { join, joinRoom, open, say, screenshot, skip, withRelayAndBrowser, GONE_AT_ONCE } from './_browser.js';

test(
  'several rooms: unread counts and title badge, switching; both rooms and verified survive a reload; a verified member with a new key raises a warning; emoji; no plaintext on the console',
  { skip },
  () =>
    withRelayAndBrowser(GONE_AT_ONCE, async (url, browser) => {
      const alice = await join(browser, url, 'alice', 'room one', 'first room password');
      const bob = await join(browser, url, 'bob', 'room one', 'first room password');
      await alice.page.getByText('bob joined').waitFor();

      // A second room on the same connection; room one keeps counting while it is off screen.
      await alice.page.getByTestId('add-room').click();
      await joinRoom(alice.page, 'alice', 'room two', 'second room password');
      await alice.page.getByText('Nobody is here yet: you started this room.').waitFor();
      await say(bob.page, 'SecretCanaryOne while you look elsewhere');
      await say(bob.page, 'SecretCanaryTwo still there?');
      await alice.page.getByTestId('unread').getByText('2').waitFor();
      assert.equal(await alice.page.title(), '(2) Nullroom');
      await alice.page.getByRole('button', { name: /room one/ }).click();
      await alice.page.getByText('SecretCanaryTwo still there?').waitFor();
      assert.equal(await alice.page.getByTestId('unread').count(), 0);
      assert.equal(await alice.page.title(), 'Nullroom');

      // Emoji from the palette go into the composer at the caret.
      await alice.page.getByTestId('composer').fill('see you ');
      await alice.page.getByTestId('emoji-button').click();
      await alice.page.getByTestId('emoji-picker').getByRole('option', { name: 'party popper' }).click();
      assert.equal(await alice.page.getByTestId('composer').inputValue(), 'see you 🎉');
      await alice.page.getByTestId('composer').press('Enter');
      await bob.page.getByText('see you 🎉').waitFor();

      // Verify bob; the mark is kept (IndexedDB) across a reload of alice's page.
      await alice.page.getByRole('button', { name: 'bob', exact: true }).click();
      const number = await alice.page.getByTestId('safety-number').textContent();
      assert.equal(await alice.page.getByTestId('safety-qr').count(), 1, 'the safety number as a QR code too');
      await alice.page.getByTestId('verify-toggle').click();
      await alice.page.getByTestId('members').getByRole('img', { name: 'verified' }).waitFor();
      await alice.page.reload(); // she is back in both rooms, as she was
      await alice.page.getByRole('button', { name: /room one/ }).click();
      await alice.page.getByTestId('members').getByRole('img', { name: 'verified' }).waitFor();
      await alice.page.getByRole('button', { name: /^bob/ }).click();
      assert.equal(
        await alice.page.getByTestId('safety-number').textContent(),
        number,
        'both identities are kept: the same safety number after a reload',
      );

      // Someone else takes the name "bob" (another browser: another identity key).
      await bob.page.context().close();
      await alice.page.getByText('bob left').waitFor({ timeout: 10_000 });
      const impostor = await join(browser, url, 'bob', 'room one', 'first room password');
      await alice.page.getByText('whom you had verified, changed', { exact: false }).waitFor();
      await alice.page.getByTestId('members').getByRole('img', { name: 'key changed' }).waitFor();
      assert.equal(
        await alice.page.getByTestId('members').getByRole('img', { name: 'verified' }).count(),
        0,
        'the verification is dropped',
      );
      // bob's panel is still open from before: it now carries the warning.
      await alice.page.getByTestId('key-changed').waitFor();
      assert.notEqual(await alice.page.getByTestId('safety-number').textContent(), number);
      await screenshot(alice.page, 'web-key-changed');

      // Production builds print no plaintext (nor anything else of ours) on the console.
      for (const m of [alice, impostor]) {
        const printed = m.console.join('\n');
        for (const secret of ['SecretCanary', 'first room password', 'room one', 'see you'])
          assert.ok(!printed.includes(secret), `the console shows "${secret}"`);
        assert.deepEqual(m.dialogs, []);
        assert.deepEqual(m.foreign, []);
      }
    }),
);

test('settings: language and theme switch at once and are remembered; the password hint grades weak and strong passwords', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const m = await open(browser, url, { locale: 'en-US', colorScheme: 'light' });
    const { page } = m;
    await page.getByTestId('password').fill('password1');
    await page.getByTestId('strength').waitFor();
    assert.equal(await page.getByTestId('strength').getAttribute('data-score'), '0');
    await page.getByTestId('password').fill('plinth cobalt marzipan oxbow');
    await page.locator('[data-testid=strength][data-score="4"]').waitFor();

    await page.getByTestId('settings-button').click();
    await page.getByTestId('language').selectOption('zh-CN');
    assert.equal(await page.getByTestId('join').textContent(), '加入');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    await page.getByTestId('theme').selectOption('dark');
    assert.equal(await page.evaluate(() => document.documentElement.dataset['theme']), 'dark');
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(20, 20, 24)');
    await screenshot(page, 'settings-zh-dark');
    await page.reload();
    assert.equal(await page.getByTestId('join').textContent(), '加入', 'the language choice is remembered');
    assert.equal(await page.evaluate(() => document.documentElement.dataset['theme']), 'dark', 'the theme choice is remembered');
    // Nothing secret is kept in localStorage: only these display preferences.
    assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), ['nullroom.prefs']);
  }),
);

test(
  'accessibility: axe-core finds no violations on the join screen, the chat, the member list and panel, the settings and the Leave dialog (desktop and phone, light and dark)',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      for (const [size, viewport] of [
        ['desktop', { width: 1100, height: 700 }],
        ['phone', { width: 360, height: 740 }],
      ] as const) {
        for (const scheme of ['light', 'dark'] as const) {
          const where = `${size}, ${scheme}`;
          // axe is injected through the DevTools protocol; the page's own CSP still forbids inline script.
          const a = await open(browser, url, { viewport, colorScheme: scheme, bypassCSP: true });
          await a.page.getByTestId('join').waitFor(); // the join screen itself, not the moment before it
          await assertAxeClean(a.page, `the join screen (${where})`);
          await joinRoom(a.page, 'alice', `a11y ${where}`, 'accessible password 9');
          const b = await join(browser, url, 'bob', `a11y ${where}`, 'accessible password 9');
          await say(b.page, 'hello https://example.org/page');
          await say(b.page, 'and a second line, grouped under it');
          await a.page.getByText('a second line', { exact: false }).waitFor();
          await assertAxeClean(a.page, `the chat (${where})`);
          if (size === 'phone') {
            await a.page.getByTestId('members-toggle').click();
            await assertAxeClean(a.page, `the member list (${where})`);
          }
          await a.page.getByTestId('members').getByRole('button', { name: 'bob', exact: true }).click();
          await a.page.getByTestId('member-panel').waitFor();
          await assertAxeClean(a.page, `the member panel (${where})`);
          await a.page.getByTestId('settings-button').click();
          await assertAxeClean(a.page, `the settings (${where})`);
          await a.page.getByTestId('settings-button').click();
          await a.page.getByTestId('leave').click();
          await a.page.getByTestId('confirm').waitFor();
          await assertAxeClean(a.page, `the Leave dialog (${where})`);
          await a.page.keyboard.press('Escape');
          // Keyboard: the composer is reachable and Enter sends.
          await a.page.getByTestId('composer').focus();
          await a.page.keyboard.type('typed with the keyboard');
          await a.page.keyboard.press('Enter');
          await b.page.getByText('typed with the keyboard').waitFor();
          await a.page.context().close();
          await b.page.context().close();
        }
      }
    }),
);

test('integrity: a lazily loaded module whose bytes changed on the server is refused (import-map integrity); the CSP allows only that import map inline', {
  skip,
}, async () => {
  const web = mkdtempSync(joinPath(tmpdir(), 'nullroom-web-'));
  cpSync(fileURLToPath(new URL('../dist/', import.meta.url)), web, { recursive: true });
  const chunk = readdirSync(joinPath(web, 'assets')).find((f) => f.startsWith('strength-') && f.endsWith('.js'));
  assert.ok(chunk !== undefined, 'the password-strength estimator is its own lazily loaded chunk');
  appendFileSync(joinPath(web, 'assets', chunk), '\n;globalThis.tampered = true;\n');
  await withRelayAndBrowser(['--web', web], async (url, browser) => {
    const res = await fetch(url);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'sha256-[A-Za-z0-9+/]{43}='; /);
    const m = await open(browser, url);
    await m.page.getByTestId('password').fill('password1');
    await m.page.waitForTimeout(1500);
    assert.equal(await m.page.getByTestId('strength').count(), 0, 'the altered estimator never ran');
    assert.equal(await m.page.evaluate(() => (globalThis as { tampered?: boolean }).tampered), undefined);
    assert.ok(
      m.console.some((l) => /integrity/i.test(l)),
      `the browser reports the integrity failure: ${m.console.join(' | ')}`,
    );
    // The rest of the app still works: joining does not need that chunk.
    await joinRoom(m.page, 'alice', 'integrity room', 'password1');
  });
});

test(
  'notifications (opt-in): a message while the tab is hidden raises one that names the room, never the sender or the text',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      await ctx.grantPermissions(['notifications'], { origin: url });
      // Headless pages are always visible: let the test hide this one, and record notifications.
      await ctx.addInitScript(() => {
        const w = window as unknown as { __hidden: boolean; __shown: { title: string; body: string }[] };
        w.__hidden = false;
        w.__shown = [];
        Object.defineProperty(document, 'hidden', { get: () => w.__hidden });
        Object.defineProperty(document, 'visibilityState', { get: () => (w.__hidden ? 'hidden' : 'visible') });
        const Real = window.Notification;
        class Recording extends Real {
          constructor(title: string, opts?: NotificationOptions) {
            super(title, opts);
            w.__shown.push({ title, body: opts?.body ?? '' });
          }
        }
        Object.defineProperty(window, 'Notification', { value: Recording });
      });
      const page = await ctx.newPage();
      await page.goto(url);
      await page.getByTestId('settings-button').click();
      await page.getByTestId('notifications').check();
      await page.getByTestId('settings-button').click();
      await joinRoom(page, 'alice', 'notify room', 'notification password');
      const bob = await join(browser, url, 'bob', 'notify room', 'notification password');
      await say(bob.page, 'seen while visible');
      await page.getByText('seen while visible').waitFor();
      await page.evaluate(() => {
        (window as unknown as { __hidden: boolean }).__hidden = true;
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await say(bob.page, 'NotifyCanary arrives while hidden');
      await page.waitForFunction(() => (window as unknown as { __shown: unknown[] }).__shown.length > 0);
      const shown = await page.evaluate(() => (window as unknown as { __shown: { title: string; body: string }[] }).__shown);
      assert.deepEqual(shown, [{ title: 'Nullroom', body: 'New message in notify room' }]);
      assert.equal(await page.title(), '(1) Nullroom');
      await page.evaluate(() => {
        (window as unknown as { __hidden: boolean }).__hidden = false;
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await page.waitForFunction(() => document.title === 'Nullroom');
    }),
);
