#!/usr/bin/env node
/**
 * Account conversations at their largest (issue #15: groups to 1000 members; the relay's bound is
 * 1000 devices, PROTOCOL §11.11): the MLS work of one conversation of N devices, each its own
 * account's, with @nullroom/crypto's AccountGroups (what the Messenger runs): one device adds the
 * N-1 others from their KeyPackages in one commit (one Welcome for all), the last of them joins
 * from it, a message is encrypted and read at N, and one device is removed (the commit, and a
 * member processing it). The relay only stores and forwards these bytes (bench/mailbox.mjs and
 * bench/inbox.mjs measure that part).
 *
 *   npm run build && node bench/groups.mjs        GROUPS_N=1000 (devices)
 *
 * Writes bench/results/groups.json; prints one summary line.
 */
import { AccountGroups, ephemeralIdentity, toHex } from '../packages/crypto/dist/src/index.js';
import { writeResult } from './_results.mjs';
import { benchStart, cpuNow, machine, r2 } from './_workers.mjs';

const N = Number(process.env.GROUPS_N ?? 1000);
const { log, loadAtStart } = benchStart('groups', Number(process.env.GROUPS_TIME_LIMIT ?? 600));

// The device lists "verified" (name -> keys), as AccountDevices gives them to the Messenger.
const lists = new Map();
const isDevice = (name, key) => lists.get(name)?.has(toHex(key)) ?? false;
async function device(name) {
  const id = await ephemeralIdentity();
  lists.set(name, new Set([toHex(id.publicKey)]));
  return id;
}

/** Wall time and this process's CPU time of `fn`, in ms. */
async function timed(fn) {
  const [t, c] = [performance.now(), cpuNow()];
  const value = await fn();
  return { value, ms: r2(performance.now() - t), cpuMs: r2((cpuNow() - c) / 1000) };
}

const g = await AccountGroups.open(isDevice);
const owner = await device('owner');
const state0 = await g.create('owner', owner);
log(`making ${N - 1} devices and their KeyPackages`);
const others = await Promise.all(Array.from({ length: N - 1 }, (_, i) => device(`member-${i}`)));
const kps = await Promise.all(others.map((d, i) => g.newKeyPackage(`member-${i}`, d)));

log('adding them in one commit');
const add = await timed(() =>
  g.add(
    state0,
    kps.map((k) => k.keyPackage),
  ),
);
const last = N - 2;
const join = await timed(() => g.join(add.value.welcome, [kps[last].pending]));
const members = (await g.members(join.value.state)).length;
if (members !== N) throw new Error(`the joiner sees ${members} members, not ${N}`);

const message = new TextEncoder().encode('x'.repeat(1024));
const encrypt = await timed(() => g.encrypt(add.value.state, message));
const read = await timed(() => g.process(join.value.state, encrypt.value.message));
if (read.value.kind !== 'message') throw new Error('the message did not decrypt');

log('removing one device');
const removed = others[0].publicKey;
const remove = await timed(() => g.remove(encrypt.value.state, [removed]));
const processRemove = await timed(() => g.process(read.value.state, remove.value.commit));
if (processRemove.value.kind === 'message') throw new Error('the removal was not a commit');

const report = {
  bench: 'groups',
  date: new Date().toISOString(),
  devices: N,
  add: { ms: add.ms, cpuMs: add.cpuMs, commitBytes: add.value.commit.byteLength, welcomeBytes: add.value.welcome.byteLength },
  join: { ms: join.ms, cpuMs: join.cpuMs },
  message: { bytes: message.byteLength, encryptMs: encrypt.ms, ciphertextBytes: encrypt.value.message.byteLength, decryptMs: read.ms },
  remove: { commitMs: remove.ms, commitBytes: remove.value.commit.byteLength, processMs: processRemove.ms },
  machine: machine(loadAtStart),
};
const file = writeResult('groups', report);
console.log(
  `groups: ${N} devices: add ${N - 1} in one commit ${add.ms} ms (Welcome ${report.add.welcomeBytes} B), join ${join.ms} ms, ` +
    `1 KiB message ${encrypt.ms} ms / ${read.ms} ms, remove one ${remove.ms} ms (processed in ${processRemove.ms} ms) -> ${file}`,
);
