/**
 * The relay's error table (src/errors.ts) against docs/PROTOCOL.md §6.5: every name is documented
 * with the status, body word, header code or close code it really carries, and the typed errors
 * carry what their entry says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BlobError, BlobErrors, CloseError, CloseErrors } from '../src/index.js';

const protocol = readFileSync(new URL('../../../../docs/PROTOCOL.md', import.meta.url), 'utf8');
const section = protocol.slice(protocol.indexOf('### 6.5 '), protocol.indexOf('## 7. '));
/** The cells of the table row that names `name`. */
const row = (name: string): string[] | undefined =>
  section
    .split('\n')
    .find((l) => l.startsWith(`| ${name} |`))
    ?.split('|')
    .slice(1, -1)
    .map((c) => c.trim());

test('PROTOCOL.md §6.5 documents every blob error with its status, body word and header code', () => {
  assert.ok(section.length > 0, '§6.5 exists');
  for (const [name, e] of Object.entries(BlobErrors)) {
    const cells = row(name);
    assert.ok(cells, `${name} has a row`);
    assert.equal(cells[1], String(e.status), `${name}: status`);
    assert.equal(cells[2], `\`${e.text}\``, `${name}: body`);
    assert.equal(cells[3], 'wire' in e ? `\`${e.wire}\`` : '', `${name}: header code`);
    assert.ok(cells[4]!.length > 0, `${name}: when`);
  }
});

test('PROTOCOL.md §6.5 documents every close with its close code', () => {
  for (const [name, e] of Object.entries(CloseErrors)) {
    const cells = row(name);
    assert.ok(cells, `${name} has a row`);
    assert.equal(cells[1], e.close === undefined ? 'none' : String(e.close), `${name}: close code`);
    assert.ok(cells[3]!.length > 0, `${name}: when`);
  }
});

test('typed errors carry their entry: status, header code, headers; close code', () => {
  const share = new BlobError('SHARE');
  assert.equal(share.code, 'SHARE');
  assert.equal(share.status, 429);
  assert.equal(share.wire, 'SHARE');
  assert.deepEqual(share.headers, { 'Retry-After': 1 });
  assert.equal(share.message, 'busy');
  const allow = new BlobError('METHOD_NOT_ALLOWED', { Allow: 'GET, PUT' });
  assert.equal(allow.wire, undefined);
  assert.deepEqual(allow.headers, { Allow: 'GET, PUT' });
  assert.equal(new BlobError('TOO_LONG').wire, 'TOO_SLOW');
  assert.equal(new CloseError('MALFORMED').closeCode, 4400);
  assert.equal(new CloseError('SLOW_CONSUMER').closeCode, 4509);
  assert.equal(new CloseError('TIMED_OUT').closeCode, undefined);
});
