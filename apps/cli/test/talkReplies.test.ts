/**
 * Replies in the terminal's `talk` (apps/cli/src/messages.ts; docs/PROTOCOL.md §11.7, §11.13), with
 * real processes and a real relay: `talk` numbers what it prints; `/reply 1 TEXT` answers message #1
 * (its `sent` event names it); a number never printed is NO_SUCH_MESSAGE and a `/reply` without text
 * USAGE, and talk goes on; the other side, talking meanwhile, sees the reply with a one-row quote
 * of what it answers (whitespace flattened, controls escaped) and `replyTo` in its JSON history;
 * the history on disk holds neither text in the clear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyDir, type Proc, run, serveProc } from './_spawn.js';

const ok = async (p: Proc, what: string) => assert.equal(await p.exited, 0, `${what}: ${p.stderr.join('\n')}`);

function talk(args: string[], env: Record<string, string>, lines: string[]): Proc {
  const p = run(['talk', ...args], env);
  p.child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  return p;
}

test('talk: /reply 1 TEXT answers message #1; the other side sees it quoted, live and in its history', async () => {
  const relay = await serveProc();
  const url = relay.url;
  const a = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw user-ra' };
  const b = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw user-rb' };
  let live: Proc | undefined;
  try {
    await ok(run(['register', url, '--user', 'user-ra'], a), 'register a');
    await ok(run(['register', url, '--user', 'user-rb'], b), 'register b');
    await ok(run(['contacts', url, 'add', 'user-rb'], a), 'a asks b');
    await ok(run(['contacts', url, 'accept', 'user-ra'], b), 'b accepts');
    const asked = run(['send', url, 'user-rb', '--text', 'canary-rq lunch\n  at noon? \u001b[2J', '--json'], a);
    await ok(asked, 'a asks');
    const question = asked.events.find((e) => e.event === 'sent')?.id;
    assert.equal(typeof question, 'string');

    // a keeps talking while b answers.
    live = run(['talk', url, 'user-rb'], a);
    await live.waitLine((l) => l.startsWith('talking with user-rb'), 'a talking');
    assert.ok(
      live.lines.some((l) => /^\[\d\d:\d\d\] #1 me: canary-rq lunch$/.test(l)),
      live.lines.join('\n'),
    );

    const answer = talk([url, 'user-ra', '--json'], b, ['/reply 7 canary-ra nowhere', '/reply 1', '/reply 1 canary-ra yes, at noon']);
    await ok(answer, 'b answers');
    assert.deepEqual(
      answer.events.filter((e) => e.event === 'history').map((e) => [e.ref, e.id]),
      [[1, question]],
    );
    assert.deepEqual(
      answer.events.filter((e) => e.event === 'error').map((e) => e.code),
      ['NO_SUCH_MESSAGE', 'USAGE'],
    );
    const sent = answer.events.filter((e) => e.event === 'sent');
    assert.equal(sent.length, 1, 'only the good /reply was sent');
    assert.equal(sent[0]?.replyTo, question);

    const reply = await live.waitLine((l) => l.includes('canary-ra yes'), 'the reply at a');
    const at = live.lines.indexOf(reply);
    assert.match(reply, /^\[\d\d:\d\d\] #2 user-rb: canary-ra yes, at noon$/);
    assert.equal(live.lines[at - 1], '> me: canary-rq lunch at noon? \ufffd[2J', 'the quote, on one row, escaped');
    live.child.stdin.end();
    await ok(live, 'a leaves');

    // Both histories keep it: a's JSON, b's lines after a restart.
    const atA = talk([url, 'user-rb', '--json'], a, []);
    await ok(atA, 'a talks again');
    assert.deepEqual(
      atA.events.filter((e) => e.event === 'history').map((e) => [e.ref, e.own, e.replyTo]),
      [
        [1, true, undefined],
        [2, false, question],
      ],
    );
    const atB = talk([url, 'user-ra'], b, []);
    await ok(atB, 'b talks again');
    const i = atB.lines.findIndex((l) => l.includes('canary-ra yes'));
    assert.match(atB.lines[i] ?? '', /^\[\d\d:\d\d\] #2 me: canary-ra yes, at noon$/);
    assert.equal(atB.lines[i - 1], '> user-ra: canary-rq lunch at noon? \ufffd[2J');
    assert.ok(!atB.lines.some((l) => l.includes('nowhere')), 'the refused reply was not sent');

    for (const env of [a, b]) {
      const folder = join(env.NULLROOM_KEY_DIR, 'messenger');
      for (const f of readdirSync(folder)) assert.ok(!readFileSync(join(folder, f)).includes('canary-r'), `${f} holds a text in the clear`);
    }
  } finally {
    live?.child.kill('SIGTERM');
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
  }
});
