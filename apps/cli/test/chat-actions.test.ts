/**
 * Replies, reactions, edits and deletes in the terminal (issue 13; docs/PROTOCOL.md §5.4, §7):
 * numbered lines, `/reply N`, `/react N`, `/edit N`, `/delete N` between two real `nullroom chat`
 * processes on a real relay, what a member may not do to another's message, and how it all reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from '../src/commands.js';
import { humanLine } from '../src/output.js';
import { chatMembers, type Proc, serveProc } from './_spawn.js';

const PW = { NULLROOM_PASSWORD: 'test password for chat actions' };

test('/reply, /react, /edit, /delete on numbered lines; nobody edits or deletes another member’s line', async () => {
  const { proc: relay, url } = await serveProc();
  const procs: Proc[] = [];
  try {
    const chat = chatMembers(url, 'actions-room', PW, procs);
    const a = chat('alice');
    await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    const b = chat('bob');
    await b.waitFor((e) => e['event'] === 'joined', 'bob joined');
    await a.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'bob', 'alice sees bob');
    const after = (p: Proc, n: number, pred: (e: Record<string, unknown>) => boolean, what: string) =>
      p.waitFor((e) => p.events.indexOf(e) >= n && pred(e), what);

    a.child.stdin.write('lunch at noon?\n');
    const mine = await a.waitFor((e) => e['event'] === 'pending', 'alice pending');
    assert.equal(mine['ref'], 1);
    const got = await b.waitFor((e) => e['event'] === 'message' && e['text'] === 'lunch at noon?', 'bob reads it');
    assert.equal(got['ref'], 1);
    assert.equal(got['id'], mine['id']);

    b.child.stdin.write('/reply 1 yes, see you there\n');
    const reply = await a.waitFor((e) => e['event'] === 'message' && e['text'] === 'yes, see you there', 'alice reads the reply');
    assert.deepEqual(reply['re'], { id: mine['id'], ref: 1, from: 'alice', text: 'lunch at noon?' });
    assert.equal(reply['ref'], 2);

    b.child.stdin.write('/react 1 👍\n');
    const r = await a.waitFor((e) => e['event'] === 'reaction', 'alice sees the reaction');
    assert.deepEqual(r['reactions'], [{ emoji: '👍', count: 1, from: ['bob'] }]);
    assert.equal(r['ref'], 1);

    // What bob may not do: refused by his own client, with a code.
    for (const [line, code] of [
      ['/edit 1 lunch is cancelled', 'NOT_YOURS'],
      ['/delete 1', 'NOT_YOURS'],
      ['/edit 99 nothing', 'NO_SUCH_MESSAGE'],
      ['/react 1 ok', 'BAD_REACTION'],
      ['/reply', 'USAGE'],
    ] as const) {
      const n = b.events.length;
      b.child.stdin.write(`${line}\n`);
      assert.equal((await after(b, n, (e) => e['event'] === 'error', line))['code'], code, line);
    }

    a.child.stdin.write('/edit 1 lunch at one?\n');
    const edited = await b.waitFor((e) => e['event'] === 'edited', 'bob sees the edit');
    assert.deepEqual([edited['ref'], edited['from'], edited['text'], edited['self']], [1, 'alice', 'lunch at one?', false]);
    await a.waitFor((e) => e['event'] === 'edited' && e['self'] === true, 'alice sees her own edit');
    a.child.stdin.write('/delete 1\n');
    const deleted = await b.waitFor((e) => e['event'] === 'deleted', 'bob sees the delete');
    assert.deepEqual([deleted['ref'], deleted['from']], [1, 'alice']);
    let n = b.events.length;
    b.child.stdin.write('/react 1 🎉\n');
    assert.equal((await after(b, n, (e) => e['event'] === 'error', 'a deleted line'))['code'], 'NO_SUCH_MESSAGE');
    // A reply to the reply quotes it; the reply to the deleted line now quotes "deleted".
    n = a.events.length;
    b.child.stdin.write('/reply 2 (that was me)\n');
    const again = await after(a, n, (e) => e['event'] === 'message', 'second reply');
    assert.deepEqual(again['re'], { id: reply['id'], ref: 2, from: 'bob', text: 'yes, see you there' });
    assert.equal(a.events.filter((e) => e['event'] === 'edited').length, 1, 'no edit of bob’s ever counted');

    // In a private chat too: numbered lines, a reply, a reaction, and no edit of the other's line.
    a.child.stdin.write('/dm bob just us\n');
    const priv = await b.waitFor((e) => e['event'] === 'message' && e['private'] === true, 'bob reads the private line');
    b.child.stdin.write(`/reply ${priv['ref']} ok, just us\n/react ${priv['ref']} 🤫\n`);
    const privReply = await a.waitFor((e) => e['event'] === 'message' && e['text'] === 'ok, just us', 'alice reads the private reply');
    assert.equal(privReply['private'], true);
    assert.deepEqual((privReply['re'] as Record<string, unknown>)['text'], 'just us');
    const privReaction = await a.waitFor((e) => e['event'] === 'reaction' && e['private'] === true, 'private reaction');
    assert.deepEqual([privReaction['with'], privReaction['reactions']], ['bob', [{ emoji: '🤫', count: 1, from: ['bob'] }]]);
    n = b.events.length;
    b.child.stdin.write(`/edit ${priv['ref']} forged\n`);
    assert.equal((await after(b, n, (e) => e['event'] === 'error', 'private edit refused'))['code'], 'NOT_YOURS');
    for (const p of procs) p.child.stdin.end();
    for (const p of procs) assert.equal(await p.exited, 0);
  } finally {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});

test('numbered lines, quotes, reactions, edits and deletes read plainly, and safely', () => {
  const ts = new Date(2026, 0, 1, 12, 0).getTime();
  assert.equal(humanLine({ event: 'message', from: 'bob', text: 'hi', ts, ref: 3 }), '[12:00] #3 <bob> hi');
  assert.equal(
    humanLine({ event: 'message', from: 'bob', text: 'yes', ts, ref: 4, re: { id: 'x', ref: 3, from: 'alice', text: 'lunch\nat noon?' } }),
    '[12:00] #4 <bob> (re #3 <alice> lunch at noon?) yes',
  );
  assert.equal(
    humanLine({ event: 'message', from: 'bob', text: 'yes', ts, re: { id: 'x' } }),
    '[12:00] <bob> (re: original not available) yes',
  );
  assert.equal(
    humanLine({ event: 'message', from: 'bob', text: 'ok', ts, re: { id: 'x', ref: 1, from: 'alice', deleted: true } }),
    '[12:00] <bob> (re #1 <alice>: deleted) ok',
  );
  const long = humanLine({ event: 'message', from: 'b', text: 'k', ts, re: { id: 'x', from: 'a', text: 'y'.repeat(100) } });
  assert.ok(long.includes(`${'y'.repeat(40)}\u2026)`), 'a long quote is cut');
  assert.ok(
    !humanLine({ event: 'message', from: 'b', text: 'k', ts, re: { id: 'x', from: 'a\u001b[2J', text: '\u202eevil' } }).match(
      /[\u001b\u202e]/,
    ),
  );
  assert.equal(
    humanLine({ event: 'reaction', id: 'x', ref: 3, reactions: [{ emoji: '👍', count: 2, from: ['alice', 'bob'] }] }),
    '* reactions on #3: 👍 2 (alice, bob)',
  );
  assert.equal(humanLine({ event: 'reaction', id: 'x', reactions: [] }), '* reactions on a message: none');
  assert.equal(humanLine({ event: 'edited', id: 'x', ref: 3, from: 'alice', text: 'new', self: false }), '* alice edited #3: new');
  assert.equal(humanLine({ event: 'deleted', id: 'x', ref: 3, from: 'alice', self: true }), '* you deleted #3');
  assert.equal(humanLine({ event: 'typing', from: 'alice', on: true }), '* alice is typing\u2026');
  assert.equal(
    humanLine({ event: 'deleted', id: 'x', ref: 5, from: 'bob', self: false, private: true, with: 'bob' }),
    '* (private with bob) bob deleted #5',
  );
  for (const name of ['reply', 'react', 'edit', 'delete'])
    assert.ok(
      COMMANDS.some((c) => c.name === name),
      `/help lists /${name}`,
    );
});
