/**
 * The terminal is no longer a new person at every start (issue 13): `nullroom chat` saves its stay
 * in the room (sealed, in its key folder) and, restarted after a crash or `kill -9` with the same
 * key folder, takes its place up again: same nickname, same slot, nobody sees it join, and what was
 * said meanwhile arrives. One process per saved session (a second one joins as another member);
 * leaving is final; a damaged session is said and a fresh join follows. And typing: a TTY tells the
 * room, `--no-typing` does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { humanLine } from '../src/output.js';
import { BIN, keyDir, run, serveProc, type Proc } from './_spawn.js';

const PW = { NULLROOM_PASSWORD: 'session resume test password' };
const hasScript = spawnSync('script', ['--version']).status === 0;

const sessionFiles = (dir: string) =>
  existsSync(join(dir, 'sessions')) ? readdirSync(join(dir, 'sessions')).filter((n) => n.endsWith('.session')) : [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
const joined = (p: Proc, what: string) => p.waitFor((e) => e['event'] === 'joined', what, 30_000);
const said = (p: Proc, from: string, text: string, what: string) =>
  p.waitFor((e) => e['event'] === 'message' && e['from'] === from && e['text'] === text, what, 30_000);
async function quit(p: Proc): Promise<void> {
  p.child.stdin.end();
  assert.equal(await p.exited, 0, `clean exit; stderr: ${p.stderr.join(' | ')}`);
}
async function kill9(p: Proc): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}

/** A relay and a way to start members of one room (each its own key folder unless given one). */
async function setup(room: string) {
  const { proc: relay, url } = await serveProc();
  const procs: Proc[] = [];
  const chat = (nick: string, dir: string, extra: string[] = []) => {
    const p = run(['chat', url, '--room', room, '--nick', nick, '--json', ...extra], { ...PW, NULLROOM_KEY_DIR: dir });
    procs.push(p);
    return p;
  };
  const stop = async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    relay.child.kill('SIGTERM');
    await relay.exited;
  };
  return { url, chat, stop };
}

/** Alice is in the room with bob, has said something, and her session is on disk. */
async function aliceAndBob(chat: (nick: string, dir: string, extra?: string[]) => Proc, aliceDir: string) {
  const alice = chat('alice', aliceDir);
  await joined(alice, 'alice joined');
  const bob = chat('bob', keyDir());
  await joined(bob, 'bob joined');
  await alice.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'bob', 'alice sees bob');
  alice.child.stdin.write('before the crash\n');
  await said(bob, 'alice', 'before the crash', 'bob reads alice');
  await alice.waitFor((e) => e['event'] === 'sent', 'alice sent');
  await until(() => sessionFiles(aliceDir).length === 1, "alice's session on disk");
  return { alice, bob };
}

test('kill -9 and restart with the same key folder: the terminal resumes its place (same nick, no join seen, what was missed arrives), and talks again', async () => {
  const { chat, stop } = await setup('resume-room');
  const aliceDir = keyDir();
  try {
    const { alice, bob } = await aliceAndBob(chat, aliceDir);
    await kill9(alice);
    bob.child.stdin.write('while you were away\n');
    await bob.waitFor((e) => e['event'] === 'sent', 'bob sent while alice was down');
    const back = chat('alice', aliceDir);
    const j = await joined(back, 'alice back');
    assert.equal(j['resumed'], true, `resumed; events: ${JSON.stringify(back.events.slice(0, 5))}`);
    assert.equal(j['nick'], 'alice', 'the same nickname (not alice-2)');
    assert.deepEqual([...(j['members'] as string[])].sort(), ['alice', 'bob']);
    await said(back, 'bob', 'while you were away', 'alice receives what bob said while she was down');
    back.child.stdin.write('back again\n');
    await said(bob, 'alice', 'back again', 'bob reads alice after her restart');
    assert.equal(back.events.filter((e) => e['event'] === 'fresh-join').length, 0);
    assert.equal(
      humanLine({ event: 'joined', created: false, nick: 'alice', members: ['alice', 'bob'], suite: 'default', room: 'r', resumed: true }),
      '* resumed your session in \u201cr\u201d as alice; 2 member(s): alice, bob',
    );
    const seenByBob = bob.events.filter((e) => (e['event'] === 'member-joined' || e['event'] === 'member-left') && e['nick'] !== 'bob');
    assert.deepEqual(seenByBob, [], 'bob saw alice neither leave nor join');
    await quit(back);
    await quit(bob);
  } finally {
    await stop();
  }
});

test('two processes with one key folder in one room: the second joins as another member, both work; after /quit the next start joins fresh', async () => {
  const { chat, stop } = await setup('two-processes-room');
  const dir = keyDir();
  try {
    const first = chat('alice', dir);
    await joined(first, 'first alice joined');
    await until(() => sessionFiles(dir).length === 1, "the first alice's session on disk");
    const second = chat('alice', dir);
    const notice = await second.waitFor((e) => e['event'] === 'fresh-join', 'the second says why it joins fresh');
    assert.deepEqual(notice, { event: 'fresh-join', reason: 'in-use' });
    const j = await joined(second, 'second alice joined');
    assert.notEqual(j['resumed'], true);
    // Another leaf and slot, with the same identity (one key folder, one nickname: the same person twice).
    await first.waitFor((e) => e['event'] === 'member-joined', 'the first sees the second join');
    first.child.stdin.write('from the first\n');
    await said(second, 'alice', 'from the first', 'the second reads the first');
    second.child.stdin.write('from the second\n');
    await said(first, j['nick'] as string, 'from the second', 'the first reads the second');
    assert.equal(sessionFiles(dir).length, 1, "only the first process's session is written");
    await quit(second);
    await quit(first);
    // Leaving is final: the session is gone, and the next start joins as a new member.
    assert.deepEqual(sessionFiles(dir), []);
    assert.deepEqual(
      readdirSync(join(dir, 'sessions')).filter((n) => n.endsWith('.lock')),
      [],
      'no lock left',
    );
    const again = chat('alice', dir);
    const j2 = await joined(again, 'alice joins again');
    assert.notEqual(j2['resumed'], true);
    assert.equal(j2['created'], true, 'the room was gone: a fresh start');
    assert.equal(again.events.filter((e) => e['event'] === 'fresh-join').length, 0, 'nothing to say: there was no session');
    await quit(again);
  } finally {
    await stop();
  }
});

test('a damaged saved session is said in one line, removed, and the terminal joins as a new member; --fresh ignores a good one', async () => {
  const { chat, stop } = await setup('damaged-session-room');
  const aliceDir = keyDir();
  try {
    const { alice, bob } = await aliceAndBob(chat, aliceDir);
    await kill9(alice);
    const file = join(aliceDir, 'sessions', sessionFiles(aliceDir)[0]!);
    writeFileSync(file, 'this is not a sealed session');
    const back = chat('alice', aliceDir);
    assert.deepEqual(await back.waitFor((e) => e['event'] === 'fresh-join', 'the damage is said'), {
      event: 'fresh-join',
      reason: 'unreadable',
    });
    const j = await joined(back, 'alice joins fresh');
    assert.notEqual(j['resumed'], true);
    await bob.waitFor((e) => e['event'] === 'member-joined', 'bob sees a new member join');
    back.child.stdin.write('fresh start\n');
    await said(bob, j['nick'] as string, 'fresh start', 'bob reads the new alice');
    assert.match(humanLine({ event: 'fresh-join', reason: 'unreadable' }), /^\* your saved session in this room could not be read/);
    // Her new stay is saved; killed again and started with --fresh, it is not taken up.
    await until(() => sessionFiles(aliceDir).length === 1, 'the new session on disk');
    await kill9(back);
    const fresh = chat('alice', aliceDir, ['--fresh']);
    const j3 = await joined(fresh, 'alice joins with --fresh');
    assert.notEqual(j3['resumed'], true);
    await quit(fresh);
    await quit(bob);
  } finally {
    await stop();
  }
});

test('a saved session the relay cannot give back (a relay without a store, restarted) is said in one line: RESUME_FAILED, then a fresh join', async () => {
  const first = await serveProc(['--no-room-store']);
  const aliceDir = keyDir();
  const procs: Proc[] = [];
  let relay = first.proc;
  try {
    const alice = run(['chat', first.url, '--room', 'refused-room', '--nick', 'alice', '--json'], { ...PW, NULLROOM_KEY_DIR: aliceDir });
    procs.push(alice);
    await joined(alice, 'alice joined');
    await until(() => sessionFiles(aliceDir).length === 1, "alice's session on disk");
    await kill9(alice);
    relay.child.kill('SIGKILL');
    await relay.exited;
    const second = await serveProc(['--no-room-store']);
    relay = second.proc;
    const back = run(['chat', second.url, '--room', 'refused-room', '--nick', 'alice', '--json'], { ...PW, NULLROOM_KEY_DIR: aliceDir });
    procs.push(back);
    const j = await joined(back, 'alice joins again');
    assert.notEqual(j['resumed'], true);
    assert.equal(j['created'], true, 'the room was gone with the relay: she starts it again');
    assert.equal(j['rejoin'], undefined, 'said as a first join, not as a reconnection');
    assert.deepEqual(
      back.events.filter((e) => e['event'] === 'fresh-join' || e['event'] === 'error'),
      [{ event: 'fresh-join', reason: 'refused' }],
      'one line says why, instead of a RESUME_FAILED error',
    );
    assert.equal(back.events.filter((e) => e['event'] === 'joined').length, 1);
    await quit(back);
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});

test('typing: a terminal tells the room while a line is being typed; with --no-typing it never does', {
  skip: hasScript ? false : 'util-linux `script` is not installed',
}, async () => {
  const { proc: relay, url } = await serveProc();
  const ttys: ReturnType<typeof spawn>[] = [];
  const terminal = (nick: string, extra = '') => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...PW, TERM: 'xterm', NULLROOM_KEY_DIR: keyDir() };
    const tty = spawn(
      'script',
      ['-qfec', `${process.execPath} ${BIN} chat ${url} --room typingroom --nick ${nick} ${extra}`, '/dev/null'],
      {
        env,
        stdio: 'pipe',
      },
    );
    ttys.push(tty);
    let screen = '';
    tty.stdout!.on('data', (d: Buffer) => (screen += d.toString('utf8')));
    return { tty, seen: (text: string) => until(() => screen.includes(text), `the terminal shows ${JSON.stringify(text)}`, 30_000) };
  };
  try {
    const bob = run(['chat', url, '--room', 'typingroom', '--nick', 'bob', '--json'], PW);
    await joined(bob, 'bob joined');
    const alice = terminal('alice');
    await alice.seen('/help for commands');
    await bob.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'alice', 'bob sees alice');
    alice.tty.stdin!.write('hel');
    assert.deepEqual(await bob.waitFor((e) => e['event'] === 'typing' && e['from'] === 'alice', 'bob is told alice is typing'), {
      event: 'typing',
      from: 'alice',
      on: true,
    });
    alice.tty.stdin!.write('lo\r');
    await said(bob, 'alice', 'hello', 'bob reads alice');

    const carol = terminal('carol', '--no-typing');
    await carol.seen('/help for commands');
    await bob.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'carol', 'bob sees carol');
    carol.tty.stdin!.write('quiet');
    await sleep(500);
    carol.tty.stdin!.write(' please\r');
    await said(bob, 'carol', 'quiet please', 'bob reads carol');
    assert.deepEqual(
      bob.events.filter((e) => e['event'] === 'typing' && e['from'] === 'carol'),
      [],
      'carol never said she was typing',
    );
    for (const t of [alice, carol]) t.tty.stdin!.write('/quit\r');
    await quit(bob);
  } finally {
    for (const t of ttys) t.kill('SIGKILL');
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});
