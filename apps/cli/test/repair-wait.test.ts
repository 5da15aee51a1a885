/**
 * A joiner that waits for the members to repair the relay's group information says so once
 * (docs/PROTOCOL.md §4.3, §7), in --json and in the human line, and then joins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { GroupStatus, decodeFrame, encodeFrame } from '@nullroom/protocol';
import { startInstrumentedRelay } from '@nullroom/server/instrumented';
import { humanLine } from '../src/output.js';
import { run } from './_spawn.js';

const PW = { NULLROOM_PASSWORD: 'test password for repair-wait' };

test('chat --json prints one repair-wait line while the group information cannot be used, then joins', async () => {
  // The relay hands out a GroupInfo nobody can open (as after a member stored garbage) until we stop it.
  let corrupt = false;
  const relay = await startInstrumentedRelay(
    { host: '127.0.0.1', port: 0 },
    {
      transformOut: (_conn, bytes) => {
        if (!corrupt) return [bytes];
        try {
          const f = decodeFrame(bytes);
          if (f.type !== 'GROUP_STATE' || f.status !== GroupStatus.READY) return [bytes];
          return [encodeFrame({ ...f, groupInfo: new Uint8Array(randomBytes(f.groupInfo.byteLength)) })];
        } catch {
          return [bytes];
        }
      },
    },
  );
  const chat = (nick: string) => run(['chat', relay.url, '--room', 'repair-room', '--nick', nick, '--json'], PW);
  const procs = [];
  try {
    // Two members, so the relay's epoch is past 0: a joiner then waits for a repair instead of re-founding.
    const a = chat('alice');
    procs.push(a);
    await a.waitFor((e) => e.event === 'joined', 'alice created');
    const c = chat('carol');
    procs.push(c);
    await c.waitFor((e) => e.event === 'joined', 'carol joined');
    await a.waitFor((e) => e.event === 'member-joined', 'alice sees carol');
    corrupt = true;
    const b = chat('bob');
    procs.push(b);
    const wait = await b.waitFor((e) => e.event === 'repair-wait', 'bob says he waits');
    assert.equal(typeof wait.since, 'number');
    // Several retries go by (0.1 s doubling): still one line.
    await b
      .waitFor(
        (e) => e.event === 'error' && e.code === 'BAD_GROUP_INFO' && b.events.filter((x) => x.code === 'BAD_GROUP_INFO').length >= 3,
        'bob retried',
        15_000,
      )
      .catch(() => undefined);
    corrupt = false;
    await b.waitFor((e) => e.event === 'joined', 'bob joins once it can', 30_000);
    assert.equal(b.events.filter((e) => e.event === 'repair-wait').length, 1);
    assert.ok(b.events.findIndex((e) => e.event === 'repair-wait') < b.events.findIndex((e) => e.event === 'joined'));
  } finally {
    for (const p of procs) p.child.kill();
    await Promise.all(procs.map((p) => p.exited));
    await relay.close();
  }
});

test('the human lines: a calm repair-wait line; a removed disruptor is named as a former member', () => {
  assert.match(humanLine({ event: 'repair-wait', since: 0 }), /^\* waiting for the members to repair the room's group information/);
  const former = humanLine({ event: 'disruption', slot: 4, formerNick: 'mal\u001b[2J', count: 2, reason: 'bad-commit' });
  assert.match(former, /^! mal\ufffd\[2J \(a former member\) disrupted the room \(bad-commit, 2 time\(s\)\); the room repaired itself\. /);
  assert.match(humanLine({ event: 'disruption', slot: 4, count: 1, reason: 'bad-commit' }), /^! a connection \(slot 4\) disrupted/);
});
