/**
 * `nullroom group` (apps/cli/src/groups.ts; docs/PROTOCOL.md §11.15) with real processes: a
 * conversation started by `send` is renamed, gets a member, loses one, and is left, each by its
 * id's prefix as `conversations` prints it; the others' `conversations` and `talk` show the name
 * and the notices; an unknown conversation is a usage error; the name is not in the relay's output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyDir, type Proc, run, serveProc } from './_spawn.js';

const ok = async (p: Proc, what: string) => assert.equal(await p.exited, 0, `${what}: ${p.stderr.join('\n')}`);

// An id may begin with '-' (base64url): it is given after `--`, as commander reads anything before as options.
test('group: rename, add, remove and leave by id prefix; the others see the name and the notices', async () => {
  const relay = await serveProc();
  const url = relay.url;
  const [a, b, c] = ['ga', 'gb', 'gc'].map((n) => ({ NULLROOM_KEY_DIR: keyDir(), NULLROOM_PASSWORD: `pw ${n}` }));
  try {
    await ok(run(['register', url, '--user', 'user-ga'], a!), 'register a');
    await ok(run(['register', url, '--user', 'user-gb'], b!), 'register b');
    await ok(run(['register', url, '--user', 'user-gc'], c!), 'register c');
    await ok(run(['send', url, 'user-gb', '--text', 'hello group'], a!), 'a starts');
    const list = run(['conversations', url], a!);
    await ok(list, 'a lists');
    const prefix = list.lines.find((l) => l.includes('user-gb'))?.slice(0, 8) ?? '';
    assert.match(prefix, /^[A-Za-z0-9_-]{8}$/);

    const renamed = run(['group', url, prefix.slice(0, 6), 'rename', 'Canary Team 42', '--json'], a!);
    await ok(renamed, 'a renames');
    assert.equal(renamed.events.find((e) => e.event === 'renamed')?.name, 'Canary Team 42');
    const id = renamed.events.find((e) => e.event === 'renamed')?.conversation as string;
    assert.ok(id.startsWith(prefix));

    const added = run(['group', url, '--json', '--', prefix, 'add', 'user-gc'], a!);
    await ok(added, 'a adds c');
    assert.deepEqual([...((added.events.find((e) => e.event === 'members')?.members ?? []) as string[])].sort(), [
      'user-ga',
      'user-gb',
      'user-gc',
    ]);
    const atC = run(['conversations', url, '--json'], c!);
    await ok(atC, 'c lists');
    const cRow = atC.events.find((e) => e.event === 'conversation' && e.conversation === id);
    assert.equal(cRow?.name, 'Canary Team 42', 'c, added after the rename, knows the name');

    const removed = run(['group', url, '--json', '--', prefix, 'remove', 'user-gb'], a!);
    await ok(removed, 'a removes b');
    assert.deepEqual([...((removed.events.find((e) => e.event === 'members')?.members ?? []) as string[])].sort(), ['user-ga', 'user-gc']);

    const left = run(['group', url, '--json', '--', prefix, 'leave'], c!);
    await ok(left, 'c leaves');
    assert.deepEqual(
      left.events.find((e) => e.event === 'left'),
      { event: 'left', conversation: id },
    );

    const history = run(['talk', url, 'user-gc', '--json'], a!);
    history.child.stdin.end('');
    await ok(history, 'a talks');
    const notices = history.events.filter((e) => e.event === 'history' && e.kind === 'notice').map((e) => e.notice);
    assert.deepEqual(notices, [
      { what: 'renamed', by: 'user-ga', name: 'Canary Team 42' },
      { what: 'added', by: 'user-ga', names: ['user-gc'] },
      { what: 'removed', by: 'user-ga', names: ['user-gb'] },
      { what: 'left', by: 'user-gc', names: ['user-gc'] },
    ]);
    // Listed by id prefix and name (c's leaves go once a device of a's commits their removal: while one runs).
    const after = run(['conversations', url], a!);
    await ok(after, 'a lists, as text');
    assert.ok(
      after.lines.some((l) => l.startsWith(`${prefix}  "Canary Team 42" `)),
      after.lines.join('\n'),
    );
    const atB = run(['conversations', url, '--json'], b!);
    await ok(atB, 'b lists');
    assert.deepEqual(atB.events.find((e) => e.conversation === id)?.members, [], 'b was removed');

    const unknown = run(['group', url, 'zzzzzzzz', 'leave'], a!);
    assert.equal(await unknown.exited, 2);
    assert.match(unknown.stderr.join('\n'), /NO_SUCH_CONVERSATION/);
    assert.ok(![...relay.proc.lines, ...relay.proc.stderr].join('\n').includes('Canary Team'), 'the relay never printed the name');
  } finally {
    relay.proc.child.kill('SIGTERM');
    await relay.proc.exited;
  }
});
