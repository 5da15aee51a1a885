/**
 * The default suite's HPKE over node:crypto (src/hpkeNode.ts) against ts-mls's own (Web Crypto):
 * the same key pairs from the same input, and each side opens what the other sealed and derives the
 * secret the other exported (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError, getCiphersuiteImpl } from 'ts-mls';
import { Suites } from '../src/index.js';
import { suiteImpl } from '../src/suite.js';

const rand = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

async function both() {
  const ours = (await suiteImpl(Suites.default)).hpke;
  const stock = (await getCiphersuiteImpl(Suites.default)).hpke;
  assert.notEqual(ours.open, stock.open, 'ours is in use');
  return { ours, stock };
}

test('HPKE key pairs: the same input derives the same keys in ours and in ts-mls’s own, and keys move between them as bytes', async () => {
  const { ours, stock } = await both();
  for (let i = 0; i < 10; i++) {
    const ikm = rand(32);
    const a = await ours.deriveKeyPair(ikm);
    const b = await stock.deriveKeyPair(ikm);
    assert.deepEqual(await ours.exportPublicKey(a.publicKey), await stock.exportPublicKey(b.publicKey));
    assert.deepEqual(await ours.exportPrivateKey(a.privateKey), await stock.exportPrivateKey(b.privateKey));
  }
  // A generated pair: the private key, moved to ts-mls's own as bytes, opens what ours sealed to the public one.
  const g = await ours.generateKeyPair();
  const sk = await ours.exportPrivateKey(g.privateKey);
  assert.equal(sk.byteLength, 32);
  const info = rand(8);
  const { ct, enc } = await ours.seal(g.publicKey, Uint8Array.of(1, 2, 3), info);
  assert.deepEqual(await stock.open(await stock.importPrivateKey(sk), enc, ct, info), Uint8Array.of(1, 2, 3));
});

test('HPKE seal and open: each opens what the other sealed, with and without aad; a wrong key or a changed byte is refused', async () => {
  const { ours, stock } = await both();
  for (const [sealer, opener] of [
    [ours, stock],
    [stock, ours],
  ] as const) {
    for (const size of [0, 1, 32, 1000]) {
      const ikm = rand(32);
      const rs = await opener.deriveKeyPair(ikm);
      const pkBytes = await opener.exportPublicKey(rs.publicKey);
      const info = rand(20);
      const aad = size % 2 === 0 ? rand(7) : undefined;
      const pt = rand(size);
      const { ct, enc } = await sealer.seal(await sealer.importPublicKey(pkBytes), pt, info, aad);
      assert.deepEqual(await opener.open(rs.privateKey, enc, ct, info, aad), pt);
      const wrong = await opener.deriveKeyPair(rand(32));
      await assert.rejects(opener.open(wrong.privateKey, enc, ct, info, aad));
      const bad = Uint8Array.from(ct);
      bad[0] = (bad[0] as number) ^ 1;
      await assert.rejects(opener.open(rs.privateKey, enc, bad, info, aad));
    }
  }
  // Ours reports a failure as ts-mls's own does.
  const rs = await ours.deriveKeyPair(rand(32));
  const { ct, enc } = await ours.seal(rs.publicKey, rand(5), rand(3));
  await assert.rejects(ours.open(rs.privateKey, enc, ct.subarray(1), rand(3)), (e) => e instanceof CryptoError);
});

test('HPKE exported secrets: each derives the secret the other exported', async () => {
  const { ours, stock } = await both();
  for (const [sender, recipient] of [
    [ours, stock],
    [stock, ours],
  ] as const) {
    const rs = await recipient.deriveKeyPair(rand(32));
    const pk = await sender.importPublicKey(await recipient.exportPublicKey(rs.publicKey));
    const context = rand(16);
    const info = rand(9);
    const { enc, secret } = await sender.exportSecret(pk, context, 32, info);
    assert.deepEqual(await recipient.importSecret(rs.privateKey, context, enc, 32, info), secret);
  }
});

test('HPKE: a small-order public key (an all-zero shared secret) is refused by ours as by ts-mls’s own', async () => {
  const { ours, stock } = await both();
  // u = 0 and u = 1 are small-order points on Curve25519 (RFC 7748 §6.1: the shared secret is all zero).
  for (const u of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
    await assert.rejects(async () => ours.seal(await ours.importPublicKey(u), rand(4), rand(4)));
    await assert.rejects(async () => stock.seal(await stock.importPublicKey(u), rand(4), rand(4)));
  }
});
