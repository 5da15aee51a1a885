/**
 * Accounts in the web app (src/ui/AccountPanel.tsx, docs/PROTOCOL.md §11) in headless Chromium
 * against `nullroom serve`: create an account, the session cookie invisible to the page and kept
 * across a reload, refusals in words (a taken name, a wrong password), change the password, sign
 * out everywhere, delete; the panel in Chinese and dark, axe-clean; and OPAQUE's WebAssembly not in
 * the first load (it comes with the panel). The password is in no request the page sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { assertAxeClean } from './_axe.js';
import { open, screenshot, skip, withRelayAndBrowser } from './_browser.js';

const PASSWORD = 'canary-web-pw 4e1b horse';

async function openPanel(page: Page): Promise<void> {
  await page.getByTestId('account-button').click();
  await page.getByTestId('account').waitFor();
}

async function submit(page: Page, mode: 'register' | 'sign-in', name: string, password: string): Promise<void> {
  await page.getByTestId(`mode-${mode}`).click();
  await page.getByTestId('account-username').fill(name);
  await page.getByTestId('account-password').fill(password);
  await page.getByTestId('account-submit').click();
}

test('an account in the browser: create, reload, refusals, change password, sign out everywhere, delete', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const a = await open(browser, url);
    const bodies: string[] = [];
    a.page.on('request', (r) => bodies.push(`${r.url()} ${r.postData() ?? ''} ${JSON.stringify(r.headers())}`));
    const scripts: string[] = [];
    a.page.on('response', (r) => {
      if (r.url().endsWith('.js')) scripts.push(r.url());
    });
    const firstLoad = scripts.length;
    await openPanel(a.page);
    assert.ok(scripts.length > firstLoad, 'the panel (and OPAQUE) is loaded when it is opened');
    await submit(a.page, 'register', 'Alice', PASSWORD);
    await a.page.getByTestId('account-name').getByText('Signed in as alice').waitFor({ timeout: 20_000 });
    assert.equal(await a.page.evaluate(() => document.cookie), '', 'the session cookie is HttpOnly');
    const cookies = await a.page.context().cookies();
    assert.deepEqual(
      cookies.map((c) => [c.name, c.httpOnly, c.secure, c.sameSite]),
      [['__Host-nullroom-session', true, true, 'Strict']],
    );
    await screenshot(a.page, 'account-signed-in');

    // A reload keeps the session (the cookie), and the panel says who is signed in.
    await a.page.reload();
    await a.page.locator('#app > *').first().waitFor();
    await openPanel(a.page);
    await a.page.getByText('Signed in as alice').waitFor();

    // Another browser: the name is taken; a wrong password is refused in words.
    const b = await open(browser, url, { locale: 'zh-CN', colorScheme: 'dark' });
    await openPanel(b.page);
    await submit(b.page, 'register', 'ALICE', 'another one');
    await b.page.getByTestId('account-error').getByText('该用户名已被占用。').waitFor();
    await submit(b.page, 'sign-in', 'alice', 'not the password');
    await b.page.getByTestId('account-error').getByText('用户名或密码错误。').waitFor();
    await assertAxeClean(b.page, 'the account panel, zh-CN, dark');
    await screenshot(b.page, 'account-zh-dark');
    await submit(b.page, 'sign-in', 'alice', PASSWORD);
    await b.page.getByText('已登录：alice').waitFor({ timeout: 20_000 });

    // Change the password in the first browser: the second one's session ends.
    await a.page.getByTestId('change-password').click();
    await a.page.getByTestId('account-password').fill(PASSWORD);
    await a.page.getByTestId('account-new-password').fill(`${PASSWORD} 2`);
    await a.page.getByTestId('account-submit').click();
    await a.page.getByTestId('account-notice').getByText('Password changed.', { exact: false }).waitFor({ timeout: 20_000 });
    await b.page.reload();
    await b.page.locator('#app > *').first().waitFor();
    await openPanel(b.page);
    await b.page.getByTestId('account-form').waitFor();
    await assertAxeClean(a.page, 'the account panel, signed in');

    // Sign out everywhere, sign in again with the new password, then delete the account.
    await a.page.getByTestId('sign-out-everywhere').click();
    await a.page.getByTestId('account-form').waitFor();
    await submit(a.page, 'sign-in', 'alice', `${PASSWORD} 2`);
    await a.page.getByText('Signed in as alice').waitFor({ timeout: 20_000 });
    await a.page.getByTestId('delete-account').click();
    await a.page.getByTestId('account-password').fill(`${PASSWORD} 2`);
    await a.page.getByTestId('account-submit').click();
    await a.page.getByTestId('account-notice').getByText('Your account was deleted.').waitFor({ timeout: 20_000 });
    await submit(a.page, 'sign-in', 'alice', `${PASSWORD} 2`);
    await a.page.getByTestId('account-error').getByText('Wrong username or password.').waitFor({ timeout: 20_000 });

    assert.ok(!bodies.some((x) => x.includes('canary-web-pw')), 'the password is in no request');
    assert.deepEqual([...a.foreign, ...b.foreign], []);
    assert.deepEqual([...a.dialogs, ...b.dialogs], []);
    assert.deepEqual(
      [...a.console, ...b.console].filter((l) => l.startsWith('pageerror')),
      [],
    );
  }),
);
