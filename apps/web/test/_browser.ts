/** Shared helpers for tests that drive the web client in Debian's Chromium through playwright-core. */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContextOptions, type Page, type WebSocketRoute } from 'playwright-core';
import { type Proc, serveProc } from './_spawn.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const artifacts = fileURLToPath(new URL('../../../test-results/', import.meta.url));
export const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs it)`;
if (skip) process.stderr.write(`NOTICE: browser tests skipped: ${skip}\n`);

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

export interface Member {
  page: Page;
  /** alert/confirm/prompt dialogs the page opened (XSS would show up here). */
  dialogs: string[];
  /** Requests to anything but the relay. */
  foreign: string[];
  /** Everything the page printed to its console. */
  console: string[];
}

/** A fresh browser context (its own IndexedDB: its own identity) on the relay's page. */
export async function open(browser: Browser, url: string, opts: BrowserContextOptions = {}): Promise<Member> {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 }, ...opts });
  const page = await ctx.newPage();
  const m: Member = { page, dialogs: [], foreign: [], console: [] };
  page.on('dialog', (d) => {
    m.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => {
    // data: previews and blob: URLs of this origin (files decrypted here) never leave the browser.
    if (!r.url().startsWith(url) && !r.url().startsWith('data:') && !r.url().startsWith(`blob:${url}`)) m.foreign.push(r.url());
  });
  page.on('console', (msg) => m.console.push(msg.text()));
  page.on('pageerror', (e) => m.console.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.locator('#app > *').first().waitFor();
  return m;
}

/** Fills the join form (nick, room, password) and waits for the chat. */
export async function joinRoom(page: Page, nick: string, room: string, password: string): Promise<void> {
  await page.getByTestId('nick').fill(nick);
  await page.getByTestId('room').fill(room);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('join').click();
  await page.getByTestId('composer').waitFor({ timeout: 30_000 });
}

export async function join(
  browser: Browser,
  url: string,
  nick: string,
  room: string,
  password: string,
  opts: BrowserContextOptions = {},
): Promise<Member> {
  const m = await open(browser, url, opts);
  await joinRoom(m.page, nick, room, password);
  return m;
}

/** Leaves the room on screen for good (Leave, then confirm): unlike a reload, which resumes it. */
export async function leaveRoom(page: Page): Promise<void> {
  await page.getByTestId('leave').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Leave' }).click();
}

/**
 * Relay flags for tests about departures: a page closed, killed or reconnecting without its stay
 * leaves at once (resume grace 0, docs/PROTOCOL.md §4.5), as before slots outlived connections.
 */
export const GONE_AT_ONCE: readonly string[] = ['--resume-grace', '0'];

/** Runs `fn` with a fresh `nullroom serve` (and the given flags) and a headless Chromium, then stops both. */
export async function withRelayAndBrowser(
  serveArgs: readonly string[],
  fn: (url: string, browser: Browser, relay: Proc) => Promise<void>,
): Promise<void> {
  const { proc: relay, url } = await serveProc([...serveArgs]);
  const browser = await launch();
  try {
    await fn(url, browser, relay);
  } finally {
    await browser.close();
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
}

export async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('composer').press('Enter');
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}${name}.png` });
}

/** True when the page does not scroll sideways (a page that does at phone width is broken). */
export function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

/** Routes the page's WebSocket through the test: `hold()` keeps the relay's frames back until `release()`; `cut()` drops the connection. */
export async function relayLink(page: Page) {
  let held: (string | Buffer)[] | undefined;
  let current: { page: WebSocketRoute; relay: WebSocketRoute } | undefined;
  let connections = 0;
  await page.routeWebSocket(
    () => true,
    (ws) => {
      connections++;
      const relay = ws.connectToServer();
      ws.onMessage((m) => relay.send(m));
      relay.onMessage((m) => (held === undefined ? ws.send(m) : held.push(m)));
      current = { page: ws, relay };
    },
  );
  return {
    get connections() {
      return connections;
    },
    hold: () => void (held ??= []),
    release: () => {
      const frames = held ?? [];
      held = undefined;
      for (const m of frames) current?.page.send(m);
    },
    /** Drops the connection both ways, with whatever was held (the page reconnects on its own). */
    cut: async () => {
      held = undefined;
      await Promise.all([current?.page.close({ code: 1006 }), current?.relay.close()]).catch(() => undefined);
    },
  };
}

/** Every value in the page's IndexedDB, as the bytes or JSON it is stored as. */
export const dump = (page: Page) =>
  page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open('nullroom');
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const all = await new Promise<unknown[]>((res, rej) => {
      const r = db.transaction('kv').objectStore('kv').getAll();
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const keys = await new Promise<IDBValidKey[]>((res, rej) => {
      const r = db.transaction('kv').objectStore('kv').getAllKeys();
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const dec = new TextDecoder();
    return [
      ...keys.map(String),
      ...all.map((v) =>
        v instanceof Uint8Array ? dec.decode(v) : JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? dec.decode(x) : x)),
      ),
    ].join('\n');
  });
