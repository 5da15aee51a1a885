/**
 * The terminal's message history (apps/cli/src/messages.ts; docs/PROTOCOL.md §11.7, §11.13), with
 * real processes: `conversations` lists a conversation with its unread count; `talk` shows the
 * last messages (own ones as "me") after a restart and marks them read; a receipt shows as a
 * `delivered` event in the sender's `talk --json`; the history on disk holds no message canary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyDir, type Proc, run, serveProc } from './_spawn.js';

const ok = async (p: Proc, what: string) => assert.equal(await p.exited, 0, `${what}: ${p.stderr.join('\n')}`);

/** `talk` with these lines typed, then Ctrl-D. */
function talk(args: string[], env: Record<string, string>, lines: string[]): Proc {
  const p = run(['talk', ...args], env);
  p.child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  return p;
}

test('conversations lists unread; talk shows the history after a restart, marks it read, and says what was delivered', async () => {
  const relay = await serveProc();
  const url = relay.url;
  const a = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw user-a' };
  const b = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw user-b' };
  try {
    await ok(run(['register', url, '--user', 'user-a'], a), 'register a');
    await ok(run(['register', url, '--user', 'user-b'], b), 'register b');
    await ok(run(['contacts', url, 'add', 'user-b'], a), 'a asks b');
    await ok(run(['contacts', url, 'accept', 'user-a'], b), 'b accepts');
    const none = run(['conversations', url, '--json'], b);
    await ok(none, 'b lists nothing');
    assert.deepEqual(none.events, [], 'no conversation, no event');

    const sent = run(['send', url, 'user-b', '--text', 'canary-hist-hello', '--json'], a);
    await ok(sent, 'a sends');
    const helloId = sent.events.find((e) => e.event === 'sent')?.id;
    const listed = run(['conversations', url, '--json'], b);
    await ok(listed, 'b lists');
    const conv = listed.events.filter((e) => e.event === 'conversation' && 'unread' in e);
    assert.equal(conv.length, 1);
    assert.deepEqual([[...((conv[0]?.members ?? []) as string[])].sort(), conv[0]?.unread], [['user-a', 'user-b'], 1]);
    assert.equal(typeof conv[0]?.lastAt, 'number');
    const text = run(['conversations', url], b);
    await ok(text, 'b lists, as text');
    assert.match(text.lines.join('\n'), /^[A-Za-z0-9_-]{8} {2}user-a: 1 unread, last \d{4}-\d\d-\d\d \d\d:\d\d$/m);

    const first = talk([url, 'user-a', '--json'], b, ['canary-hist-reply']);
    await ok(first, 'b talks');
    assert.deepEqual(
      first.events.filter((e) => e.event === 'history').map((e) => [e.from, e.text, e.own]),
      [['user-a', 'canary-hist-hello', false]],
    );
    assert.equal(first.events.filter((e) => e.event === 'sent').length, 1);

    // b starts again: the history is on disk, sealed.
    const again = talk([url, 'user-a'], b, []);
    await ok(again, 'b talks again');
    const shown = again.lines.filter((l) => /^\[\d\d:\d\d\] /.test(l));
    assert.equal(shown.length, 2, again.lines.join('\n'));
    assert.match(shown[0]!, /^\[\d\d:\d\d\] #1 user-a: canary-hist-hello$/);
    assert.match(shown[1]!, /^\[\d\d:\d\d\] #2 me: canary-hist-reply$/);
    const read = run(['conversations', url, '--json'], b);
    await ok(read, 'b lists again');
    assert.equal(read.events.find((e) => 'unread' in e)?.unread, 0, 'talk marked it read');
    const messenger = join(b.NULLROOM_KEY_DIR, 'messenger');
    for (const f of readdirSync(messenger)) {
      assert.ok(!readFileSync(join(messenger, f)).includes('canary-hist'), `${f} holds a message in the clear`);
    }

    // a: b's reply arrives, and b's receipt for a's hello is a delivered event.
    const atA = talk([url, 'user-b', '--json'], a, []);
    await ok(atA, 'a talks');
    assert.deepEqual(
      atA.events.filter((e) => e.event === 'history').map((e) => [e.text, e.own, e.status]),
      [
        ['canary-hist-hello', true, 'sent'],
        ['canary-hist-reply', false, undefined],
      ],
    );
    const delivered = atA.events.find((e) => e.event === 'delivered');
    assert.deepEqual([delivered?.id, delivered?.devices, delivered?.of], [helloId, 1, 1]);
  } finally {
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
  }
});
