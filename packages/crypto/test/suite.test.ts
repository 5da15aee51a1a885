import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getCiphersuiteImpl, wireformats } from 'ts-mls';
import { RoomGroup, Suites, type SuiteName, decodeMlsMessage, deriveRoomKeys, randomRoomSecret } from '../src/index.js';
import { utf8 } from '../src/bytes.js';
import { expandsDerived, senderDataPrimitives, withPooledVerify } from '../src/primitives.js';
import { openedBefore, rememberExpansion } from '../src/receiveMemo.js';
import { readSenderData } from '../src/senderData.js';
import { kdfLabel } from '../src/_mlsCodec.js';
import { suiteImpl } from '../src/suite.js';

test('the fast digest we give ts-mls is bit-identical to its own Web Crypto digest, for both suites', async () => {
  for (const name of Object.values(Suites) as SuiteName[]) {
    const ours = await suiteImpl(name);
    const stock = await getCiphersuiteImpl(name);
    for (const size of [0, 1, 55, 56, 64, 127, 128, 1000, 65_536]) {
      const data = globalThis.crypto.getRandomValues(new Uint8Array(size));
      assert.deepEqual(await ours.hash.digest(data), await stock.hash.digest(data), `${name} size ${size}`);
    }
  }
});

const rand = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

test('our HMAC and HKDF under ts-mls give its own results, byte for byte, for both suites', async () => {
  for (const name of Object.values(Suites) as SuiteName[]) {
    const ours = await suiteImpl(name);
    const stock = await getCiphersuiteImpl(name);
    for (const size of [0, 1, 32, 64, 65, 200, 5000]) {
      const key = rand(size === 0 ? 1 : Math.min(size, 128));
      const data = rand(size);
      const mac = await stock.hash.mac(key, data);
      assert.deepEqual(await ours.hash.mac(key, data), mac, `${name} mac ${size}`);
      assert.equal(await ours.hash.verifyMac(key, mac, data), true);
      const bad = Uint8Array.from(mac);
      bad[0] = (bad[0] as number) ^ 1;
      assert.equal(await ours.hash.verifyMac(key, bad, data), false, 'a changed MAC is refused');
      assert.equal(await ours.hash.verifyMac(key, mac.subarray(1), data), false, 'a short MAC is refused');
      // MLS extracts with a hash-sized salt (the stock HKDF refuses other lengths).
      const salt = rand(stock.kdf.size);
      const prk = await stock.kdf.extract(salt, data);
      assert.deepEqual(await ours.kdf.extract(salt, data), prk, `${name} extract ${size}`);
      for (const len of [1, 12, 16, 32, 64, 100]) {
        const info = rand(len);
        assert.deepEqual(await ours.kdf.expand(prk, info, len), await stock.kdf.expand(prk, info, len), `${name} expand ${len}`);
      }
      assert.equal(ours.kdf.size, stock.kdf.size);
    }
  }
});

test('our AES-GCM under ts-mls seals what its own opens and opens what its own seals; a changed byte is refused', async () => {
  for (const name of Object.values(Suites) as SuiteName[]) {
    const ours = await suiteImpl(name);
    const stock = await getCiphersuiteImpl(name);
    const keyLen = name === Suites.default ? 16 : 32;
    for (const size of [0, 1, 15, 16, 17, 1024, 60_000]) {
      const key = rand(keyLen);
      const nonce = rand(12);
      const aad = size % 2 === 0 ? rand(20) : undefined;
      const pt = rand(size);
      const ct = await stock.hpke.encryptAead(key, nonce, aad, pt);
      assert.deepEqual(await ours.hpke.encryptAead(key, nonce, aad, pt), ct, `${name} seal ${size}`);
      assert.deepEqual(await ours.hpke.decryptAead(key, nonce, aad, ct), pt, `${name} open ${size}`);
      const bad = Uint8Array.from(ct);
      bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
      await assert.rejects(ours.hpke.decryptAead(key, nonce, aad, bad), `${name}: a changed tag is refused`);
      await assert.rejects(stock.hpke.decryptAead(key, nonce, aad, bad));
      await assert.rejects(ours.hpke.decryptAead(key, nonce, aad, ct.subarray(0, 10)), 'shorter than a tag');
    }
  }
});

test('our Ed25519 under ts-mls signs as its own does (deterministic), and both verify each other; bad signatures and keys fail', async () => {
  const main = await suiteImpl(Suites.default);
  const stock = await getCiphersuiteImpl(Suites.default);
  // The joins' verification on node:crypto's thread pool (withPooledVerify) answers as the main thread's does.
  assert.notEqual(withPooledVerify(main).signature.verify, main.signature.verify, 'in Node, joins verify on the pool');
  for (const ours of [main, withPooledVerify(main)])
    for (let i = 0; i < 20; i++) {
      const { signKey, publicKey } = await stock.signature.keygen();
      const msg = rand(i * 37);
      const sig = await stock.signature.sign(signKey, msg);
      assert.deepEqual(await ours.signature.sign(signKey, msg), sig, 'same signature bytes');
      assert.deepEqual(await ours.signature.sign(signKey, msg), sig, 'same again, from the kept key');
      assert.equal(await ours.signature.verify(publicKey, msg, sig), true);
      const bad = Uint8Array.from(sig);
      bad[5] = (bad[5] as number) ^ 0x10;
      assert.equal(await ours.signature.verify(publicKey, msg, bad), false);
      assert.equal(await stock.signature.verify(publicKey, msg, bad), false);
      assert.equal(await ours.signature.verify(publicKey, rand(msg.length + 1), sig), false, 'another message');
      assert.equal(await ours.signature.verify(publicKey, msg, sig.subarray(1)), false, 'a short signature');
      assert.equal(await ours.signature.verify(publicKey.subarray(1), msg, sig), false, 'a short key');
    }
  // A raw 32-byte seed (ts-mls accepts one too) signs the same as its PKCS#8 form.
  const { signKey } = await stock.signature.keygen();
  const seed = signKey.subarray(signKey.length - 32);
  const msg = rand(64);
  assert.deepEqual(await main.signature.sign(seed, msg), await stock.signature.sign(signKey, msg));
});

test('receiving an application message opens its SenderData once, not twice; what the AEAD kept for a ciphertext is what a second opening gives', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const a = await RoomGroup.create(keys, Suites.default);
  const made = await a.createGroup({ nick: 'a', slot: 1 });
  const b = await RoomGroup.create(keys, Suites.default);
  const joined = await b.joinExternal(await b.readGroupInfo(made.groupInfo), { nick: 'b', slot: 2 });
  const sa = (await a.process(made.state, joined.message, 2)).state;
  const sent = await a.encrypt(sa, utf8.encode('hello'));
  const secret = joined.state.mls.keySchedule.senderDataSecret;
  // Count the AEAD openings while b receives: its SenderData and its content, nothing more. The room
  // opens the SenderData first (to tell a hidden private message, roomGroup.ts); ts-mls's call for
  // the same array under the same key, nonce and AAD is then answered by the AEAD's memo (not counted).
  const impl = await suiteImpl(Suites.default);
  const open = impl.hpke.decryptAead;
  let opens = 0;
  let calls = 0;
  impl.hpke.decryptAead = (...args) => {
    calls++;
    if (openedBefore(args[3]) === undefined) opens++;
    return open(...args);
  };
  try {
    const r = await b.process(joined.state, sent.message, 1);
    assert.ok(r.kind === 'app' && r.sender.nick === 'a');
  } finally {
    impl.hpke.decryptAead = open;
  }
  if (senderDataPrimitives(impl)?.open !== undefined) {
    // In Node the room opens the SenderData synchronously (not through decryptAead, not counted).
    assert.equal(opens, 1, 'the content opened once, the SenderData not again');
    assert.equal(calls, 2, 'ts-mls asked for the SenderData again, and got it from the memo');
  } else {
    assert.equal(opens, 2, 'SenderData and content, each opened once');
    assert.equal(calls, 3, 'ts-mls asked for the SenderData again, and got it from the memo');
  }
  // readSenderData with `reuse` on a message object whose SenderData our AEAD opened: the same answer.
  const msg = decodeMlsMessage(sent.message, [wireformats.mls_private_message]);
  assert.ok(msg !== undefined && msg.wireformat === wireformats.mls_private_message);
  const pm = msg.privateMessage;
  assert.equal(openedBefore(pm.encryptedSenderData), undefined, 'a freshly decoded message: nothing opened');
  const again = await readSenderData(impl, secret, pm, true, () => true); // opened here, kept as for ts-mls
  assert.ok(openedBefore(pm.encryptedSenderData) !== undefined);
  assert.deepEqual(await readSenderData(impl, secret, pm, true), again);
  assert.equal(again?.leafIndex, 0);
});

test('in Node, credentials open and identity bindings verify through node:crypto exactly as through Web Crypto', async () => {
  const { nodeAesGcmOpen, nodeEd25519Verify } = await import('../src/primitives.js');
  assert.ok(nodeAesGcmOpen !== undefined && nodeEd25519Verify !== undefined, 'node:crypto is reached in Node');
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.importKey('raw', rand(32), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  for (const size of [0, 1, 100, 5000]) {
    const iv = rand(12);
    const aad = rand(size % 50);
    const pt = rand(size);
    const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, pt));
    assert.deepEqual(nodeAesGcmOpen(key, iv, aad, sealed), pt, `opens what Web Crypto sealed (${size} bytes)`);
    const bad = sealed.slice();
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
    assert.equal(nodeAesGcmOpen(key, iv, aad, bad), undefined, 'a changed tag is refused');
    assert.equal(nodeAesGcmOpen(key, iv, rand(3), sealed), undefined, 'other associated data is refused');
    const other = await subtle.importKey('raw', rand(32), { name: 'AES-GCM' }, false, ['decrypt']);
    assert.equal(nodeAesGcmOpen(other, iv, aad, sealed), undefined, 'another key is refused');
  }
  const pair = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pub = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  const buf = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;
  const webVerify = async (pk: Uint8Array, sig: Uint8Array, msg: Uint8Array) => {
    try {
      const k = await subtle.importKey('raw', buf(pk), { name: 'Ed25519' }, false, ['verify']);
      return await subtle.verify({ name: 'Ed25519' }, k, buf(sig), buf(msg));
    } catch {
      return false;
    }
  };
  const msg = rand(120);
  const sig = new Uint8Array(await subtle.sign({ name: 'Ed25519' }, pair.privateKey, msg));
  const flipped = (b: Uint8Array, at: number) => {
    const c = b.slice();
    c[at] = (c[at] as number) ^ 1;
    return c;
  };
  // Valid; altered message, signature (R and S halves) and key; a random key; a key of the wrong size; the identity point.
  const identityPoint = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0));
  const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
    [pub, sig, msg],
    [pub, sig, flipped(msg, 5)],
    [pub, flipped(sig, 3), msg],
    [pub, flipped(sig, 40), msg],
    [flipped(pub, 7), sig, msg],
    [rand(32), sig, msg],
    [pub.subarray(0, 31), sig, msg],
    [identityPoint, sig, msg],
  ];
  for (const [i, [pk, s, m]] of cases.entries()) {
    assert.equal(await nodeEd25519Verify(pk, m, s), await webVerify(pk, s, m), `case ${i}`);
  }
  assert.equal(await nodeEd25519Verify(pub, msg, sig), true);
});

test('a received message’s SenderData key and nonce are derived once: ts-mls’s own derivation after ours is served what ours kept, once', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const a = await RoomGroup.create(keys, Suites.default);
  const made = await a.createGroup({ nick: 'a', slot: 1 });
  const b = await RoomGroup.create(keys, Suites.default);
  const joined = await b.joinExternal(await b.readGroupInfo(made.groupInfo), { nick: 'b', slot: 2 });
  let sa = (await a.process(made.state, joined.message, 2)).state;
  let sb = joined.state;
  const m1 = await a.encrypt(sa, utf8.encode('one'));
  sa = m1.state;
  const m2 = await a.encrypt(sa, utf8.encode('two'));
  sb = (await b.process(sb, m1.message, 1)).state;
  const before = expandsDerived.count;
  const r = await b.process(sb, m2.message, 1);
  assert.ok(r.kind === 'app' && new TextDecoder().decode(r.plaintext) === 'two');
  // SenderData key and nonce (once, not twice), then the sender's ratchet: key, nonce, next secret.
  assert.equal(expandsDerived.count - before, 5);

  // Kept only by rememberExpansion, for an identical call (same secret object, info, length), once.
  const impl = await suiteImpl(Suites.default);
  const prk = new Uint8Array(32).fill(7);
  const info = utf8.encode('info');
  const fresh = await impl.kdf.expand(prk, info, 16);
  rememberExpansion(prk, info, 16, fresh);
  let n = expandsDerived.count;
  assert.deepEqual(await impl.kdf.expand(prk, info, 16), fresh, 'served what was kept: the same bytes');
  assert.equal(expandsDerived.count, n, 'not derived again');
  assert.deepEqual(await impl.kdf.expand(prk, info, 16), fresh);
  assert.equal(expandsDerived.count, n + 1, 'served once only');
  n = expandsDerived.count;
  rememberExpansion(prk, info, 16, fresh);
  await impl.kdf.expand(new Uint8Array(32).fill(7), info, 16);
  await impl.kdf.expand(prk, info, 17);
  assert.equal(expandsDerived.count, n + 2, 'nothing served for another secret object, nor another length');
});

test('SenderData primitives: the kept-key HKDF-Expand and the synchronous opening give the same bytes as the library; what ts-mls will not ask for is not kept', async () => {
  for (const name of Object.values(Suites) as SuiteName[]) {
    const ours = await suiteImpl(name);
    const stock = await getCiphersuiteImpl(name);
    const fast = senderDataPrimitives(ours);
    assert.ok(fast !== undefined, name);
    // The same secret again and again (its keyed state reused), one and several blocks.
    for (const secret of [rand(stock.kdf.size), rand(stock.kdf.size)])
      for (const len of [16, 12, 32, 33, 64, 100, 16])
        for (const info of [new Uint8Array(0), rand(47), rand(200)])
          assert.deepEqual(fast.expand(secret, info, len), await stock.kdf.expand(secret, info, len), `${name} expand ${len}`);
    if (fast.open === undefined) continue; // a browser opens through decryptAead
    const key = rand(stock.hpke.keyLength);
    const nonce = rand(stock.hpke.nonceLength);
    const aad = rand(21);
    const pt = rand(20);
    const sealed = await stock.hpke.encryptAead(key, nonce, aad, pt);
    assert.deepEqual(fast.open(key, nonce, aad, sealed), pt);
    const bad = sealed.slice();
    bad[bad.length - 1]! ^= 1;
    assert.equal(fast.open(key, nonce, aad, bad), undefined, 'a wrong tag');
    assert.equal(fast.open(key, nonce, rand(21), sealed), undefined, 'another AAD');
    assert.equal(fast.open(key, nonce, aad, sealed.subarray(0, 15)), undefined, 'shorter than a tag');
  }

  // readSenderData keeps the key and nonce for ts-mls only when `keepFor` says it will ask.
  const keys = await deriveRoomKeys(randomRoomSecret());
  const a = await RoomGroup.create(keys, Suites.default);
  const made = await a.createGroup({ nick: 'a', slot: 1 });
  const sent = await a.encrypt(made.state, utf8.encode('hi'));
  const impl = await suiteImpl(Suites.default);
  const secret = made.state.mls.keySchedule.senderDataSecret;
  const sample = () => {
    const m = decodeMlsMessage(sent.message, [wireformats.mls_private_message]);
    assert.ok(m !== undefined && m.wireformat === wireformats.mls_private_message);
    return m.privateMessage;
  };
  const keyInfo = kdfLabel('key', sample().ciphertext.subarray(0, impl.kdf.size), impl.hpke.keyLength);
  for (const keep of [false, true]) {
    const pm = sample();
    assert.deepEqual(await readSenderData(impl, secret, pm, false, () => keep), { leafIndex: 0, generation: 0 });
    const n = expandsDerived.count;
    await impl.kdf.expand(secret, keyInfo, impl.hpke.keyLength);
    assert.equal(expandsDerived.count - n, keep ? 0 : 1, keep ? 'kept for ts-mls' : 'not kept');
    assert.equal(openedBefore(pm.encryptedSenderData) !== undefined, keep, 'the opening is kept with them');
  }
});
