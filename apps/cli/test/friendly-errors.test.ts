/**
 * Starting mistakes get an error that says what to do (issue 13): a URL scheme `chat` does not
 * speak, https against a plain-HTTP relay, a self-signed relay without --pin, a busy port for
 * `serve`; a relay that is down at start is retried a few times, visibly, before the clear error;
 * and `--version` prints the package's version. Each runs the real binary against a real relay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliErrorCodes } from '../src/errors.js';
import { type Proc, run, serveProc } from './_spawn.js';

const PW = { NULLROOM_PASSWORD: 'test password for friendly errors' };
const chat = (url: string, ...more: string[]) => {
  const p = run(['chat', url, '--room', 'r', '--nick', 'alice', ...more], PW);
  p.child.stdin.end();
  return p;
};
const stop = async (p: Proc) => {
  if (p.child.exitCode === null) p.child.kill('SIGTERM');
  return p.exited;
};
/** A port nothing listens on (the kernel gave it, and it was closed again). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

test('a URL that is not http(s) names the schemes that work: BAD_URL, exit 2 (an error event too under --json)', async () => {
  for (const url of ['ws://127.0.0.1:8080', 'ftp://example.org/', 'localhost:8080', '127.0.0.1:8080']) {
    const p = chat(url);
    assert.equal(await p.exited, 2, url);
    const err = p.stderr.join('\n');
    assert.match(err, /^nullroom: BAD_URL: /, url);
    assert.match(err, /http:\/\/HOST:PORT, or https:\/\/HOST:PORT/, url);
    assert.match(err, url.includes('://') ? /scheme \w+:\/\/ is not supported/ : /has no scheme/, url);
  }
  const j = chat('ws://127.0.0.1:8080', '--json');
  assert.equal(await j.exited, 2);
  assert.equal(j.events.length, 1);
  assert.deepEqual([j.events[0]!['event'], j.events[0]!['code']], ['error', 'BAD_URL']);
  assert.ok('BAD_URL' in CliErrorCodes);
});

test('https against a plain-HTTP relay says to use http://: RELAY_PLAIN_HTTP, exit 4, no retries', async () => {
  const { proc: relay, url } = await serveProc();
  try {
    const https = url.replace(/^http:/, 'https:');
    const p = chat(https);
    assert.equal(await p.exited, 4);
    const err = p.stderr.join('\n');
    assert.match(err, /^nullroom: RELAY_PLAIN_HTTP: the relay at 127\.0\.0\.1:\d+ speaks plain HTTP/);
    assert.ok(err.includes(`use ${url}`), err);
    assert.ok(!p.lines.some((l) => l.includes('retrying')), 'a TLS failure is not retried');
  } finally {
    await stop(relay);
  }
});

test('a self-signed relay without --pin suggests --pin and the fingerprint line `serve` printed; with it, chat joins', async () => {
  const { proc: relay, url, fingerprint } = await serveProc(['--self-signed', '--data', mkdtempSync(join(tmpdir(), 'nr-ss-'))]);
  try {
    const p = chat(url, '--json');
    assert.equal(await p.exited, 4);
    const err = p.stderr.join('\n');
    assert.match(err, /^nullroom: RELAY_SELF_SIGNED: /);
    assert.match(err, /--pin sha256:/);
    assert.match(err, /nullroom serve --self-signed` printed when it started \(its line "fingerprint sha256:…"\)/);
    assert.equal(p.events[0]!['code'], 'RELAY_SELF_SIGNED');
    // And the fix works: the fingerprint serve printed, as --pin.
    const ok = run(['chat', url, '--room', 'r', '--nick', 'alice', '--json', '--pin', fingerprint!], PW);
    await ok.waitFor((e) => e['event'] === 'joined', 'joined with --pin');
    ok.child.stdin.end();
    assert.equal(await ok.exited, 0);
  } finally {
    await stop(relay);
  }
});

test('serve on a busy port names the port and suggests --port: PORT_IN_USE, exit 4', async () => {
  const { proc: first, url } = await serveProc();
  try {
    const port = new URL(url).port;
    const second = run(['serve', '--port', port]);
    assert.equal(await second.exited, 4);
    const err = second.stderr.join('\n');
    assert.match(err, /^nullroom: PORT_IN_USE: /);
    assert.ok(err.includes(`port ${port} on 127.0.0.1 is already in use`), err);
    assert.match(err, /--port \d+/);
  } finally {
    await stop(first);
  }
});

test('a relay that is down at start: 5 visible retries over ~8 s, then RELAY_UNREACHABLE (exit 4)', async () => {
  const port = await freePort();
  const json = chat(`http://127.0.0.1:${port}`, '--json');
  const human = chat(`http://127.0.0.1:${port}`);
  await json.waitFor((e) => e['event'] === 'connection' && e['state'] === 'retrying', 'the first retry', 30_000);
  const t0 = Date.now();
  assert.equal(await json.exited, 4);
  // From the first retry line to the end: the 5 waits (8 s in all), and not much more (a loaded machine is slow to connect).
  const took = Date.now() - t0;
  assert.ok(took > 7500 && took < 25_000, `${took} ms`);
  const retries = json.events.filter((e) => e['event'] === 'connection' && e['state'] === 'retrying');
  assert.deepEqual(
    retries.map((e) => [e['attempt'], e['of']]),
    [1, 2, 3, 4, 5].map((n) => [n, 5]),
  );
  assert.equal(json.events.at(-1)!['code'], 'RELAY_UNREACHABLE');
  assert.equal(await human.exited, 4);
  assert.deepEqual(
    human.lines,
    [1, 2, 3, 4, 5].map((n) => `* relay not reachable, retrying (${n}/5)\u2026`),
  );
  assert.match(
    human.stderr.join('\n'),
    /^nullroom: RELAY_UNREACHABLE: cannot reach the relay at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): is `nullroom serve` running there/,
  );
});

test('a relay that starts 2 s after the client: the client retries, then joins', async () => {
  const port = await freePort();
  const p = run(['chat', `http://127.0.0.1:${port}`, '--room', 'late-room', '--nick', 'alice', '--json'], PW);
  await p.waitFor((e) => e['event'] === 'connection' && e['state'] === 'retrying', 'a retry', 30_000);
  await new Promise((r) => setTimeout(r, 2000));
  const relay = run(['serve', '--port', String(port)]);
  try {
    await relay.waitLine((l) => l.startsWith('nullroom listening on '), 'the relay listening', 30_000);
    const joined = await p.waitFor((e) => e['event'] === 'joined', 'joined once the relay is up', 30_000);
    assert.equal(joined['created'], true);
    assert.ok(!p.events.some((e) => e['event'] === 'error'));
    p.child.stdin.end();
    assert.equal(await p.exited, 0);
  } finally {
    await stop(relay);
  }
});

test('nullroom --version and -V print the version of apps/cli/package.json', async () => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const p = run([flag]);
    assert.equal(await p.exited, 0);
    assert.deepEqual(p.lines, [pkg.version]);
  }
});
