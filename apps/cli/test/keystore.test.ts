/**
 * The terminal remembers who it trusted (issue #11 point 10): `nullroom chat` keeps its identity
 * and the keys it verified in its key folder, so a restart changes nobody's safety number, keeps
 * "verified", and a different device under a known nickname is a key change even after restarts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyDir, run, serveProc, type Proc } from './_spawn.js';

const PW = { NULLROOM_PASSWORD: 'key store test password' };
const ROOM = 'keystore-room';

/** Ends a chat the way a user does (end of input): a clean leave, exit 0. */
async function quit(p: Proc): Promise<void> {
  p.child.stdin.end();
  assert.equal(await p.exited, 0, `clean exit; stderr: ${p.stderr.join(' | ')}`);
}
const joined = (p: Proc, what: string) => p.waitFor((e) => e['event'] === 'joined', what, 30_000);
const verifyLine = async (p: Proc, nick: string, nth: number) => {
  p.child.stdin.write(`/verify ${nick}\n`);
  const start = Date.now();
  while (p.events.filter((e) => e['event'] === 'verify').length < nth) {
    if (Date.now() - start > 15_000) throw new Error(`no /verify answer; stdout: ${p.lines.slice(-5).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return p.events.filter((e) => e['event'] === 'verify')[nth - 1]!;
};

test('verified and safety numbers survive restarts; another device as "alice" is a key change after a restart', async () => {
  const { proc: relay, url } = await serveProc();
  const [aliceDir, bobDir, otherDir] = [keyDir(), keyDir(), keyDir()];
  const chat = (nick: string, dir: string) =>
    run(['chat', url, '--room', ROOM, '--nick', nick, '--json'], { ...PW, NULLROOM_KEY_DIR: dir });
  try {
    // 1. First meeting: bob compares the number and marks alice verified.
    let alice = chat('alice', aliceDir);
    await joined(alice, 'alice joined');
    let bob = chat('bob', bobDir);
    await joined(bob, 'bob joined');
    await alice.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'bob', 'alice sees bob');
    const first = await verifyLine(bob, 'alice', 1);
    assert.equal(first['verified'], false);
    bob.child.stdin.write('/verified alice\n');
    await bob.waitFor((e) => e['event'] === 'verify' && e['verified'] === true, 'bob verified alice');
    await quit(bob);
    await quit(alice);
    assert.deepEqual(readdirSync(bobDir).sort(), ['keystore.json', 'sessions']);
    assert.deepEqual(readdirSync(join(bobDir, 'sessions')), ['device.key'], 'leaving removed the saved session and its lock');

    // 2. Both restart (the room was gone meanwhile: alice creates it again): same number, still verified.
    alice = chat('alice', aliceDir);
    const aj = await joined(alice, 'alice back');
    assert.equal(aj['created'], true);
    bob = chat('bob', bobDir);
    await joined(bob, 'bob back');
    await alice.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'bob', 'alice sees bob again');
    const again = await verifyLine(bob, 'alice', 1);
    assert.equal(again['safetyNumber'], first['safetyNumber'], "alice's identity persisted: the same safety number");
    assert.equal(again['verified'], true, 'bob still has alice verified');
    assert.equal(bob.events.filter((e) => e['event'] === 'key-changed').length, 0);
    assert.equal(alice.events.filter((e) => e['event'] === 'key-changed').length, 0);
    await quit(bob);
    await quit(alice);

    // 3. Another device (its own key folder) takes the nickname alice; bob restarts and is warned.
    const impostor = chat('alice', otherDir);
    await joined(impostor, 'the other alice joined');
    bob = chat('bob', bobDir);
    await joined(bob, 'bob back again');
    const warned = await bob.waitFor((e) => e['event'] === 'key-changed', 'bob is warned');
    assert.deepEqual(warned, { event: 'key-changed', nick: 'alice', wasVerified: true });
    const now = await verifyLine(bob, 'alice', 1);
    assert.equal(now['verified'], false, 'the verification is dropped');
    assert.notEqual(now['safetyNumber'], first['safetyNumber']);
    await quit(bob);
    await quit(impostor);
  } finally {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});

test('a damaged or unsafe key store stops chat before it joins (exit 1, what to do); --no-key-store and --key-dir', async () => {
  const dir = keyDir();
  const url = 'http://127.0.0.1:9'; // never reached: the store is checked first
  const chat = (extra: string[], env: Record<string, string> = {}) =>
    run(['chat', url, '--room', ROOM, '--nick', 'bob', '--json', ...extra], { ...PW, NULLROOM_KEY_DIR: dir, ...env });
  writeFileSync(join(dir, 'keystore.json'), '{"v":1,', { mode: 0o600 });
  let p = chat([]);
  assert.equal(await p.exited, 1);
  assert.match(p.stderr.join('\n'), /keystore\.json is damaged/);
  assert.match(p.stderr.join('\n'), /--no-key-store/);
  if (typeof process.getuid === 'function') {
    writeFileSync(join(dir, 'keystore.json'), '{}', { mode: 0o600 });
    chmodSync(join(dir, 'keystore.json'), 0o644);
    p = chat([]);
    assert.equal(await p.exited, 1);
    assert.match(p.stderr.join('\n'), /refusing to use the key store .*chmod 600/);
  }
  // --no-key-store: the store is not read (the unreachable relay is what fails now: exit 4).
  p = chat(['--no-key-store']);
  p.child.stdin.end();
  assert.equal(await p.exited, 4);
  // --key-dir wins over NULLROOM_KEY_DIR, and is created 0700.
  const other = join(keyDir(), 'nested');
  p = chat(['--key-dir', other]);
  p.child.stdin.end();
  assert.equal(await p.exited, 4);
  assert.ok(existsSync(other));
  p = chat(['--key-dir', other, '--no-key-store']);
  assert.equal(await p.exited, 2, 'the two flags conflict');
});
