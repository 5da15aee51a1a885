/**
 * The browser client in real Chromium (playwright-core driving Debian's /usr/bin/chromium), in the
 * same room as a real `nullroom chat` terminal client: the first steps of issue #3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { type Proc, run, serveProc } from './_spawn.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const artifacts = fileURLToPath(new URL('../../../../test-results/', import.meta.url));
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs it)`;
if (skip) process.stderr.write(`NOTICE: browser tests skipped: ${skip}\n`);

async function join(browser: Browser, url: string, nick: string, room: string, password: string): Promise<{ page: Page; dialogs: string[]; foreign: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await ctx.newPage();
  const dialogs: string[] = [];
  const foreign: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  await page.goto(url);
  await page.getByTestId('nick').fill(nick);
  await page.getByTestId('room').fill(room);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('join').click();
  await page.getByTestId('composer').waitFor({ timeout: 30_000 });
  return { page, dialogs, foreign };
}

/** Runs `fn` with a fresh `nullroom serve` (and the given flags) and a headless Chromium, then stops both. */
async function withRelayAndBrowser(serveArgs: string[], fn: (url: string, browser: Browser, relay: Proc) => Promise<void>): Promise<void> {
  const { proc: relay, url } = await serveProc(serveArgs);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    await fn(url, browser, relay);
  } finally {
    await browser.close();
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('composer').press('Enter');
}

test('two browsers and a terminal client share a room: messages both ways, members, notices, peer markup shown as text', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const password = 'browser room password 7';
    const alice = await join(browser, url, 'alice', 'webroom', password);
    await alice.page.getByText('You created a new room.').waitFor();
    const bob = await join(browser, url, 'bob', 'webroom', password);
    await bob.page.getByText('You joined 1 member.').waitFor();
    const term = run(['chat', url, '--room', 'webroom', '--nick', 'carol', '--json'], { NULLROOM_PASSWORD: password });
    const tj = await term.waitFor((e) => e['event'] === 'joined', 'terminal joined');
    assert.deepEqual([...(tj['members'] as string[])].sort(), ['alice', 'bob', 'carol']);
    await alice.page.getByText('carol joined').waitFor();
    assert.equal(await alice.page.getByTestId('member-count').textContent(), '3 members');

    await say(alice.page, 'hello from chromium');
    await bob.page.getByText('hello from chromium').waitFor();
    await term.waitFor((e) => e['event'] === 'message' && e['from'] === 'alice' && e['text'] === 'hello from chromium', 'terminal reads the browser');
    term.child.stdin.write('hello from the terminal\n');
    await alice.page.getByText('hello from the terminal').waitFor();
    await bob.page.getByText('hello from the terminal').waitFor();

    // Safety numbers: what the browser shows for carol equals what carol's terminal prints for alice.
    await alice.page.getByRole('button', { name: 'carol' }).click();
    const shown = (await alice.page.getByTestId('safety-number').textContent())?.trim();
    term.child.stdin.write('/verify alice\n');
    const v = await term.waitFor((e) => e['event'] === 'verify', 'terminal /verify');
    assert.match(shown ?? '', /^(\d{5} ){11}\d{5}$/);
    assert.equal(shown, v['safetyNumber']);

    const xss = '<img src=x onerror=alert(1)> <script>alert(2)</script> javascript:alert(3)';
    term.child.stdin.write(`${xss}\n`);
    await alice.page.getByText(xss).waitFor();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await alice.page.locator('[data-testid=messages] img, [data-testid=messages] script').count(), 0);
    for (const b of [alice, bob]) {
      assert.deepEqual(b.dialogs, []);
      assert.deepEqual(b.foreign, []);
    }
    mkdirSync(artifacts, { recursive: true });
    await alice.page.screenshot({ path: `${artifacts}web-chat-desktop.png` });

    term.child.stdin.end();
    assert.equal(await term.exited, 0);
    await alice.page.getByText('carol left').waitFor({ timeout: 10_000 });
    assert.equal(await alice.page.getByTestId('member-count').textContent(), '2 members');
  }));

test('browser: reconnects after the relay restarts and sends what was typed offline; a wrong password reads nothing', { skip }, async () => {
  const first = await serveProc();
  const port = new URL(first.url).port;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  let relay = first.proc;
  try {
    const alice = await join(browser, first.url, 'alice', 'restart-room', 'right password');
    const bob = await join(browser, first.url, 'bob', 'restart-room', 'right password');
    const eve = await join(browser, first.url, 'eve', 'restart-room', 'wrong password');
    await eve.page.getByText('You created a new room.').waitFor();
    relay.child.kill('SIGTERM');
    await relay.exited;
    await alice.page.getByTestId('connection').getByText('reconnecting').waitFor({ timeout: 10_000 });
    await say(alice.page, 'typed while the relay was down');
    relay = (await serveProc(['--port', port])).proc;
    await alice.page.getByTestId('connection').getByText('online').waitFor({ timeout: 20_000 });
    await bob.page.getByText('typed while the relay was down').waitFor({ timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await eve.page.getByText('typed while the relay was down').count(), 0);
    assert.equal(await eve.page.getByTestId('member-count').textContent(), '1 member');
  } finally {
    await browser.close();
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});

test('screenshots: join and chat screens, light and dark, desktop and phone width (saved under test-results/)', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    mkdirSync(artifacts, { recursive: true });
    for (const scheme of ['light', 'dark'] as const) {
      for (const [label, viewport] of [['desktop', { width: 1100, height: 700 }], ['phone', { width: 360, height: 740 }]] as const) {
        const ctx = await browser.newContext({ viewport, colorScheme: scheme });
        const page = await ctx.newPage();
        await page.goto(url);
        await page.getByTestId('nick').waitFor();
        await page.screenshot({ path: `${artifacts}join-${scheme}-${label}.png` });
        // A page that scrolls sideways at phone width is broken.
        assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `join screen overflows at ${label}`);
        await page.getByTestId('nick').fill(`shot-${scheme}-${label}`);
        await page.getByTestId('room').fill(`shots-${scheme}-${label}`);
        await page.getByTestId('password').fill('screenshot password');
        await page.getByTestId('join').click();
        await page.getByTestId('composer').waitFor({ timeout: 30_000 });
        for (const text of ['Good morning! Is the deploy still on for today?', 'A longer message, to see how wrapping looks when a line is far too long for a narrow phone screen: yes.']) {
          await say(page, text);
        }
        await page.getByText('yes.', { exact: false }).waitFor();
        await page.screenshot({ path: `${artifacts}chat-${scheme}-${label}.png` });
        assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `chat screen overflows at ${label}`);
        await ctx.close();
      }
    }
  }));

test('invite link: a random room secret in the URL fragment; the invitee gives only a nickname', { skip }, () =>
  withRelayAndBrowser(['-v'], async (url, browser, relay) => {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const host = await ctx.newPage();
    await host.goto(url);
    await host.getByTestId('nick').fill('host');
    await host.getByTestId('create-invite').click();
    await host.getByTestId('composer').waitFor({ timeout: 30_000 });
    const link = await host.getByTestId('invite-link').inputValue();
    assert.match(link, new RegExp(`^${url}/#k=[A-Za-z0-9_-]{43}$`));
    mkdirSync(artifacts, { recursive: true });
    await host.screenshot({ path: `${artifacts}web-invite-room.png` });

    const guest = await (await browser.newContext()).newPage();
    const requested: string[] = [];
    guest.on('request', (r) => requested.push(r.url()));
    await guest.goto(link);
    assert.equal(await guest.getByTestId('room').count(), 0, 'an invitee is asked only for a nickname');
    await guest.getByTestId('nick').fill('guest');
    await guest.getByTestId('join').click();
    await guest.getByTestId('composer').waitFor({ timeout: 30_000 });
    await host.getByText('guest joined').waitFor();
    await say(guest, 'hello via invite');
    await host.getByText('hello via invite').waitFor();
    // The secret lives only in the fragment: no request the browser made carries it.
    const secret = link.slice(link.indexOf('#k=') + 3);
    assert.ok(requested.length > 0 && requested.every((u) => !u.includes(secret) && !u.includes('#')));
    assert.ok(!relay.stderr.join('\n').includes(secret));
  }));
