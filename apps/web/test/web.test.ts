/**
 * The browser client in real Chromium (playwright-core driving Debian's /usr/bin/chromium), in the
 * same room as a real `nullroom chat` terminal client: the first steps of issue #3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitsWidth, join, launch, say, screenshot, skip, withRelayAndBrowser } from './_browser.js';
import { run, serveProc } from './_spawn.js';

test('two browsers and a terminal client share a room: messages both ways, members, notices, peer markup shown as text', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const password = 'browser room password 7';
    const alice = await join(browser, url, 'alice', 'webroom', password);
    await alice.page.getByText('Nobody is here yet: you started this room.').waitFor();
    const bob = await join(browser, url, 'bob', 'webroom', password);
    await bob.page.getByText('You joined. 1 other member is here.').waitFor();
    const term = run(['chat', url, '--room', 'webroom', '--nick', 'carol', '--json'], { NULLROOM_PASSWORD: password });
    const tj = await term.waitFor((e) => e['event'] === 'joined', 'terminal joined');
    assert.deepEqual([...(tj['members'] as string[])].sort(), ['alice', 'bob', 'carol']);
    await alice.page.getByText('carol joined').waitFor();
    assert.equal(await alice.page.getByTestId('member-count').textContent(), '3 members');

    await say(alice.page, 'hello from chromium');
    await bob.page.getByText('hello from chromium').waitFor();
    await term.waitFor(
      (e) => e['event'] === 'message' && e['from'] === 'alice' && e['text'] === 'hello from chromium',
      'terminal reads the browser',
    );
    term.child.stdin.write('hello from the terminal\n');
    await alice.page.getByText('hello from the terminal').waitFor();
    await bob.page.getByText('hello from the terminal').waitFor();

    // Safety numbers: what the browser shows for carol equals what carol's terminal prints for alice.
    await alice.page.getByTestId('members').getByRole('button', { name: 'carol' }).click();
    const shown = (await alice.page.getByTestId('safety-number').textContent())?.trim();
    term.child.stdin.write('/verify alice\n');
    const v = await term.waitFor((e) => e['event'] === 'verify', 'terminal /verify');
    assert.match(shown ?? '', /^(\d{5} ){11}\d{5}$/);
    assert.equal(shown, v['safetyNumber']);
    // The room fingerprint beside it: the browser and the terminal are in one history of the room.
    term.child.stdin.write('/fingerprint\n');
    const fp = await term.waitFor((e) => e['event'] === 'fingerprint', 'terminal /fingerprint');
    assert.equal((await alice.page.getByTestId('room-fingerprint').textContent())?.trim(), `epoch ${fp['epoch']} · ${fp['fingerprint']}`);

    const xss = '<img src=x onerror=alert(1)> <script>alert(2)</script> javascript:alert(3)';
    term.child.stdin.write(`${xss}\n`);
    await alice.page.getByText(xss).waitFor();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await alice.page.locator('[data-testid=messages] img, [data-testid=messages] script').count(), 0);
    for (const b of [alice, bob]) {
      assert.deepEqual(b.dialogs, []);
      assert.deepEqual(b.foreign, []);
    }
    await screenshot(alice.page, 'web-chat-desktop');

    term.child.stdin.end();
    assert.equal(await term.exited, 0);
    await alice.page.getByText('carol left').waitFor({ timeout: 10_000 });
    assert.equal(await alice.page.getByTestId('member-count').textContent(), '2 members');
  }),
);

test('browser: reconnects after the relay restarts and sends what was typed offline; a wrong password reads nothing', {
  skip,
}, async () => {
  const first = await serveProc();
  const port = new URL(first.url).port;
  const browser = await launch();
  let relay = first.proc;
  try {
    const alice = await join(browser, first.url, 'alice', 'restart-room', 'right password');
    const bob = await join(browser, first.url, 'bob', 'restart-room', 'right password');
    const eve = await join(browser, first.url, 'eve', 'restart-room', 'wrong password');
    await eve.page.getByText('Nobody is here yet: you started this room.').waitFor();
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

test(
  'screenshots: join screen, a busy chat, the emoji picker, the chat after a reload, the Leave dialog and a fixed theme, light and dark, English and Chinese, desktop and phone (saved under test-results/)',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const password = 'screenshot room password 42';
      // Two members keep the room busy; each screenshot member joins, reads and writes, then goes.
      const bob = await join(browser, url, 'bob', 'Weekend plans', password);
      const carol = await join(browser, url, 'carol', 'Weekend plans', password);
      let shots = 0;
      for (const lang of ['en', 'zh-CN'] as const) {
        for (const scheme of ['light', 'dark'] as const) {
          for (const [label, viewport] of [
            ['desktop', { width: 1100, height: 700 }],
            ['phone', { width: 360, height: 740 }],
          ] as const) {
            const ctx = await browser.newContext({ viewport, colorScheme: scheme, locale: lang });
            const page = await ctx.newPage();
            await page.goto(url);
            await page.getByTestId('nick').waitFor();
            assert.equal(
              await page.getByTestId('join').textContent(),
              lang === 'en' ? 'Join' : '加入',
              `the join screen follows the browser language (${lang})`,
            );
            await page.getByTestId('nick').fill(lang === 'en' ? 'alice' : '小明');
            await page.getByTestId('room').fill('Weekend plans');
            await page.getByTestId('password').fill(password);
            await page.getByTestId('strength').waitFor();
            const name = `${lang}-${scheme}-${label}`;
            await screenshot(page, `join-${name}`);
            assert.ok(await fitsWidth(page), `join screen overflows: ${name}`);
            await page.getByTestId('join').click();
            await page.getByTestId('composer').waitFor({ timeout: 30_000 });
            await say(bob.page, lang === 'en' ? 'Morning! Is the hike on for Saturday?' : '早上好！周六还去爬山吗？');
            await say(
              bob.page,
              lang === 'en' ? 'Forecast: https://weather.example/saturday' : '天气预报：https://weather.example/saturday',
            );
            await say(
              carol.page,
              lang === 'en'
                ? 'Yes 🎉 I will bring coffee ☕ and a far too long list of snacks that wraps on a phone.'
                : '去 🎉 我带咖啡 ☕，还有一长串零食清单，在手机上会自动换行。',
            );
            await page.getByText(lang === 'en' ? 'list of snacks' : '零食清单', { exact: false }).waitFor();
            await say(page, lang === 'en' ? 'Count me in. 8:00 at the station?' : '算我一个。八点车站见？');
            shots++;
            // carol has seen this line once per screenshot member so far: wait for this one.
            const heard = carol.page.getByText(lang === 'en' ? 'Count me in' : '算我一个', { exact: false });
            await heard.nth(lang === 'en' ? shots - 1 : shots - 5).waitFor();
            await screenshot(page, `chat-${name}`);
            assert.ok(await fitsWidth(page), `chat screen overflows: ${name}`);
            // The emoji picker, searched in the page's language.
            await page.getByTestId('emoji-button').click();
            await page.getByTestId('emoji-search').fill(lang === 'en' ? 'heart' : '心');
            await page.getByTestId('emoji-picker').getByRole('option').first().waitFor();
            await screenshot(page, `emoji-${name}`);
            assert.ok(await fitsWidth(page), `emoji picker overflows: ${name}`);
            await page.keyboard.press('Escape');
            await page.getByTestId('emoji-picker').waitFor({ state: 'detached' });
            // A reload comes back to the same chat, said calmly (issue 13).
            await page.reload();
            await page.getByText(lang === 'en' ? 'Back after the reload' : '页面已重新加载', { exact: false }).waitFor({ timeout: 30_000 });
            await screenshot(page, `reloaded-${name}`);
            assert.ok(await fitsWidth(page), `reloaded chat overflows: ${name}`);
            // Leave asks first; Escape keeps the room.
            await page.getByTestId('leave').click();
            await page.getByTestId('confirm').waitFor();
            await screenshot(page, `leave-${name}`);
            await page.keyboard.press('Escape');
            await page.getByTestId('confirm').waitFor({ state: 'detached' });
            // One of the fixed themes beside the system's light and dark.
            const theme = scheme === 'light' ? 'sepia' : 'midnight';
            await page.getByTestId('settings-button').click();
            await page.getByTestId('theme').selectOption(theme);
            await page.getByTestId('settings-button').click();
            await screenshot(page, `theme-${theme}-${name}`);
            assert.ok(await fitsWidth(page), `chat screen overflows: ${theme} ${name}`);
            if (label === 'phone') {
              await page.getByTestId('members-toggle').click();
              await page.getByTestId('members').waitFor();
              await screenshot(page, `members-${name}`);
            }
            await ctx.close();
          }
        }
      }
    }),
);

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
    await host.getByTestId('invite-qr-toggle').click();
    assert.equal(await host.getByTestId('invite-qr').count(), 1, 'the invite link as a QR code');
    await screenshot(host, 'web-invite-room');

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
    assert.ok(![...relay.lines, ...relay.stderr].join('\n').includes(secret));
  }),
);
