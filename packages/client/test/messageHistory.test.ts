/**
 * The message history (src/messageHistory.ts, docs/PROTOCOL.md §11.13): appending is once per
 * (conversation, id), chunks of 200 hold their messages across boundaries, paging by index, unread
 * counts and markRead kept across a reopen, an append rewrites two small records whatever the
 * history's size, a crash between a chunk and its meta is counted in on the next load; and the
 * terminal's sealed records (src/node/fileHistory.ts): no plaintext in any byte or name on disk,
 * and a tampered or moved record is HISTORY_CORRUPT, never an empty history; a reply's `replyTo`
 * reads back, and one that is not a message id (32 lowercase hex) makes its record HISTORY_CORRUPT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HISTORY_CHUNK, MemoryRecords, MessageHistory, type NewMessage } from '../src/accounts.js';
import { ClientError } from '../src/errors.js';
import { decodeChunk, encodeChunk } from '../src/historyRecord.js';
import { FileMessengerStore } from '../src/node/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-history-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const hexId = (n: number) => n.toString(16).padStart(32, '0');
const msg = (conversation: string, n: number, over: Partial<NewMessage> = {}): NewMessage => ({
  conversation,
  id: hexId(n),
  from: 'bob',
  fromDevice: 'Ym9iLWRldmljZQ',
  own: false,
  text: `message ${n}`,
  at: 1_000 + n,
  sentAt: 900 + n,
  ...over,
});

/** Records that count the puts, and can be told to fail the next put whose name matches. */
class CountingRecords extends MemoryRecords {
  puts: string[] = [];
  failNext: RegExp | undefined;
  override async put(name: string, value: Uint8Array): Promise<void> {
    if (this.failNext?.test(name)) {
      this.failNext = undefined;
      throw new Error('disk full');
    }
    this.puts.push(name);
    return super.put(name, value);
  }
}

test('append is once per (conversation, id), also across a reopen; the same id in another conversation is another message', async () => {
  const records = new MemoryRecords();
  const h = new MessageHistory(records);
  const first = await h.append([msg('c1', 1), msg('c1', 2)]);
  assert.deepEqual(
    first.map((m) => m.index),
    [0, 1],
  );
  assert.deepEqual(await h.append([msg('c1', 2), msg('c1', 3), msg('c1', 3)]), [{ ...msg('c1', 3), index: 2 }]);
  assert.equal((await h.append([msg('c2', 1)])).length, 1, 'ids are per conversation');
  const again = new MessageHistory(records);
  assert.deepEqual(await again.append([msg('c1', 1), msg('c1', 2), msg('c1', 3)]), [], 'a restarted history skips them too');
  assert.deepEqual(
    (await again.messages('c1')).map((m) => m.text),
    ['message 1', 'message 2', 'message 3'],
  );
});

test('chunks of 200: messages across boundaries page back by index, oldest first', async () => {
  const records = new CountingRecords();
  const h = new MessageHistory(records);
  const all = Array.from({ length: 450 }, (_, i) => msg('c', i));
  await h.append(all.slice(0, 150));
  await h.append(all.slice(150));
  const chunks = new Set(records.puts.filter((n) => /^c:c:\d+$/.test(n)));
  assert.deepEqual([...chunks].sort(), ['c:c:0', 'c:c:1', 'c:c:2']);
  const reopened = new MessageHistory(records);
  const last = await reopened.messages('c');
  assert.deepEqual(
    last.map((m) => m.index),
    Array.from({ length: 50 }, (_, i) => 400 + i),
    'by default the newest 50',
  );
  const across = await reopened.messages('c', { before: 210, limit: 30 });
  assert.deepEqual(
    across.map((m) => m.id),
    all.slice(180, 210).map((m) => m.id),
    'a page across the boundary of chunks 0 and 1',
  );
  assert.deepEqual(
    (await reopened.messages('c', { before: 5, limit: 50 })).map((m) => m.index),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(await reopened.messages('c', { before: 0 }), []);
  assert.equal((await reopened.messages('c', { limit: 5000 })).length, 450, 'at most 1000 a page: all 450');
  assert.deepEqual(await reopened.messages('nothing'), []);
});

test('appending to a long history rewrites two small records: the last chunk and the meta', async () => {
  const records = new CountingRecords();
  const h = new MessageHistory(records);
  await h.append(Array.from({ length: 1000 }, (_, i) => msg('c', i)));
  records.puts = [];
  await h.append([msg('c', 5000)]);
  assert.deepEqual(records.puts, [`c:c:${Math.floor(1000 / HISTORY_CHUNK)}`, 'c:c']);
  records.puts = [];
  await new MessageHistory(records).append([msg('c', 5001), msg('c', 5002)]);
  assert.deepEqual(records.puts, ['c:c:5', 'c:c'], 'after a reopen too');
});

test('unread counts messages from others after the last markRead, kept across a reopen; own ones never count', async () => {
  const records = new MemoryRecords();
  const h = new MessageHistory(records);
  await h.open('quiet', 50);
  await h.append([msg('c', 1), msg('c', 2, { own: true, from: 'alice', status: 'sent' }), msg('c', 3)]);
  assert.deepEqual(
    (await h.conversations()).map((e) => [e.id, e.unread]),
    [
      ['quiet', 0],
      ['c', 2],
    ],
  );
  await h.markRead('c');
  await h.append([msg('c', 4)]);
  const reopened = new MessageHistory(records);
  const c = (await reopened.conversations()).find((e) => e.id === 'c');
  assert.equal(c?.unread, 1, 'markRead was kept, and one came since');
  assert.equal(c?.last?.id, hexId(4));
  assert.equal(c?.activeAt, 1_004);
  assert.equal(
    (await reopened.conversations()).find((e) => e.id === 'quiet')?.activeAt,
    50,
    'a conversation with no message: since it was opened',
  );
});

test('update changes messages in place (the last one in the meta too); unknown ids are ignored', async () => {
  const h = MessageHistory.memory();
  await h.append([msg('c', 1, { own: true, status: 'sending' }), msg('c', 2, { own: true, status: 'sending' })]);
  const changed = await h.update('c', [hexId(2), hexId(99)], (m) => ({ ...m, status: 'sent', deliveredTo: ['d1'] }));
  assert.deepEqual(
    changed.map((m) => [m.id, m.status, m.index]),
    [[hexId(2), 'sent', 1]],
  );
  assert.equal((await h.conversations())[0]?.last?.status, 'sent');
  assert.deepEqual(await h.update('nowhere', [hexId(1)], (m) => m), []);
});

test('a crash after a chunk was written and before its meta: the next load counts the message in, once', async () => {
  const records = new CountingRecords();
  const h = new MessageHistory(records);
  await h.append([msg('c', 1)]);
  records.failNext = /^c:c$/;
  await assert.rejects(h.append([msg('c', 2)]), /disk full/);
  const after = new MessageHistory(records);
  assert.deepEqual(await after.append([msg('c', 2)]), [], 'the redelivered message is already there');
  assert.deepEqual(
    (await after.conversations()).map((e) => [e.unread, e.last?.id]),
    [[2, hexId(2)]],
  );
  assert.deepEqual(
    (await after.messages('c')).map((m) => m.index),
    [0, 1],
  );
});

test('the terminal’s sealed records: no plaintext in any byte or file name, and the history reads back', async () => {
  const keyDir = join(dir, 'sealed');
  const store = await FileMessengerStore.open(keyDir, 'http://127.0.0.1:1', 'alice');
  const canary = 'CANARY-plaintext-7f3e';
  const conversation = 'Q0FOQVJZLWNvbnZlcnNhdGlvbg';
  const h = new MessageHistory(store.history());
  await h.append([msg(conversation, 1, { text: `${canary} one`, from: `${canary}-bob` }), msg(conversation, 2, { text: canary })]);
  await h.markRead(conversation);
  const folder = join(keyDir, 'messenger');
  const files = readdirSync(folder);
  assert.ok(files.filter((f) => f.endsWith('.rec')).length >= 3, 'a list, a meta and a chunk');
  for (const f of files) {
    assert.ok(!f.includes(conversation) && !f.includes(canary), `file name ${f}`);
    const bytes = readFileSync(join(folder, f));
    for (const needle of [canary, conversation, 'message', hexId(1)]) {
      assert.equal(bytes.includes(Buffer.from(needle)), false, `${needle} in ${f}`);
    }
  }
  await store.close();
  const reopened = await FileMessengerStore.open(keyDir, 'http://127.0.0.1:1', 'alice');
  assert.deepEqual(
    (await new MessageHistory(reopened.history()).messages(conversation)).map((m) => m.text),
    [`${canary} one`, canary],
  );
  await reopened.close();
});

test('a tampered record, or one moved under another name, is HISTORY_CORRUPT, never an empty history', async () => {
  const keyDir = join(dir, 'tamper');
  const origin = 'http://127.0.0.1:2';
  const store = await FileMessengerStore.open(keyDir, origin, 'alice');
  await new MessageHistory(store.history()).append([msg('c', 1), msg('c', 2)]);
  await store.close();
  const folder = join(keyDir, 'messenger');
  const recs = readdirSync(folder).filter((f) => f.endsWith('.rec'));
  const corrupt = async (why: string) => {
    const s = await FileMessengerStore.open(keyDir, origin, 'alice');
    try {
      // Whichever record it is (the list, a meta or a chunk: their names are HMACs, in no known order), one of the two reads it.
      const h = new MessageHistory(s.history());
      const r = await Promise.allSettled([h.messages('c'), h.conversations()]);
      assert.ok(
        r.some(
          (x) =>
            x.status === 'rejected' &&
            x.reason instanceof ClientError &&
            x.reason.code === 'HISTORY_CORRUPT' &&
            !x.reason.message.includes('message 1'),
        ),
        why,
      );
    } finally {
      await s.close();
    }
  };
  const saved = new Map(recs.map((f) => [f, readFileSync(join(folder, f))]));
  for (const f of recs) {
    const b = Buffer.from(saved.get(f)!);
    b[b.length - 5]! ^= 1;
    writeFileSync(join(folder, f), b);
    // The list is read only by conversations(); the meta and the chunk by messages().
    const s = await FileMessengerStore.open(keyDir, origin, 'alice');
    const h = new MessageHistory(s.history());
    const r = await Promise.allSettled([h.messages('c'), h.conversations()]);
    await s.close();
    assert.ok(
      r.some((x) => x.status === 'rejected' && x.reason instanceof ClientError && x.reason.code === 'HISTORY_CORRUPT'),
      'one flipped bit is refused',
    );
    writeFileSync(join(folder, f), saved.get(f)!);
  }
  // The chunk's file moved over the meta's: it does not open under the meta's name.
  const [a, b] = recs.filter((f) => saved.get(f)!.length > 0);
  renameSync(join(folder, a!), join(folder, `${a}.away`));
  writeFileSync(join(folder, a!), saved.get(b!)!);
  await corrupt('a record under another record’s name');
});

test("a reply's replyTo is kept, and bounded like a message id: anything else is HISTORY_CORRUPT", async () => {
  const h = new MessageHistory(new MemoryRecords());
  await h.append([msg('c', 1), msg('c', 2, { replyTo: hexId(1) })]);
  assert.deepEqual(
    (await h.messages('c')).map((m) => m.replyTo),
    [undefined, hexId(1)],
  );
  const reply = { ...msg('c', 2), index: 0 };
  assert.equal(decodeChunk(encodeChunk([{ ...reply, replyTo: hexId(1) }]))[0]?.replyTo, hexId(1));
  for (const replyTo of ['e0e1', hexId(0xabc).toUpperCase(), `${hexId(1)}0`, 'x'.repeat(1 << 16)]) {
    assert.throws(
      () => decodeChunk(encodeChunk([{ ...reply, replyTo }])),
      (e: unknown) => e instanceof ClientError && e.code === 'HISTORY_CORRUPT',
      replyTo.slice(0, 40),
    );
  }
});
