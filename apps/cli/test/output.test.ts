/** The terminal's lines for room fingerprints, fork warnings and delivery state, and its error table (docs/PROTOCOL.md §7-8). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliErrorCodes } from '../src/errors.js';
import { humanLine, ownLine } from '../src/output.js';

test('/verify shows the room fingerprint under the safety number; /fingerprint and fork-suspected name the epoch and digits', () => {
  const v = humanLine({
    event: 'verify',
    nick: 'bob\u001b[2J',
    safetyNumber: '12345 67890',
    verified: false,
    epoch: 12,
    fingerprint: '7284 6410 4745',
  });
  assert.match(
    v,
    /^\* safety number with bob\ufffd\[2J .*:\n {4}12345 67890\n\* room fingerprint: epoch 12 · 7284 6410 4745 \(bob\ufffd\[2J must see the same digits at epoch 12\)$/,
  );
  assert.doesNotMatch(humanLine({ event: 'verify', nick: 'bob', safetyNumber: '1', verified: true }), /fingerprint/);
  assert.match(
    humanLine({ event: 'fingerprint', epoch: 3, fingerprint: '0001 0002 0003' }),
    /^\* room fingerprint: epoch 3 · 0001 0002 0003 /,
  );
  const w = humanLine({ event: 'fork-suspected', epoch: 4, fingerprint: '0166 7030 4924', unreadable: 2 });
  assert.match(w, /^! the relay may have split this room: 2 messages of epoch 4 .*epoch 4 · 0166 7030 4924.*\/fingerprint/);
});

test('docs/PROTOCOL.md §7 documents every CLI error code, each with the same "when" as errors.ts, and no other', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../../docs/PROTOCOL.md', import.meta.url)), 'utf8');
  const section = doc.slice(doc.indexOf('## 7. '), doc.indexOf('## 8. '));
  const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!] as const);
  assert.deepEqual(Object.fromEntries(rows), { ...CliErrorCodes });
  assert.equal(rows.length, Object.keys(CliErrorCodes).length);
});

test('delivery state: a line of ours shows (sending), then ✓ or ✗ not sent; out of place, a line names it by its time only', () => {
  const pending = { event: 'pending', id: 'ab', from: 'alice', text: 'hi \u001b[2J', ts: 0 } as const;
  assert.match(humanLine(pending), /^\[\d\d:\d\d\] <alice> hi \ufffd\[2J \(sending\)$/);
  assert.match(ownLine(pending, 'sent'), /<alice> hi \ufffd\[2J \u2713$/);
  assert.match(ownLine(pending, 'unsent'), / \u2717 not sent$/);
  assert.match(humanLine({ event: 'sent', id: 'ab', ts: 0 }), /^\* \u2713 your message of \d\d:\d\d:\d\d reached the relay$/);
  const unsent = humanLine({ event: 'unsent', id: 'ab', ts: 0 });
  assert.match(unsent, /^! your message of \d\d:\d\d:\d\d was not sent/);
  assert.ok(!unsent.includes('hi'));
  // A private line names its peer; an unsent one its chat's code, never its text.
  const privately = { ...pending, private: true, with: 'bob\u001b[2J' } as const;
  assert.match(humanLine(privately), /^\[\d\d:\d\d\] \(private to bob\ufffd\[2J\) <alice> hi \ufffd\[2J \(sending\)$/);
  assert.match(ownLine(privately, 'sent'), /\(private to bob\ufffd\[2J\) <alice> hi \ufffd\[2J \u2713$/);
  assert.match(
    humanLine({ event: 'sent', id: 'ab', ts: 0, private: true, with: 'bob' }),
    /^\* \u2713 your private message to bob of \d\d:\d\d:\d\d reached the relay$/,
  );
  const lost = humanLine({ event: 'unsent', id: 'ab', ts: 0, private: true, with: 'bob', code: 'PEER_UNAVAILABLE' });
  assert.match(lost, /^! your private message to bob of \d\d:\d\d:\d\d was not sent \(PEER_UNAVAILABLE\)$/);
});
