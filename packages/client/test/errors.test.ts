/** The client's error table (src/errors.ts) and its copy in docs/PROTOCOL.md §6.3. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ClientError, ClientErrorCodes, ClientErrors } from '../src/index.js';
import { asClientError } from '../src/errors.js';

const docs = readFileSync(new URL('../../../../docs/PROTOCOL.md', import.meta.url), 'utf8');

test('every client error code is in docs/PROTOCOL.md §6.3 with when it happens, and the docs list no other', () => {
  const section = docs.slice(docs.indexOf('### 6.3 Client error codes'), docs.indexOf('### 6.4'));
  const rows = new Map([...section.matchAll(/^\| `([A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!]));
  assert.deepEqual([...rows.keys()], [...ClientErrorCodes]);
  for (const code of ClientErrorCodes) assert.equal(rows.get(code), ClientErrors[code], code);
});

test('a ClientError carries its code, the relay’s code, the close code and its cause', () => {
  const cause = new Error('x');
  const e = new ClientError('CONNECTION_FAILED', 'closed', { cause, closeCode: 4429, relayCode: 'RATE_LIMITED' });
  assert.equal(e.code, 'CONNECTION_FAILED');
  assert.equal(e.closeCode, 4429);
  assert.equal(e.relayCode, 'RATE_LIMITED');
  assert.equal(e.cause, cause);
  assert.equal(new ClientError('CLOSED', 'closed').closeCode, undefined);
});

test('anything else becomes INTERNAL, keeping it as cause but never copying its message', () => {
  const bug = new TypeError('secret plaintext');
  const e = asClientError(bug);
  assert.equal(e.code, 'INTERNAL');
  assert.equal(e.cause, bug);
  assert.ok(!e.message.includes('secret'));
  const known = new ClientError('NOT_JOINED', 'left');
  assert.equal(asClientError(known), known);
});
