/**
 * The reference journey of issue #15 in the browser (src/ui/Messages.tsx, docs/PROTOCOL.md §11.7–
 * §11.11), two Chromium profiles against `nullroom serve`: `user-a` and `user-b` register, become
 * contacts, see each other online, and talk both ways; `user-b` closes the page; `user-a` sends
 * three messages; the relay is killed with SIGKILL and started again on the same port and data;
 * `user-b` opens the app again and gets exactly those three, once each, in order, after what it had
 * (its history, sealed in IndexedDB). `user-a` sees its messages delivered, and its page
 * reconnects by itself. Neither the relay's files nor either browser's IndexedDB hold a message or
 * password canary in the clear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { assertAxeClean } from './_axe.js';
import { register } from './_messages.js';
import { dump, launch, open, screenshot, skip } from './_browser.js';
import { keyDir, type Proc, run } from './_spawn.js';

const DATABASE_URL = process.env.DATABASE_URL;
if (DATABASE_URL === undefined) console.log('# NOTICE: DATABASE_URL is not set: the browser journey on PostgreSQL is skipped');

/** The relay on the embedded store, or on PostgreSQL in a schema of this test's own. */
type Store = { kind: 'sqlite' } | { kind: 'postgres'; schema: string };

async function serveAt(data: string, port: string, store: Store): Promise<{ proc: Proc; url: string }> {
  const pgArgs = store.kind === 'postgres' ? ['--database-url', DATABASE_URL!, '--database-schema', store.schema] : [];
  const proc = run(['serve', '--port', port, '--data', data, ...pgArgs]);
  const line = await proc.waitLine((l) => l.startsWith('nullroom listening on '), 'listening line', 20_000);
  return { proc, url: line.slice('nullroom listening on '.length) };
}

const texts = (page: Page) => page.getByTestId('account-message').locator('.text').allTextContents();

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('account-composer').fill(text);
  await page.getByTestId('account-composer').press('Enter');
  await page.getByTestId('account-message').filter({ hasText: text }).locator('[data-state="sent"]').waitFor({ timeout: 20_000 });
}

/** Every value of every table of the schema (bytes as they are, the rest as JSON). */
async function pgValues(schema: string): Promise<(Buffer | string)[]> {
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    const tables = await c.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
    const out: (Buffer | string)[] = [];
    for (const { table_name } of tables.rows as { table_name: string }[]) {
      for (const row of (await c.query(`SELECT * FROM "${schema}"."${table_name}"`)).rows as Record<string, unknown>[]) {
        for (const v of Object.values(row)) out.push(Buffer.isBuffer(v) ? v : JSON.stringify(v));
      }
    }
    return out;
  } finally {
    await c.end();
  }
}

const CANARIES = ['canary-msg', 'canary-pw', 'canary-file'];

/** Every file under `dir` (the relay's data: its stores and its blobs). */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });

/** Sends a file through the composer's attach button and waits until it is sent. */
async function attach(page: Page, name: string, mimeType: string, buffer: Buffer): Promise<void> {
  await page.getByTestId('account-file-input').setInputFiles({ name, mimeType, buffer });
  await page.getByTestId('account-message').filter({ hasText: name }).locator('[data-state="sent"]').waitFor({ timeout: 30_000 });
}

/** Fetches a file of the conversation on screen (decrypted and verified in the page) and returns what was saved. */
async function fetchFile(page: Page, name: string): Promise<Buffer> {
  const card = page.getByTestId('account-file').filter({ hasText: name });
  await card.waitFor({ timeout: 30_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), card.getByTestId('file-save').click()]);
  assert.equal(download.suggestedFilename(), name);
  await card.getByTestId('file-verified').waitFor();
  return readFileSync(await download.path());
}

for (const store of [{ kind: 'sqlite' }, { kind: 'postgres', schema: `nr_webjourney_${process.pid}` }] as const) {
  const skipThis = skip || (store.kind === 'postgres' && DATABASE_URL === undefined ? 'DATABASE_URL is not set' : false);
  test(
    `two browsers (${store.kind}): contacts online, messages both ways, three sent while one is away survive kill -9 of the relay`,
    { skip: skipThis },
    () => journey(store),
  );
}

async function journey(store: Store): Promise<void> {
  const data = keyDir();
  let relay = await serveAt(data, '0', store);
  const logs: string[] = [];
  const url = relay.url;
  const port = new URL(url).port;
  const browser = await launch();
  try {
    const a = await open(browser, url);
    const b = await open(browser, url);
    await register(a.page, 'user-a', 'canary-pw-a horse battery');
    await register(b.page, 'user-b', 'canary-pw-b horse battery');

    // a asks; b sees the request arrive (the relay's notice), accepts; both see the other online.
    await a.page.getByTestId('contact-name').fill('user-b');
    await a.page.getByTestId('contact-add').click();
    await a.page.getByTestId('contacts-notice').waitFor();
    await b.page.getByTestId('incoming').getByText('user-a').waitFor({ timeout: 20_000 });
    await b.page.getByTestId('accept').click();
    await b.page.locator('[data-testid="contact"][data-online="yes"]').getByText('user-a').waitFor({ timeout: 20_000 });
    await a.page.locator('[data-testid="contact"][data-online="yes"]').getByText('user-b').waitFor({ timeout: 20_000 });
    await screenshot(a.page, 'messages-contacts');

    // a writes first; b gets the conversation with one unread, opens it, answers.
    await a.page.getByTestId('message-contact').click();
    await say(a.page, 'canary-msg-hello');
    await b.page.getByTestId('conversation-tab').getByTestId('unread').getByText('1').waitFor({ timeout: 20_000 });
    await b.page.getByTestId('conversation-tab').click();
    await b.page.getByTestId('account-message').getByText('canary-msg-hello').waitFor();
    // b's device confirmed it: a sees it delivered (the receipt travels end-to-end encrypted too).
    await a.page
      .getByTestId('account-message')
      .filter({ hasText: 'canary-msg-hello' })
      .getByTestId('delivered')
      .waitFor({ timeout: 20_000 });
    // b answers it as a reply: a sees the quote of what it answers.
    await b.page.getByTestId('account-message').filter({ hasText: 'canary-msg-hello' }).hover();
    await b.page.getByTestId('account-message').filter({ hasText: 'canary-msg-hello' }).getByTestId('reply').click();
    await b.page.getByTestId('replying').getByText('canary-msg-hello').waitFor();
    await say(b.page, 'canary-msg-reply');
    await a.page
      .getByTestId('account-message')
      .filter({ hasText: 'canary-msg-reply' })
      .getByTestId('quote')
      .getByText('canary-msg-hello')
      .waitFor({ timeout: 20_000 });
    await a.page.getByTestId('account-message').getByText('canary-msg-reply').waitFor({ timeout: 20_000 });
    // Files both ways: a photo from a (its preview shown at b), a text file from b, fetched, verified and saved at a.
    const png = Buffer.from(
      await a.page.evaluate(() => {
        const c = document.createElement('canvas');
        c.width = 320;
        c.height = 200;
        const g = c.getContext('2d')!;
        g.fillStyle = '#2a7';
        g.fillRect(0, 0, 320, 200);
        g.fillStyle = '#fc3';
        g.fillRect(40, 40, 120, 80);
        return c.toDataURL('image/png').split(',')[1]!;
      }),
      'base64',
    );
    await attach(a.page, 'canary-file-photo.png', 'image/png', png);
    const photo = b.page.getByTestId('account-file').filter({ hasText: 'canary-file-photo.png' });
    await photo.locator('img').waitFor({ timeout: 30_000 });
    const notes = Buffer.from('canary-msg-in-a-file\n'.repeat(2000));
    await attach(b.page, 'canary-file-notes.txt', 'text/plain', notes);
    assert.ok((await fetchFile(a.page, 'canary-file-notes.txt')).equals(notes));
    await screenshot(b.page, 'messages-conversation');
    await assertAxeClean(b.page, 'a conversation');

    // Both compare the same safety number.
    await a.page.getByTestId('verify').click();
    await b.page.getByTestId('verify').click();
    const digits = await a.page.getByTestId('safety-digits').textContent();
    assert.match(digits ?? '', /^\d{60}$/);
    assert.equal(await b.page.getByTestId('safety-digits').textContent(), digits);

    // b goes away (its page closed; the browser profile, with its keys, stays); a sends three.
    const bContext = b.page.context();
    await b.page.close();
    for (const t of ['canary-msg-1', 'canary-msg-2', 'canary-msg-3']) await say(a.page, t);
    const report = randomBytes(300 * 1024);
    await attach(a.page, 'canary-file-report.bin', 'application/octet-stream', report);

    // The relay dies and comes back on the same port and data; a's page reconnects by itself.
    relay.proc.child.kill('SIGKILL');
    await relay.proc.exited;
    logs.push(...relay.proc.lines, ...relay.proc.stderr);
    relay = await serveAt(data, port, store);

    // b comes back: the app opens on Messages, signed in (the cookie), and gets exactly the three, once each, in order.
    const back = await bContext.newPage();
    await back.goto(url);
    await back.getByTestId('conversation-tab').getByTestId('unread').getByText('4').waitFor({ timeout: 30_000 });
    await back.getByTestId('conversation-tab').click();
    await back.getByTestId('account-message').getByText('canary-msg-3').waitFor();
    // What it showed before is kept (sealed in IndexedDB), and the three follow, once each, in order.
    assert.deepEqual(await texts(back), ['canary-msg-hello', 'canary-msg-reply', 'canary-msg-1', 'canary-msg-2', 'canary-msg-3']);
    // …and the file after them, fetched and verified.
    await back.getByTestId('account-message').last().getByText('canary-file-report.bin').waitFor();
    assert.ok((await fetchFile(back, 'canary-file-report.bin')).equals(report));

    // a is online again without a reload, and b's answer reaches it.
    await back.getByTestId('account-composer').fill('canary-msg-after');
    await back.getByTestId('account-composer').press('Enter');
    await a.page.getByTestId('account-message').getByText('canary-msg-after').waitFor({ timeout: 40_000 });

    // a goes back to the rooms and reloads: its conversations open at load all the same (OPAQUE
    // not loaded), and b's next message shows as unread on the Messages button and in the title.
    await a.page.getByTestId('rooms-button').click();
    const scripts: string[] = [];
    a.page.on('response', (r) => void (r.url().endsWith('.js') && scripts.push(r.url())));
    await a.page.reload();
    await a.page.getByTestId('messages-button').waitFor();
    await say(back, 'canary-msg-while-in-rooms');
    await a.page.getByTestId('messages-unread').getByText('1').waitFor({ timeout: 30_000 });
    await a.page.waitForFunction(() => document.title.startsWith('(1) '), undefined, { timeout: 10_000 });
    assert.ok(!scripts.some((u) => u.includes('opaque')), 'OPAQUE is not loaded to read messages');

    // Nothing readable at rest or in the logs: not in the relay's files, its database, what it
    // printed, nor either browser's IndexedDB.
    for (const path of filesUnder(data)) {
      const bytes = readFileSync(path);
      for (const canary of CANARIES) assert.ok(!bytes.includes(canary), `${path} holds ${canary}`);
    }
    if (store.kind === 'postgres') {
      const values = await pgValues(store.schema);
      assert.ok(values.length > 50, 'the audit read the store');
      for (const canary of CANARIES) assert.ok(!values.some((v) => v.includes(canary)), `PostgreSQL holds ${canary}`);
    }
    logs.push(...relay.proc.lines, ...relay.proc.stderr);
    for (const canary of CANARIES) assert.ok(!logs.some((l) => l.includes(canary)), `the relay printed ${canary}`);
    for (const page of [a.page, back]) {
      const stored = await dump(page);
      for (const canary of ['canary-msg', 'canary-pw', 'user-a', 'user-b'])
        assert.ok(!stored.includes(canary), `IndexedDB holds ${canary}`);
    }
    assert.deepEqual([...a.dialogs, ...a.foreign], []);
  } finally {
    await browser.close();
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
    if (store.kind === 'postgres') {
      const c = new pg.Client({ connectionString: DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${store.schema}" CASCADE`);
      await c.end();
    }
  }
}
