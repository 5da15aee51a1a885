/**
 * Usernames (src/accounts/username.ts, docs/PROTOCOL.md §11.1): one canonical form per name (NFKC,
 * case-folded), the characters and separators allowed, scripts that pass for another refused,
 * and look-alikes within Latin and digits given one key. Refusals are typed and quote nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsernameError, type UsernameProblem, normalizeUsername } from '../src/accounts/username.js';

const refused = (input: string, problem: UsernameProblem) => {
  assert.throws(
    () => normalizeUsername(input),
    (e: unknown) =>
      e instanceof UsernameError &&
      e.problem === problem &&
      e.code === 'USERNAME_INVALID' &&
      (input.length < 3 || !e.message.includes(input)),
    `${JSON.stringify(input)} should be refused for ${problem}`,
  );
};

test('one canonical form: NFKC, case folded, separators kept', () => {
  assert.equal(normalizeUsername('Alice').name, 'alice');
  assert.equal(normalizeUsername('ＡＬＩＣＥ').name, 'alice'); // full-width
  assert.equal(normalizeUsername('ﬁsh-and_Chips').name, 'fish-and_chips'); // ligature
  assert.equal(normalizeUsername('Straße').name, 'straße');
  assert.equal(normalizeUsername('张伟').name.length, 2);
  assert.equal(normalizeUsername('张伟').name, '张伟');
  // Composed and decomposed accents are one name.
  assert.equal(normalizeUsername('jose\u0301').name, normalizeUsername('josé').name);
});

test('length, characters and separators', () => {
  refused('a', 'LENGTH');
  assert.equal(normalizeUsername('ab').name, 'ab');
  refused('a'.repeat(33), 'LENGTH');
  refused('x'.repeat(500), 'LENGTH');
  assert.equal(normalizeUsername('a'.repeat(32)).name.length, 32);
  for (const bad of ['bob smith', 'bob.smith', 'bob@x', 'bob!', '👍bob', 'x\u200dyz', 'ab\u0000c', 'abc\n']) refused(bad, 'CHARACTERS');
  for (const bad of ['-bob', 'bob_', 'bo--b', 'bo_-b', '_', '']) refused(bad, 'SEPARATORS');
});

test('scripts that pass for another are refused', () => {
  refused('pаypal', 'CONFUSABLE_SCRIPT'); // Cyrillic а inside Latin
  refused('раураl', 'CONFUSABLE_SCRIPT');
  refused('pay-раl', 'CONFUSABLE_SCRIPT'); // each run one script, the name two
  refused('ΑΒΓ', 'CONFUSABLE_SCRIPT'); // Greek capitals that read as Latin
});

test('look-alikes within Latin and digits share one key; different names do not', () => {
  const key = (s: string) => normalizeUsername(s).key;
  assert.equal(key('paypal'), key('paypa1'));
  assert.equal(key('bob0'), key('bobo'));
  assert.equal(key('modern'), key('rnodern'));
  assert.equal(key('dan'), key('clan'));
  assert.equal(key('wes'), key('vves'));
  assert.equal(key('bob-smith'), key('bob_smith'));
  assert.equal(key('bob-smith'), key('bobsmith'));
  assert.equal(key('Alice'), key('alice'));
  assert.notEqual(key('alice'), key('alicia'));
  assert.notEqual(key('bob'), key('rob'));
});
