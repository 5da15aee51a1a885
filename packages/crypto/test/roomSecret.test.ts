/**
 * Room secrets and derived keys (docs/PROTOCOL.md §3). The derivation is recomputed here from
 * its documented formula with independent primitives (Web Crypto SHA-256 for the salt, RFC 5869
 * HKDF written out over Web Crypto HMAC), and hash-wasm's Argon2id is checked against the
 * reference implementation's known answers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { argon2id } from 'hash-wasm';
import fc from 'fast-check';
import {
  type Argon2Params,
  type RoomSecret,
  defaultArgon2Params,
  deriveRoomKeys,
  deriveRoomSecret,
  randomRoomSecret,
} from '../src/index.js';

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

/** Cheap parameters for the tests that compare derivations (the formula does not depend on cost). */
const FAST: Argon2Params = { memoryKiB: 256, iterations: 2, parallelism: 1 };

describe('deriveRoomSecret', () => {
  test('is deterministic, 32 bytes, at the default (production) parameters', async () => {
    const a = await deriveRoomSecret('lobby', 'correct horse battery staple');
    const b = await deriveRoomSecret('lobby', 'correct horse battery staple');
    assert.equal(a.byteLength, 32);
    assert.deepEqual(a, b);
  });

  test('differs by room name and by password', async () => {
    const base = await deriveRoomSecret('lobby', 'pw', FAST);
    assert.deepEqual(await deriveRoomSecret('lobby', 'pw', FAST), base);
    assert.notDeepEqual(await deriveRoomSecret('lobby2', 'pw', FAST), base);
    assert.notDeepEqual(await deriveRoomSecret('Lobby', 'pw', FAST), base);
    assert.notDeepEqual(await deriveRoomSecret('lobby', 'pw2', FAST), base);
    assert.notDeepEqual(await deriveRoomSecret('lobby', 'PW', FAST), base);
    // Name and password are not simply concatenated: moving a character between them matters.
    assert.notDeepEqual(await deriveRoomSecret('lobbyp', 'w', FAST), base);
    // The cost parameters are part of the derivation.
    assert.notDeepEqual(await deriveRoomSecret('lobby', 'pw', { ...FAST, iterations: 3 }), base);
  });

  test('NFC-normalises name and password: composed and decomposed "é" give the same secret', async () => {
    const composed = '\u00e9';
    const decomposed = 'e\u0301';
    assert.notEqual(composed, decomposed);
    assert.deepEqual(
      await deriveRoomSecret(`caf${composed}`, `mot de passe ${composed}`, FAST),
      await deriveRoomSecret(`caf${decomposed}`, `mot de passe ${decomposed}`, FAST),
    );
    // Name alone, password alone.
    const ref = await deriveRoomSecret(`caf${composed}`, 'x', FAST);
    assert.deepEqual(await deriveRoomSecret(`caf${decomposed}`, 'x', FAST), ref);
    const ref2 = await deriveRoomSecret('room', `${composed}t${composed}`, FAST);
    assert.deepEqual(await deriveRoomSecret('room', `${decomposed}t${decomposed}`, FAST), ref2);
    // The Angstrom sign U+212B is canonically equivalent to U+00C5.
    assert.deepEqual(await deriveRoomSecret('\u212b', 'x', FAST), await deriveRoomSecret('\u00c5', 'x', FAST));
  });

  test('NFC, not NFKC: compatibility characters stay distinct', async () => {
    // U+FB01 LATIN SMALL LIGATURE FI is "fi" under NFKC only.
    assert.notDeepEqual(await deriveRoomSecret('\ufb01le', 'x', FAST), await deriveRoomSecret('file', 'x', FAST));
    assert.notDeepEqual(await deriveRoomSecret('r', '\ufb01', FAST), await deriveRoomSecret('r', 'fi', FAST));
  });

  test('follows the documented formula: Argon2id(NFC(pw), SHA-256("nullroom/v1/room-salt" || NFC(name)))', async () => {
    const name = 'Caf\u0065\u0301 \u6771\u4eac';
    const password = 'p\u00e4ssw\u00f6rd';
    const salt = new Uint8Array(
      await subtle.digest('SHA-256', cat(utf8.encode('nullroom/v1/room-salt'), utf8.encode(name.normalize('NFC')))),
    );
    const expected = await argon2id({
      password: utf8.encode(password.normalize('NFC')),
      salt,
      iterations: FAST.iterations,
      parallelism: FAST.parallelism,
      memorySize: FAST.memoryKiB,
      hashLength: 32,
      outputType: 'binary',
    });
    assert.equal(hex(await deriveRoomSecret(name, password, FAST)), hex(expected));
  });
});

describe('Argon2id parameters', () => {
  test('default memory and passes are RFC 9106 §4 second recommended option (m = 2^16 KiB, t = 3)', () => {
    assert.equal(defaultArgon2Params.memoryKiB, 2 ** 16);
    assert.equal(defaultArgon2Params.iterations, 3);
    assert.ok(Object.isFrozen(defaultArgon2Params));
  });

  // RFC 9106 §4: "Argon2id with t=3 iterations, p=4 lanes, m=2^(16) (64 MiB of RAM), 128-bit salt,
  // and 256-bit tag size. This is the SECOND RECOMMENDED option." roomSecret.ts and PROTOCOL.md §3
  // use exactly these (p = 4); changing any of them changes every password room's secret.
  test('default lanes equal RFC 9106 §4 second recommended option (p = 4)', () => {
    assert.deepEqual({ ...defaultArgon2Params }, { memoryKiB: 65536, iterations: 3, parallelism: 4 });
  });
});

/**
 * hash-wasm's Argon2id against the reference implementation's known answers (P-H-C
 * phc-winner-argon2, src/test.c, Argon2id, version 0x13, password "password", 32-byte tag).
 * RFC 9106 §5.3's own Argon2id vector needs associated data, which hash-wasm cannot take.
 */
describe('hash-wasm Argon2id v1.3 known answers (phc-winner-argon2 src/test.c)', () => {
  const vectors: { t: number; mKiB: number; p: number; salt: string; tag: string }[] = [
    { t: 2, mKiB: 256, p: 1, salt: 'somesalt', tag: '9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe' },
    { t: 2, mKiB: 256, p: 2, salt: 'somesalt', tag: '6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037' },
    { t: 1, mKiB: 65536, p: 1, salt: 'somesalt', tag: 'f6a5adc1ba723dddef9b5ac1d464e180fcd9dffc9d1cbf76cca2fed795d9ca98' },
    { t: 2, mKiB: 65536, p: 1, salt: 'somesalt', tag: '09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7' },
    { t: 2, mKiB: 65536, p: 1, salt: 'diffsalt', tag: 'bdf32b05ccc42eb15d58fd19b1f856b113da1e9a5874fdcc544308565aa8141c' },
  ];
  for (const v of vectors) {
    test(`m=${v.mKiB} t=${v.t} p=${v.p} salt=${v.salt}`, async () => {
      const tag = await argon2id({
        password: 'password',
        salt: v.salt,
        iterations: v.t,
        parallelism: v.p,
        memorySize: v.mKiB,
        hashLength: 32,
        outputType: 'hex',
      });
      assert.equal(tag, v.tag);
    });
  }
});

/** RFC 5869 HKDF-SHA-256 with a 32-byte output, written out over HMAC (one expand block). */
async function hkdf32(ikm: Uint8Array, info: string): Promise<Uint8Array<ArrayBuffer>> {
  const hmac = async (key: Uint8Array, data: Uint8Array) =>
    new Uint8Array(
      await subtle.sign(
        'HMAC',
        await subtle.importKey('raw', new Uint8Array(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
        new Uint8Array(data),
      ),
    );
  // RFC 5869 §2.2: an absent salt is HashLen zero bytes (an empty HMAC key pads to the same block).
  const prk = await hmac(new Uint8Array(32), ikm);
  // RFC 5869 §2.3: T(1) = HMAC(PRK, info || 0x01).
  return hmac(prk, cat(utf8.encode(info), Uint8Array.of(1)));
}

/** AES-GCM encryption under `key` with a fixed nonce, to compare keys we cannot export. */
async function fingerprint(key: CryptoKey): Promise<string> {
  const ct = await subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, new Uint8Array(16));
  return hex(new Uint8Array(ct));
}

describe('deriveRoomKeys', () => {
  test('gives a 32-byte locator that is deterministic and differs between rooms', async () => {
    const s1 = randomRoomSecret();
    const s2 = randomRoomSecret();
    const k1 = await deriveRoomKeys(s1);
    const k1again = await deriveRoomKeys(s1);
    const k2 = await deriveRoomKeys(s2);
    assert.ok(k1.locator instanceof Uint8Array);
    assert.equal(k1.locator.byteLength, 32);
    assert.deepEqual(k1.locator, k1again.locator);
    assert.notDeepEqual(k1.locator, k2.locator);
    // Password rooms too: two room names with one password are two locators.
    const p1 = await deriveRoomKeys(await deriveRoomSecret('alpha', 'same', FAST));
    const p2 = await deriveRoomKeys(await deriveRoomSecret('beta', 'same', FAST));
    assert.notDeepEqual(p1.locator, p2.locator);
  });

  test('the locator is not the secret, and each derived key is distinct', async () => {
    const secret = randomRoomSecret();
    const keys = await deriveRoomKeys(secret);
    assert.notDeepEqual(keys.locator, secret);
    const [gi, cred] = await Promise.all([fingerprint(keys.groupInfoKey), fingerprint(keys.credentialKey)]);
    assert.notEqual(gi, cred);
    assert.equal(gi, await fingerprint((await deriveRoomKeys(secret)).groupInfoKey), 'deterministic');
  });

  test('keys are non-extractable AES-GCM-256 for encrypt/decrypt only', async () => {
    const keys = await deriveRoomKeys(randomRoomSecret());
    for (const k of [keys.groupInfoKey, keys.credentialKey]) {
      assert.equal(k.extractable, false);
      assert.equal(k.algorithm.name, 'AES-GCM');
      assert.equal((k.algorithm as AesKeyAlgorithm).length, 256);
      assert.deepEqual([...k.usages].sort(), ['decrypt', 'encrypt']);
      await assert.rejects(subtle.exportKey('raw', k));
    }
  });

  test('follows the documented HKDF-SHA-256 derivations (RFC 5869, salt "", L = 32)', async () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i) as unknown as RoomSecret;
    const keys = await deriveRoomKeys(secret);
    assert.equal(hex(keys.locator), hex(await hkdf32(secret, 'nullroom/v1/locator')));
    const aes = async (info: string) => subtle.importKey('raw', await hkdf32(secret, info), { name: 'AES-GCM' }, false, ['encrypt']);
    assert.equal(await fingerprint(keys.groupInfoKey), await fingerprint(await aes('nullroom/v1/group-info')));
    assert.equal(await fingerprint(keys.credentialKey), await fingerprint(await aes('nullroom/v1/credential')));
  });

  test('randomRoomSecret gives 32 fresh bytes', () => {
    const a = randomRoomSecret();
    const b = randomRoomSecret();
    assert.equal(a.byteLength, 32);
    assert.notDeepEqual(a, b);
  });
});

describe('invite fragments', () => {
  test('round trip, base64url without padding, and refusal of anything else', async () => {
    const { inviteFragment, secretFromInvite } = await import('../src/index.js');
    for (let i = 0; i < 50; i++) {
      const s = randomRoomSecret();
      const f = inviteFragment(s);
      assert.match(f, /^#k=[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(secretFromInvite(f), s);
    }
    for (const bad of ['', '#k=', '#k=abc', `#k=${'A'.repeat(44)}`, `#x=${'A'.repeat(43)}`, `#k=${'A'.repeat(42)}+`]) {
      assert.equal(secretFromInvite(bad), undefined, bad);
    }
  });

  const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  test('refuses every non-canonical spelling with BAD_INVITE (PROTOCOL.md §3: one room, one link)', async () => {
    const { CryptoError, inviteFragment, parseInvite, secretFromInvite } = await import('../src/index.js');
    for (let i = 0; i < 50; i++) {
      const s = randomRoomSecret();
      const f = inviteFragment(s);
      assert.deepEqual(parseInvite(f), s);
      // The last character carries 4 bits of the secret and 2 unused low bits; the writer sets them
      // to zero. Each of the other three values of those bits decodes to the same 32 bytes under a
      // lenient reader (an attacker could hand out four links to one room): all three are refused.
      const last = B64URL.indexOf(f.at(-1)!);
      assert.equal(last & 3, 0, 'writer emits zero unused bits');
      for (const pad of [1, 2, 3]) {
        const alias = f.slice(0, -1) + B64URL[last | pad]!;
        assert.throws(
          () => parseInvite(alias),
          (e: unknown) => e instanceof CryptoError && e.code === 'BAD_INVITE' && !e.message.includes(alias.slice(3)),
        );
        assert.equal(secretFromInvite(alias), undefined, 'the lenient wrapper refuses it too');
      }
    }
  });

  test('exactly the documented shape: "#k=", 43 base64url characters, nothing else', async () => {
    const { CryptoError, inviteFragment, parseInvite } = await import('../src/index.js');
    const good = inviteFragment(randomRoomSecret());
    const body = good.slice(3);
    const bad = [
      '',
      '#',
      '#k=',
      'k=' + body,
      '#K=' + body,
      '#k=' + body + '=', // padding
      '#k=' + body.slice(0, 42), // 42 characters: 252 bits
      '#k=' + body + 'A', // 44
      '#k=' + body + '\n',
      '\t' + good,
      good + '&x=1',
      '#k=' + body.slice(0, 42) + '+', // the base64 (not url) alphabet
      '#k=' + body.slice(0, 42) + '/',
      '#k=' + body.slice(0, 21) + '%41' + body.slice(24), // percent-encoded
      '#k=' + body.slice(0, 42) + '\u0410', // Cyrillic A looks like "A"
      '#k=' + body.slice(0, 42) + '\uff21', // fullwidth A
      '#k=' + body.slice(0, 20) + ' ' + body.slice(21),
    ];
    for (const f of bad) {
      assert.throws(
        () => parseInvite(f),
        (e: unknown) => e instanceof CryptoError && e.code === 'BAD_INVITE',
        JSON.stringify(f),
      );
    }
  });

  test('property: parseInvite accepts exactly the strings inviteFragment writes', async () => {
    const { CryptoError, inviteFragment, parseInvite } = await import('../src/index.js');
    // Any 32 bytes round-trip.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
        const s = b as unknown as RoomSecret;
        assert.deepEqual(parseInvite(inviteFragment(s)), s);
      }),
    );
    // Any 43 characters of the alphabet: accepted if and only if re-encoding gives them back.
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...B64URL), { minLength: 43, maxLength: 43 }), (chars) => {
        const f = `#k=${chars.join('')}`;
        let out: RoomSecret | undefined;
        try {
          out = parseInvite(f);
        } catch (e) {
          assert.ok(e instanceof CryptoError && e.code === 'BAD_INVITE');
        }
        const canonical = (B64URL.indexOf(chars[42]!) & 3) === 0;
        assert.equal(out !== undefined, canonical);
        if (out !== undefined) assert.equal(inviteFragment(out), f);
      }),
    );
  });
});
