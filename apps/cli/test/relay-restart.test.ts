/**
 * `kill -9` of the relay in the middle of a conversation between three terminal clients
 * (docs/PROTOCOL.md §4.5): the relay comes back on the same port with the same data directory,
 * the room is still there (rooms.db), every member resumes its slot, what was typed while the
 * relay was down is `pending` until acknowledged and then reaches everyone once, and nobody is
 * seen leaving or joining.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Proc, run } from './_spawn.js';

const PW = { NULLROOM_PASSWORD: 'restart pass 4821 kestrel' };

async function serveAt(data: string, port: string): Promise<{ proc: Proc; url: string }> {
  const proc = run(['serve', '--port', port, '--data', data]);
  const line = await proc.waitLine((l) => l.startsWith('nullroom listening on '), 'listening line');
  return { proc, url: line.slice('nullroom listening on '.length) };
}

const texts = (p: Proc) => p.events.filter((e) => e['event'] === 'message').map((e) => String(e['text']));

test('kill -9 of the relay mid-conversation: the room survives, members resume, typed-while-down lines are pending then delivered once', async () => {
  const data = mkdtempSync(join(tmpdir(), 'nullroom-restart-'));
  let relay = await serveAt(data, '0');
  const port = new URL(relay.url).port;
  const members: Proc[] = [];
  try {
    const chat = (nick: string) => run(['chat', relay.url, '--room', 'restart-room', '--nick', nick, '--json'], PW);
    for (const nick of ['alice', 'bob', 'carol']) {
      const p = chat(nick);
      members.push(p);
      await p.waitFor((e) => e['event'] === 'joined', 'joined', 60_000);
    }
    const [a, b, c] = members as [Proc, Proc, Proc];
    await a.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'carol', 'alice sees carol');
    await b.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'carol', 'bob sees carol');

    for (let i = 1; i <= 3; i++) a.child.stdin.write(`before ${i}\n`);
    for (const p of [b, c]) await p.waitFor((e) => e['event'] === 'message' && e['text'] === 'before 3', 'before 3');
    // Alice hears her own acknowledgements after the others read her lines, sometimes: wait for them.
    await a.waitFor(() => a.events.filter((e) => e['event'] === 'sent').length >= 3, 'alice sees her lines acknowledged');
    const marks = members.map((p) => p.events.length);

    relay.proc.child.kill('SIGKILL');
    await relay.proc.exited;
    for (const p of members) await p.waitFor((e) => e['event'] === 'connection' && e['state'] === 'reconnecting', 'reconnecting');
    for (let i = 1; i <= 3; i++) a.child.stdin.write(`during ${i}\n`);
    b.child.stdin.write('bob during\n');
    await a.waitFor((e) => e['event'] === 'pending' && e['text'] === 'during 3', 'pending while the relay is down');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(
      a.events.slice(marks[0]).filter((e) => e['event'] === 'sent').length,
      0,
      'nothing is shown as sent while the relay is down',
    );

    relay = await serveAt(data, port);
    for (const p of [b, c])
      await p.waitFor((e) => e['event'] === 'message' && e['text'] === 'during 3', 'during 3 after the restart', 30_000);
    for (const p of [a, c]) await p.waitFor((e) => e['event'] === 'message' && e['text'] === 'bob during', 'bob during', 30_000);
    const sentIds = () => new Set(a.events.filter((e) => e['event'] === 'sent').map((e) => e['id']));
    const pending = a.events.filter((e) => e['event'] === 'pending' && String(e['text']).startsWith('during')).map((e) => e['id']);
    await a.waitFor(() => pending.every((id) => sentIds().has(id)), 'alice sees her lines acknowledged', 30_000);

    c.child.stdin.write('carol after\n');
    for (const p of [a, b]) await p.waitFor((e) => e['event'] === 'message' && e['text'] === 'carol after', 'carol after');
    assert.deepEqual(texts(b), ['before 1', 'before 2', 'before 3', 'during 1', 'during 2', 'during 3', 'carol after']);
    // Carol reads alice's lines in alice's order; bob's line lands among them, wherever bob resumed.
    assert.deepEqual(
      texts(c).filter((t) => t !== 'bob during'),
      ['before 1', 'before 2', 'before 3', 'during 1', 'during 2', 'during 3'],
    );
    assert.ok(texts(c).includes('bob during'));
    assert.equal(new Set(texts(c)).size, texts(c).length, 'nothing twice');
    members.forEach((p, i) => {
      const churn = p.events.slice(marks[i]).filter((e) => e['event'] === 'member-left' || e['event'] === 'member-joined');
      assert.deepEqual(churn, [], 'nobody left or joined');
    });
    for (const p of members) p.child.stdin.end();
    for (const p of members) assert.equal(await p.exited, 0);
  } finally {
    for (const p of members) p.child.kill('SIGKILL');
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
    rmSync(data, { recursive: true, force: true });
  }
});

test('a line that cannot be sent in time shows as not sent (SEND_TIMED_OUT), and /retry sends it once the relay is back', async () => {
  const data = mkdtempSync(join(tmpdir(), 'nullroom-retry-'));
  let relay = await serveAt(data, '0');
  const port = new URL(relay.url).port;
  const members: Proc[] = [];
  try {
    for (const nick of ['alice', 'bob']) {
      const p = run(['chat', relay.url, '--room', 'retry-room', '--nick', nick, '--json', '--send-timeout', '1'], PW);
      members.push(p);
      await p.waitFor((e) => e['event'] === 'joined', 'joined', 60_000);
    }
    const [a, b] = members as [Proc, Proc];
    relay.proc.child.kill('SIGKILL');
    await relay.proc.exited;
    await a.waitFor((e) => e['event'] === 'connection' && e['state'] === 'reconnecting', 'reconnecting');
    a.child.stdin.write('typed into the void\n');
    const pending = await a.waitFor((e) => e['event'] === 'pending', 'pending');
    const unsent = await a.waitFor((e) => e['event'] === 'unsent' && e['id'] === pending['id'], 'unsent after the timeout');
    assert.equal(unsent['code'], 'SEND_TIMED_OUT');

    relay = await serveAt(data, port);
    await a.waitFor((e) => e['event'] === 'connection' && e['state'] === 'online', 'online again', 30_000);
    a.child.stdin.write('/retry\n');
    await a.waitFor((e) => e['event'] === 'sent' && e['id'] === pending['id'], 'sent after /retry', 30_000);
    await b.waitFor((e) => e['event'] === 'message' && e['text'] === 'typed into the void', 'bob reads it', 30_000);
    assert.equal(a.events.filter((e) => e['event'] === 'pending' && e['id'] === pending['id']).length, 2, 'pending again, same id');
    a.child.stdin.write('/retry\n');
    const none = await a.waitFor((e) => e['event'] === 'error' && e['code'] === 'USAGE', 'nothing left to retry');
    assert.match(String(none['message']), /no message/);
    for (const p of members) p.child.stdin.end();
    for (const p of members) assert.equal(await p.exited, 0);
    assert.equal(texts(b).filter((t) => t === 'typed into the void').length, 1, 'once');
  } finally {
    for (const p of members) p.child.kill('SIGKILL');
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
    rmSync(data, { recursive: true, force: true });
  }
});
