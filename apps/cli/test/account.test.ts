/**
 * `nullroom register|login|whoami|logout` against `nullroom serve` (docs/PROTOCOL.md §11.6): the
 * token kept 0600 in the key folder, the relay's key pinned, the SDK's codes on refusal with their
 * exit codes, --json events, and the password in no argument, output or relay file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { keyDir, run, serveProc } from './_spawn.js';

const PASSWORD = 'canary-cli-pw-61d0 horse';

test('register, whoami, logout, login again; refusals carry the SDK code', async () => {
  const data = keyDir();
  const { proc: relay, url } = await serveProc(['--data', data]);
  const dev = keyDir();
  const env = { NULLROOM_KEY_DIR: dev, NULLROOM_PASSWORD: PASSWORD };
  try {
    const reg = run(['register', url, '--user', 'Alice', '--json'], env);
    assert.equal(await reg.exited, 0, reg.stderr.join('\n'));
    assert.deepEqual({ ...reg.events[0], expiresAt: 0 }, { event: 'registered', name: 'alice', relay: new URL(url).origin, expiresAt: 0 });
    assert.equal(reg.events[1]?.event, 'device-enrolled', 'the first terminal is the account’s first device');
    const file = join(dev, 'accounts.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.match(saved.relays[new URL(url).origin].token, /^[A-Za-z0-9_-]{43}$/);

    const who = run(['whoami', url], env);
    assert.equal(await who.exited, 0);
    assert.equal(who.lines[0], `alice on ${new URL(url).origin}`);

    const out = run(['logout', url, '--json'], env);
    assert.equal(await out.exited, 0);
    assert.equal(out.events[0]?.event, 'signed-out');
    assert.equal(await run(['whoami', url], env).exited, 1);
    const kept = JSON.parse(readFileSync(file, 'utf8')).relays[new URL(url).origin];
    assert.deepEqual(
      Object.keys(kept).sort(),
      ['device', 'lists', 'name', 'serverKey'],
      'the token is gone; the relay key, the device key and its lists stay',
    );

    const wrong = run(['login', url, '--user', 'alice', '--json'], { ...env, NULLROOM_PASSWORD: 'not it' });
    assert.equal(await wrong.exited, 1);
    assert.equal(wrong.events[0]?.code, 'LOGIN_FAILED');
    assert.match(wrong.stderr.join('\n'), /^nullroom: LOGIN_FAILED: wrong username or password/);

    const taken = run(['register', url, '--user', 'ALICE'], env);
    assert.equal(await taken.exited, 1);
    assert.match(taken.stderr.join('\n'), /USERNAME_TAKEN/);

    const again = run(['login', url, '--user', 'alice'], env);
    assert.equal(await again.exited, 0, again.stderr.join('\n'));
    assert.match(again.lines[0] ?? '', /^signed in as alice on /);
    assert.match(again.lines[1] ?? '', /^this terminal is device [0-9a-f]{4} /, 'still the account’s device: no new approval');
    // Its new session proved the device key (bind, PROTOCOL.md §11.8): it may do what a device does.
    const contacts = run(['contacts', url], env);
    assert.equal(await contacts.exited, 0, contacts.stderr.join('\n'));
    const everywhere = run(['logout', url, '--everywhere', '--json'], env);
    assert.equal(await everywhere.exited, 0);
    assert.equal(everywhere.events[0]?.ended, 1, 'the first session ended with the first logout');

    const gone = run(['login', 'http://127.0.0.1:1', '--user', 'alice'], env);
    assert.equal(await gone.exited, 4);
    assert.match(gone.stderr.join('\n'), /UNAVAILABLE/);
    // The password is nowhere but in what we gave the command.
    for (const f of readdirSync(data)) {
      const path = join(data, f);
      if (statSync(path).isFile()) assert.ok(!readFileSync(path).includes('canary-cli-pw'), `${f} holds the password`);
    }
    assert.ok(!readFileSync(file).includes('canary-cli-pw'));
  } finally {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});

test('without a password source and no terminal, register says how to give one (exit 2)', async () => {
  const p = run(['register', 'http://127.0.0.1:1', '--user', 'bob']);
  assert.equal(await p.exited, 2);
  assert.match(p.stderr.join('\n'), /--password-file F or NULLROOM_PASSWORD/);
});

test('a second terminal is approved from the first with the code it shows; then it removes the first', async () => {
  const data = keyDir();
  const { proc: relay, url } = await serveProc(['--data', data]);
  const first = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: PASSWORD };
  const second = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: PASSWORD };
  try {
    assert.equal(await run(['register', url, '--user', 'carol'], first).exited, 0);
    const login = run(['login', url, '--user', 'carol', '--json'], second);
    const asked = await login.waitFor((e) => e.event === 'approval-code', 'the approval code');
    const code = String(asked.code);
    assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    const wrong = run(['devices', url, 'approve', '0000-0000-0000'], first);
    assert.equal(await wrong.exited, 1);
    assert.match(wrong.stderr.join('\n'), /^nullroom: NO_REQUEST_FOR_CODE: /);
    const ok = run(['devices', url, 'approve', code.toLowerCase(), '--json'], first);
    assert.equal(await ok.exited, 0, ok.stderr.join('\n'));
    assert.equal(ok.events[0]?.event, 'device-approved');
    assert.equal(await login.exited, 0, login.stderr.join('\n'));
    assert.equal(login.events.at(-1)?.event, 'device-approved');

    const listed = run(['devices', url, '--json'], second);
    assert.equal(await listed.exited, 0, listed.stderr.join('\n'));
    assert.deepEqual(
      listed.events.map((e) => e.current),
      [false, true],
    );
    const firstDevice = String(listed.events[0]?.device);
    const removed = run(['devices', url, 'remove', firstDevice], second);
    assert.equal(await removed.exited, 0, removed.stderr.join('\n'));
    // The removed terminal's session ended with it (PROTOCOL.md §11.8): it can neither approve nor list.
    const stale = run(['devices', url, 'approve', code], first);
    assert.equal(await stale.exited, 1);
    assert.match(stale.stderr.join('\n'), /^nullroom: NOT_SIGNED_IN: /);
    const orphan = run(['devices', url], first);
    assert.equal(await orphan.exited, 1);
    assert.match(orphan.stderr.join('\n'), /^nullroom: NOT_SIGNED_IN: /);
    const usage = run(['devices', url, 'approve'], first);
    assert.equal(await usage.exited, 2);
  } finally {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});
