/**
 * The published test vectors (docs/vectors/*.json, docs/PROTOCOL.md §10) recomputed with our code:
 * room secret -> locator and keys (§3), sealing (§3.1), credentials and bindings (§3.3), nicknames
 * (§3.3, §3.5), safety numbers (§8), room fingerprints (§8.1), file STREAM (§5.1). Where our code draws randomness itself (a seal's nonce, a file
 * id), the draw is answered with the vector's bytes. A vector file that no longer matches our code
 * fails here: regenerate it (scripts/make-vectors.mjs) only for a deliberate, documented change
 * of the wire format, since other implementations check themselves against these files.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  CryptoError,
  type RoomSecret,
  parseInvite,
  deriveRoomKeys,
  nickKey,
  normalizeNick,
  uniqueNick,
  deriveRoomSecret,
  formatSafetyNumber,
  inviteFragment,
  safetyNumber,
  secretFromInvite,
} from '../src/index.js';
import { open, seal } from '../src/sealed.js';
import { formatRoomFingerprint, roomFingerprint } from '../src/roomFingerprint.js';
import { makeCredential, openCredential } from '../src/credential.js';
import { signBinding, verifyBinding } from '../src/identity.js';
import { FileDecryptor, FileEncryptor, encodeFileHeader } from '../src/fileCrypto.js';

// biome-ignore lint/suspicious/noExplicitAny: a vector's fields are read as the JSON gives them; each test compares them with the code's own output
type Vector = Record<string, any>;
const load = (file: string) => JSON.parse(readFileSync(new URL(`../../../../docs/vectors/${file}`, import.meta.url), 'utf8'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const enc = new TextEncoder();

/** Runs `fn` with crypto.getRandomValues answering `draws` in order (each exactly the length asked for). */
async function withRandom<T>(draws: Uint8Array[], fn: () => Promise<T>): Promise<T> {
  const c = globalThis.crypto as { getRandomValues: Crypto['getRandomValues'] };
  const queue = draws.map((d) => d.slice());
  c.getRandomValues = (<A extends ArrayBufferView | null>(a: A): A => {
    const next = queue.shift();
    if (a === null || next === undefined || next.byteLength !== a.byteLength) throw new Error('unexpected random draw');
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(next);
    return a;
  }) as Crypto['getRandomValues'];
  try {
    const out = await fn();
    assert.equal(queue.length, 0, 'every planned random draw was used');
    return out;
  } finally {
    delete (c as { getRandomValues?: unknown }).getRandomValues;
  }
}

async function aesGcm(raw: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(raw), 'AES-GCM', false, ['encrypt']);
  return new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: new Uint8Array(nonce), additionalData: new Uint8Array(aad) },
      key,
      new Uint8Array(pt),
    ),
  );
}
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

const rooms = load('room-secret.json').vectors as Vector[];
const roomByName = new Map(rooms.map((r) => [r.name as string, r]));

describe('vectors: room secret -> locator and keys (PROTOCOL.md §3)', () => {
  for (const v of rooms) {
    test(v.name, async () => {
      let secret: RoomSecret;
      if (v.source === 'password') {
        assert.equal(hex(enc.encode((v.room_name_text as string).normalize('NFC'))), v.room_name_nfc);
        assert.equal(hex(enc.encode((v.password_text as string).normalize('NFC'))), v.password_nfc);
        assert.equal(hex(sha256(cat(enc.encode('nullroom/v1/room-salt'), unhex(v.room_name_nfc)))), v.salt);
        secret = await deriveRoomSecret(v.room_name_text, v.password_text);
      } else {
        secret = secretFromInvite(v.invite_fragment_text)!;
        assert.ok(secret !== undefined);
        assert.equal(inviteFragment(secret), v.invite_fragment_text);
      }
      assert.equal(hex(secret), v.room_secret);
      const keys = await deriveRoomKeys(secret);
      assert.equal(hex(keys.locator), v.locator);
      // The keys are non-extractable: each must seal exactly what the vector's raw key seals.
      const nonce = new Uint8Array(12).fill(0x5a);
      const pt = enc.encode('check');
      const aad = enc.encode('aad');
      for (const [key, raw] of [
        [keys.groupInfoKey, v.gi_key],
        [keys.credentialKey, v.cred_key],
      ] as const) {
        const ours = await withRandom([nonce], () => seal(key, pt, aad));
        assert.equal(hex(ours), hex(cat(nonce, await aesGcm(unhex(raw), nonce, pt, aad))));
      }
      // And the raw keys follow the documented HKDF (RFC 5869, empty salt).
      for (const [info, field] of [
        ['nullroom/v1/locator', 'locator'],
        ['nullroom/v1/group-info', 'gi_key'],
        ['nullroom/v1/credential', 'cred_key'],
      ] as const) {
        assert.equal(hex(hkdf(sha256, unhex(v.room_secret), new Uint8Array(0), enc.encode(info), 32)), v[field]);
      }
    });
  }
});

describe('vectors: invite fragments every reader refuses (PROTOCOL.md §3)', () => {
  const rejects = load('room-secret.json').invite_reject as Vector[];
  test('the file names the three non-canonical spellings', () => {
    assert.equal(rejects.filter((v) => (v.name as string).startsWith('non-canonical')).length, 3);
  });
  for (const v of rejects) {
    test(v.name, () => {
      assert.throws(
        () => parseInvite(v.invite_fragment_text),
        (e: unknown) => e instanceof CryptoError && e.code === 'BAD_INVITE' && e.code === v.error,
      );
      assert.equal(secretFromInvite(v.invite_fragment_text), undefined);
    });
  }
});

describe('vectors: sealing (PROTOCOL.md §3.1)', () => {
  for (const v of load('sealing.json').vectors as Vector[]) {
    test(v.name, async () => {
      const keys = await deriveRoomKeys(unhex(roomByName.get(v.room)!.room_secret) as RoomSecret);
      const key = v.key_name === 'gi_key' ? keys.groupInfoKey : keys.credentialKey;
      const sealed = await withRandom([unhex(v.nonce)], () => seal(key, unhex(v.plaintext), unhex(v.aad)));
      assert.equal(hex(sealed), v.sealed);
      assert.equal(hex((await open(key, unhex(v.sealed), unhex(v.aad)))!), v.plaintext);
      const altered = unhex(v.sealed);
      altered[altered.length - 1]! ^= 1;
      assert.equal(await open(key, altered, unhex(v.aad)), undefined, 'an altered tag does not open');
      assert.equal(await open(key, unhex(v.sealed), cat(unhex(v.aad), Uint8Array.of(0))), undefined, 'another aad does not open');
    });
  }
});

describe('vectors: credentials and leaf bindings (PROTOCOL.md §3.3)', () => {
  for (const v of load('credential.json').vectors as Vector[]) {
    test(v.name, async () => {
      const keys = await deriveRoomKeys(unhex(roomByName.get(v.room)!.room_secret) as RoomSecret);
      assert.equal(hex(keys.locator), v.locator);
      const seed = unhex(v.identity_private_seed);
      const identity = { publicKey: ed25519.getPublicKey(seed), sign: async (m: Uint8Array) => ed25519.sign(m, seed) };
      assert.equal(hex(identity.publicKey), v.identity_key);
      const leafKey = unhex(v.leaf_signature_key);
      assert.equal(hex(ed25519.getPublicKey(unhex(v.leaf_signature_private_seed))), v.leaf_signature_key);
      const binding = await signBinding(identity, keys.locator, leafKey);
      assert.equal(hex(binding), v.binding);
      assert.ok(
        ed25519.verify(binding, unhex(v.binding_message), identity.publicKey, { zip215: false }),
        'the binding signs binding_message',
      );
      assert.ok(await verifyBinding(identity.publicKey, binding, keys.locator, leafKey));
      const cred = await withRandom([unhex(v.nonce)], () =>
        makeCredential(keys.credentialKey, keys.locator, leafKey, { slot: v.slot, nick: v.nick_text }, identity),
      );
      assert.equal(cred.credentialType, v.credential_type);
      const id = (cred as { identity: Uint8Array }).identity;
      assert.equal(hex(id), v.identity);
      // The documented layout, from the raw cred_key.
      const slot = new Uint8Array(4);
      new DataView(slot.buffer).setUint32(0, v.slot);
      assert.equal(hex(unhex(v.aad)), hex(cat(enc.encode('nullroom/v1/credential'), keys.locator, leafKey, slot)));
      assert.equal(v.plaintext, hex(cat(identity.publicKey, binding, unhex(v.nick_nfc))));
      assert.equal(
        v.identity,
        hex(
          cat(enc.encode('NR2'), slot, unhex(v.nonce), await aesGcm(unhex(v.cred_key), unhex(v.nonce), unhex(v.plaintext), unhex(v.aad))),
        ),
      );
      const opened = await openCredential(keys.credentialKey, keys.locator, cred, leafKey);
      assert.deepEqual(opened && { slot: opened.slot, nick: opened.nick, identityKey: hex(opened.identityKey) }, {
        slot: v.slot,
        nick: (v.nick_text as string).normalize('NFC'),
        identityKey: v.identity_key,
      });
      // Bound to the slot and to the leaf key: another of either does not open.
      const otherSlot = id.slice();
      otherSlot[6]! ^= 1;
      assert.equal(
        await openCredential(keys.credentialKey, keys.locator, { ...cred, identity: otherSlot } as typeof cred, leafKey),
        undefined,
      );
      assert.equal(await openCredential(keys.credentialKey, keys.locator, cred, identity.publicKey), undefined);
    });
  }
});

describe('vectors: safety numbers (PROTOCOL.md §8)', () => {
  for (const v of load('safety-number.json').vectors as Vector[]) {
    test(v.name, () => {
      const a = unhex(v.identity_key_a);
      const b = unhex(v.identity_key_b);
      assert.equal(safetyNumber(a, b), v.digits);
      assert.equal(safetyNumber(b, a), v.digits);
      assert.equal(v.digits, [v.half_a, v.half_b].sort().join(''));
      assert.equal(formatSafetyNumber(v.digits), v.display);
      assert.equal(v.qr_text, v.digits);
    });
  }
});

describe('vectors: room fingerprints (PROTOCOL.md §8.1)', () => {
  for (const v of load('room-fingerprint.json').vectors as Vector[]) {
    test(v.name, () => {
      const fp = roomFingerprint(unhex(v.epoch_authenticator), unhex(v.group_id), BigInt(v.epoch));
      assert.deepEqual(fp, { epoch: v.epoch, digits: v.digits });
      assert.equal(formatRoomFingerprint(fp), v.display);
      assert.equal(hex(hkdf(sha256, unhex(v.epoch_authenticator), new Uint8Array(0), unhex(v.info), 15)), v.okm);
    });
  }
});

describe('vectors: file STREAM (PROTOCOL.md §5.1)', () => {
  for (const v of load('file-stream.json').vectors as Vector[]) {
    test(v.name, async () => {
      const key = unhex(v.file_key);
      assert.equal(Buffer.from(key).toString('base64url'), v.file_key_b64url);
      const encr = await withRandom([unhex(v.file_id)], () => FileEncryptor.create(key, { chunkSize: v.chunk_size }));
      const header = encodeFileHeader(encr.header);
      assert.equal(hex(header), v.header);
      assert.equal(Buffer.from(header).toString('base64url'), v.header_b64url);
      assert.equal(hex(hkdf(sha256, key, unhex(v.file_id), enc.encode('nullroom/v1/file-payload'), 32)), v.payload_key);
      const dec = await FileDecryptor.create(key, encr.header);
      const chunks = v.chunks as { index: number; last: boolean; nonce: string; plaintext: string; sealed: string }[];
      assert.equal(chunks.length, Math.max(1, Math.ceil(v.size / v.chunk_size)), 'the chunk count follows from size');
      const plain: Uint8Array[] = [];
      for (const c of chunks) {
        assert.equal(hex(await encr.sealChunk(unhex(c.plaintext), c.last)), c.sealed);
        // The documented nonce: 11-byte big-endian index || last flag; aad = header.
        const n = new Uint8Array(12);
        new DataView(n.buffer).setUint32(7, c.index);
        n[11] = c.last ? 1 : 0;
        assert.equal(hex(n), c.nonce);
        assert.equal(hex(await aesGcm(unhex(v.payload_key), n, unhex(c.plaintext), header)), c.sealed);
        plain.push(await dec.openChunk(c.index, unhex(c.sealed), c.last));
      }
      dec.finish();
      assert.equal(hex(sha256(cat(...plain))), v.sha256);
      if (chunks.length > 1) {
        // Cut after chunk 0: a full non-final chunk presented as final is a truncation.
        const cut = await FileDecryptor.create(key, encr.header);
        await assert.rejects(
          cut.openChunk(0, unhex(chunks[0]!.sealed), true),
          (e: unknown) => e instanceof CryptoError && e.code === 'FILE_TRUNCATED',
        );
        // Skipping a chunk: out of order.
        const skip = await FileDecryptor.create(key, encr.header);
        await assert.rejects(
          skip.openChunk(1, unhex(chunks[1]!.sealed), chunks[1]!.last),
          (e: unknown) => e instanceof CryptoError && e.code === 'FILE_OUT_OF_ORDER',
        );
      }
    });
  }
});

describe('vectors: nicknames (PROTOCOL.md §3.3, §3.5)', () => {
  const v = load('nicknames.json');
  test('validity and NFC form', () => {
    for (const x of v.validity as { nick_text: string; valid: boolean; nfc_text?: string }[]) {
      if (x.valid) assert.equal(normalizeNick(x.nick_text), x.nfc_text, JSON.stringify(x.nick_text));
      else
        assert.throws(
          () => normalizeNick(x.nick_text),
          (e: unknown) => e instanceof CryptoError && e.code === 'BAD_NICK',
          JSON.stringify(x.nick_text),
        );
    }
  });
  test('uniqueness key: NFC, then String.prototype.toLowerCase', () => {
    for (const x of v.keys as { nick_text: string; key_text: string }[])
      assert.equal(x.nick_text.normalize('NFC').toLowerCase(), x.key_text);
  });
  test('suffix rule: uniqueNick (the function the joiner uses) against every suffix vector', () => {
    for (const x of v.suffix as { requested_text: string; taken_keys_text: string[]; result_text: string; result_code_points: number }[]) {
      const got = uniqueNick(x.requested_text, new Set(x.taken_keys_text));
      assert.equal(got, x.result_text, JSON.stringify(x));
      assert.equal([...got].length, x.result_code_points);
    }
  });
  test('uniqueness key: nickKey is the key of the vectors', () => {
    for (const x of v.keys as { nick_text: string; key_text: string }[]) assert.equal(nickKey(x.nick_text), x.key_text);
  });
});
