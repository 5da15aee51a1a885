/**
 * RFC 9420 §6.3.2 (sender data key, nonce and decryption) against the MLS working group's
 * published test vectors (mlswg/mls-implementations, test-vectors/secret-tree.json and
 * message-protection.json): test/fixtures/rfc9420-sender-data.json holds the entries of the suites
 * we support, copied unchanged, and says where they come from. senderData.ts re-implements this
 * step because ts-mls does not return the sender's leaf; these vectors pin it to the RFC.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { wireformats } from 'ts-mls';
import { decodeMlsMessage } from '../src/mlsMessage.js';
import { readSenderData, senderDataKeyAndNonce } from '../src/senderData.js';
import { Suites, suiteImpl } from '../src/suite.js';

interface SenderDataVector {
  cipher_suite: number;
  sender_data_secret: string;
  ciphertext: string;
  key: string;
  nonce: string;
}
interface MessageProtectionVector {
  cipher_suite: number;
  group_id: string;
  epoch: number;
  sender_data_secret: string;
  application_priv: string;
  commit_priv: string;
  proposal_priv: string;
}
const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/rfc9420-sender-data.json', import.meta.url), 'utf8')) as {
  sender_data: SenderDataVector[];
  message_protection: MessageProtectionVector[];
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

/**
 * Our suite whose KDF and AEAD are the vector's: suite 1 is our default; suite 5 shares HKDF-SHA512
 * and AES-256-GCM (all sender data uses) with our post-quantum suite, which has no official vectors.
 */
const implFor = (suite: number) => suiteImpl(suite === 1 ? Suites.default : Suites.postQuantum);

describe('RFC 9420 §6.3.2 sender data (mlswg test vectors)', () => {
  test('the fixture covers suites 1 and 5', () => {
    assert.deepEqual([...new Set(fixture.sender_data.map((v) => v.cipher_suite))], [1, 5]);
    assert.deepEqual(
      fixture.message_protection.map((v) => v.cipher_suite),
      [1, 5],
    );
  });

  for (const [i, v] of fixture.sender_data.entries()) {
    test(`secret-tree.json suite ${v.cipher_suite} #${i}: sender_data_key and sender_data_nonce`, async () => {
      const { key, nonce } = await senderDataKeyAndNonce(await implFor(v.cipher_suite), unhex(v.sender_data_secret), unhex(v.ciphertext));
      assert.equal(hex(key), v.key);
      assert.equal(hex(nonce), v.nonce);
    });
  }

  for (const v of fixture.message_protection) {
    for (const field of ['application_priv', 'commit_priv', 'proposal_priv'] as const) {
      test(`message-protection.json suite ${v.cipher_suite} ${field}: the sender is leaf 1, generation 0`, async () => {
        const msg = decodeMlsMessage(unhex(v[field]), [wireformats.mls_private_message]);
        assert.ok(msg, 'decodes strictly as a PrivateMessage');
        const pm = msg.privateMessage;
        assert.equal(hex(pm.groupId), v.group_id);
        assert.equal(pm.epoch, BigInt(v.epoch));
        // test-vectors.md: "use the member with LeafIndex 1 as the sender"; one message per secret tree.
        assert.deepEqual(await readSenderData(await implFor(v.cipher_suite), unhex(v.sender_data_secret), pm), {
          leafIndex: 1,
          generation: 0,
        });
      });
    }

    test(`message-protection.json suite ${v.cipher_suite}: another secret or an altered byte does not decrypt`, async () => {
      const cs = await implFor(v.cipher_suite);
      const pm = decodeMlsMessage(unhex(v.application_priv), [wireformats.mls_private_message])!.privateMessage;
      const secret = unhex(v.sender_data_secret);
      const wrong = secret.slice();
      wrong[0]! ^= 1;
      assert.equal(await readSenderData(cs, wrong, pm), undefined);
      const sealed = pm.encryptedSenderData.slice();
      sealed[sealed.byteLength - 1]! ^= 1;
      assert.equal(await readSenderData(cs, secret, { ...pm, encryptedSenderData: sealed }), undefined);
      // The sample is part of the key: another ciphertext gives another key, so the same SenderData no longer opens.
      const ciphertext = pm.ciphertext.slice();
      ciphertext[0]! ^= 1;
      assert.equal(await readSenderData(cs, secret, { ...pm, ciphertext }), undefined);
    });
  }
});
