/**
 * Soak (issue 13, "How we will know"): a room of two browsers and two terminals under a steady
 * message rate while the relay is killed (`kill -9`) and restarted and the browsers reload at
 * random. It counts every message its sender was shown as acknowledged (a check mark in the web,
 * `sent` in the terminal) and how many times each other member received it: the target is every
 * one, exactly once. Bounded: NULLROOM_SOAK_SECONDS (default 40 here; `npm run soak` runs longer),
 * all traffic on 127.0.0.1. The figures are written to test-results/soak.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { Page } from 'playwright-core';
import { artifacts, join, launch, screenshot, skip } from './_browser.js';
import { type Proc, run } from './_spawn.js';

const SECONDS = Number(process.env['NULLROOM_SOAK_SECONDS'] ?? 40);
/** Messages each member sends: the whole run stays within the lines a reload keeps (history.ts, 200). */
const PER_MEMBER = 30;
const ROOM = 'soak room';
const PASSWORD = 'soak room password 3141';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small deterministic PRNG (mulberry32): the same run every time for the same seed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tally {
  nick: string;
  /** Texts its sender was shown as acknowledged. */
  acked: () => Promise<string[]>;
  /** Texts of others' messages as received, repeats included. */
  received: () => Promise<string[]>;
}

const browserTally = (nick: string, page: Page): Tally => ({
  nick,
  acked: () => page.getByTestId('messages').locator('li.message.self.sent .text').allTextContents(),
  received: () => page.getByTestId('messages').locator('li.message:not(.self) .text').allTextContents(),
});

function terminalTally(nick: string, p: Proc): Tally {
  return {
    nick,
    acked: async () => {
      const sent = new Set(p.events.filter((e) => e['event'] === 'sent').map((e) => e['id']));
      return p.events.filter((e) => e['event'] === 'pending' && sent.has(e['id'])).map((e) => String(e['text']));
    },
    received: async () => p.events.filter((e) => e['event'] === 'message').map((e) => String(e['text'])),
  };
}

test(`soak: two browsers and two terminals, ${SECONDS} s, relay killed and restarted, browsers reloading: every acknowledged message reaches every member once`, {
  skip,
  timeout: (SECONDS + 180) * 1000,
}, async () => {
  const data = mkdtempSync(joinPath(tmpdir(), 'nullroom-soak-'));
  const serve = async (port: string) => {
    const proc = run(['serve', '--port', port, '--data', data]);
    const line = await proc.waitLine((l) => l.startsWith('nullroom listening on '), 'listening line');
    return { proc, url: line.slice('nullroom listening on '.length) };
  };
  let relay = await serve('0');
  const url = relay.url;
  const port = new URL(url).port;
  const browser = await launch();
  const terminals: Proc[] = [];
  let relayUp = true;
  const stats = { restarts: 0, reloads: 0 };
  try {
    const alice = await join(browser, url, 'alice', ROOM, PASSWORD);
    const bob = await join(browser, url, 'bob', ROOM, PASSWORD);
    for (const nick of ['carol', 'dave']) {
      const p = run(['chat', url, '--room', ROOM, '--nick', nick, '--json'], { NULLROOM_PASSWORD: PASSWORD });
      terminals.push(p);
      await p.waitFor((e) => e['event'] === 'joined', `${nick} joined`, 60_000);
    }
    await alice.page.getByText('dave joined').waitFor({ timeout: 30_000 });
    const [carol, dave] = terminals as [Proc, Proc];
    const tallies = [
      browserTally('alice', alice.page),
      browserTally('bob', bob.page),
      terminalTally('carol', carol),
      terminalTally('dave', dave),
    ];

    const start = Date.now();
    const end = start + SECONDS * 1000;
    const interval = (SECONDS * 1000) / PER_MEMBER;
    const random = prng(13);

    // The relay dies twice, at a third and two thirds of the run, and comes back a second later.
    const restarts = (async () => {
      for (const at of [1 / 3, 2 / 3]) {
        await sleep(start + at * SECONDS * 1000 - Date.now());
        relayUp = false;
        relay.proc.child.kill('SIGKILL');
        await relay.proc.exited;
        await sleep(1000);
        relay = await serve(port);
        relayUp = true;
        stats.restarts++;
      }
    })();

    const browserSender = async (nick: string, page: Page) => {
      // Two reloads each, at random moments (while the relay is up: the page comes from it).
      const reloadsAt = [random(), random()].map((f) => start + f * SECONDS * 1000).sort((a, b) => a - b);
      for (let i = 1; i <= PER_MEMBER && Date.now() < end + interval; i++) {
        if (reloadsAt.length > 0 && Date.now() >= reloadsAt[0]!) {
          reloadsAt.shift();
          while (!relayUp) await sleep(100);
          await page.reload().catch(() => undefined);
          stats.reloads++;
        }
        const composer = page.getByTestId('composer');
        await composer.waitFor({ timeout: 30_000 }).catch(() => undefined);
        await composer.fill(`soak ${nick} ${i}`).catch(() => undefined);
        await composer.press('Enter').catch(() => undefined);
        await sleep(interval * (0.5 + random()));
      }
    };
    const terminalSender = async (nick: string, p: Proc) => {
      for (let i = 1; i <= PER_MEMBER && Date.now() < end + interval; i++) {
        p.child.stdin.write(`soak ${nick} ${i}\n`);
        await sleep(interval * (0.5 + random()));
      }
    };
    await Promise.all([
      restarts,
      browserSender('alice', alice.page),
      browserSender('bob', bob.page),
      terminalSender('carol', carol),
      terminalSender('dave', dave),
    ]);

    // Settle: until every acknowledged message is with every other member (or a minute passes).
    const missing = async () => {
      const out: string[] = [];
      for (const s of tallies) {
        const acked = await s.acked();
        for (const r of tallies) {
          if (r === s) continue;
          const got = new Set(await r.received());
          for (const text of acked) if (!got.has(text)) out.push(`${r.nick} lacks "${text}"`);
        }
      }
      return out;
    };
    const settleBy = Date.now() + 60_000;
    let lacking = await missing();
    while (lacking.length > 0 && Date.now() < settleBy) {
      await sleep(500);
      lacking = await missing();
    }

    for (const [nick, m] of [
      ['alice', alice],
      ['bob', bob],
    ] as const)
      await screenshot(m.page, `soak-${nick}`);
    const report: Record<string, unknown> = { seconds: SECONDS, ...stats, members: {} };
    let duplicates = 0;
    let totalAcked = 0;
    for (const r of tallies) {
      const received = await r.received();
      const counts = new Map<string, number>();
      for (const text of received) counts.set(text, (counts.get(text) ?? 0) + 1);
      const twice = [...counts].filter(([, n]) => n > 1).map(([t]) => t);
      duplicates += twice.length;
      const acked = await r.acked();
      totalAcked += acked.length;
      (report['members'] as Record<string, unknown>)[r.nick] = { acked: acked.length, received: received.length, duplicates: twice };
    }
    report['missing'] = lacking;
    // What the browsers were told (reloads, resumes, warnings): to read a failure by.
    report['notices'] = {
      alice: await alice.page.locator('li.line:not(.message)').allTextContents(),
      bob: await bob.page.locator('li.line:not(.message)').allTextContents(),
    };
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(`${artifacts}soak.json`, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`# soak: ${JSON.stringify(report)}\n`);

    assert.equal(stats.restarts, 2, 'the relay was restarted twice');
    assert.ok(stats.reloads >= 2, 'the browsers reloaded');
    assert.ok(totalAcked >= PER_MEMBER * 2, `most messages were acknowledged (${totalAcked})`);
    assert.deepEqual(lacking, [], 'every acknowledged message reached every other member');
    assert.equal(duplicates, 0, 'nothing arrived twice');
  } finally {
    for (const p of terminals) p.child.kill('SIGTERM');
    await browser.close();
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
    rmSync(data, { recursive: true, force: true });
  }
});
