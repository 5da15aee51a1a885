import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, serveProc, type Proc } from './_spawn.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PW = { NULLROOM_PASSWORD: 'test password for cli' };
const stop = async (p: Proc) => {
  if (p.child.exitCode === null) p.child.kill('SIGTERM');
  return p.exited;
};

test('serve prints exactly one listening line (its log: JSON lines at info) and shuts down cleanly on SIGTERM', async () => {
  const { proc, url } = await serveProc();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const res = await fetch(`${url}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(await stop(proc), 0);
  const logged = proc.lines.filter((l) => l.startsWith('{'));
  assert.deepEqual(
    proc.lines.filter((l) => !l.startsWith('{')),
    [`nullroom listening on ${url}`],
  );
  const records = logged.map((l) => JSON.parse(l) as { level: string; msg: string });
  assert.deepEqual(
    records.map((r) => [r.level, r.msg]),
    [
      ['info', 'relay listening'],
      ['info', 'relay draining'],
      ['info', 'relay stopped'],
    ],
  );
});

test('serve refuses plain HTTP on a non-loopback address (exit 2, clear message)', async () => {
  const p = run(['serve', '--host', '0.0.0.0', '--port', '0']);
  assert.equal(await p.exited, 2);
  assert.match(p.stderr.join('\n'), /only loopback may go without TLS/);
});

test('chat usage errors exit 2; an unreachable relay exits 4', async () => {
  const noRoom = run(['chat', 'http://127.0.0.1:9', '--nick', 'a'], PW);
  assert.equal(await noRoom.exited, 2);
  const noPassword = run(['chat', 'http://127.0.0.1:9', '--room', 'r', '--nick', 'a'], {});
  noPassword.child.stdin.end();
  assert.equal(await noPassword.exited, 2);
  assert.match(noPassword.stderr.join('\n'), /password/);
  const pwArg = run(['chat', 'http://127.0.0.1:9', '--room', 'r', '--nick', 'a', '--password', 'x'], PW);
  assert.equal(await pwArg.exited, 2);
  const down = run(['chat', 'http://127.0.0.1:9', '--room', 'r', '--nick', 'a', '--json'], PW);
  down.child.stdin.end();
  assert.equal(await down.exited, 4);
  assert.match(down.stderr.join('\n'), /cannot connect|ECONNREFUSED/);
});

test('line mode with --json: three terminal clients chat, /members, /verify agree, EOF leaves cleanly', async () => {
  const { proc: relay, url } = await serveProc();
  try {
    const chat = (nick: string) => run(['chat', url, '--room', 'cli-room', '--nick', nick, '--json'], PW);
    const a = chat('alice');
    const aj = await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    assert.equal(aj['created'], true);
    const b = chat('bob');
    const bj = await b.waitFor((e) => e['event'] === 'joined', 'bob joined');
    assert.equal(bj['created'], false);
    assert.deepEqual(bj['members'], ['alice', 'bob']);
    const c = chat('carol');
    await c.waitFor((e) => e['event'] === 'joined', 'carol joined');
    await a.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'carol', 'alice sees carol');
    await b.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'carol', 'bob sees carol');

    a.child.stdin.write('hello from alice\n');
    b.child.stdin.write('hello from bob\n');
    for (const p of [b, c])
      await p.waitFor((e) => e['event'] === 'message' && e['text'] === 'hello from alice' && e['from'] === 'alice', 'alice msg');
    for (const p of [a, c])
      await p.waitFor((e) => e['event'] === 'message' && e['text'] === 'hello from bob' && e['from'] === 'bob', 'bob msg');
    const msg = c.events.find((e) => e['event'] === 'message')!;
    assert.equal(typeof msg['ts'], 'number');

    a.child.stdin.write('/members\n');
    const m = await a.waitFor((e) => e['event'] === 'members', 'members');
    assert.deepEqual([...(m['members'] as string[])].sort(), ['alice', 'bob', 'carol']);
    a.child.stdin.write('/verify bob\n');
    b.child.stdin.write('/verify alice\n');
    const va = await a.waitFor((e) => e['event'] === 'verify', 'alice verify');
    const vb = await b.waitFor((e) => e['event'] === 'verify', 'bob verify');
    assert.match(String(va['safetyNumber']), /^(\d{5} ){11}\d{5}$/);
    assert.equal(va['safetyNumber'], vb['safetyNumber']);
    // The room fingerprint beside it (docs/PROTOCOL.md §8.1): one epoch, one history, the same digits.
    assert.match(String(va['fingerprint']), /^\d{4} \d{4} \d{4}$/);
    assert.equal(typeof va['epoch'], 'number');
    assert.deepEqual([vb['epoch'], vb['fingerprint']], [va['epoch'], va['fingerprint']]);
    c.child.stdin.write('/fingerprint\n');
    const fc = await c.waitFor((e) => e['event'] === 'fingerprint', 'carol /fingerprint');
    assert.deepEqual([fc['epoch'], fc['fingerprint']], [va['epoch'], va['fingerprint']]);

    // EOF right after a burst: everything is sent, acknowledged, then a clean leave (exit 0).
    for (let i = 0; i < 20; i++) c.child.stdin.write(`burst ${i}\n`);
    c.child.stdin.end();
    assert.equal(await c.exited, 0);
    await a.waitFor((e) => e['event'] === 'message' && e['text'] === 'burst 19', 'last burst message');
    assert.deepEqual(
      a.events.filter((e) => e['event'] === 'message' && String(e['text']).startsWith('burst')).map((e) => e['text']),
      Array.from({ length: 20 }, (_, i) => `burst ${i}`),
    );
    await a.waitFor((e) => e['event'] === 'member-left' && e['nick'] === 'carol', 'carol left');
    b.child.stdin.write('/quit\n');
    assert.equal(await b.exited, 0);
    a.child.stdin.end();
    assert.equal(await a.exited, 0);
  } finally {
    await stop(relay);
  }
});

test('a killed terminal client is seen leaving once the grace period for taking its place back has passed', async () => {
  const { proc: relay, url } = await serveProc(['--resume-grace', '1']);
  try {
    const a = run(['chat', url, '--room', 'kill-room', '--nick', 'alice', '--json'], PW);
    await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    const b = run(['chat', url, '--room', 'kill-room', '--nick', 'bob', '--json'], PW);
    await b.waitFor((e) => e['event'] === 'joined', 'bob joined');
    await a.waitFor((e) => e['event'] === 'member-joined', 'alice sees bob');
    const t0 = Date.now();
    b.child.kill('SIGKILL');
    await a.waitFor((e) => e['event'] === 'member-left' && e['nick'] === 'bob', 'bob seen leaving', 8000);
    assert.ok(Date.now() - t0 < 8000);
    a.child.stdin.end();
    assert.equal(await a.exited, 0);
  } finally {
    await stop(relay);
  }
});

test('TLS: --self-signed prints a fingerprint; --pin accepts it, a wrong pin or no trust exits 4', async () => {
  const data = mkdtempSync(join(tmpdir(), 'nullroom-tls-'));
  const { proc: relay, url, fingerprint } = await serveProc(['--self-signed', '--data', data]);
  try {
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(fingerprint!, /^sha256:[0-9a-f]{64}$/);
    const ok = run(['chat', url, '--room', 'tls', '--nick', 'alice', '--json', '--pin', fingerprint!], PW);
    const j = await ok.waitFor((e) => e['event'] === 'joined', 'joined over TLS');
    assert.equal(j['created'], true);
    ok.child.stdin.end();
    assert.equal(await ok.exited, 0);

    const wrong = run(['chat', url, '--room', 'tls', '--nick', 'bob', '--json', '--pin', `sha256:${'0'.repeat(64)}`], PW);
    wrong.child.stdin.end();
    assert.equal(await wrong.exited, 4);
    assert.match(wrong.stderr.join('\n'), /pinned fingerprint/);

    const untrusted = run(['chat', url, '--room', 'tls', '--nick', 'bob', '--json'], PW);
    untrusted.child.stdin.end();
    assert.equal(await untrusted.exited, 4);
    assert.match(untrusted.stderr.join('\n'), /TLS/);
  } finally {
    await stop(relay);
  }
  // The certificate is kept in --data: a restart keeps the same fingerprint.
  const again = await serveProc(['--self-signed', '--data', data]);
  assert.equal(again.fingerprint, fingerprint);
  await stop(again.proc);
});

test('--suite pq creates a post-quantum (X-Wing) room; a joiner follows the room suite without asking', async () => {
  const { proc: relay, url } = await serveProc();
  try {
    const a = run(['chat', url, '--room', 'pq-room', '--nick', 'alice', '--json', '--suite', 'pq'], PW);
    const aj = await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    assert.equal(aj['suite'], 'pq');
    const b = run(['chat', url, '--room', 'pq-room', '--nick', 'bob', '--json'], PW);
    const bj = await b.waitFor((e) => e['event'] === 'joined', 'bob joined');
    assert.deepEqual([bj['created'], bj['suite']], [false, 'pq']);
    b.child.stdin.write('quantum-safe hello\n');
    await a.waitFor((e) => e['event'] === 'message' && e['text'] === 'quantum-safe hello', 'alice reads bob');
    b.child.stdin.end();
    a.child.stdin.end();
    assert.deepEqual([await a.exited, await b.exited], [0, 0]);
    const bad = run(['chat', url, '--room', 'x', '--nick', 'c', '--suite', 'rot13'], PW);
    assert.equal(await bad.exited, 2);
  } finally {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});

test('private chats and files between terminal clients: /dm (carol reads nothing), /send of two files, {"event":"file"} once verified', async () => {
  const { proc: relay, url } = await serveProc();
  const down = { bob: mkdtempSync(join(tmpdir(), 'nullroom-bob-')), carol: mkdtempSync(join(tmpdir(), 'nullroom-carol-')) };
  try {
    const chat = (nick: string, dir?: string) =>
      run(['chat', url, '--room', 'files-room', '--nick', nick, '--json', ...(dir ? ['--download-dir', dir] : [])], PW);
    const a = chat('alice');
    await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    const b = chat('bob', down.bob);
    await b.waitFor((e) => e['event'] === 'joined', 'bob joined');
    const c = chat('carol', down.carol);
    await c.waitFor((e) => e['event'] === 'joined', 'carol joined');
    await a.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'carol', 'alice sees carol');

    a.child.stdin.write('/dm bob just between us\n');
    const pm = await b.waitFor((e) => e['event'] === 'message' && e['private'] === true, 'bob gets the private message');
    assert.deepEqual(
      { ...pm, ts: 0, id: '' },
      { event: 'message', from: 'alice', text: 'just between us', private: true, with: 'alice', ts: 0, id: '', ref: 1 },
    );
    await b.waitFor((e) => e['event'] === 'private-opened' && e['with'] === 'alice', 'bob sees the chat appear');
    b.child.stdin.write('/dm alice noted\n');
    await a.waitFor(
      (e) => e['event'] === 'message' && e['private'] === true && e['text'] === 'noted' && e['with'] === 'bob',
      'alice gets the answer',
    );

    const src = mkdtempSync(join(tmpdir(), 'nullroom-src-'));
    const one = randomBytes(3 * 1024 * 1024 + 17);
    const two = randomBytes(1000);
    writeFileSync(join(src, 'report one.bin'), one);
    writeFileSync(join(src, 'two.txt'), two);
    a.child.stdin.write(`/send "${join(src, 'report one.bin')}" ${join(src, 'two.txt')}\n`);
    for (const [p, dir] of [
      [b, down.bob],
      [c, down.carol],
    ] as const) {
      for (const [name, data] of [
        ['report one.bin', one],
        ['two.txt', two],
      ] as const) {
        const e = await p.waitFor((x) => x['event'] === 'file' && x['name'] === name, `${name} arrives`);
        assert.equal(e['from'], 'alice');
        assert.equal(e['size'], data.byteLength);
        assert.equal(e['sha256'], createHash('sha256').update(data).digest('hex'));
        assert.equal(e['path'], join(dir, name));
        assert.ok(readFileSync(String(e['path'])).equals(data));
      }
    }
    await a.waitFor((e) => e['event'] === 'file-sent' && e['name'] === 'two.txt', 'alice is told');
    // A file in the private chat: bob only.
    const secretFile = randomBytes(70_000);
    writeFileSync(join(src, 'for bob.bin'), secretFile);
    a.child.stdin.write(`/dmsend bob "${join(src, 'for bob.bin')}"\n`);
    const pf = await b.waitFor((e) => e['event'] === 'file' && e['name'] === 'for bob.bin', 'bob gets the private file');
    assert.equal(pf['private'], true);
    assert.equal(pf['with'], 'alice');
    assert.ok(readFileSync(String(pf['path'])).equals(secretFile));
    await a.waitFor((e) => e['event'] === 'file-sent' && e['name'] === 'for bob.bin', 'alice is told');
    // carol read nothing private; nothing but the two files in her folder.
    assert.ok(!c.events.some((e) => e['private'] === true || JSON.stringify(e).includes('just between us')));
    assert.deepEqual(readdirSync(down.carol).sort(), ['report one.bin', 'two.txt']);
    for (const p of [a, b, c]) p.child.stdin.end();
    for (const p of [a, b, c]) assert.equal(await p.exited, 0);
  } finally {
    await stop(relay);
  }
});

test('--private-routing direct: /dm between a direct and a hidden client, same JSON event; carol reads nothing; a bad value exits 2; --help names it', async () => {
  const help = run(['chat', '--help'], PW);
  assert.equal(await help.exited, 0);
  assert.match(help.lines.join('\n'), /--private-routing <mode>[\s\S]*hidden[\s\S]*direct/);
  const bad = run(['chat', 'http://127.0.0.1:9', '--room', 'r', '--nick', 'a', '--private-routing', 'loud'], PW);
  assert.equal(await bad.exited, 2);
  const { proc: relay, url } = await serveProc();
  try {
    const chat = (nick: string, routing?: string) =>
      run(['chat', url, '--room', 'routing-room', '--nick', nick, '--json', ...(routing ? ['--private-routing', routing] : [])], PW);
    const a = chat('alice', 'direct');
    await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    const b = chat('bob');
    await b.waitFor((e) => e['event'] === 'joined', 'bob joined');
    const c = chat('carol', 'direct');
    await c.waitFor((e) => e['event'] === 'joined', 'carol joined');
    await a.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'carol', 'alice sees carol');
    a.child.stdin.write('/dm bob sent directly\n');
    const pm = await b.waitFor((e) => e['event'] === 'message' && e['private'] === true, 'bob gets the direct message');
    assert.deepEqual(Object.keys(pm), ['event', 'from', 'text', 'private', 'with', 'ts', 'id', 'ref']);
    assert.deepEqual(
      { ...pm, ts: 0, id: '' },
      { event: 'message', from: 'alice', text: 'sent directly', private: true, with: 'alice', ts: 0, id: '', ref: pm['ref'] },
    );
    b.child.stdin.write('/dm alice sent hidden\n');
    const back = await a.waitFor((e) => e['event'] === 'message' && e['private'] === true, 'alice gets the hidden answer');
    assert.deepEqual(
      { ...back, ts: 0, id: '' },
      { event: 'message', from: 'bob', text: 'sent hidden', private: true, with: 'bob', ts: 0, id: '', ref: back['ref'] },
    );
    // Our private lines have a delivery state too, in both routings: pending (with the chat's peer) then sent, each once.
    for (const [p, text, peer] of [
      [a, 'sent directly', 'bob'],
      [b, 'sent hidden', 'alice'],
    ] as const) {
      const pending = await p.waitFor((e) => e['event'] === 'pending' && e['text'] === text, `${text}: pending`);
      assert.deepEqual(
        { ...pending, id: '', ts: 0 },
        { event: 'pending', id: '', from: peer === 'bob' ? 'alice' : 'bob', text, ts: 0, private: true, with: peer, ref: pending['ref'] },
      );
      const sent = await p.waitFor((e) => e['event'] === 'sent' && e['id'] === pending['id'], `${text}: sent`);
      assert.deepEqual(sent, { event: 'sent', id: pending['id'], ts: pending['ts'], private: true, with: peer });
      assert.deepEqual(
        p.events.filter((e) => e['id'] === pending['id']).map((e) => e['event']),
        ['pending', 'sent'],
      );
    }
    a.child.stdin.write('public line\n');
    await c.waitFor((e) => e['event'] === 'message' && e['text'] === 'public line', 'carol is in step');
    assert.ok(!c.events.some((e) => e['private'] === true || e['event'] === 'error' || JSON.stringify(e).includes('sent directly')));
    assert.ok(!a.events.some((e) => e['event'] === 'error') && !b.events.some((e) => e['event'] === 'error'));
    for (const p of [a, b, c]) p.child.stdin.end();
    for (const p of [a, b, c]) assert.equal(await p.exited, 0);
  } finally {
    await stop(relay);
  }
});

test('delivery state: --json says pending then sent for each line; plain output adds nothing; unacknowledged lines end unsent (UNSENT, exit 1)', async () => {
  const { proc: relay, url } = await serveProc();
  let relayStopped = false;
  try {
    const a = run(['chat', url, '--room', 'delivery-room', '--nick', 'alice', '--json'], PW);
    await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    const b = run(['chat', url, '--room', 'delivery-room', '--nick', 'bob'], PW);
    await b.waitLine((l) => /^\* you joined “[^”]+” as bob/.test(l), 'bob joined');
    await a.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'bob', 'alice sees bob');

    a.child.stdin.write('first from alice\n');
    const pending = await a.waitFor((e) => e['event'] === 'pending' && e['text'] === 'first from alice', 'alice pending');
    assert.equal(pending['from'], 'alice');
    assert.match(String(pending['id']), /^[0-9a-f]{32}$/);
    const sent = await a.waitFor((e) => e['event'] === 'sent' && e['id'] === pending['id'], 'alice sent');
    assert.equal(sent['ts'], pending['ts']);
    // pending comes before sent, and each once.
    const mine = a.events.filter((e) => e['id'] === pending['id']).map((e) => e['event']);
    assert.deepEqual(mine, ['pending', 'sent']);

    b.child.stdin.write('first from bob\n');
    await a.waitFor((e) => e['event'] === 'message' && e['from'] === 'bob' && e['text'] === 'first from bob', 'alice reads bob');
    await b.waitLine((l) => l.includes('<alice> first from alice'), 'bob reads alice');
    // Plain output (no terminal, no --json): a script sees what others did, not its own lines echoed.
    assert.ok(!b.lines.some((l) => l.includes('first from bob') || l.includes('\u2713') || l.includes('(sending)')), b.lines.join(' | '));

    // The relay goes away: what is typed now is never acknowledged.
    relay.child.kill('SIGTERM');
    await relay.exited;
    relayStopped = true;
    await a.waitFor((e) => e['event'] === 'connection' && e['state'] === 'reconnecting', 'alice reconnecting');
    a.child.stdin.write('into the void\n');
    const lost = await a.waitFor((e) => e['event'] === 'pending' && e['text'] === 'into the void', 'alice pending again');
    b.child.stdin.write('bob into the void\n');
    // End of input leaves: each waits (30 s) for the acknowledgement that cannot come.
    a.child.stdin.end();
    b.child.stdin.end();
    assert.equal(await a.exited, 1);
    assert.equal(await b.exited, 1);
    assert.ok(
      a.events.some((e) => e['event'] === 'unsent' && e['id'] === lost['id'] && e['ts'] === lost['ts']),
      'alice: unsent',
    );
    assert.ok(!a.events.some((e) => e['event'] === 'sent' && e['id'] === lost['id']), 'alice: never sent');
    assert.ok(
      a.events.some((e) => e['event'] === 'error' && e['code'] === 'UNSENT'),
      'alice: UNSENT',
    );
    assert.ok(
      b.lines.some((l) => /^! your message of \d\d:\d\d:\d\d was not sent/.test(l)),
      b.lines.join(' | '),
    );
    assert.ok(
      b.lines.some((l) => l.startsWith('! UNSENT: 1 message(s)')),
      b.lines.join(' | '),
    );
    // The plain output names the lost message by its time; it never repeated the text.
    assert.ok(!b.lines.some((l) => l.includes('bob into the void')));
  } finally {
    if (!relayStopped) {
      relay.child.kill('SIGTERM');
      await relay.exited;
    }
  }
});

test('chat errors carry a code from the CLI table or the SDK, never one of neither', async () => {
  const { CliErrorCodes } = await import('../src/errors.js');
  const { ClientErrorCodes } = await import('@nullroom/client');
  const { proc: relay, url } = await serveProc();
  try {
    const a = run(['chat', url, '--room', 'codes-room', '--nick', 'alice', '--json'], PW);
    await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    const typed: [string, string][] = [
      ['/verify nobody', 'NO_SUCH_MEMBER'],
      ['/verified nobody', 'NO_SUCH_MEMBER'],
      ['/close nobody', 'NO_PRIVATE_CHAT'],
      ['/nonsense', 'UNKNOWN_COMMAND'],
      ['/send', 'USAGE'],
      ['/dm', 'USAGE'],
      ['/dm bob', 'NO_SUCH_MEMBER'],
      ['/send /nonexistent/file', 'NO_SUCH_FILE'],
      ['x'.repeat(16 * 1024 + 1), 'MESSAGE_TOO_LARGE'],
    ];
    for (const [line, code] of typed) {
      const before = a.events.length;
      a.child.stdin.write(`${line}\n`);
      const e = await a.waitFor((e) => a.events.indexOf(e) >= before && e['event'] === 'error', `the error for ${line.slice(0, 20)}`);
      assert.equal(e['code'], code, line.slice(0, 20));
    }
    // The SDK's table is a list today; a code -> when table would do as well.
    const sdk: unknown = ClientErrorCodes;
    const known = new Set<string>([...Object.keys(CliErrorCodes), ...(Array.isArray(sdk) ? sdk.map(String) : Object.keys(sdk as object))]);
    for (const e of a.events.filter((e) => e['event'] === 'error')) assert.ok(known.has(String(e['code'])), String(e['code']));
    a.child.stdin.end();
    assert.equal(await a.exited, 0);
  } finally {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});
