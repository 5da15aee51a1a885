/**
 * The reference journey of issue #15 in the terminal, with real processes (docs/PROTOCOL.md §11.7,
 * §11.11): `user-a` and `user-b` register, become contacts, and talk through `nullroom send`,
 * `inbox --follow` and `inbox`; `user-b` goes offline, `user-a` sends three messages and a file, the
 * relay is killed with SIGKILL and started again on the same port and data; `user-b` gets exactly
 * those three and the file message, once each, in order, and nothing again after, and downloads
 * the file, verified, beside a file of the same name it does not replace. The message, file-name
 * and file-content canaries are in no file of the relay's data directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyDir, type Proc, run } from './_spawn.js';

async function serveAt(data: string, port: string): Promise<{ proc: Proc; url: string }> {
  const proc = run(['serve', '--port', port, '--data', data]);
  const line = await proc.waitLine((l) => l.startsWith('nullroom listening on '), 'listening line', 20_000);
  return { proc, url: line.slice('nullroom listening on '.length) };
}

/** Every file under `dir`. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? filesUnder(join(dir, n)) : [join(dir, n)]));

const ok = async (p: Proc, what: string) => assert.equal(await p.exited, 0, `${what}: ${p.stderr.join('\n')}`);

test('two terminals: contacts, messages both ways, three and a file sent while one is offline survive kill -9 of the relay, once each, in order', async () => {
  const data = keyDir();
  let relay = await serveAt(data, '0');
  const port = new URL(relay.url).port;
  const url = relay.url;
  const a = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw user-a canary-pw-a' };
  const b = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw user-b canary-pw-b' };
  try {
    await ok(run(['register', url, '--user', 'user-a'], a), 'register a');
    await ok(run(['register', url, '--user', 'user-b'], b), 'register b');
    await ok(run(['contacts', url, 'add', 'user-b'], a), 'a asks b');
    await ok(run(['contacts', url, 'accept', 'user-a'], b), 'b accepts');
    // Both compare the same safety number, over both accounts' devices.
    const va = run(['devices', url, 'verify', 'user-b', '--json'], a);
    const vb = run(['devices', url, 'verify', 'user-a', '--json'], b);
    await ok(va, 'a verifies');
    await ok(vb, 'b verifies');
    assert.match(String(va.events[0]?.digits), /^\d{60}$/);
    assert.equal(va.events[0]?.digits, vb.events[0]?.digits);
    // As text: the digits in groups and the same QR code the web app shows.
    const vt = run(['devices', url, 'verify', 'user-b'], a);
    await ok(vt, 'a verifies, as text');
    assert.ok(vt.lines.join('\n').includes(String(va.events[0]?.digits).slice(0, 5)));
    assert.ok(
      vt.lines.some((l) => /^[█▀▄ ]{25,}$/.test(l)),
      'a QR code',
    );

    // b is online and following; a starts the conversation and writes; b answers.
    const follow = run(['inbox', url, '--follow', '--json'], b);
    await ok(run(['send', url, 'user-b', '--text', 'canary-msg-hello'], a), 'a sends');
    const hello = await follow.waitFor((e) => e.event === 'message', 'hello at b', 20_000);
    assert.deepEqual([hello.from, hello.text], ['user-a', 'canary-msg-hello']);
    // A second process on b's conversations while the first runs is refused: both would advance the same MLS states.
    const twice = run(['inbox', url], b);
    assert.equal(await twice.exited, 1);
    assert.match(twice.stderr.join('\n'), /MESSENGER_IN_USE/);
    follow.child.kill('SIGTERM');
    await follow.exited;
    await ok(run(['send', url, 'user-a', '--text', 'canary-msg-reply'], b), 'b replies');
    const atA = run(['inbox', url, '--json'], a);
    await ok(atA, 'a reads');
    assert.deepEqual(
      atA.events.filter((e) => e.event === 'message').map((e) => [e.from, e.text]),
      [['user-b', 'canary-msg-reply']],
    );

    // b is offline; a sends three, and a file (5 MiB: two chunks); the relay dies and comes back.
    for (const t of ['canary-msg-1', 'canary-msg-2', 'canary-msg-3']) await ok(run(['send', url, 'user-b', '--text', t], a), t);
    const report = join(keyDir(), 'canary-file-report.txt');
    writeFileSync(report, Buffer.alloc(5 * 1024 * 1024, 'canary-file-content '));
    await ok(run(['send', url, 'user-b', '--file', report], a), 'a sends a file');
    relay.proc.child.kill('SIGKILL');
    await relay.proc.exited;
    relay = await serveAt(data, port);
    const inbox = run(['inbox', url, '--json'], b);
    await ok(inbox, 'b reads');
    const got = inbox.events.filter((e) => e.event === 'message');
    assert.deepEqual(
      got.map((e) => [e.from, e.text || `file ${(e.file as { name: string }).name}`]),
      [
        ['user-a', 'canary-msg-1'],
        ['user-a', 'canary-msg-2'],
        ['user-a', 'canary-msg-3'],
        ['user-a', 'file canary-file-report.txt'],
      ],
    );
    // b fetches the file into a folder that has one of that name already: verified, saved beside it.
    const out = keyDir();
    writeFileSync(join(out, 'canary-file-report.txt'), 'mine');
    const fileMessage = got[3]!;
    const dl = run(['download', url, String(fileMessage.conversation), String(fileMessage.id), '--out', out, '--json'], b);
    await ok(dl, 'b downloads');
    const saved = dl.events.find((e) => e.event === 'downloaded');
    assert.equal(saved?.path, join(out, 'canary-file-report (1).txt'));
    assert.deepEqual(readFileSync(String(saved?.path)), readFileSync(report), 'the file is the one sent');
    assert.equal(readFileSync(join(out, 'canary-file-report.txt'), 'utf8'), 'mine', 'nothing replaced');
    const again = run(['inbox', url, '--json'], b);
    await ok(again, 'b reads again');
    assert.deepEqual(
      again.events.filter((e) => e.event === 'message'),
      [],
      'each message once',
    );
    // The relay's files (its stores, the blobs' chunks and records) hold no message, file name, file content or password.
    for (const f of filesUnder(data)) {
      const bytes = readFileSync(f);
      for (const canary of ['canary-msg', 'canary-file', 'canary-pw']) assert.ok(!bytes.includes(canary), `${f} holds ${canary}`);
    }
  } finally {
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
  }
});
