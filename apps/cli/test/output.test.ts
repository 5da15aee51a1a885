/** The terminal's lines for room fingerprints and fork warnings (docs/PROTOCOL.md §7-8). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanLine } from '../src/output.js';

test('/verify shows the room fingerprint under the safety number; /fingerprint and fork-suspected name the epoch and digits', () => {
  const v = humanLine({ event: 'verify', nick: 'bob\u001b[2J', safetyNumber: '12345 67890', verified: false, epoch: 12, fingerprint: '7284 6410 4745' });
  assert.match(v, /^\* safety number with bob\ufffd\[2J: 12345 67890 .*\n\* room fingerprint: epoch 12 · 7284 6410 4745 \(bob\ufffd\[2J must see the same digits at epoch 12\)$/);
  assert.doesNotMatch(humanLine({ event: 'verify', nick: 'bob', safetyNumber: '1', verified: true }), /fingerprint/);
  assert.match(humanLine({ event: 'fingerprint', epoch: 3, fingerprint: '0001 0002 0003' }), /^\* room fingerprint: epoch 3 · 0001 0002 0003 /);
  const w = humanLine({ event: 'fork-suspected', epoch: 4, fingerprint: '0166 7030 4924', unreadable: 2 });
  assert.match(w, /^! the relay may have split this room: 2 messages of epoch 4 .*epoch 4 · 0166 7030 4924.*\/fingerprint/);
});
