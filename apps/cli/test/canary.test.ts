/**
 * Plaintext canaries (docs/SECURITY.md §1): run a chat between real terminal clients with
 * distinctive room name, password, nicknames and texts, then search every byte the relay received
 * and sent, everything it logged, every file in its data directory, and a snapshot of its heap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { run } from './_spawn.js';

const CHROMIUM = '/usr/bin/chromium';
const withBrowser = existsSync(CHROMIUM);
if (!withBrowser) process.stderr.write(`NOTICE: canary test runs without its browser member: ${CHROMIUM} is not installed\n`);

const tag = Math.random().toString(36).slice(2, 8);
const canaries = {
  room: `CanaryRoom${tag}Zq`,
  password: `CanaryPassword${tag}Xw`,
  nicks: [`CanaryAlice${tag}`, `CanaryBob${tag}`, `CanaryCarol${tag}`],
  texts: [`CanaryTextOne${tag} the eagle lands`, `CanaryTextTwo${tag} at midnight`, `CanaryTextThree${tag}`],
  browserNick: `CanaryDave${tag}`,
  browserText: `CanaryBrowserText${tag} from chromium`,
  /** Private messages, one per routing (docs/SECURITY.md §8): alice sends direct, bob hidden. */
  privateDirect: `CanaryPrivateDirect${tag} to bob only`,
  privateHidden: `CanaryPrivateHidden${tag} to alice only`,
  /** A room name set by a member (`/rename`): it travels inside MLS only (docs/PROTOCOL.md §5.3). */
  roomRename: `CanaryRename${tag} book club`,
};
const all = [
  canaries.room,
  canaries.password,
  ...canaries.nicks,
  ...canaries.texts,
  canaries.browserNick,
  canaries.browserText,
  canaries.privateDirect,
  canaries.privateHidden,
  canaries.roomRename,
];

function forms(s: string): Buffer[] {
  const u8 = Buffer.from(s, 'utf8');
  // A distinctive middle part, so that a canary split across the start of a base64 group is found too.
  const core = s.slice(6, 18);
  return [u8, Buffer.from(s, 'utf16le'), Buffer.from(u8.toString('hex')), Buffer.from(core, 'utf8')].concat(
    [0, 1, 2].map((k) =>
      Buffer.from(
        Buffer.from(`${'x'.repeat(k)}${core}`)
          .toString('base64')
          .slice(4, 16),
      ),
    ),
  );
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test('no canary reaches the relay: wire, logs, data directory, heap', async () => {
  const data = mkdtempSync(join(tmpdir(), 'nullroom-canary-data-'));
  const out = mkdtempSync(join(tmpdir(), 'nullroom-canary-out-'));
  const fixture = fileURLToPath(new URL('./fixtures/capture-relay.js', import.meta.url));
  const relay = spawn(process.execPath, ['--expose-gc', fixture, data, out], { stdio: ['ignore', 'pipe', 'inherit'] });
  const relayLines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: relay.stdout }).on('line', (l) => {
    relayLines.push(l);
    for (const w of waiters) w();
  });
  const line = (prefix: string) =>
    new Promise<string>((resolve) => {
      const check = () => {
        const l = relayLines.find((x) => x.startsWith(prefix));
        if (l !== undefined) {
          waiters.delete(check);
          resolve(l.slice(prefix.length));
        }
      };
      waiters.add(check);
      check();
    });
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    const url = await line('nullroom listening on ');
    const pin = await line('fingerprint ');
    const env = { NULLROOM_PASSWORD: canaries.password };
    const clients: ReturnType<typeof run>[] = [];
    for (const [i, nick] of canaries.nicks.entries()) {
      const routing = i === 0 ? ['--private-routing', 'direct'] : [];
      const c = run(['chat', url, '--room', canaries.room, '--nick', nick, '--json', '--pin', pin, ...routing], env);
      await c.waitFor((e) => e['event'] === 'joined', 'joined');
      clients.push(c);
    }
    await clients[0]!.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === canaries.nicks[2], 'all three in');
    // A browser member too (real Chromium running the web app the relay serves; the relay's
    // self-signed certificate is accepted for this test only).
    browser = withBrowser
      ? await chromium.launch({
          executablePath: CHROMIUM,
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
        })
      : undefined;
    if (browser !== undefined) {
      const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
      await page.goto(url);
      await page.getByTestId('nick').fill(canaries.browserNick);
      await page.getByTestId('room').fill(canaries.room);
      await page.getByTestId('password').fill(canaries.password);
      await page.getByTestId('join').click();
      await page.getByTestId('composer').fill(canaries.browserText);
      await page.getByTestId('composer').press('Enter');
      for (const c of clients)
        await c.waitFor((e) => e['event'] === 'message' && e['text'] === canaries.browserText, 'terminal reads the browser');
    }
    canaries.texts.forEach((t, i) => clients[i]!.child.stdin.write(`${t}\n`));
    for (const [i, c] of clients.entries()) {
      for (const [j, t] of canaries.texts.entries()) {
        if (i !== j) await c.waitFor((e) => e['event'] === 'message' && e['text'] === t, `client ${i} reads text ${j}`);
      }
    }
    // Private messages in both routings: alice (direct) to bob, bob (hidden) back to alice.
    const [alice, bob] = [clients[0]!, clients[1]!];
    alice.child.stdin.write(`/dm ${canaries.nicks[1]} ${canaries.privateDirect}\n`);
    await bob.waitFor(
      (e) => e['event'] === 'message' && e['private'] === true && e['text'] === canaries.privateDirect,
      'bob reads the direct message',
    );
    bob.child.stdin.write(`/dm ${canaries.nicks[0]} ${canaries.privateHidden}\n`);
    await alice.waitFor(
      (e) => e['event'] === 'message' && e['private'] === true && e['text'] === canaries.privateHidden,
      'alice reads the hidden one',
    );
    // A rename: every member reads the new name; the relay carried it sealed.
    alice.child.stdin.write(`/rename ${canaries.roomRename}\n`);
    for (const c of clients.slice(1))
      await c.waitFor((e) => e['event'] === 'room-name' && e['name'] === canaries.roomRename, 'the rename reaches every member');
    // Heap snapshot while the room is alive and every message has passed through.
    relay.kill('SIGUSR2');
    const snap = await line('snapshot ');
    for (const c of clients) c.child.stdin.end();
    for (const c of clients) assert.equal(await c.exited, 0);

    const haystacks: [string, Buffer][] = [
      ['wire', readFileSync(join(out, 'wire.bin'))],
      ['log', readFileSync(join(out, 'relay.log'))],
      ['heap', readFileSync(snap)],
      ...files(data).map((f): [string, Buffer] => [`data:${f}`, readFileSync(f)]),
    ];
    assert.ok(haystacks[0]![1].length > 5000, 'the wire capture holds the traffic');
    // The direct message did travel as DIRECT frames (type 0x07 in, 0x47 out), so the search covered them.
    const types = readFileSync(join(out, 'types.bin'));
    assert.ok(types.includes(0x07) && types.includes(0x47), 'DIRECT and DIRECT_DELIVER frames were captured');
    assert.ok(haystacks[1]![1].length > 0, 'the relay logged');
    for (const [where, hay] of haystacks) {
      for (const c of all) {
        for (const f of forms(c)) assert.equal(hay.indexOf(f), -1, `a canary (${all.indexOf(c)}) appears in ${where.split(':')[0]}`);
      }
    }
    // Control: the search works (the canaries are in the clients' own output).
    assert.ok(clients[1]!.lines.join('\n').includes(canaries.texts[0]!));
  } finally {
    await browser?.close();
    relay.kill('SIGTERM');
  }
});
