/**
 * Group management in the browser (src/ui/GroupPanel.tsx, docs/PROTOCOL.md §11.15), two browsers
 * and a terminal: `user-a` names a conversation with `user-b` (the name end-to-end encrypted: not in
 * any file of the relay), adds the terminal's `user-c`, removes `user-b`, whose browser keeps the
 * conversation read-only; `user-c` leaves from the terminal, and `user-a` sees it. Every member's history
 * says who did what.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { assertAxeClean } from './_axe.js';
import { register } from './_messages.js';
import { launch, open, screenshot, skip } from './_browser.js';
import { keyDir, type Proc, run } from './_spawn.js';

const ok = async (p: Proc, what: string) => assert.equal(await p.exited, 0, `${what}: ${p.stderr.join('\n')}`);

const notices = (page: Page) => page.getByTestId('account-notice').allTextContents();
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? filesUnder(join(dir, f)) : [join(dir, f)]));

test('a group: renamed, a terminal added, a member removed, the terminal leaves', { skip }, async () => {
  const data = keyDir();
  const relay = run(['serve', '--port', '0', '--data', data]);
  const url = (await relay.waitLine((l) => l.startsWith('nullroom listening on '), 'listening', 20_000)).slice(22);
  const browser = await launch();
  try {
    const a = await open(browser, url);
    const b = await open(browser, url);
    await register(a.page, 'user-a');
    await register(b.page, 'user-b');
    const c = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw user-c horse battery' };
    await ok(run(['register', url, '--user', 'user-c'], c), 'register c');
    await ok(run(['contacts', url, 'add', 'user-a'], c), 'c asks a');
    await b.page.getByTestId('contact-name').fill('user-a');
    await b.page.getByTestId('contact-add').click();
    for (const who of ['user-b', 'user-c']) {
      await a.page.getByTestId('incoming').getByText(who).waitFor({ timeout: 20_000 });
      await a.page.getByTestId('incoming').locator('li').filter({ hasText: who }).getByTestId('accept').click();
      await a.page.getByTestId('contacts').getByText(who).waitFor();
    }

    // a and b talk; a names the conversation.
    await a.page.getByTestId('contact').filter({ hasText: 'user-b' }).getByTestId('message-contact').click();
    await a.page.getByTestId('account-composer').fill('hello group');
    await a.page.getByTestId('account-composer').press('Enter');
    await a.page.getByTestId('group-open').click();
    await a.page.getByTestId('group-name').fill('canary-name Weekend');
    await a.page.getByTestId('group-rename').click();
    await a.page.getByTestId('conversation-title').getByText('canary-name Weekend').waitFor({ timeout: 20_000 });
    await b.page.getByTestId('conversation-tab').getByText('canary-name Weekend').waitFor({ timeout: 20_000 });

    // a adds the terminal's account; everyone's history says so.
    await a.page.getByTestId('group-candidate').check();
    await a.page.getByTestId('group-add').click();
    await a.page.getByTestId('group-members').getByText('user-c').waitFor({ timeout: 20_000 });
    await screenshot(a.page, 'messages-group');
    await assertAxeClean(a.page, 'the group panel');
    await b.page.getByTestId('conversation-tab').click();
    await b.page.getByTestId('account-notice').getByText('user-a added user-c').waitFor({ timeout: 20_000 });
    const listed = run(['conversations', url, '--json'], c);
    await ok(listed, 'c lists');
    const conv = listed.events.find((e) => e.event === 'conversation');
    assert.equal(conv?.name, 'canary-name Weekend');

    // a removes b: b keeps what it had, read-only; b's history and a's say so.
    await a.page.getByRole('button', { name: 'Remove user-b from this conversation' }).click();
    await a.page.getByTestId('confirm-ok').click();
    await a.page.getByTestId('account-notice').getByText('You removed user-b').waitFor({ timeout: 20_000 });
    await b.page.getByTestId('conversation-gone').waitFor({ timeout: 20_000 });
    await b.page.getByTestId('account-notice').getByText('user-a removed user-b').waitFor();
    assert.equal(await b.page.getByTestId('account-composer').count(), 0);

    // c leaves from the terminal; a's device commits the removal and shows it.
    await ok(run(['group', url, String(conv?.conversation).slice(0, 8), 'leave'], c), 'c leaves');
    await a.page.getByTestId('account-notice').getByText('user-c left').waitFor({ timeout: 30_000 });
    await a.page.getByTestId('group-members').getByText('user-c').waitFor({ state: 'detached', timeout: 30_000 });
    const said = (await notices(a.page)).map((n) => n.replace(/\s*\d{1,2}:\d{2}.*$/, ''));
    assert.deepEqual(said, [
      'You renamed the conversation to “canary-name Weekend”',
      'You added user-c',
      'You removed user-b',
      'user-c left',
    ]);

    // The name never reached the relay in clear.
    for (const path of filesUnder(data)) assert.ok(!readFileSync(path).includes('canary-name'), `${path} holds the name`);
    assert.deepEqual([...a.dialogs, ...b.dialogs], []);
  } finally {
    await browser.close();
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});
