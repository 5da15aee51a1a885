/**
 * One contract per interface of src/accounts/accountShared.ts (buckets, pending logins, bind
 * challenges, approval requests, account blob tickets, the channels' bus), run against one relay's
 * memory and against Redis shared by two nodes (accountShared.test.ts). `make` gives two nodes:
 * in process both are the same relay; on Redis each is its own set of connections on one prefix,
 * so whatever one node does, the other must see.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AccountShared, BusEvent } from '../src/accounts/accountShared.js';

export interface SharedNodes {
  readonly a: AccountShared;
  readonly b: AccountShared;
  close(): Promise<void>;
}
export type MakeShared = () => Promise<SharedNodes>;

const id = () => randomBytes(16).toString('base64url');
const hash = () => new Uint8Array(randomBytes(32));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bus events a node sees, with a wait for one that fits. */
function watch(s: AccountShared) {
  const seen: BusEvent[] = [];
  s.bus.listen((e) => seen.push(e));
  return {
    seen,
    async next<T extends BusEvent['type']>(type: T, fits: (e: Extract<BusEvent, { type: T }>) => boolean = () => true, ms = 3000) {
      for (const end = Date.now() + ms; Date.now() < end; await sleep(5)) {
        const e = seen.find((x): x is Extract<BusEvent, { type: T }> => x.type === type && fits(x as Extract<BusEvent, { type: T }>));
        if (e !== undefined) return e;
      }
      throw new Error(`no ${type} event`);
    },
  };
}

export function accountSharedContract(name: string, make: MakeShared, skip?: string): void {
  const t0 = (title: string, fn: (n: SharedNodes) => Promise<void>) =>
    test(`${name}: ${title}`, skip === undefined ? {} : { skip }, async (t) => {
      const n = await make();
      t.after(() => n.close());
      await fn(n);
    });

  t0('buckets: one bucket for every node, refilled when filled, apart per key and per space', async ({ a, b }) => {
    const key = id();
    for (let i = 0; i < 3; i++) assert.equal(await (i % 2 === 0 ? a : b).buckets.take('name', key, 3, 60_000), 0, `token ${i}`);
    const wait = await b.buckets.take('name', key, 3, 60_000);
    assert.ok(wait > 0 && wait <= 60_000, `empty on the other node too (${wait} ms to wait)`);
    assert.ok((await a.buckets.take('name', key, 3, 60_000)) > 0);
    assert.equal(await a.buckets.take('address', key, 3, 60_000), 0, 'another space');
    assert.equal(await a.buckets.take('name', id(), 3, 60_000), 0, 'another key');
    await b.buckets.fill('name', key);
    assert.equal(await a.buckets.take('name', key, 3, 60_000), 0, 'full again');
    // A fast bucket refills with time.
    const fast = id();
    assert.equal(await a.buckets.take('claim', fast, 1, 30), 0);
    assert.ok((await b.buckets.take('claim', fast, 1, 30)) > 0);
    await sleep(60);
    assert.equal(await b.buckets.take('claim', fast, 1, 30), 0);
  });

  t0('pending logins: held on one node, finished once on the other; bounded per address; expired', async ({ a, b }) => {
    const address = `addr-${id()}`;
    const login = { name: 'alice', userId: id(), state: 'opaque-state', address };
    const held = await a.logins.hold(login, 60_000);
    assert.match(held, /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(await b.logins.take(held), login);
    assert.equal(await a.logins.take(held), undefined, 'finished once');
    const none = { name: 'nobody', userId: undefined, state: 's', address };
    assert.deepEqual(await a.logins.take(await b.logins.hold(none, 60_000)), none);
    assert.equal(await a.logins.room(address, 100, 2), true);
    await a.logins.hold(login, 60_000);
    await b.logins.hold(login, 60_000);
    assert.equal(await a.logins.room(address, 100, 2), false, 'two pending for this address, on either node');
    assert.equal(await b.logins.room(`other-${id()}`, 100, 2), true);
    const short = await a.logins.hold(login, 30);
    await sleep(80);
    assert.equal(await b.logins.take(short), undefined, 'expired');
    assert.equal(await b.logins.take(id()), undefined, 'unknown');
  });

  t0('bind challenges: issued by one node, taken once on the other; asking again replaces', async ({ a, b }) => {
    const session = hash();
    const first = await a.challenges.issue(session);
    assert.ok(first !== undefined && first.nonce.byteLength === 32 && first.expiresAt > Date.now() - 1000);
    const second = await b.challenges.issue(session);
    assert.ok(second !== undefined);
    assert.notDeepEqual(second.nonce, first.nonce);
    assert.deepEqual(await a.challenges.take(session), second.nonce, 'the latest one');
    assert.equal(await b.challenges.take(session), undefined, 'taken once');
    assert.equal(await b.challenges.take(hash()), undefined, 'another session has none');
  });

  t0('approval requests: made on one node, listed, settled and read on the other', async ({ a, b }) => {
    const user = id();
    const asker = hash();
    const key = new Uint8Array(randomBytes(32));
    const tag = new Uint8Array(randomBytes(32));
    const r = await a.requests.add(user, asker, key, tag);
    assert.ok(r !== undefined);
    const listed = await b.requests.of(user);
    assert.deepEqual(
      listed.map((q) => [q.id, q.identityKey, q.tag, q.asker]),
      [[r.id, key, tag, asker]],
    );
    assert.equal(b.requests.askedBy(listed[0]!, asker), true);
    assert.equal(b.requests.askedBy(listed[0]!, hash()), false);
    assert.equal(await b.requests.get(id(), r.id), undefined, 'another account’s');
    const confirm = new Uint8Array(randomBytes(32));
    assert.equal(await b.requests.settle(user, r.id, { state: 'approved', device: 'dev1', confirm }), true);
    assert.equal(await a.requests.settle(user, r.id, { state: 'declined' }), false, 'settled once');
    const got = await a.requests.get(user, r.id);
    assert.deepEqual(got?.outcome, { state: 'approved', device: 'dev1', confirm });
    assert.equal(a.requests.askedBy(got!, asker), true);
    assert.deepEqual(await a.requests.of(user), [], 'no open one left');
    // Three open per account: a fourth replaces the oldest.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await (i % 2 ? a : b).requests.add(user, hash(), key, tag))!.id);
      await sleep(2);
    }
    assert.deepEqual((await b.requests.of(user)).map((q) => q.id).sort(), ids.slice(1).sort());
    await a.requests.forget(user);
    assert.deepEqual(await b.requests.of(user), []);
    assert.equal(await b.requests.get(user, r.id), undefined);
  });

  t0('account tickets: issued by one node, good on the other, the same while valid, ended with the device or account', async ({ a, b }) => {
    const [user, d1, d2] = [id(), id(), id()];
    const t1 = await a.tickets.issue(user, d1);
    assert.match(t1.ticket, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await b.tickets.issue(user, d1)).ticket, t1.ticket, 'the same one while it lasts');
    assert.equal((await b.tickets.check(t1.ticket))?.room, `account:${user}`);
    for (const bad of [undefined, ['x'], 'short', randomBytes(32).toString('base64url')])
      assert.equal(await a.tickets.check(bad), undefined);
    const t2 = await b.tickets.issue(user, d2);
    await b.tickets.dropDevice(d1);
    assert.equal(await a.tickets.check(t1.ticket), undefined, 'the removed device’s ticket ended');
    assert.ok(await a.tickets.check(t2.ticket));
    await a.tickets.dropUser(user);
    assert.equal(await b.tickets.check(t2.ticket), undefined, 'the deleted account’s tickets ended');
    assert.notEqual((await a.tickets.issue(user, d1)).ticket, t1.ticket, 'a new one after');
  });

  t0('bus: every node hears every event, in order', async ({ a, b }) => {
    const [wa, wb] = [watch(a), watch(b)];
    const user = id();
    await a.bus.publish({ type: 'notify', user, what: 3 });
    await b.bus.publish({ type: 'removed', device: user });
    await a.bus.publish({ type: 'mail', devices: [[user, 7]] });
    await b.bus.publish({ type: 'related', a: user, b: id(), aOnline: true, bOnline: false, contacts: true, blocked: false });
    await a.bus.publish({ type: 'deleted', user });
    for (const w of [wa, wb]) {
      assert.equal((await w.next('notify', (e) => e.user === user)).what, 3);
      await w.next('removed', (e) => e.device === user);
      assert.deepEqual((await w.next('mail', (e) => e.devices[0]?.[0] === user)).devices, [[user, 7]]);
      const r = await w.next('related', (e) => e.a === user);
      assert.deepEqual([r.aOnline, r.bOnline, r.contacts, r.blocked], [true, false, true, false]);
      await w.next('deleted', (e) => e.user === user);
      const mine = w.seen.filter((e) => ('user' in e && e.user === user) || ('device' in e && e.device === user) || e.type === 'mail');
      assert.deepEqual(
        mine.map((e) => e.type).filter((x) => x !== 'related'),
        ['notify', 'removed', 'mail', 'deleted'],
      );
    }
  });

  t0('presence: online while a channel is open on any node, told to contacts once per change', async ({ a, b }) => {
    const [wa, wb] = [watch(a), watch(b)];
    const [user, device, contact] = [id(), id(), id()];
    const g1 = await a.bus.up(user, device);
    assert.deepEqual(await b.bus.online([user, contact]), new Set([user]));
    await b.bus.announce(user, [contact], 'alice');
    await a.bus.announce(user, [contact], 'alice');
    const on = await wb.next('presence', (e) => e.user === user);
    assert.deepEqual([on.online, on.to], [true, [contact]]);
    // Another channel of the same device, on the other node: a later generation, heard by both.
    const g2 = await b.bus.up(user, device);
    assert.ok(g2 > g1);
    for (const w of [wa, wb]) await w.next('device', (e) => e.device === device && e.gen === g2);
    assert.equal(await a.bus.down(user, device), false, 'still online on the other node');
    await a.bus.announce(user, [contact], 'alice');
    assert.equal(await b.bus.down(user, device), true, 'its last channel closed');
    await a.bus.announce(user, [contact], 'alice');
    await b.bus.announce(user, [contact], 'alice');
    await wa.next('presence', (e) => e.user === user && !e.online);
    await sleep(50);
    const told = wa.seen.filter((e) => e.type === 'presence' && e.user === user).map((e) => (e as { online: boolean }).online);
    assert.deepEqual(told, [true, false], 'once per change');
    assert.deepEqual(await a.bus.online([user]), new Set());
  });
}
