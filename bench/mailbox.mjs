#!/usr/bin/env node
/**
 * The conversation store's mailboxes (packages/server/src/accounts/*Conversations.ts, issue #15):
 * how many application messages a second it accepts into one conversation of 2 devices and one of
 * 100 (each `submitApp` its own transaction, durable when it returns, one after another as one
 * conversation's submits are serialised), and how many entries a second a device reads and acks
 * from a mailbox of 10,000 (`mailbox()` pages of 500, each page acked); and, as a relay serves many
 * conversations at once, the same messages spread over 8 two-member conversations submitting side by
 * side (PostgreSQL commits them on several connections at once; SQLite has one writer). On the embedded SQLite
 * store always, and on PostgreSQL when DATABASE_URL is set (a schema of its own per round, dropped
 * after). Medians over rounds, each round on a fresh store.
 *
 *   npx tsc -b && node bench/mailbox.mjs
 *   MAILBOX_MESSAGES=10000 (2-member messages: the mailbox then read)  MAILBOX_GROUP_MESSAGES=1000
 *   MAILBOX_ROUNDS=3  MAILBOX_PAYLOAD=1024
 *
 * Writes bench/results/mailbox.json (bench/_results.mjs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  defaultConversationLimits as limits,
  openPgAccountStore,
  openSqliteAccountStore,
} from '../packages/server/dist/src/accounts/index.js';
import { writeResult } from './_results.mjs';
import { benchStart, machine, quantile, r0 } from './_workers.mjs';

const MESSAGES = Number(process.env.MAILBOX_MESSAGES ?? 10_000);
const GROUP_MESSAGES = Number(process.env.MAILBOX_GROUP_MESSAGES ?? 1_000);
const ROUNDS = Number(process.env.MAILBOX_ROUNDS ?? 3);
const PAYLOAD = Number(process.env.MAILBOX_PAYLOAD ?? 1024);
const PAGE = 500;
const GROUP = 100;
const PARALLEL = 8;
const DATABASE_URL = process.env.DATABASE_URL;
const { log, loadAtStart } = benchStart('mailbox', Number(process.env.MAILBOX_TIME_LIMIT ?? 1200));
const dir = mkdtempSync(join(tmpdir(), 'nullroom-bench-mailbox-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Users with 10 devices each, d0 … d{GROUP-1}; conversation `two` of d0 and d1, `group` of all, `p0` … of two each. */
async function setUp(st) {
  for (let i = 0; i < GROUP; i++) {
    const user = `u${Math.floor(i / 10)}`;
    if (i % 10 === 0) await st.createUser({ id: user, name: `bench${user}`, key: `bench${user}`, record: 'r', createdAt: 0 });
    const key = new Uint8Array(32);
    new DataView(key.buffer).setUint32(0, i + 1);
    // The store keeps each account's signed device-list entries as bytes, in order (the relay checks them first).
    const added = await st.addDevice({ id: `d${i}`, userId: user, identityKey: key, createdAt: i }, 10, {
      version: (i % 10) + 1,
      entry: key,
    });
    if (added !== 'added') throw new Error(`setup device: ${added}`);
  }
  const devices = Array.from({ length: GROUP }, (_, i) => `d${i}`);
  const pairs = Array.from({ length: PARALLEL }, (_, i) => [`p${i}`, [`d${10 + 2 * i}`, `d${11 + 2 * i}`]]);
  for (const [c, members] of [['two', devices.slice(0, 2)], ['group', devices], ...pairs]) {
    await st.createConversation(c, members[0], 0);
    const r = await st.submitCommit(
      {
        conversation: c,
        sender: members[0],
        epoch: 0,
        payload: new Uint8Array(64),
        add: members.slice(1),
        remove: [],
        welcome: new Uint8Array(64),
      },
      limits,
      0,
    );
    if (r.status !== 'accepted') throw new Error(`setup commit: ${r.status}`);
  }
  // The welcomes are not part of the measured mailbox.
  for (const d of devices) await st.ack(d, 1);
}

/** `n` application messages from `sender` into `conversation`, one after another. */
async function send(st, conversation, sender, n) {
  const payload = new Uint8Array(PAYLOAD).fill(7);
  for (let i = 0; i < n; i++) {
    const r = await st.submitApp({ conversation, sender, epoch: 1, payload }, limits, Date.now());
    if (r.status !== 'accepted') throw new Error(`submit: ${r.status}`);
  }
}

/** `n` messages into `conversation` from d0: per second. */
async function submit(st, conversation, n) {
  const t0 = performance.now();
  await send(st, conversation, 'd0', n);
  return n / ((performance.now() - t0) / 1000);
}

/** `n` messages over the PARALLEL pairs, each pair's one after another, the pairs side by side: per second. */
async function submitParallel(st, n) {
  const each = Math.ceil(n / PARALLEL);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: PARALLEL }, (_, i) => send(st, `p${i}`, `d${10 + 2 * i}`, each)));
  return (each * PARALLEL) / ((performance.now() - t0) / 1000);
}

/** d1 reads and acks its whole mailbox, a page at a time: entries per second. */
async function readAck(st) {
  let after = 0;
  let n = 0;
  const t0 = performance.now();
  for (;;) {
    const { entries } = await st.mailbox('d1', after, PAGE, Date.now());
    if (entries.length === 0) break;
    n += entries.length;
    after = entries[entries.length - 1].seq;
    await st.ack('d1', after);
  }
  if (n !== MESSAGES) throw new Error(`read ${n} entries, not ${MESSAGES}`);
  return { n, perSec: n / ((performance.now() - t0) / 1000) };
}

async function round(open) {
  const { store, drop } = await open();
  try {
    await setUp(store);
    const two = await submit(store, 'two', MESSAGES);
    const read = await readAck(store);
    const group = await submit(store, 'group', GROUP_MESSAGES);
    const parallel = await submitParallel(store, MESSAGES);
    const usage = await store.usage('d1');
    if (usage.entries !== GROUP_MESSAGES) throw new Error(`d1 holds ${usage.entries} entries`);
    return { two, read: read.perSec, group, parallel };
  } finally {
    await store.close();
    await drop();
  }
}

const median = (xs) => quantile(xs, 0.5);
async function measure(name, open) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    rounds.push(await round(open));
    const r = rounds.at(-1);
    log(
      `${name} round ${i + 1}: ${r0(r.two)} msg/s (2 members), ${r0(r.parallel)} msg/s (${PARALLEL} pairs at once), ${r0(r.group)} msg/s (${GROUP}), read+ack ${r0(r.read)} entries/s`,
    );
  }
  const pick = (k) => ({ median: r0(median(rounds.map((r) => r[k]))), rounds: rounds.map((r) => r0(r[k])) });
  const group = pick('group');
  return {
    store: name,
    appTwo: { messages: MESSAGES, perSec: pick('two') },
    appParallel: { conversations: PARALLEL, messages: Math.ceil(MESSAGES / PARALLEL) * PARALLEL, perSec: pick('parallel') },
    appGroup: { members: GROUP, messages: GROUP_MESSAGES, perSec: group, deliveriesPerSec: r0(group.median * (GROUP - 1)) },
    readAck: { entries: MESSAGES, page: PAGE, perSec: pick('read') },
  };
}

let files = 0;
const results = [
  await measure('sqlite', async () => {
    const path = join(dir, `accounts-${++files}.db`);
    return { store: openSqliteAccountStore(path), drop: async () => rmSync(path, { force: true }) };
  }),
];
if (DATABASE_URL === undefined) log('DATABASE_URL is not set: PostgreSQL is not measured');
else
  results.push(
    await measure('postgres', async () => {
      const schema = `nr_bench_mailbox_${process.pid}_${++files}`;
      const store = await openPgAccountStore({ connectionString: DATABASE_URL, schema });
      const drop = async () => {
        const c = new pg.Client({ connectionString: DATABASE_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      };
      return { store, drop };
    }),
  );
for (const r of results)
  console.log(
    `${r.store}: ${r.appTwo.perSec.median} app messages/s into 2 members (${r.appParallel.perSec.median} with ${PARALLEL} conversations at once), ${r.appGroup.perSec.median} into ${GROUP} (${r.appGroup.deliveriesPerSec} deliveries/s); read+ack of ${r.readAck.entries} entries ${r.readAck.perSec.median}/s`,
  );
writeResult('mailbox', {
  date: new Date().toISOString(),
  machine: machine(loadAtStart),
  payloadBytes: PAYLOAD,
  rounds: ROUNDS,
  postgres: DATABASE_URL === undefined ? 'not measured (DATABASE_URL unset)' : 'measured',
  results,
});
