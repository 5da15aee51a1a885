/**
 * The `nullroom` tarball, installed where this repository is not (issue 16, docs/OPERATING.md
 * "Installing without the repository"): scripts/pack-cli.mjs packs it, `npm install <tarball>` puts it
 * in an empty folder (from the registry: better-sqlite3 is built there), and the installed command,
 * run through `npx`, serves the web app and /healthz, and carries a message from one terminal client
 * to another. The bundled ts-mls must be the patched one (patches/README.md): the removal check runs
 * on the very copy the installed packages load.
 *
 * Slow (about a minute, most of it npm compiling better-sqlite3) and bounded: every step has a
 * deadline after which its whole process group is killed and the step named. Nothing is written
 * outside one temporary folder: HOME, XDG_DATA_HOME, XDG_CONFIG_HOME, the key folders and the relay's
 * --data all point into it. NULLROOM_SKIP_PACKAGE_TEST=1 skips it (say, offline), visibly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Proc, watch } from './_spawn.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const PACK_MS = 120_000;
const INSTALL_MS = 8 * 60_000;
const STEP_MS = 30_000;

/**
 * The environment of a process started here: without the npm_* variables of the `npm test` that may
 * run us (its prefix, workspace), nor the NULLROOM_* and database variables CI sets for other tests
 * (this relay is the embedded one, alone).
 */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(?:npm_|NULLROOM_|DATABASE_URL$|REDIS_URL$)/i.test(k)));
  return { ...clean, ...extra };
}

/** Process groups started here, killed whatever happens (npx runs a shell that runs node). */
const groups = new Set<number>();
function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

/** Runs a command to its end within `ms`, else kills its process group and fails naming `what`. */
function runToEnd(what: string, cmd: string, args: string[], cwd: string, ms: number, e = env()) {
  const started = Date.now();
  return new Promise<{ stdout: string; stderr: string; ms: number }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: e, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    groups.add(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const tail = () => `${stderr}${stdout}`.trim().split('\n').slice(-15).join('\n');
    const timer = setTimeout(() => {
      killGroup(child.pid, 'SIGKILL');
      reject(new Error(`${what}: no end after ${ms / 1000} s, killed; last output:\n${tail()}`));
    }, ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${what}: cannot start ${cmd}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      groups.delete(child.pid!);
      const took = Date.now() - started;
      if (code === 0) resolve({ stdout, stderr, ms: took });
      else reject(new Error(`${what} failed (exit ${code}) after ${(took / 1000).toFixed(1)} s; last output:\n${tail()}`));
    });
  });
}

/** `p`, or a failure naming `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The installed `nullroom` through npx (never from the registry: --no), as a Proc in its own process group. */
function npx(app: string, args: string[], e: NodeJS.ProcessEnv): Proc {
  const child = spawn('npx', ['--no', 'nullroom', ...args], { cwd: app, env: e, detached: true, stdio: 'pipe' });
  groups.add(child.pid!);
  return watch(child as ChildProcessWithoutNullStreams);
}

test('the packed tarball installs into an empty folder and its nullroom serves the web app and carries a chat message', {
  timeout: PACK_MS + INSTALL_MS + 5 * STEP_MS,
}, async (t) => {
  if (process.env['NULLROOM_SKIP_PACKAGE_TEST'] === '1') {
    t.skip('NULLROOM_SKIP_PACKAGE_TEST=1: the tarball was not packed, installed nor run');
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'nullroom-package-'));
  try {
    // 1. Pack, as `npm run pack:cli` does (the build is done: `npm test` builds first).
    const packed = await runToEnd(
      'pack (scripts/pack-cli.mjs)',
      process.execPath,
      [join(root, 'scripts', 'pack-cli.mjs'), '--out', join(tmp, 'out')],
      root,
      PACK_MS,
    );
    const tarball = packed.stdout.split('\n')[0]!;
    assert.ok(tarball.endsWith('.tgz') && existsSync(tarball), `no tarball: ${packed.stdout}`);

    // 2. Install it into an empty folder, from the registry, as a user would (allowScripts: npm's
    // approval of better-sqlite3's build script, which newer npm versions ask for).
    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), `${JSON.stringify({ private: true, allowScripts: { 'better-sqlite3': true } })}\n`);
    const installed = await runToEnd(
      `npm install ${tarball} (from the npm registry: is it reachable?)`,
      'npm',
      ['install', '--no-audit', '--no-fund', '--no-update-notifier', tarball],
      app,
      INSTALL_MS,
    );
    const pkg = join(app, 'node_modules', 'nullroom');
    assert.ok(existsSync(join(app, 'node_modules', '.bin', 'nullroom')), 'npm linked no nullroom command');
    assert.ok(
      existsSync(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')),
      'better-sqlite3 was not built',
    );

    // 3. The ts-mls that the installed @nullroom/crypto loads is the bundled, patched one, and
    // behaves so: a commit removing one member carries a path, and the removed member cannot read on.
    const tsMls = createRequire(join(pkg, 'node_modules', '@nullroom', 'crypto', 'package.json')).resolve('ts-mls');
    assert.ok(tsMls.startsWith(join(pkg, 'node_modules', 'ts-mls')), `the installed crypto loads ${tsMls}`);
    assert.match(
      readFileSync(join(pkg, 'node_modules', 'ts-mls', 'dist', 'src', 'clientState.js'), 'utf8'),
      /RFC 9420 §12\.4 requires a path/,
    );
    const check = join(root, 'apps', 'cli', 'test', 'fixtures', 'removal-path.mjs');
    const removal = await runToEnd('the ts-mls removal check', process.execPath, [check, tsMls], app, STEP_MS);
    assert.deepEqual(JSON.parse(removal.stdout), { path: true, removedReads: false });

    // 4. `npx nullroom serve`, every file it writes in the temporary folder.
    const home = join(tmp, 'home');
    mkdirSync(home);
    const runEnv = (keys: string) =>
      env({
        HOME: home,
        XDG_DATA_HOME: join(home, 'data'),
        XDG_CONFIG_HOME: join(home, 'config'),
        NULLROOM_KEY_DIR: join(home, keys),
        NULLROOM_PASSWORD: 'a room password for the packaged nullroom',
      });
    const servedAt = Date.now();
    const relay = npx(app, ['serve', '--host', '127.0.0.1', '--port', '0', '--data', join(tmp, 'relay-data')], runEnv('relay-keys'));
    const listening = await relay.waitLine((l) => l.startsWith('nullroom listening on '), 'the listening line', STEP_MS);
    const url = listening.slice('nullroom listening on '.length);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok\n');
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    assert.equal(html, readFileSync(join(pkg, 'web', 'index.html'), 'utf8'), 'the page is the packaged web app');
    const asset = /"(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset !== undefined, 'the page names its scripts');
    assert.equal((await fetch(`${url}${asset}`)).status, 200);

    // 5. Two terminal clients in one room: a message goes from one to the other.
    const chat = (nick: string) => npx(app, ['chat', url, '--room', 'packaged room', '--nick', nick, '--json'], runEnv(`keys-${nick}`));
    const alice = chat('alice');
    await alice.waitFor((e) => e['event'] === 'joined', 'alice joined', STEP_MS);
    const bob = chat('bob');
    await bob.waitFor((e) => e['event'] === 'joined', 'bob joined', STEP_MS);
    await alice.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === 'bob', 'alice sees bob', STEP_MS);
    alice.child.stdin.write('hello through the tarball\n');
    await bob.waitFor(
      (e) => e['event'] === 'message' && e['from'] === 'alice' && e['text'] === 'hello through the tarball',
      "alice's message at bob",
      STEP_MS,
    );
    for (const p of [alice, bob]) p.child.stdin.end();
    assert.deepEqual(await within(Promise.all([alice.exited, bob.exited]), STEP_MS, 'the chat clients leaving at end of input'), [0, 0]);
    killGroup(relay.child.pid, 'SIGTERM');
    await within(relay.exited, STEP_MS, 'the relay stopping on SIGTERM');
    t.diagnostic(
      `pack ${(packed.ms / 1000).toFixed(1)} s, npm install ${(installed.ms / 1000).toFixed(1)} s, serve and chat ${((Date.now() - servedAt) / 1000).toFixed(1)} s`,
    );
  } finally {
    for (const pid of groups) killGroup(pid, 'SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
});
