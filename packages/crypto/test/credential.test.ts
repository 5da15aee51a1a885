/**
 * Nicknames and member credentials (docs/PROTOCOL.md §3.3): what normalizeNick accepts and
 * refuses, and that a sealed credential opens only for its room, key, signature key and slot.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultCredentialTypes, type Credential, type CredentialBasic } from 'ts-mls';
import { asLocator } from '@nullroom/protocol';
import { CryptoError, MAX_NICK_CHARS, deriveRoomKeys, normalizeNick, randomRoomSecret, ephemeralIdentity } from '../src/index.js';
import { RoomAuthenticationService, makeCredential, openCredential } from '../src/credential.js';

const contains = (hay: Uint8Array, needle: Uint8Array) => hay.some((_, i) => needle.every((b, j) => hay[i + j] === b));

function refuses(nick: string, label = JSON.stringify(nick)): void {
  assert.throws(
    () => normalizeNick(nick),
    (e: unknown) => {
      assert.ok(e instanceof CryptoError, `${label}: CryptoError`);
      assert.equal(e.code, 'BAD_NICK', label);
      // The message is fixed: it never repeats the nickname.
      if (nick.trim().length > 0) assert.ok(!e.message.includes(nick.trim()), `${label}: message carries no nickname`);
      return true;
    },
    label,
  );
}

describe('normalizeNick', () => {
  test('accepts ordinary names and returns them unchanged', () => {
    for (const nick of ['alice', 'a', 'Bob Smith', 'zoë', "O'Brien", 'x_y-z.1', '山田太郎', '김민준', 'محمد', 'Ελένη', '🙂', 'a  b']) {
      assert.equal(normalizeNick(nick), nick, nick);
    }
  });

  test('the limit is 32 code points, not UTF-16 units or bytes', () => {
    assert.equal(MAX_NICK_CHARS, 32);
    assert.equal(normalizeNick('x'.repeat(32)), 'x'.repeat(32));
    refuses('x'.repeat(33), '33 ASCII characters');
    // 32 astral characters are 64 UTF-16 units: still 32.
    assert.equal(normalizeNick('😀'.repeat(32)), '😀'.repeat(32));
    refuses('😀'.repeat(33), '33 emoji');
    // 32 CJK characters are 96 UTF-8 bytes: still 32.
    assert.equal(normalizeNick('漢'.repeat(32)), '漢'.repeat(32));
  });

  test('refuses the empty string and blank names', () => {
    refuses('', 'empty');
    refuses(' ', 'one space');
    refuses('   ', 'spaces');
    refuses('\u3000', 'ideographic space');
  });

  test('refuses leading or trailing white space', () => {
    refuses(' alice', 'leading space');
    refuses('alice ', 'trailing space');
    refuses('\u00a0alice', 'leading no-break space');
    refuses('\u3000alice', 'leading ideographic space');
    refuses('alice\u2003', 'trailing em space');
  });

  test('refuses control characters (Cc)', () => {
    for (const c of ['\u0000', '\u0007', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u009f']) {
      refuses(`al${c}ice`, `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
    }
  });

  test('refuses format characters (Cf): joiners, invisible and bidi controls', () => {
    for (const c of ['\u200d', '\u200c', '\u200b', '\u00ad', '\u2060', '\ufeff', '\u202e', '\u2066', '\u061c', '\u{e0041}']) {
      refuses(`al${c}ice`, `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
    }
    refuses('\u200d', 'a lone zero-width joiner');
  });

  test('refuses line and paragraph separators (Zl, Zp)', () => {
    refuses('a\u2028b', 'U+2028');
    refuses('a\u2029b', 'U+2029');
  });

  test('returns NFC, and counts after normalising', () => {
    assert.equal(normalizeNick('Zoe\u0308'), 'Zo\u00eb');
    assert.equal(normalizeNick('\u212b'), '\u00c5'); // ANGSTROM SIGN -> A WITH RING ABOVE
    assert.equal(normalizeNick('\u1100\u1161'), '\uac00'); // Hangul jamo compose
    // 33 code points before NFC, 32 after: accepted.
    const decomposed = 'e\u0301' + 'x'.repeat(31);
    assert.equal([...decomposed].length, 33);
    assert.equal(normalizeNick(decomposed), '\u00e9' + 'x'.repeat(31));
    // NFC, not NFKC: compatibility characters are kept as they are.
    assert.equal(normalizeNick('\ufb01'), '\ufb01');
    // Idempotent.
    for (const nick of ['Zoe\u0308', '山田', 'e\u0301']) assert.equal(normalizeNick(normalizeNick(nick)), normalizeNick(nick));
  });

  // UTF-8 encoding would turn a lone surrogate (Cs) into U+FFFD, so the nickname members read back
  // would differ from the one its owner chose: normalizeNick refuses Cs.
  test('refuses lone surrogates (Cs)', () => {
    refuses('al\ud800ice', 'lone high surrogate');
    refuses('\udfff', 'lone low surrogate');
  });
});

describe('credentials', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const other = await deriveRoomKeys(randomRoomSecret());
  const sigKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const me = await ephemeralIdentity();

  test('a credential opens to its profile for its room, key and slot', async () => {
    const cred = await makeCredential(keys.credentialKey, keys.locator, sigKey, { slot: 42, nick: 'Zoe\u0308' }, me);
    assert.equal(cred.credentialType, defaultCredentialTypes.basic);
    const id = (cred as CredentialBasic).identity;
    assert.deepEqual([...id.subarray(0, 3)], [...new TextEncoder().encode('NR2')]);
    assert.deepEqual([...id.subarray(3, 7)], [0, 0, 0, 42]);
    // The nickname is not in the clear.
    // Neither the nickname nor the identity key (which would link a device across rooms) is in the clear.
    assert.ok(!contains(id, new TextEncoder().encode('Zo\u00eb')));
    assert.ok(!contains(id, me.publicKey));
    const opened = await openCredential(keys.credentialKey, keys.locator, cred, sigKey);
    assert.deepEqual(opened, { slot: 42, nick: 'Zo\u00eb', identityKey: me.publicKey });
  });

  test('it does not open for another room, locator, signature key or slot', async () => {
    const cred = await makeCredential(keys.credentialKey, keys.locator, sigKey, { slot: 7, nick: 'bob' }, me);
    assert.equal(await openCredential(other.credentialKey, keys.locator, cred, sigKey), undefined, 'other room key');
    assert.equal(await openCredential(keys.credentialKey, other.locator, cred, sigKey), undefined, 'other locator');
    const otherSig = sigKey.slice();
    otherSig[0]! ^= 1;
    assert.equal(await openCredential(keys.credentialKey, keys.locator, cred, otherSig), undefined, 'other signature key');
    const id = (cred as CredentialBasic).identity.slice();
    id[6]! ^= 1; // slot 7 -> 6: the slot is bound in the associated data
    assert.equal(
      await openCredential(keys.credentialKey, keys.locator, { ...cred, identity: id } as Credential, sigKey),
      undefined,
      'other slot',
    );
    const badMagic = (cred as CredentialBasic).identity.slice();
    badMagic[0] = 0x58;
    assert.equal(
      await openCredential(keys.credentialKey, keys.locator, { ...cred, identity: badMagic } as Credential, sigKey),
      undefined,
      'magic',
    );
    const short = { ...cred, identity: new Uint8Array(6) } as Credential;
    assert.equal(await openCredential(keys.credentialKey, keys.locator, short, sigKey), undefined, 'short');
  });

  test('a credential whose identity did not sign this leaf key does not open (no borrowing a verified identity)', async () => {
    // Whoever holds the room secret can seal any plaintext: build one that claims `me` as its
    // identity but carries a binding signature over another leaf key.
    const otherLeaf = sigKey.slice();
    otherLeaf[1]! ^= 1;
    const borrowedBinding = await me.sign(
      new Uint8Array([...new TextEncoder().encode('nullroom/v1/leaf-binding'), ...keys.locator, ...otherLeaf]),
    );
    const forged = await makeCredential(
      keys.credentialKey,
      keys.locator,
      sigKey,
      { slot: 9, nick: 'mallory' },
      {
        publicKey: me.publicKey,
        sign: async () => borrowedBinding,
      },
    );
    assert.equal(await openCredential(keys.credentialKey, keys.locator, forged, sigKey), undefined);
    // The same binding is good for the leaf it was made for.
    const honest = await makeCredential(
      keys.credentialKey,
      keys.locator,
      otherLeaf,
      { slot: 9, nick: 'mallory' },
      { publicKey: me.publicKey, sign: async () => borrowedBinding },
    );
    assert.equal((await openCredential(keys.credentialKey, keys.locator, honest, otherLeaf))?.nick, 'mallory');
  });

  test('makeCredential refuses a bad nickname', async () => {
    await assert.rejects(
      makeCredential(keys.credentialKey, keys.locator, sigKey, { slot: 1, nick: 'a\u200db' }, me),
      (e: unknown) => e instanceof CryptoError && e.code === 'BAD_NICK',
    );
  });

  test('RoomAuthenticationService accepts only credentials that open, and caches their profiles', async () => {
    const auth = new RoomAuthenticationService(keys.credentialKey, asLocator(keys.locator));
    const good = await makeCredential(keys.credentialKey, keys.locator, sigKey, { slot: 3, nick: 'carol' }, me);
    const foreign = await makeCredential(other.credentialKey, other.locator, sigKey, { slot: 3, nick: 'mallory' }, me);
    assert.equal(await auth.validateCredential(good, sigKey), true);
    assert.equal(await auth.validateCredential(foreign, sigKey), false);
    assert.equal(
      await auth.validateCredential({ credentialType: defaultCredentialTypes.x509, certificates: [] } as unknown as Credential, sigKey),
      false,
    );
    assert.deepEqual([...auth.profiles.values()], [{ slot: 3, nick: 'carol', identityKey: me.publicKey }]);
  });
});
