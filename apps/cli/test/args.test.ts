import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from './_spawn.js';

// Ids are base64url: one in 64 begins with '-'. Such an id is an operand, never an option, at any
// place a command takes one, without needing '--' (which still works).
const NOWHERE = 'http://127.0.0.1:1';
const notSignedIn = /not signed in on http:\/\/127\.0\.0\.1:1|NOT_SIGNED_IN/;

test('an id that begins with - is an argument: group, download, devices remove (even -h… and -V…)', async () => {
  for (const args of [
    ['group', NOWHERE, '-40mwUZ', 'rename', 'X'],
    ['group', NOWHERE, '-40mwUZ', 'rename', 'X', '--json'],
    ['group', NOWHERE, '--json', '--', '-40mwUZ', 'leave'],
    ['download', NOWHERE, '-hX3abcdefgh', '-Vxyz_12345'],
    ['devices', NOWHERE, 'remove', '--Vxyz_1234'],
    ['group', NOWHERE, '-aB9', 'leave'],
  ]) {
    const p = run(args);
    assert.equal(await p.exited, 1, `${args.join(' ')}: ${p.stderr.join('\n')}`);
    const said = p.stderr.join('\n');
    assert.match(said, notSignedIn, args.join(' '));
    assert.doesNotMatch(said, /unknown option|Usage:/);
    assert.deepEqual(p.lines, [], 'neither the version nor the help was printed');
  }
});

test('options keep working around such ids; a mistyped flag is still an unknown option (exit 2)', async () => {
  const typo = run(['devices', NOWHERE, '--jsn']);
  assert.equal(await typo.exited, 2);
  assert.match(typo.stderr.join('\n'), /unknown option '--jsn'[\s\S]*--json/);
  const short = run(['whoami', NOWHERE, '-x']);
  assert.equal(await short.exited, 2);
  assert.match(short.stderr.join('\n'), /unknown option '-x'/);
  // A value that begins with '-' stays the value of its option.
  const value = run(['download', NOWHERE, 'c', 'm', '--out=-dir2', '--out', '-dir']);
  assert.equal(await value.exited, 1, value.stderr.join('\n'));
  assert.doesNotMatch(value.stderr.join('\n'), /unknown option|too many arguments/);
  const version = run(['-V']);
  assert.equal(await version.exited, 0);
  assert.match(version.lines.join('\n'), /^\d+\.\d+\.\d+/);
});
