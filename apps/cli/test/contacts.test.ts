/**
 * `nullroom contacts` against `nullroom serve` (docs/PROTOCOL.md §11.7, §11.10): two terminals, each
 * signed in with `nullroom register`, ask, accept, decline, block and remove each other through the
 * real binary; the list in text and as a --json event; refusals as `nullroom: CODE: message` with the
 * SDK's code and their exit codes; usage mistakes exit 2; and no username in the relay's output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Proc, keyDir, run, serveProc } from './_spawn.js';

async function ok(p: Proc): Promise<Proc> {
  assert.equal(await p.exited, 0, p.stderr.join('\n'));
  return p;
}

test('contacts from the terminal: add, accept, list, decline, block, remove; refusals with their codes', async () => {
  const { proc: relay, url } = await serveProc(['-v']);
  const relayOrigin = new URL(url).origin;
  const alice = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw alice' };
  const bob = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw bob' };
  const carol = { NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: 'pw carol' };
  try {
    const signedOut = run(['contacts', url], alice);
    assert.equal(await signedOut.exited, 1);
    assert.match(signedOut.stderr.join('\n'), /^nullroom: NOT_SIGNED_IN: /);
    await ok(run(['register', url, '--user', 'canary-alice'], alice));
    await ok(run(['register', url, '--user', 'canary-bob'], bob));
    await ok(run(['register', url, '--user', 'canary-carol'], carol));

    const add = await ok(run(['contacts', url, 'add', 'Canary-Bob', '--json'], alice));
    assert.deepEqual(
      { ...add.events[0], since: 0 },
      {
        event: 'contact',
        action: 'add',
        relay: relayOrigin,
        name: 'canary-bob',
        state: 'outgoing',
        since: 0,
      },
    );
    const incoming = await ok(run(['contacts', url, '--json'], bob));
    const listed = incoming.events[0] as Record<string, { name: string; since: number }[]>;
    assert.equal(listed.event as unknown, 'contacts');
    assert.deepEqual(
      listed.incoming!.map((e) => e.name),
      ['canary-alice'],
    );
    assert.deepEqual([listed.contacts, listed.outgoing, listed.blocked], [[], [], []]);
    const accept = await ok(run(['contacts', url, 'accept', 'canary-alice'], bob));
    assert.equal(accept.lines[0], 'canary-alice is a contact');
    const text = await ok(run(['contacts', url], alice));
    const today = new Date().toISOString().slice(0, 10);
    assert.deepEqual(text.lines, [
      'contacts (1)',
      `  canary-bob  since ${today}`,
      'incoming requests (0)',
      'your requests (0)',
      'blocked (0)',
    ]);

    await ok(run(['contacts', url, 'add', 'canary-alice'], carol));
    assert.match((await ok(run(['contacts', url, 'decline', 'canary-carol'], alice))).lines[0] ?? '', /not told/);
    const pending = await ok(run(['contacts', url, '--json'], carol));
    assert.deepEqual(
      (pending.events[0]!.outgoing as { name: string }[]).map((e) => e.name),
      ['canary-alice'],
      'declined: still pending for carol',
    );
    assert.equal((await ok(run(['contacts', url, 'block', 'canary-carol', '--json'], alice))).events[0]?.state, 'blocked');
    const blocked = run(['contacts', url, 'add', 'canary-carol', '--json'], alice);
    assert.equal(await blocked.exited, 1);
    assert.equal(blocked.events[0]?.code, 'CONTACT_BLOCKED');
    assert.match(blocked.stderr.join('\n'), /^nullroom: CONTACT_BLOCKED: you blocked that account/);
    await ok(run(['contacts', url, 'unblock', 'canary-carol'], alice));
    assert.equal((await ok(run(['contacts', url, 'remove', 'canary-bob', '--json'], alice))).events[0]?.state, 'none');
    assert.deepEqual((await ok(run(['contacts', url, '--json'], bob))).events[0]?.contacts, [], 'removed on both sides');

    const nobody = run(['contacts', url, 'add', 'canary-nobody'], alice);
    assert.equal(await nobody.exited, 1);
    assert.match(nobody.stderr.join('\n'), /^nullroom: NO_SUCH_USER: /);
    assert.ok(!nobody.stderr.join('\n').includes('canary-nobody'), 'the message does not quote the name');
    const self = run(['contacts', url, 'add', 'canary-alice'], alice);
    assert.equal(await self.exited, 1);
    assert.match(self.stderr.join('\n'), /CONTACT_SELF/);
    // Usage: an unknown action, or an action without its user.
    assert.equal(await run(['contacts', url, 'befriend', 'canary-bob'], alice).exited, 2);
    const noUser = run(['contacts', url, 'block'], alice);
    assert.equal(await noUser.exited, 2);
    assert.match(noUser.stderr.join('\n'), /needs the USER/);
    const gone = run(['contacts', 'http://127.0.0.1:1'], alice);
    assert.equal(await gone.exited, 4);
    assert.match(gone.stderr.join('\n'), /UNAVAILABLE/);
  } finally {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
  const relayOutput = [...relay.lines, ...relay.stderr].join('\n');
  assert.ok(!relayOutput.includes('canary'), 'no username in what the relay printed (with -v)');
});
