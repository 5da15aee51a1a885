/**
 * One contract for the conversations and mailboxes of every account store
 * (src/accounts/conversationStore.ts), run by conversationStore.test.ts against SQLite and
 * PostgreSQL. A harness gives the store and a raw look at its tables (to check what the API cannot
 * show: that a payload is gone with its last delivery, that nothing of a deleted device remains).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccountStore } from '../src/accounts/accountStore.js';
import { type ConversationLimits, defaultConversationLimits } from '../src/accounts/conversationStore.js';
import { AccountStoreError } from '../src/errors.js';

export interface Harness {
  /** The open store (raw() may replace it). */
  store: AccountStore;
  /** Runs one query on the store's tables (unqualified names, no parameters) and returns its rows. */
  raw(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

const L = defaultConversationLimits;
const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const NEW_TABLES = ['conversations', 'members', 'messages', 'deliveries', 'mailbox_heads', 'mail_losses'];

/** Users u0, u1, … with devices d0, d1, … (`perUser` each). */
async function devices(st: AccountStore, n: number, perUser = 1): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const user = `u${Math.floor(i / perUser)}`;
    if (i % perUser === 0) await st.createUser({ id: user, name: `user${user}`, key: `user${user}`, record: 'r', createdAt: 1 });
    const key = new Uint8Array(32);
    new DataView(key.buffer).setUint32(0, i + 1);
    // The store keeps device-list entries as bytes, in order (the relay checks them before): one per device added.
    const entry = { version: (i % perUser) + 1, entry: key };
    assert.equal(await st.addDevice({ id: `d${i}`, userId: user, identityKey: key, createdAt: i }, perUser, entry), 'added');
    ids.push(`d${i}`);
  }
  return ids;
}

/** A conversation `c` of `members` at epoch 1: the first creates it and adds the others. */
async function group(st: AccountStore, c: string, members: string[], limits: ConversationLimits = L): Promise<void> {
  const [first, ...rest] = members as [string, ...string[]];
  assert.equal(await st.createConversation(c, first, 0), 'created');
  const r = await st.submitCommit(
    { conversation: c, sender: first, epoch: 0, payload: bytes(8), add: rest, remove: [], welcome: bytes(8, 2) },
    limits,
    0,
  );
  assert.equal(r.status, 'accepted');
}

const app = (conversation: string, sender: string, epoch: number, payload = bytes(16)) => ({ conversation, sender, epoch, payload });
const count = async (h: Harness, sql: string) => Number((await h.raw(sql))[0]?.n);

async function drain(h: Harness, device: string, now = 0) {
  const { entries } = await h.store.mailbox(device, 0, 1000, now);
  await h.store.ack(device, entries.at(-1)?.seq ?? 0);
  return entries;
}

export function conversationContract(kind: string, make: () => Promise<Harness>, skip: string | false = false): void {
  const run = (name: string, fn: (h: Harness) => Promise<void>) =>
    test(`${kind}: ${name}`, { skip }, async () => {
      const h = await make();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    });

  run('a conversation is created once, by an existing device, with it as the only member at epoch 0', async (h) => {
    const st = h.store;
    await devices(st, 2);
    assert.equal(await st.createConversation('c1', 'd0', 5), 'created');
    assert.equal(await st.createConversation('c1', 'd1', 6), 'exists');
    assert.equal(await st.createConversation('c2', 'nope', 6), 'unknown-device');
    assert.deepEqual(await st.members('c1'), { epoch: 0, devices: ['d0'] });
    assert.equal(await st.members('c2'), undefined);
    assert.deepEqual(await st.conversationsOf('d0'), ['c1']);
    assert.deepEqual(await st.conversationsOf('d1'), []);
  });

  run('commits: one per epoch, by a member; added devices get the welcome, removed ones the commit', async (h) => {
    const st = h.store;
    await devices(st, 4);
    await st.createConversation('c', 'd0', 0);
    const commit = (sender: string, epoch: number, add: string[] = [], remove: string[] = [], welcome?: Uint8Array) =>
      st.submitCommit({ conversation: 'c', sender, epoch, payload: bytes(10, epoch + 10), add, remove, welcome }, L, 100);
    assert.deepEqual(await st.submitCommit({ ...app('none', 'd0', 0), add: [], remove: [] }, L, 0), { status: 'no-such-conversation' });
    assert.deepEqual(await commit('d1', 0), { status: 'not-member' });
    assert.deepEqual(await commit('d0', 3), { status: 'wrong-epoch', epoch: 0 });
    assert.deepEqual(await commit('d0', 0, ['d1', 'ghost'], [], bytes(4)), { status: 'unknown-device', device: 'ghost' });
    assert.deepEqual(await st.members('c'), { epoch: 0, devices: ['d0'] }, 'a refused commit changes nothing');
    assert.deepEqual(await st.usage('d1'), { entries: 0, bytes: 0 });
    const welcome = bytes(20, 7);
    const added = await commit('d0', 0, ['d2', 'd1'], [], welcome);
    assert.equal(added.status, 'accepted');
    if (added.status !== 'accepted') return;
    assert.equal(added.epoch, 1);
    assert.deepEqual(
      added.delivered.map((d) => [d.device, d.seq, d.kind]).sort(),
      [
        ['d1', 1, 'welcome'],
        ['d2', 1, 'welcome'],
      ],
      'the sole member sent it: only the added devices get anything, the welcome',
    );
    const [w] = (await st.mailbox('d1', 0, 10, 100)).entries;
    assert.deepEqual(w, { seq: 1, conversation: 'c', kind: 'welcome', sender: 'd0', epoch: 1, payload: welcome, createdAt: 100 });
    assert.deepEqual(await commit('d0', 0), { status: 'wrong-epoch', epoch: 1 }, 'the epoch was taken');
    // d1 removes d2 and adds d3: d0 and d2 get the commit, d3 the welcome.
    const removed = await commit('d1', 1, ['d3'], ['d2'], bytes(5));
    assert.equal(removed.status, 'accepted');
    if (removed.status !== 'accepted') return;
    assert.deepEqual(removed.delivered.map((d) => [d.device, d.kind]).sort(), [
      ['d0', 'commit'],
      ['d2', 'commit'],
      ['d3', 'welcome'],
    ]);
    const last = (await st.mailbox('d2', 0, 10, 100)).entries.at(-1);
    assert.deepEqual([last?.kind, last?.epoch, last?.sender, last?.payload], ['commit', 1, 'd1', bytes(10, 11)]);
    assert.deepEqual(await st.members('c'), { epoch: 2, devices: ['d0', 'd1', 'd3'] });
    assert.deepEqual(await st.conversationsOf('d2'), []);
    assert.deepEqual(await st.submitApp(app('c', 'd2', 2), L, 100), { status: 'not-member' }, 'a removed device cannot send');
  });

  run('a commit’s change is checked: welcome exactly with additions, no device twice, no self-removal, the cap', async (h) => {
    const st = h.store;
    await devices(st, 4);
    await group(st, 'c', ['d0', 'd1']);
    const c = (add: string[], remove: string[], welcome?: Uint8Array, limits = L) =>
      st.submitCommit({ conversation: 'c', sender: 'd0', epoch: 1, payload: bytes(3), add, remove, welcome }, limits, 0);
    assert.deepEqual(await c(['d2'], []), { status: 'bad-change', reason: 'welcome-mismatch' });
    assert.deepEqual(await c([], [], bytes(2)), { status: 'bad-change', reason: 'welcome-mismatch' });
    assert.deepEqual(await c(['d2', 'd2'], [], bytes(2)), { status: 'bad-change', reason: 'duplicate', device: 'd2' });
    assert.deepEqual(await c(['d1'], ['d1'], bytes(2)), { status: 'bad-change', reason: 'duplicate', device: 'd1' });
    assert.deepEqual(await c([], ['d0']), { status: 'bad-change', reason: 'self-remove', device: 'd0' });
    assert.deepEqual(await c(['d1'], [], bytes(2)), { status: 'bad-change', reason: 'already-member', device: 'd1' });
    assert.deepEqual(await c([], ['d3']), { status: 'bad-change', reason: 'not-member', device: 'd3' });
    assert.deepEqual(await c(['d2', 'd3'], [], bytes(2), { ...L, maxMembers: 3 }), { status: 'too-many-members', max: 3 });
    assert.equal((await c(['d2', 'd3'], ['d1'], bytes(2), { ...L, maxMembers: 3 })).status, 'accepted', 'a removal makes room');
  });

  run('application messages go to every member but the sender, at the current epoch only', async (h) => {
    const st = h.store;
    await devices(st, 3);
    await group(st, 'c', ['d0', 'd1', 'd2']);
    assert.deepEqual(await st.submitApp(app('c', 'd1', 0), L, 1), { status: 'wrong-epoch', epoch: 1 });
    assert.deepEqual(await st.submitApp(app('x', 'd1', 1), L, 1), { status: 'no-such-conversation' });
    const r = await st.submitApp(app('c', 'd1', 1, bytes(30, 9)), L, 7);
    assert.equal(r.status, 'accepted');
    if (r.status !== 'accepted') return;
    assert.deepEqual(
      r.delivered.map((d) => [d.device, d.seq, d.kind]).sort(),
      [
        ['d0', 1, 'app'],
        ['d2', 2, 'app'],
      ],
      'd2 had the welcome as seq 1; d0 had nothing',
    );
    assert.deepEqual(r.overflowed, []);
    assert.deepEqual((await st.mailbox('d1', 0, 10, 7)).entries.length, 1, 'the sender has only its welcome');
    const [e] = (await st.mailbox('d0', 0, 10, 7)).entries;
    assert.deepEqual(e, { seq: 1, conversation: 'c', kind: 'app', sender: 'd1', epoch: 1, payload: bytes(30, 9), createdAt: 7 });
    assert.equal(await count(h, 'SELECT count(*) AS n FROM messages'), 2, 'one welcome, one app message: each payload once');
  });

  run('mailboxes page in seq order; seqs never go back, even once acks have emptied the queue', async (h) => {
    const st = h.store;
    await devices(st, 2);
    await group(st, 'c', ['d0', 'd1']);
    await drain(h, 'd1');
    for (let i = 0; i < 25; i++) await st.submitApp(app('c', 'd0', 1, bytes(4, i)), L, i);
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const { entries } = await st.mailbox('d1', after, 10, 100);
      if (entries.length === 0) break;
      assert.ok(entries.length <= 10);
      seen.push(...entries.map((e) => e.seq));
      assert.deepEqual(
        entries.map((e) => e.payload[0]),
        entries.map((e) => e.seq - 2),
      );
      after = entries.at(-1)?.seq ?? after;
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => i + 2),
    );
    assert.equal((await st.mailbox('d1', 0, 5000, 100)).entries.length, 25, 'a page is at most MAILBOX_PAGE_MAX, here all');
    assert.equal(await st.ack('d1', 26), 25);
    assert.equal(await st.ack('d1', 26), 0);
    const r = await st.submitApp(app('c', 'd0', 1), L, 200);
    assert.deepEqual(r.status === 'accepted' && r.delivered, [{ device: 'd1', seq: 27, kind: 'app' }]);
  });

  run('acks delete entries, and a payload goes with its last delivery: all acked, the tables are empty', async (h) => {
    const st = h.store;
    await devices(st, 3);
    await group(st, 'c', ['d0', 'd1', 'd2']);
    for (let i = 0; i < 5; i++) await st.submitApp(app('c', 'd0', 1, bytes(100)), L, 1);
    assert.deepEqual(await st.usage('d1'), { entries: 6, bytes: 508 });
    assert.equal(await st.ack('d1', 3), 3);
    assert.deepEqual(await st.usage('d1'), { entries: 3, bytes: 300 });
    assert.equal(await count(h, 'SELECT count(*) AS n FROM messages'), 6, 'd2 still needs every one');
    await drain(h, 'd2');
    assert.equal(await count(h, 'SELECT count(*) AS n FROM messages'), 3, 'what d1 acked and d2 too is gone');
    await drain(h, 'd1');
    assert.equal(await count(h, 'SELECT count(*) AS n FROM messages'), 0);
    assert.equal(await count(h, 'SELECT count(*) AS n FROM deliveries'), 0);
    assert.deepEqual(await h.store.usage('d1'), { entries: 0, bytes: 0 });
  });

  run('quotas: an over-quota device gets nothing and a loss; the others still get the message; the loss clears past it', async (h) => {
    const st = h.store;
    await devices(st, 3);
    const limits = { ...L, maxEntriesPerDevice: 3, maxBytesPerDevice: 1000 };
    await group(st, 'c', ['d0', 'd1', 'd2'], limits);
    await drain(h, 'd2');
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await st.submitApp(app('c', 'd0', 1, bytes(10)), limits, 1));
    // d1 had its welcome: 2 more fit; d2 acked its own, 3 fit.
    assert.deepEqual(
      results.map((r) => r.status === 'accepted' && [r.delivered.map((d) => d.device).sort(), r.overflowed]),
      [
        [['d1', 'd2'], []],
        [['d1', 'd2'], []],
        [['d2'], ['d1']],
        [[], ['d1', 'd2']],
      ],
    );
    const box = await st.mailbox('d1', 0, 10, 1);
    assert.deepEqual(
      box.entries.map((e) => e.seq),
      [1, 2, 3],
    );
    assert.deepEqual(box.lost, [{ conversation: 'c', entries: 2, handshake: false, afterSeq: 3 }]);
    assert.deepEqual(await st.usage('d1'), { entries: 3, bytes: 8 + 20 });
    assert.equal(await st.ack('d1', 3), 3);
    assert.equal((await st.mailbox('d1', 3, 10, 1)).lost.length, 1, 'acked up to the loss, not past it: still reported');
    const commit = await st.submitCommit({ conversation: 'c', sender: 'd0', epoch: 1, payload: bytes(10), add: [], remove: [] }, limits, 2);
    assert.deepEqual(commit.status === 'accepted' && commit.delivered.map((d) => [d.device, d.seq]).sort(), [['d1', 4]]);
    assert.deepEqual(commit.status === 'accepted' && commit.overflowed, ['d2']);
    assert.deepEqual((await st.mailbox('d2', 0, 10, 2)).lost, [{ conversation: 'c', entries: 2, handshake: true, afterSeq: 4 }]);
    assert.equal(await st.ack('d1', 4), 1);
    assert.deepEqual((await st.mailbox('d1', 4, 10, 2)).lost, [], 'an entry after the loss was acknowledged');
    // Bytes: 1000 per device; 990 fit, 20 more do not.
    await drain(h, 'd2');
    const big = await st.submitApp(app('c', 'd0', 2, bytes(990)), limits, 3);
    assert.deepEqual(big.status === 'accepted' && big.overflowed, []);
    const over = await st.submitApp(app('c', 'd0', 2, bytes(20)), limits, 3);
    assert.deepEqual(over.status === 'accepted' && [over.delivered, over.overflowed.sort()], [[], ['d1', 'd2']]);
    assert.equal(await count(h, 'SELECT count(*) AS n FROM messages WHERE length(payload) = 20'), 0, 'stored for no one: not stored');
  });

  run('retention: expired entries are never returned; expiry is recorded as a loss; prune deletes them', async (h) => {
    const st = h.store;
    await devices(st, 3);
    const limits = { ...L, retentionMs: 1000 };
    await group(st, 'c', ['d0', 'd1', 'd2'], limits);
    await st.submitApp(app('c', 'd0', 1), limits, 500);
    await st.submitApp(app('c', 'd0', 1), limits, 900);
    assert.equal(await st.pruneMail(1000), 2, 'the two welcomes (at 0) expire at 1000');
    assert.deepEqual(await st.pruneMail(1000), 0);
    const box = await st.mailbox('d1', 0, 10, 1600);
    assert.deepEqual(
      box.entries.map((e) => e.seq),
      [3],
      'the message of 500 expired at 1500: not returned',
    );
    assert.deepEqual(box.lost, [{ conversation: 'c', entries: 2, handshake: true, afterSeq: 3 }]);
    assert.deepEqual(await st.usage('d1'), { entries: 1, bytes: 16 }, 'the expired entry went on the way');
    assert.equal(await st.pruneMail(2000), 3, 'd1’s last one and d2’s two');
    assert.deepEqual(await st.usage('d2'), { entries: 0, bytes: 0 });
    assert.equal(await count(h, 'SELECT count(*) AS n FROM messages'), 0);
    assert.equal(await count(h, 'SELECT count(*) AS n FROM deliveries'), 0);
  });

  run('deleting a user removes its devices from every table; the conversation goes when no member is left', async (h) => {
    const st = h.store;
    await devices(st, 4, 2); // u0: d0 d1; u1: d2 d3
    await group(st, 'c', ['d0', 'd1', 'd2']);
    await st.submitApp(app('c', 'd2', 1), L, 1); // for d0 and d1 only
    await st.submitApp(app('c', 'd0', 1), L, 1); // d1 and d2
    await st.submitApp(app('c', 'd0', 1, bytes(5000)), { ...L, maxBytesPerDevice: 4000 }, 1); // a loss for each
    assert.equal(await st.deleteUser('u0'), true);
    assert.deepEqual(await st.members('c'), { epoch: 1, devices: ['d2'] });
    for (const t of ['members', 'deliveries', 'mailbox_heads', 'mail_losses'])
      assert.equal(await count(h, `SELECT count(*) AS n FROM ${t} WHERE device_id IN ('d0', 'd1')`), 0, t);
    assert.equal(await count(h, "SELECT count(*) AS n FROM messages WHERE sender = 'd2'"), 0, 'd2’s message had no one left');
    const left = await h.store.mailbox('d2', 0, 10, 1);
    assert.deepEqual(
      left.entries.map((e) => [e.kind, e.sender]),
      [
        ['welcome', 'd0'],
        ['app', 'd0'],
      ],
      'what d0 sent to d2 stays d2’s',
    );
    const next = ((await h.store.deviceListHead('u1'))?.version ?? 0) + 1;
    assert.equal(await h.store.removeDevice('u1', 'd2', { version: next, entry: new Uint8Array([next]) }), 'removed');
    assert.equal(await h.store.members('c'), undefined, 'no member left');
    assert.deepEqual(await h.store.submitApp(app('c', 'd2', 1), L, 1), { status: 'no-such-conversation' });
    assert.equal(await h.store.pruneMail(1), 0);
    for (const t of NEW_TABLES) assert.equal(await count(h, `SELECT count(*) AS n FROM ${t}`), 0, t);
  });

  run(
    'a device removed from its account leaves at once: sessions, mailbox, KeyPackages, routing; its leaf’s removal is accepted after',
    async (h) => {
      await devices(h.store, 3, 3); // u0: d0 d1 d2
      await h.store.createUser({ id: 'u9', name: 'other', key: 'other', record: 'r', createdAt: 1 });
      assert.equal(
        await h.store.addDevice({ id: 'd9', userId: 'u9', identityKey: bytes(32, 9), createdAt: 9 }, 3, { version: 1, entry: bytes(1) }),
        'added',
      );
      await group(h.store, 'c', ['d0', 'd1', 'd2']);
      await h.store.submitApp(app('c', 'd0', 1), L, 1);
      await h.store.submitApp(app('c', 'd0', 1, bytes(5000)), { ...L, maxBytesPerDevice: 4000 }, 1); // a loss for d1 and d2
      assert.equal(await h.store.addKeyPackages('u0', 'd2', [bytes(10)], bytes(10, 3), 10), 1);
      const session = (n: number, device?: string) => ({
        tokenHash: bytes(32, n),
        userId: 'u0',
        kind: 'cli' as const,
        createdAt: 1,
        expiresAt: 9e12,
        device,
      });
      await h.store.createSession(session(1, 'd2'));
      await h.store.createSession(session(2));
      assert.equal(await h.store.bindSession(bytes(32, 2), 'u0', 'd1'), true);
      await h.store.createSession(session(3));
      const next = ((await h.store.deviceListHead('u0'))?.version ?? 0) + 1;
      assert.equal(await h.store.removeDevice('u0', 'd2', { version: next, entry: bytes(1, next) }), 'removed');
      // Everything of d2's went in that one change.
      assert.equal(await h.store.session(bytes(32, 1), 2), undefined, 'the session bound to it ended');
      assert.equal((await h.store.session(bytes(32, 2), 2))?.session.device, 'd1', 'another device’s session stays');
      assert.equal((await h.store.session(bytes(32, 3), 2))?.session.device, undefined, 'an unbound session stays, unbound');
      assert.deepEqual(await h.store.members('c'), { epoch: 1, devices: ['d0', 'd1'] });
      assert.deepEqual(await h.store.conversationsOf('d2'), []);
      assert.deepEqual(await h.store.mailbox('d2', 0, 100, 2), { entries: [], lost: [] });
      for (const t of ['members', 'deliveries', 'mailbox_heads', 'mail_losses', 'key_packages', 'sessions'])
        assert.equal(await count(h, `SELECT count(*) AS n FROM ${t} WHERE device_id = 'd2'`), 0, t);
      assert.deepEqual(
        (await h.store.claimKeyPackages('u0')).map((c) => c.device.id),
        [],
        'no KeyPackage of it is handed out',
      );
      // Nothing is stored for it after; it cannot send.
      const r = await h.store.submitApp(app('c', 'd0', 1), L, 2);
      assert.deepEqual(r.status === 'accepted' && r.delivered.map((d) => d.device), ['d1']);
      assert.deepEqual(await h.store.submitApp(app('c', 'd2', 1), L, 2), { status: 'not-member' });
      // A member's commit that removes its leaf names a device the view no longer has: accepted, nothing to change.
      const removal = await h.store.submitCommit(
        { conversation: 'c', sender: 'd1', epoch: 1, payload: bytes(8), add: [], remove: ['d2'] },
        L,
        3,
      );
      assert.deepEqual(removal.status === 'accepted' && [removal.epoch, removal.delivered.map((d) => d.device)], [2, ['d0']]);
      assert.deepEqual(await h.store.members('c'), { epoch: 2, devices: ['d0', 'd1'] });
      assert.equal(await count(h, "SELECT count(*) AS n FROM deliveries WHERE device_id = 'd2'"), 0);
      // An existing device that is not a member is still refused: the rule is for devices that are gone.
      const notMember = await h.store.submitCommit(
        { conversation: 'c', sender: 'd1', epoch: 2, payload: bytes(8), add: [], remove: ['d9'] },
        L,
        4,
      );
      assert.deepEqual(notMember, { status: 'bad-change', reason: 'not-member', device: 'd9' });
    },
  );

  run('20 concurrent submits, five times: one commit per epoch, every mailbox gapless and in epoch order', async (h) => {
    const st = h.store;
    const ids = await devices(st, 5);
    await group(st, 'c', ids);
    for (let round = 0; round < 5; round++) {
      const epoch = (await st.members('c'))?.epoch ?? -1;
      const submits = Array.from({ length: 20 }, (_, i) => {
        const sender = ids[i % 5] as string;
        return i % 4 === 0
          ? st.submitCommit({ conversation: 'c', sender, epoch, payload: bytes(8, i), add: [], remove: [] }, L, round)
          : st.submitApp(app('c', sender, epoch, bytes(8, i)), L, round);
      });
      const results = await Promise.all(submits);
      const commits = results.filter((r, i) => i % 4 === 0 && r.status === 'accepted');
      assert.equal(commits.length, 1, `one commit wins epoch ${epoch}`);
      assert.ok(results.every((r) => r.status === 'accepted' || r.status === 'wrong-epoch'));
      assert.equal((await st.members('c'))?.epoch, epoch + 1);
    }
    for (const d of ids) {
      const entries = (await st.mailbox(d, 0, 1000, 0)).entries;
      assert.deepEqual(
        entries.map((e) => e.seq),
        Array.from({ length: entries.length }, (_, i) => i + 1),
        `${d}: gapless`,
      );
      // In seq order: epochs never go back, and nothing of an epoch comes after that epoch's commit.
      let least = 0;
      for (const e of entries.filter((x) => x.kind !== 'welcome')) {
        assert.ok(e.epoch >= least, `${d}: seq ${e.seq} of epoch ${e.epoch} after the commit of epoch ${least - 1}`);
        if (e.kind === 'commit') least = e.epoch + 1;
      }
    }
  });

  run('submits to conversations that share devices, acks and prunes, all at once: no failure, no gap, nothing left', async (h) => {
    const st = h.store;
    const ids = await devices(st, 6);
    const groups: Record<string, string[]> = { A: ['d0', 'd1', 'd2', 'd3'], B: ['d5', 'd4', 'd3', 'd2'], C: ['d4', 'd0', 'd2', 'd5'] };
    for (const [c, m] of Object.entries(groups)) await group(st, c, m);
    const seqs = new Map<string, number[]>(ids.map((d) => [d, []]));
    for (const d of ids) for (const e of (await st.mailbox(d, 0, 100, 0)).entries) seqs.get(d)?.push(e.seq);
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 150; i++) {
      const c = 'ABC'[i % 3] as string;
      const sender = groups[c]?.[(i * 7) % 4] as string;
      // Every fifth message is already past retention when the prunes run.
      const limits = { ...L, retentionMs: i % 5 === 0 ? 1 : L.retentionMs };
      ops.push(
        st.submitApp(app(c, sender, 1, bytes(50, i)), limits, 10).then((r) => {
          assert.equal(r.status, 'accepted');
          if (r.status === 'accepted') for (const d of r.delivered) seqs.get(d.device)?.push(d.seq);
        }),
      );
      const reader = ids[i % 6] as string;
      if (i % 4 === 0) ops.push(st.mailbox(reader, 0, 5, 10).then((b) => st.ack(reader, b.entries.at(-1)?.seq ?? 0)));
      if (i % 25 === 0) ops.push(st.pruneMail(100));
    }
    await Promise.all(ops);
    await st.pruneMail(100);
    for (const [d, got] of seqs) {
      got.sort((a, b) => a - b);
      assert.deepEqual(
        got,
        Array.from({ length: got.length }, (_, i) => i + 1),
        `${d}: every seq once`,
      );
      const { entries, lost } = await st.mailbox(d, 0, 1000, 100);
      assert.equal(await st.ack(d, got.length), entries.length);
      assert.ok(lost.every((l) => !l.handshake && l.afterSeq <= got.length));
      assert.deepEqual(await st.usage(d), { entries: 0, bytes: 0 });
    }
    assert.equal(await count(h, 'SELECT count(*) AS n FROM messages'), 0);
    assert.equal(await count(h, 'SELECT count(*) AS n FROM deliveries'), 0);
  });

  run('a 1000-member conversation: one commit adds 999 devices, one message reaches all, a removal of 500', async (h) => {
    const st = h.store;
    const ids = await devices(st, 1000, 10);
    await st.createConversation('big', 'd0', 0);
    const added = await st.submitCommit(
      { conversation: 'big', sender: 'd0', epoch: 0, payload: bytes(100), add: ids.slice(1), remove: [], welcome: bytes(2000) },
      L,
      0,
    );
    assert.equal(added.status === 'accepted' && added.delivered.length, 999);
    assert.deepEqual(await st.submitCommit({ ...app('big', 'd0', 1), add: ['d5'], remove: [], welcome: bytes(1) }, L, 0), {
      status: 'bad-change',
      reason: 'already-member',
      device: 'd5',
    });
    const sent = await st.submitApp(app('big', 'd7', 1, bytes(1000)), L, 1);
    assert.equal(sent.status === 'accepted' && sent.delivered.length, 999);
    assert.equal(await count(h, 'SELECT count(*) AS n FROM messages'), 2, 'one welcome and one message, for 999 each');
    assert.deepEqual(
      (await h.store.mailbox('d999', 0, 10, 1)).entries.map((e) => [e.seq, e.kind]),
      [
        [1, 'welcome'],
        [2, 'app'],
      ],
    );
    const cut = await h.store.submitCommit({ ...app('big', 'd1', 1), add: [], remove: ids.slice(500) }, L, 2);
    assert.equal(cut.status === 'accepted' && cut.delivered.length, 999, 'the removed get it too');
    assert.equal((await h.store.members('big'))?.devices.length, 500);
  });

  run('a failure is an AccountStoreError naming no row or parameter', async (h) => {
    const st = h.store;
    await devices(st, 2);
    await group(st, 'canary-conv-77', ['d0', 'd1']);
    await st.close();
    await assert.rejects(
      st.submitApp(app('canary-conv-77', 'd0', 1, new TextEncoder().encode('canary-payload-77')), L, 1),
      (e: unknown) => e instanceof AccountStoreError && !e.message.includes('canary'),
    );
    await assert.rejects(st.mailbox('d1', 0, 10, 1), (e: unknown) => e instanceof AccountStoreError);
  });
}
