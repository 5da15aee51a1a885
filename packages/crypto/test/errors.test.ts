/**
 * The crypto error table (src/errors.ts) and docs/PROTOCOL.md §6.4 list the same codes with the
 * same "when it happens", and a CryptoError's `code` is the table's key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CryptoError, CryptoErrorCodes, parseInvite } from '../src/index.js';

const protocol = readFileSync(new URL('../../../../docs/PROTOCOL.md', import.meta.url), 'utf8');

test('docs/PROTOCOL.md §6.4 documents every code of the table, as the table words it, and no other', () => {
  const start = protocol.indexOf('### 6.4 Crypto error codes');
  assert.ok(start >= 0, '§6.4 exists');
  const section = protocol.slice(start, protocol.indexOf('\n## ', start));
  const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
  assert.deepEqual(Object.fromEntries(rows), { ...CryptoErrorCodes });
  assert.ok(!protocol.includes('NR_CRYPTO_'), 'no code under an old spelling');
});

test("a CryptoError's code is the table's key", () => {
  assert.throws(
    () => parseInvite('#k=nope'),
    (e: unknown) => e instanceof CryptoError && e.code === 'BAD_INVITE' && Object.hasOwn(CryptoErrorCodes, e.code),
  );
});
