#!/usr/bin/env node
/**
 * MLS costs (RFC 9420 through ts-mls, behind @nullroom/crypto's RoomGroup) at 2, 10, 100 and
 * 1000 members with the default suite, and at 100 with the post-quantum (X-Wing) suite.
 *
 *   npm run build && node bench/mls.mjs [--sizes 2,10,100,1000] [--pq-sizes 100] [--reps 7]
 *
 * Measured, each the median of several repetitions, all through RoomGroup's public API with its
 * real cipher suite and its real AuthenticationService:
 *   join        a newcomer opens the sealed GroupInfo and joins by external commit
 *               (readGroupInfo + joinExternal; it validates every leaf of the tree)
 *   processJoin an existing member processes that external commit (process), from its live state
 *   processJoinRestored  the same from a state just restored from bytes (importState after a
 *               restart: no tree hash is memoized yet, patches/README.md), the first commit's cost
 *   encrypt     a member encrypts a 1 KiB application message (encrypt)
 *   decrypt     another member decrypts it (process)
 *   sizes       sealed GroupInfo at N members, the external commit, the 1 KiB application message
 * Writes bench/results/mls.json and prints a table; progress goes to stderr.
 *
 * How a group of N members is built without N full external joins (each of which re-validates
 * and re-hashes the whole tree, O(N) per join, O(N^2) in all: a chain of 1000 joins took ~210 s
 * here even with the build-only context described below, and several times that without it):
 *   1. the creator makes the group, then adds N-2 members in ONE commit of Add proposals, with
 *      key packages whose credentials are real Nullroom credentials (they open under the room key);
 *   2. we hold every added member's private keys, so we let members at even leaves commit an empty
 *      commit each (an UpdatePath), in bit-reversed leaf order so that each commit encrypts to few
 *      nodes. Afterwards every parent node that covers a member is populated and no leaf is
 *      unmerged: the same tree shape that N sequential external joins produce. The member that
 *      commits is given the current epoch's state with its own leaf key and signature key
 *      swapped in; that is all a committer needs, since an UpdatePath replaces its path keys;
 *   3. the last committer seals a GroupInfo through RoomGroup (an empty commit), and the N-th
 *      member joins through the real RoomGroup.joinExternal, which validates the whole built
 *      tree: every parent hash, every leaf signature, every credential. The last committer
 *      processes that join: it is the observer, and the N-th member is the sender.
 * Steps 1 and 2 run with a build-only context: signatures are still made but not re-verified,
 * credentials are not re-opened, and SHA-2 runs synchronously (@noble/hashes) instead of through
 * Web Crypto. The outputs are bit-identical; only the build is faster. Nothing measured uses it.
 * Repetitions that need an up-to-date member state start from a copy of it (ts-mls's own
 * ClientState codec), because RoomGroup wipes consumed secrets of the state it is given. A live
 * member's copy keeps the ratchet tree's node objects (public, never changed in place by ts-mls):
 * a member that stays connected holds the very nodes its last commit made, whose tree hashes the
 * patched ts-mls has memoized. processJoinRestored copies the tree too, as a restart does.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { RoomGroup, Suites, deriveRoomKeys, ephemeralIdentity, randomRoomSecret } from '../packages/crypto/dist/src/index.js';
// Build-only internals: a real Nullroom credential for the members added in bulk (step 1).
import { makeCredential } from '../packages/crypto/dist/src/credential.js';
import * as mls from 'ts-mls';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { writeResult } from './_results.mjs';

// --- options ---
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const list = (s) => s.split(',').filter(Boolean).map(Number);
const SIZES = list(opt('sizes', '2,10,100,1000'));
const PQ_SIZES = list(opt('pq-sizes', '100'));
const REPS = Number(opt('reps', '7'));
/** Fewer repetitions at 1000 members and above, where one external join takes seconds. */
const repsFor = (n) => (n >= 1000 ? Math.max(3, Math.min(REPS, 5)) : REPS);
// Issue 14's targets at 1000 members (default suite, medians).
const TARGETS = [
  { metric: 'processJoinMs', limitMs: 30, description: "an existing member processes another member's join" },
  { metric: 'joinMs', limitMs: 500, description: 'a newcomer joins' },
];

const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
const log = (...a) => process.stderr.write(`[mls-bench ${elapsed()}] ${a.join(' ')}\n`);
const now = () => performance.now();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const stats = (xs) => ({ median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)), samples: xs.map(round) });
const round = (x) => Math.round(x * 100) / 100;
const assert = (cond, what) => {
  if (!cond) throw new Error(`bench sanity check failed: ${what}`);
};

// --- build helpers ---
const hashFor = (suite) => (suite.includes('SHA512') ? sha512 : suite.includes('SHA384') ? sha384 : sha256);

/** The build-only MLS context (see the header): same outputs, no re-verification, sync SHA-2. */
async function buildContext(suite) {
  const impl = await mls.getCiphersuiteImpl(suite);
  const h = hashFor(suite);
  return {
    impl,
    ctx: {
      cipherSuite: {
        ...impl,
        hash: { ...impl.hash, digest: async (d) => h(d) },
        signature: { ...impl.signature, verify: async () => true },
      },
      authService: { validateCredential: async () => true },
    },
  };
}

/** Leaves 2, 4, 6, ... up to `last`, in bit-reversed order (upper tree levels are populated first). */
function populateOrder(last) {
  if (last < 2) return [];
  const pairs = 2 ** Math.ceil(Math.log2(last / 2 + 1));
  const bits = Math.log2(pairs);
  const rev = (x) => {
    let y = 0;
    for (let b = 0; b < bits; b++) y = (y << 1) | ((x >> b) & 1);
    return y;
  };
  return Array.from({ length: pairs }, (_, j) => 2 * rev(j)).filter((k) => k >= 2 && k <= last);
}

const restored = (roomState) => ({ mls: mls.decode(mls.clientStateDecoder, mls.encode(mls.clientStateEncoder, roomState.mls)) });
/** A live member's state, copied: fresh secrets, the same (immutable) tree nodes. */
const live = (roomState) => ({ mls: { ...restored(roomState).mls, ratchetTree: roomState.mls.ratchetTree.slice() } });

/**
 * A group of exactly n members: returns the observer (an up-to-date member), the sender (the
 * n-th member, also up to date), and the sealed GroupInfo a newcomer would download.
 */
async function buildGroup(suite, n) {
  const tb = now();
  const keys = await deriveRoomKeys(randomRoomSecret());
  const { impl, ctx } = await buildContext(suite);
  const creator = await RoomGroup.create(keys, suite);
  let state = (await creator.createGroup({ nick: 'm1', slot: 1 })).state.mls;

  // Step 1: n-2 more members in one commit.
  const bulk = Math.max(0, n - 2);
  const kps = [];
  for (let i = 0; i < bulk; i += 16) {
    const batch = Array.from({ length: Math.min(16, bulk - i) }, async (_, j) => {
      const slot = i + j + 2;
      const sig = await impl.signature.keygen();
      // Each member's own identity key vouches for its leaf key (the binding openCredential checks).
      const credential = await makeCredential(
        keys.credentialKey,
        keys.locator,
        sig.publicKey,
        { slot, nick: `m${slot}` },
        await ephemeralIdentity(),
      );
      return mls.generateKeyPackageWithKey({ credential, signatureKeyPair: sig, cipherSuite: impl });
    });
    kps.push(...(await Promise.all(batch)));
  }
  if (bulk > 0) {
    const adds = kps.map((kp) => ({ proposalType: mls.defaultProposalTypes.add, add: { keyPackage: kp.publicPackage } }));
    state = (await mls.createCommit({ context: ctx, state, extraProposals: adds })).newState;
  }
  if (bulk > 0) log(`  ${suite.slice(0, 12)} n=${n}: ${bulk} members added in one commit`);

  // Step 2: populate every parent node; leaf k holds kps[k - 1].
  const order = populateOrder(n - 2);
  let done = 0;
  for (const k of order) {
    const priv = kps[k - 1].privatePackage;
    const as = {
      ...state,
      privatePath: { leafIndex: k, privateKeys: { [2 * k]: priv.hpkePrivateKey } },
      signaturePrivateKey: priv.signaturePrivateKey,
    };
    state = (await mls.createCommit({ context: ctx, state: as })).newState;
    if (++done % 100 === 0) log(`  ${suite.slice(0, 12)} n=${n}: populated ${done}/${order.length} paths`);
  }

  // Step 3: through RoomGroup from here on. The last committer (the observer) seals a GroupInfo
  // with an empty commit, the n-th member joins for real, the observer processes that join.
  const observer = await RoomGroup.create(keys, suite);
  const sealed = await observer.remove({ mls: state }, []);
  const senderRc = await RoomGroup.create(keys, suite);
  const joined = await senderRc.joinExternal(await senderRc.readGroupInfo(sealed.groupInfo), { nick: `m${n}`, slot: n });
  await observer.members(sealed.state); // a member has seen everyone: warm its credential cache
  const seen = await observer.process(sealed.state, joined.message, n); // the relay slot it joined from
  assert(seen.kind === 'commit' && seen.added.length === 1, 'observer sees the n-th member join');
  const members = await observer.members(seen.state);
  assert(members.length === n, `group has ${n} members (got ${members.length})`);
  assert(observer.epochOf(seen.state) === senderRc.epochOf(joined.state), 'observer and sender share the epoch');
  const buildS = (now() - tb) / 1000;
  log(`  ${suite.slice(0, 12)} n=${n}: built in ${buildS.toFixed(1)}s (${order.length} path commits)`);
  return {
    keys,
    groupInfo: joined.groupInfo,
    observer: { rc: observer, state: seen.state },
    sender: { rc: senderRc, state: joined.state },
    buildS,
  };
}

// --- measurements ---
async function measure(suite, n) {
  const reps = repsFor(n);
  log(`${suite} n=${n}: building`);
  const g = await buildGroup(suite, n);

  // Newcomers join (each a fresh client, so nothing is cached).
  const joinMs = [];
  const readMs = [];
  const commits = [];
  for (let r = 0; r < reps; r++) {
    const rc = await RoomGroup.create(g.keys, suite);
    const ta = now();
    const snapshot = await rc.readGroupInfo(g.groupInfo);
    const tb = now();
    const out = await rc.joinExternal(snapshot, { nick: `newcomer${r}`, slot: 1_000_000 + r });
    const tc = now();
    assert(snapshot.suite === suite, 'GroupInfo names the suite');
    readMs.push(tb - ta);
    joinMs.push(tc - ta);
    commits.push(out.message);
  }
  log(`${suite} n=${n}: join median ${median(joinMs).toFixed(1)} ms`);

  // An existing member processes each of those joins, from a copy of the same up-to-date state:
  // as it lives in memory, and as just restored from bytes.
  const processJoinMs = [];
  const processJoinRestoredMs = [];
  for (const [kind, copyOf, out] of [
    ['live', live, processJoinMs],
    ['restored', restored, processJoinRestoredMs],
  ]) {
    // The copies are made first: copying a large state (through the codec) makes a lot of garbage,
    // which would otherwise be collected during the measured calls.
    const states = commits.map(() => copyOf(g.observer.state));
    for (const [r, commit] of commits.entries()) {
      const state = states[r];
      const ta = now();
      const res = await g.observer.rc.process(state, commit, 1_000_000 + r);
      out.push(now() - ta);
      assert(res.kind === 'commit' && res.added.length === 1 && res.added[0].nick === `newcomer${r}`, `join processed (${kind})`);
    }
  }
  log(
    `${suite} n=${n}: process join median ${median(processJoinMs).toFixed(1)} ms (restored state ${median(processJoinRestoredMs).toFixed(1)} ms)`,
  );

  // 1 KiB application messages: the sender encrypts, the observer decrypts, in order.
  const plaintext = new Uint8Array(1024).map((_, i) => (i * 31) & 0xff);
  const encryptMs = [];
  const decryptMs = [];
  const appSizes = [];
  let sender = g.sender.state;
  let observer = g.observer.state;
  for (let r = 0; r < reps; r++) {
    const ta = now();
    const out = await g.sender.rc.encrypt(sender, plaintext);
    encryptMs.push(now() - ta);
    sender = out.state;
    appSizes.push(out.message.byteLength);
    const tb = now();
    const res = await g.observer.rc.process(observer, out.message, n);
    decryptMs.push(now() - tb);
    assert(res.kind === 'app' && res.plaintext.byteLength === 1024 && res.sender.nick === `m${n}`, 'message decrypted');
    observer = res.state;
  }

  return {
    suite,
    members: n,
    reps,
    joinMs: stats(joinMs),
    readGroupInfoMs: stats(readMs),
    processJoinMs: stats(processJoinMs),
    processJoinRestoredMs: stats(processJoinRestoredMs),
    encryptMs: stats(encryptMs),
    decryptMs: stats(decryptMs),
    groupInfoBytes: g.groupInfo.byteLength,
    commitBytes: median(commits.map((c) => c.byteLength)),
    appMessageBytes: median(appSizes),
    buildSeconds: round(g.buildS),
  };
}

// --- run ---
const results = [];
const plan = [...SIZES.map((n) => [Suites.default, n]), ...PQ_SIZES.map((n) => [Suites.postQuantum, n])];
for (const [suite, n] of plan) results.push(await measure(suite, n));

const at1000 = results.find((r) => r.suite === Suites.default && r.members === 1000);
const report = {
  bench: 'mls',
  date: new Date().toISOString(),
  machine: {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    loadavg: os.loadavg().map(round),
  },
  tsMls: JSON.parse(readFileSync(new URL('../node_modules/ts-mls/package.json', import.meta.url), 'utf8')).version,
  appMessagePlaintextBytes: 1024,
  results,
  targets: TARGETS.map((t) => ({
    description: `${t.description} at 1000 members, default suite, median`,
    metric: t.metric,
    limitMs: t.limitMs,
    medianMs: at1000?.[t.metric].median ?? null,
    holds: at1000 === undefined ? null : at1000[t.metric].median < t.limitMs,
  })),
  notes: [
    'Groups are built by one bulk Add commit plus one UpdatePath commit per pair of leaves (see the header of bench/mls.mjs); the tree has the shape N sequential external joins give.',
    'Every measured operation goes through RoomGroup with the real cipher suite and the real AuthenticationService.',
    `Post-quantum suite measured at ${PQ_SIZES.join(', ') || 'no size'}; pass --pq-sizes 100,1000 to add 1000 (slow).`,
  ],
  totalSeconds: round((now() - t0) / 1000),
};
writeResult('mls', report);

// --- table ---
const suiteLabel = (s) => (s === Suites.default ? 'default' : s === Suites.postQuantum ? 'pq' : s);
const kb = (b) => (b >= 10_000 ? `${(b / 1024).toFixed(0)} KiB` : `${b} B`);
const ms = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const rows = [
  [
    'suite',
    'members',
    'join ms',
    'process join ms',
    'restored ms',
    'encrypt 1KiB ms',
    'decrypt 1KiB ms',
    'GroupInfo',
    'commit',
    'app msg',
    'reps',
  ],
  ...results.map((r) => [
    suiteLabel(r.suite),
    String(r.members),
    ms(r.joinMs.median),
    ms(r.processJoinMs.median),
    ms(r.processJoinRestoredMs.median),
    ms(r.encryptMs.median),
    ms(r.decryptMs.median),
    kb(r.groupInfoBytes),
    kb(r.commitBytes),
    kb(r.appMessageBytes),
    String(r.reps),
  ]),
];
const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
const line = (row) => row.map((cell, c) => (c < 1 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
console.log(`MLS costs, medians (ts-mls ${report.tsMls}, Node ${process.version}, ${report.machine.cpus} CPUs)`);
console.log(line(rows[0]));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of rows.slice(1)) console.log(line(row));
for (const t of report.targets) {
  if (t.holds === null) continue;
  console.log(`target: ${t.description} < ${t.limitMs} ms: ${t.holds ? 'HOLDS' : 'DOES NOT HOLD'} (median ${ms(t.medianMs)} ms)`);
}
console.log(`results: bench/results/mls.json (total ${report.totalSeconds} s)`);
