/**
 * Messages across devices and clients (src/ui/Messages.tsx, src/ui/DevicePanes.tsx, docs/PROTOCOL.md
 * §11.8): a second browser (phone-sized, Chinese, dark) signing in to `user-a` shows a code and
 * waits; the first approves it from Devices; then a terminal account (`nullroom register`,
 * `contacts`, `send`, `inbox`) and the browser talk in one conversation, and both browser devices of
 * `user-a` get the terminal's message. Screenshots of the approval and the devices list; axe-clean.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAxeClean } from './_axe.js';
import { fitsWidth, open, screenshot, skip, withRelayAndBrowser } from './_browser.js';
import { signIn } from './_messages.js';
import { keyDir, type Proc, run } from './_spawn.js';

const ok = async (p: Proc, what: string) => assert.equal(await p.exited, 0, `${what}: ${p.stderr.join('\n')}`);

test('a second browser approved by the first, and a terminal in the same conversation', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const a = await open(browser, url);
    await signIn(a.page, 'register', 'user-a', 'pw-a horse battery staple');
    await a.page.getByTestId('contact-name').waitFor({ timeout: 30_000 });

    // The phone asks; it shows a code (and its QR) until the first browser approves it.
    const phone = await open(browser, url, { viewport: { width: 390, height: 844 }, locale: 'zh-CN', colorScheme: 'dark' });
    await signIn(phone.page, 'sign-in', 'user-a', 'pw-a horse battery staple');
    const code = (await phone.page.getByTestId('approval-code').textContent({ timeout: 30_000 }))?.trim() ?? '';
    assert.match(code, /^[0-9A-Z-]{12,16}$/);
    assert.ok(await fitsWidth(phone.page), 'the approval screen fits a phone');
    await assertAxeClean(phone.page, 'the approval screen, zh-CN, dark, phone');
    await screenshot(phone.page, 'messages-approval-zh-dark-phone');

    // A wrong code is refused in words; the right one approves.
    await a.page.getByTestId('devices-tab').click();
    await a.page.getByTestId('approve-code').fill('AAAA-BBBB-CCCC');
    await a.page.getByTestId('approve').click();
    await a.page.getByTestId('devices-error').waitFor();
    await a.page.getByTestId('approve-code').fill(code);
    await a.page.getByTestId('approve').click();
    await a.page.getByTestId('devices-notice').waitFor({ timeout: 20_000 });
    await phone.page.getByTestId('contact-name').waitFor({ timeout: 30_000 });
    assert.equal(await a.page.getByTestId('device-list').locator('li').count(), 2);
    await screenshot(a.page, 'messages-devices');
    await assertAxeClean(a.page, 'the devices pane');

    // A terminal account asks user-a; the browser accepts.
    const c = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw-c horse battery staple' };
    await ok(run(['register', url, '--user', 'user-c'], c), 'register c');
    await ok(run(['contacts', url, 'add', 'user-a'], c), 'c asks a');
    await a.page.getByTestId('contacts-tab').click();
    await a.page.getByTestId('incoming').getByText('user-c').waitFor({ timeout: 20_000 });
    await a.page.getByTestId('accept').click();
    await a.page.getByTestId('contact').getByText('user-c').waitFor();

    // The terminal writes; both browser devices of user-a get it; the browser answers; the terminal reads it.
    await ok(run(['send', url, 'user-a', '--text', 'from the terminal 你好'], c), 'c sends');
    for (const page of [a.page, phone.page]) {
      await page.getByTestId('conversation-tab').filter({ hasText: 'user-c' }).click({ timeout: 30_000 });
      await page.getByTestId('account-message').getByText('from the terminal 你好').waitFor({ timeout: 30_000 });
    }
    await screenshot(phone.page, 'messages-conversation-zh-dark-phone');
    assert.ok(await fitsWidth(phone.page), 'the conversation fits a phone');
    await a.page.getByTestId('account-composer').fill('from the browser');
    await a.page.getByTestId('account-composer').press('Enter');
    await a.page.getByTestId('account-message').filter({ hasText: 'from the browser' }).locator('[data-state="sent"]').waitFor();
    const inbox = run(['inbox', url, '--json'], c);
    await ok(inbox, 'c reads');
    assert.deepEqual(
      inbox.events.filter((e) => e.event === 'message').map((e) => [e.from, e.text]),
      [['user-a', 'from the browser']],
    );
    // The phone, user-a's other device, sees its own account's message too.
    await phone.page.getByTestId('account-message').getByText('from the browser').waitFor({ timeout: 20_000 });
    // user-c adds a second terminal, approved from the first while it talks: that one adds the new
    // device to the conversation, and user-a's browser says user-c's devices changed (the relay cannot hide it).
    const talk = run(['talk', url, 'user-a', '--json'], c);
    await talk.waitFor((e) => e.event === 'talking', 'c talks', 30_000);
    const c2 = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw-c horse battery staple' };
    const login = run(['login', url, '--user', 'user-c', '--json'], c2);
    const asked = await login.waitFor((e) => e.event === 'approval-code', 'the approval code', 30_000);
    await ok(run(['devices', url, 'approve', String(asked.code)], c), 'c approves its second terminal');
    await ok(login, 'c2 signs in');
    await a.page.locator('[data-testid="account-warnings"] [data-code="DEVICES_CHANGED"]').getByText('user-c').waitFor({ timeout: 40_000 });
    await a.page.getByTestId('verify').click();
    await a.page.getByTestId('safety-changed').waitFor();
    await screenshot(a.page, 'messages-devices-changed');
    talk.child.stdin.end();
    await talk.exited;

    // Removing a contact asks first; then they are gone from the list (the conversation stays).
    await a.page.getByTestId('contacts-tab').click();
    await a.page.getByRole('button', { name: 'Remove user-c from your contacts' }).click();
    await a.page.getByTestId('confirm-ok').click();
    await a.page.getByTestId('contacts').waitFor({ state: 'detached' });
    assert.equal(await a.page.getByTestId('conversation-tab').filter({ hasText: 'user-c' }).count(), 1);
    assert.deepEqual([...a.dialogs, ...phone.dialogs, ...a.foreign, ...phone.foreign], []);
  }),
);
