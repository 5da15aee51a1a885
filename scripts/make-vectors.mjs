#!/usr/bin/env node
/**
 * Writes the test vectors of docs/PROTOCOL.md §10 (docs/vectors/*.json) from our own code, with
 * fixed inputs, so that a second implementation can check its derivations byte for byte.
 *
 *   npm run build && node scripts/make-vectors.mjs           (re)writes docs/vectors/
 *   node scripts/make-vectors.mjs --check                     fails if a file would change
 *
 * Deterministic: where our functions draw randomness themselves (the AES-GCM nonce of a seal, a
 * file id), the draw is replaced by fixed bytes for the length of one call (`withRandom`), and the
 * vector names those bytes. Everything is cross-checked on the way against a second, independent
 * computation of the formula in docs/PROTOCOL.md: Argon2id by @noble/hashes as well as hash-wasm;
 * raw keys that our code keeps as non-extractable CryptoKeys derived again with @noble/hashes' HKDF,
 * and our keys must seal exactly what Web Crypto seals with the raw keys; every seal, credential and
 * file chunk rebuilt from its documented layout; safety numbers computed a second time here, room
 * fingerprints with node:crypto's HKDF.
 * The tests that recompute every vector are packages/crypto/test/vectors.test.ts,
 * packages/client/test/payload-vectors.test.ts and packages/protocol/test/vectors.test.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { argon2id } from '@noble/hashes/argon2.js';

const root = new URL('..', import.meta.url).pathname;
const dist = (p) => join(root, p);
const { deriveRoomSecret, deriveRoomKeys, inviteFragment, secretFromInvite, parseInvite, defaultArgon2Params } = await import(
  dist('packages/crypto/dist/src/roomSecret.js')
);
const { CryptoError } = await import(dist('packages/crypto/dist/src/errors.js'));
const { seal, open } = await import(dist('packages/crypto/dist/src/sealed.js'));
const { makeCredential, openCredential } = await import(dist('packages/crypto/dist/src/credential.js'));
const { safetyNumber, formatSafetyNumber } = await import(dist('packages/crypto/dist/src/safetyNumber.js'));
const { FileEncryptor, FileDecryptor, encodeFileHeader } = await import(dist('packages/crypto/dist/src/fileCrypto.js'));
const { roomFingerprint, formatRoomFingerprint } = await import(dist('packages/crypto/dist/src/roomFingerprint.js'));
const { encodePayload, parsePayload } = await import(dist('packages/client/dist/src/payload.js'));
const { encodeFrame, decodeFrame, ProtocolError } = await import(dist('packages/protocol/dist/src/index.js'));

const enc = new TextEncoder();
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (h) => new Uint8Array(Buffer.from(h, 'hex'));
const b64url = (b) => Buffer.from(b).toString('base64url');
const concat = (...parts) => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));
const u32 = (n) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
/** Bytes start, start+1, ... (mod 256): easy to recognise in a dump. */
const seq = (n, start) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
function assert(cond, what) {
  if (!cond) throw new Error(`vector self-check failed: ${what}`);
}

/**
 * Runs `fn` with globalThis.crypto.getRandomValues answering from `draws`, one entry per call, each
 * of exactly the length asked for; fails if a call asks for another length or `fn` draws less or more.
 */
async function withRandom(draws, fn) {
  const c = globalThis.crypto;
  const queue = draws.map((d) => d.slice());
  c.getRandomValues = (a) => {
    const next = queue.shift();
    if (next === undefined || next.byteLength !== a.byteLength) throw new Error(`unexpected draw of ${a.byteLength} random bytes`);
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(next);
    return a;
  };
  try {
    const out = await fn();
    if (queue.length !== 0) throw new Error('fewer random draws than planned');
    return out;
  } finally {
    delete c.getRandomValues;
  }
}

const hkdf32 = (ikm, salt, info) => hkdf(sha256, ikm, salt, enc.encode(info), 32);
async function aesGcm(raw, nonce, pt, aad) {
  const key = await globalThis.crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt']);
  return new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, key, pt));
}

const header = (description) => ({
  description,
  generatedBy: 'scripts/make-vectors.mjs (npm run build first); recomputed by the tests named in docs/PROTOCOL.md §10',
  conventions:
    'Byte strings are lowercase hex unless a field name ends in _b64url (RFC 4648 §5, unpadded) or _text (a JSON string, whose UTF-8 encoding is meant). Integers are JSON numbers.',
});

// ---------------------------------------------------------------- room secret -> locator and keys

const GI_LABEL = 'nullroom/v1/group-info';
const SEAL_NONCE = seq(12, 0xa0);

async function roomCase(name, input, secret) {
  const keys = await deriveRoomKeys(secret);
  const locator = hkdf32(secret, new Uint8Array(0), 'nullroom/v1/locator');
  const giKey = hkdf32(secret, new Uint8Array(0), 'nullroom/v1/group-info');
  const credKey = hkdf32(secret, new Uint8Array(0), 'nullroom/v1/credential');
  assert(hex(keys.locator) === hex(locator), `${name}: locator`);
  // Our gi_key and cred_key are non-extractable: they must seal what the raw keys seal.
  const pt = enc.encode('nullroom test vector');
  const aad = concat(enc.encode(GI_LABEL), locator);
  const sealedByOurs = await withRandom([SEAL_NONCE], () => seal(keys.groupInfoKey, pt, aad));
  assert(hex(sealedByOurs) === hex(concat(SEAL_NONCE, await aesGcm(giKey, SEAL_NONCE, pt, aad))), `${name}: gi_key`);
  const credByOurs = await withRandom([SEAL_NONCE], () => seal(keys.credentialKey, pt, aad));
  assert(hex(credByOurs) === hex(concat(SEAL_NONCE, await aesGcm(credKey, SEAL_NONCE, pt, aad))), `${name}: cred_key`);
  return { name, ...input, room_secret: hex(secret), locator: hex(locator), gi_key: hex(giKey), cred_key: hex(credKey) };
}

async function passwordCase(name, roomName, password) {
  const p = defaultArgon2Params;
  const nameNfc = enc.encode(roomName.normalize('NFC'));
  const pwNfc = enc.encode(password.normalize('NFC'));
  const salt = sha256(concat(enc.encode('nullroom/v1/room-salt'), nameNfc));
  const secret = await deriveRoomSecret(roomName, password);
  // A second, independent Argon2id (RFC 9106) must agree with hash-wasm's.
  const again = argon2id(pwNfc, salt, { t: p.iterations, m: p.memoryKiB, p: p.parallelism, dkLen: 32, version: 0x13 });
  assert(hex(again) === hex(secret), `${name}: Argon2id cross-check`);
  return roomCase(
    name,
    {
      source: 'password',
      room_name_text: roomName,
      password_text: password,
      room_name_nfc: hex(nameNfc),
      password_nfc: hex(pwNfc),
      argon2id: {
        version: 0x13,
        memory_kib: p.memoryKiB,
        iterations: p.iterations,
        parallelism: p.parallelism,
        tag_length: 32,
        secret: '',
        associated_data: '',
      },
      salt: hex(salt),
    },
    secret,
  );
}

async function inviteCase(name, secretBytes) {
  const fragment = inviteFragment(secretBytes);
  assert(hex(secretFromInvite(fragment)) === hex(secretBytes), `${name}: invite round trip`);
  return roomCase(name, { source: 'invite', invite_fragment_text: fragment }, secretBytes);
}

const rooms = [
  await passwordCase('ascii name and password', 'Lobby', 'correct horse battery staple'),
  // Given decomposed (NFD): clients normalize both to NFC before anything else.
  await passwordCase('non-ASCII, given in NFD', 'Cafe\u0301 \u2615', 'pa\u0308ssw\u00f6rd \u5bc6\u7801'),
  await inviteCase('invite link secret', seq(32, 0x00)),
  await inviteCase('invite link secret, high bytes', seq(32, 0xe0)),
];

// Invite fragments every reader refuses (§3): above all the three non-canonical spellings of a
// real link (the 2 unused low bits of the last character set), which a lenient base64 decoder
// would open as the same room.
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const inviteRejectCase = (name, fragment) => {
  let code;
  try {
    parseInvite(fragment);
  } catch (e) {
    if (e instanceof CryptoError) code = e.code;
    else throw e;
  }
  assert(code === 'BAD_INVITE', `invite reject ${name}`);
  assert(secretFromInvite(fragment) === undefined, `invite reject ${name}: lenient wrapper`);
  return { name, invite_fragment_text: fragment, error: code };
};
const inviteReject = (() => {
  const good = rooms[2].invite_fragment_text;
  const last = B64URL_ALPHABET.indexOf(good.at(-1));
  assert((last & 3) === 0, 'invite vector is canonical');
  return [
    ...[1, 2, 3].map((bits) =>
      inviteRejectCase(
        `non-canonical: unused low bits ${bits.toString(2).padStart(2, '0')}`,
        good.slice(0, -1) + B64URL_ALPHABET[last | bits],
      ),
    ),
    inviteRejectCase('padded', `${good}=`),
    inviteRejectCase('42 characters', good.slice(0, -1)),
    inviteRejectCase('44 characters', `${good}A`),
    inviteRejectCase('base64 alphabet, not base64url', `${good.slice(0, 10)}+${good.slice(11)}`),
    inviteRejectCase('anything after the secret', `${good}&x=1`),
    inviteRejectCase('another key', `#s=${good.slice(3)}`),
  ];
})();

// ---------------------------------------------------------------- sealing (sealed.ts)

const roomA = rooms[0];
async function sealCase(name, keyName, room, pt, aad, nonce) {
  const keys = await deriveRoomKeys(unhex(room.room_secret));
  const key = keyName === 'gi_key' ? keys.groupInfoKey : keys.credentialKey;
  const sealed = await withRandom([nonce], () => seal(key, pt, aad));
  assert(hex(sealed) === hex(concat(nonce, await aesGcm(unhex(room[keyName]), nonce, pt, aad))), `${name}: seal`);
  assert(hex(await open(key, sealed, aad)) === hex(pt), `${name}: open`);
  return {
    name,
    room: room.name,
    key_name: keyName,
    key: room[keyName],
    nonce: hex(nonce),
    plaintext: hex(pt),
    aad: hex(aad),
    sealed: hex(sealed),
  };
}
const seals = [
  // The layout of the GroupInfo the relay stores (§3.2); the plaintext stands in for an MLSMessage.
  await sealCase(
    'group-info seal',
    'gi_key',
    roomA,
    enc.encode('an MLSMessage(GroupInfo) goes here'),
    concat(enc.encode(GI_LABEL), unhex(roomA.locator)),
    SEAL_NONCE,
  ),
  await sealCase('empty plaintext', 'gi_key', roomA, new Uint8Array(0), concat(enc.encode(GI_LABEL), unhex(roomA.locator)), seq(12, 0x10)),
  await sealCase('cred_key, arbitrary aad', 'cred_key', roomA, seq(100, 0x40), enc.encode('any associated data'), seq(12, 0xf4)),
];

// ---------------------------------------------------------------- credentials and bindings

// RFC 8032 §7.1 TEST 1 and TEST 2 secret keys as identity keys, TEST 3 and a counter as leaf keys.
const ID_A = unhex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const ID_B = unhex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
const LEAF_1 = unhex('c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7');
const LEAF_2 = seq(32, 0x30);
const signer = (seed) => ({ publicKey: ed25519.getPublicKey(seed), sign: async (m) => ed25519.sign(m, seed) });

const credRoom = rooms[2];
async function credentialCase(name, idSeed, leafSeed, slot, nick, nonce) {
  const keys = await deriveRoomKeys(unhex(credRoom.room_secret));
  const identity = signer(idSeed);
  const leafKey = ed25519.getPublicKey(leafSeed);
  const bindingMessage = concat(enc.encode('nullroom/v1/leaf-binding'), keys.locator, leafKey);
  const binding = ed25519.sign(bindingMessage, idSeed);
  const nickNfc = enc.encode(nick.normalize('NFC'));
  const plaintext = concat(identity.publicKey, binding, nickNfc);
  const aad = concat(enc.encode('nullroom/v1/credential'), keys.locator, leafKey, u32(slot));
  const cred = await withRandom([nonce], () => makeCredential(keys.credentialKey, keys.locator, leafKey, { slot, nick }, identity));
  const expected = concat(enc.encode('NR2'), u32(slot), nonce, await aesGcm(unhex(credRoom.cred_key), nonce, plaintext, aad));
  assert(hex(cred.identity) === hex(expected), `${name}: credential identity`);
  const opened = await openCredential(keys.credentialKey, keys.locator, cred, leafKey);
  assert(
    opened?.nick === nick.normalize('NFC') && opened.slot === slot && hex(opened.identityKey) === hex(identity.publicKey),
    `${name}: open`,
  );
  return {
    name,
    room: credRoom.name,
    locator: credRoom.locator,
    cred_key: credRoom.cred_key,
    identity_private_seed: hex(idSeed),
    identity_key: hex(identity.publicKey),
    leaf_signature_private_seed: hex(leafSeed),
    leaf_signature_key: hex(leafKey),
    slot,
    nick_text: nick,
    nick_nfc: hex(nickNfc),
    binding_message: hex(bindingMessage),
    binding: hex(binding),
    aad: hex(aad),
    plaintext: hex(plaintext),
    nonce: hex(nonce),
    credential_type: 1,
    identity: hex(cred.identity),
  };
}
const credentials = [
  await credentialCase('ascii nickname', ID_A, LEAF_1, 1, 'sam', seq(12, 0x60)),
  await credentialCase('non-ASCII nickname, given in NFD', ID_B, LEAF_2, 7, 'Zoe\u0308 \u{1F98A}', seq(12, 0x70)),
  await credentialCase('32 code points, 33 UTF-16 units', ID_A, LEAF_2, 0xfffffffe, `${'n'.repeat(31)}\u{1F600}`, seq(12, 0x80)),
];

// ---------------------------------------------------------------- safety numbers

function half(key) {
  let h = concat([0, 0], key);
  for (let i = 0; i < 5200; i++) h = new Uint8Array(Buffer.from(sha512(concat(h, key))));
  let s = '';
  for (let i = 0; i < 30; i += 5) s += String(Number(BigInt('0x' + hex(h.subarray(i, i + 5))) % 100000n)).padStart(5, '0');
  return s;
}
const { sha512 } = await import('@noble/hashes/sha2.js');
function safetyCase(name, a, b) {
  const digits = safetyNumber(a, b);
  assert(digits === safetyNumber(b, a), `${name}: symmetric`);
  const ha = half(a);
  const hb = half(b);
  assert(digits === (ha < hb ? ha + hb : hb + ha), `${name}: independent computation`);
  return {
    name,
    identity_key_a: hex(a),
    identity_key_b: hex(b),
    half_a: ha,
    half_b: hb,
    digits,
    display: formatSafetyNumber(digits),
    qr_text: digits,
  };
}
const safety = [
  safetyCase('RFC 8032 TEST 1 and TEST 2 public keys', ed25519.getPublicKey(ID_A), ed25519.getPublicKey(ID_B)),
  safetyCase('TEST 1 public key and 32 zero bytes', ed25519.getPublicKey(ID_A), new Uint8Array(32)),
];

// ---------------------------------------------------------------- room fingerprints

const { hkdfSync } = await import('node:crypto');
/** RFC 9420 §2.1.2 variable-size length prefix, written out again here. */
const mlsVarint = (n) =>
  n < 0x40 ? [n] : n < 0x4000 ? [0x40 | (n >> 8), n & 0xff] : [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
function fingerprintCase(name, authenticator, groupId, epoch) {
  const fp = roomFingerprint(authenticator, groupId, epoch);
  const e = new Uint8Array(8);
  new DataView(e.buffer).setBigUint64(0, epoch);
  const info = concat(enc.encode('nullroom/v1/room-fingerprint'), mlsVarint(groupId.byteLength), groupId, e);
  const okm = new Uint8Array(hkdfSync('sha256', authenticator, new Uint8Array(0), info, 15));
  const digits = [0, 5, 10].map((i) => String(Number(BigInt('0x' + hex(okm.subarray(i, i + 5))) % 10000n)).padStart(4, '0')).join('');
  assert(digits === fp.digits, `${name}: independent computation (node:crypto HKDF)`);
  return {
    name,
    epoch_authenticator: hex(authenticator),
    group_id: hex(groupId),
    epoch: Number(epoch),
    info: hex(info),
    okm: hex(okm),
    digits,
    display: formatRoomFingerprint(fp),
  };
}
const fingerprints = [
  fingerprintCase('PROTOCOL.md §8.1: SHA-256 suite (32-byte authenticator), 16-byte group id, epoch 12', seq(32, 0x00), seq(16, 0xa0), 12n),
  fingerprintCase('epoch 0 (a room just created)', seq(32, 0x40), seq(16, 0xb0), 0n),
  fingerprintCase('X-Wing suite (SHA-512: 64-byte authenticator), epoch above 2^32', seq(64, 0x80), seq(16, 0xc0), 2n ** 40n + 1n),
  fingerprintCase('a 64-byte group id (two-byte <V> length; Nullroom makes 16)', seq(32, 0x10), seq(64, 0xd0), 7n),
];

// ---------------------------------------------------------------- file STREAM

const FILE_KEY = seq(32, 0xc0);
async function fileCase(name, plaintext, chunkSize, fileId) {
  const enc1 = await withRandom([fileId], () => FileEncryptor.create(FILE_KEY, { chunkSize }));
  const headerBytes = encodeFileHeader(enc1.header);
  assert(hex(headerBytes) === hex(concat([1], fileId, u32(chunkSize))), `${name}: header`);
  const payloadKey = hkdf(sha256, FILE_KEY, fileId, enc.encode('nullroom/v1/file-payload'), 32);
  const count = Math.max(1, Math.ceil(plaintext.byteLength / chunkSize));
  const dec = await FileDecryptor.create(FILE_KEY, enc1.header);
  const chunks = [];
  for (let i = 0; i < count; i++) {
    const last = i === count - 1;
    const pt = plaintext.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, plaintext.byteLength));
    const sealed = await enc1.sealChunk(pt, last);
    const nonce = concat(new Uint8Array(3), u32(Math.floor(i / 2 ** 32)), u32(i >>> 0), [last ? 1 : 0]);
    assert(hex(sealed) === hex(await aesGcm(payloadKey, nonce, pt, headerBytes)), `${name}: chunk ${i}`);
    assert(hex(await dec.openChunk(i, sealed, last)) === hex(pt), `${name}: open chunk ${i}`);
    chunks.push({ index: i, last, nonce: hex(nonce), plaintext: hex(pt), sealed: hex(sealed) });
  }
  dec.finish();
  return {
    name,
    file_key: hex(FILE_KEY),
    file_key_b64url: b64url(FILE_KEY),
    file_id: hex(fileId),
    chunk_size: chunkSize,
    size: plaintext.byteLength,
    header: hex(headerBytes),
    header_b64url: b64url(headerBytes),
    payload_key: hex(payloadKey),
    chunks,
    sha256: hex(sha256(plaintext)),
  };
}
const files = [
  await fileCase('three chunks, the final one short', enc.encode('Nullroom file vectors: forty bytes long.'), 16, seq(16, 0xa0)),
  await fileCase('two chunks, the final one full', seq(32, 0x00), 16, seq(16, 0xb0)),
  await fileCase('empty file: one empty final chunk', new Uint8Array(0), 16, seq(16, 0xc0)),
  await fileCase('one chunk of 1 byte, 64 KiB chunk size', Uint8Array.of(0x2a), 65536, seq(16, 0xd0)),
];

// ---------------------------------------------------------------- application payloads

/** JSON with object keys sorted: compares values whatever the key order. */
const sorted = (v) =>
  JSON.stringify(v, (_, x) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );
const ID = '00112233445566778899aabbccddeeff';
const TS = 1764421200000; // 2025-11-29T13:00:00Z
/** As room.ts builds it: the body first, then v, id, n, ts (JSON.stringify keeps that order). */
const made = (body, n) => ({ ...body, v: 1, id: ID, n, ts: TS });
const valid = [
  ['text', made({ type: 'text', text: 'hello, world' }, 1)],
  ['text with escapes and non-ASCII', made({ type: 'text', text: 'line 1\nline 2\t"quoted" \\ caf\u00e9 \u{1F98A} \u0001 \u2028' }, 2)],
  [
    'file with thumbnail',
    made(
      {
        type: 'file',
        fid: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf',
        name: 'photo \u{1F98A}.png',
        mime: 'image/png',
        size: 40,
        key: files[0].file_key_b64url,
        header: files[0].header_b64url,
        blob: 'AAECAwQFBgcICQoLDA0ODw',
        thumb: { mime: 'image/png', data: 'iVBORw0KGgo=', w: 1, h: 1 },
      },
      3,
    ),
  ],
  [
    'file without thumbnail, empty mime',
    made(
      {
        type: 'file',
        fid: 'b0b1b2b3b4b5b6b7b8b9babbbcbdbebf',
        name: 'notes',
        mime: '',
        size: 0,
        key: files[2].file_key_b64url,
        header: files[2].header_b64url,
        blob: 'AAECAwQFBgcICQoLDA0ODw',
      },
      4,
    ),
  ],
  ['file-done', made({ type: 'file-done', fid: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf', sha256: files[0].sha256 }, 5)],
  ['file-cancel', made({ type: 'file-cancel', fid: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' }, 6)],
  ['dm-offer', made({ type: 'dm-offer', to: credentials[1].identity_key, offer: 'c0c1c2c3c4c5c6c7c8c9cacbcccdcecf', kp: 'AAEABQ==' }, 7)],
  [
    'dm-welcome',
    made({ type: 'dm-welcome', to: credentials[0].identity_key, offer: 'c0c1c2c3c4c5c6c7c8c9cacbcccdcecf', welcome: 'AAEAAw==' }, 8),
  ],
  ['dm', made({ type: 'dm', chat: 'd0d1d2d3d4d5d6d7d8d9dadbdcdddedf', data: 'AAEAAg==' }, 9)],
  ['dm-close', made({ type: 'dm-close', chat: 'd0d1d2d3d4d5d6d7d8d9dadbdcdddedf' }, 10)],
  ['text replying to a message (§5.4)', made({ type: 'text', text: 'yes!', re: 'e0e1e2e3e4e5e6e7e8e9eaebecedeeef' }, 11)],
  ['react (§5.4)', made({ type: 'react', target: 'e0e1e2e3e4e5e6e7e8e9eaebecedeeef', emoji: '\u{1F44D}', on: true }, 12)],
  [
    'react: a ZWJ family taken back',
    made(
      {
        type: 'react',
        target: 'e0e1e2e3e4e5e6e7e8e9eaebecedeeef',
        emoji: '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466}',
        on: false,
      },
      13,
    ),
  ],
  ['edit (§5.4)', made({ type: 'edit', target: 'e0e1e2e3e4e5e6e7e8e9eaebecedeeef', text: 'yes, at one' }, 14)],
  ['delete (§5.4)', made({ type: 'delete', target: 'e0e1e2e3e4e5e6e7e8e9eaebecedeeef' }, 15)],
  ['typing (§5.4)', made({ type: 'typing', on: true }, 16)],
].map(([name, value]) => {
  const bytes = encodePayload(value);
  assert(sorted(parsePayload(bytes)) === sorted(value), `payload ${name}: round trip`);
  return { name, value, json_text: new TextDecoder().decode(bytes), utf8: hex(bytes) };
});

const textAt = (t) => `{"type":"text","text":${JSON.stringify(t)},"v":1,"id":"${ID}","n":1,"ts":${TS}}`;
/**
 * A vector's JSON text: written out, or, when long, as a template whose `{REPEAT}` stands for
 * `repeat.unit` written `repeat.times` times (inside a JSON string, so the unit is as it is there).
 */
function jsonEntry(json, repeat) {
  if (repeat === undefined) return { json_text: json };
  const [unit, times] = repeat;
  const template = json.replace(unit.repeat(times), '{REPEAT}');
  assert(template !== json && template.replace('{REPEAT}', unit.repeat(times)) === json, 'template');
  return { json_text_template: template, repeat: { unit, times } };
}
const BIG_TEXT = ['\u{1F600}', 16384];
const BIG_NAME = ['\u{1F4C4}', 255];
const accept = [
  [
    'other key order and whitespace',
    ' {\n "v" : 1 , "id":"' + ID + '", "n":1, "ts":' + TS + ', "type":"text", "text":"hello, world"}\r\n',
    { type: 'text', text: 'hello, world' },
  ],
  [
    '\\u escapes, surrogate pair, escaped solidus',
    textAt('x').replace('"x"', '"caf\\u00e9 \\ud83e\\udd8a \\/"'),
    { type: 'text', text: 'caf\u00e9 \u{1F98A} /' },
  ],
  [
    'text of 16384 code points outside the BMP (32768 UTF-16 units)',
    textAt(BIG_TEXT[0].repeat(BIG_TEXT[1])),
    { type: 'text', text: BIG_TEXT[0].repeat(BIG_TEXT[1]) },
    BIG_TEXT,
  ],
  [
    'file name of 255 code points outside the BMP',
    JSON.stringify(made({ ...valid[3].value, name: BIG_NAME[0].repeat(BIG_NAME[1]) }, 1)),
    { type: 'file', name: BIG_NAME[0].repeat(BIG_NAME[1]) },
    BIG_NAME,
  ],
].map(([name, json, expect, repeat]) => {
  const p = parsePayload(enc.encode(json));
  assert(p !== undefined && Object.entries(expect).every(([k, v]) => p[k] === v), `payload accept ${name}`);
  return { name, ...jsonEntry(json, repeat), expect: repeat === undefined ? expect : { type: expect.type } };
});
const reject = [
  ['unknown key', JSON.stringify({ ...made({ type: 'text', text: 'hi' }, 1), extra: true })],
  ['missing key', JSON.stringify({ type: 'text', text: 'hi', v: 1, id: ID, n: 1 })],
  ['version 2', JSON.stringify({ ...made({ type: 'text', text: 'hi' }, 1), v: 2 })],
  ['n = 0', JSON.stringify(made({ type: 'text', text: 'hi' }, 0))],
  ['n not an integer', JSON.stringify(made({ type: 'text', text: 'hi' }, 1.5))],
  ['n as a string', JSON.stringify({ ...made({ type: 'text', text: 'hi' }, 1), n: '1' })],
  ['id in upper case', JSON.stringify({ ...made({ type: 'text', text: 'hi' }, 1), id: ID.toUpperCase() })],
  ['empty text', textAt('')],
  ['text of 16385 code points', textAt('a'.repeat(16385)), ['a', 16385]],
  ['unknown type', JSON.stringify(made({ type: 'poke' }, 1))],
  ['file name of 256 code points', JSON.stringify(made({ ...valid[3].value, name: 'n'.repeat(256) }, 1)), ['n', 256]],
  ['file key not 43 base64url characters', JSON.stringify(made({ ...valid[3].value, key: valid[3].value.key + 'A' }, 1))],
  ['mime with a parameter', JSON.stringify(made({ ...valid[3].value, mime: 'text/plain; charset=utf-8' }, 1))],
  ['base64 with whitespace', JSON.stringify(made({ type: 'dm', chat: 'd0d1d2d3d4d5d6d7d8d9dadbdcdddedf', data: 'AAEA Ag==' }, 1))],
  ['reaction of two emoji (§5.4)', JSON.stringify(made({ type: 'react', target: ID, emoji: '\u{1F44D}\u{1F44D}', on: true }, 1))],
  ['reaction that is not an emoji', JSON.stringify(made({ type: 'react', target: ID, emoji: 'ok', on: true }, 1))],
  [
    'reaction of more than 32 UTF-8 bytes',
    JSON.stringify(made({ type: 'react', target: ID, emoji: '\u{1F44D}' + '\u{1F3FB}'.repeat(8), on: true }, 1)),
  ],
  ['reply to an id of the wrong length', JSON.stringify(made({ type: 'text', text: 'hi', re: 'e0e1' }, 1))],
  ['typing without on', JSON.stringify(made({ type: 'typing' }, 1))],
  ['top-level array', '[]'],
  ['bytes after the JSON value', textAt('hi') + 'x'],
].map(([name, json, repeat]) => {
  assert(parsePayload(enc.encode(json)) === undefined, `payload reject ${name}`);
  return { name, ...jsonEntry(json, repeat) };
});
const notUtf8 = {
  name: 'invalid UTF-8 (a lone continuation byte inside the text)',
  utf8: hex(concat(enc.encode('{"type":"text","text":"'), [0x80], enc.encode(`","v":1,"id":"${ID}","n":1,"ts":${TS}}`))),
};
assert(parsePayload(unhex(notUtf8.utf8)) === undefined, 'payload reject invalid UTF-8');
reject.push(notUtf8);

// ---------------------------------------------------------------- nicknames (§3.3, §3.5)

const { normalizeNick } = await import(dist('packages/crypto/dist/src/credential.js'));
const nickKey = (n) => n.normalize('NFC').toLowerCase();
const validNick = (n) => {
  try {
    return normalizeNick(n);
  } catch {
    return undefined;
  }
};
const nickValidity = [
  ['sam', true],
  ['Sa m', true],
  ['Zoe\u0308', true],
  ['\u{1F98A}'.repeat(32), true],
  ['n'.repeat(32), true],
  ['n'.repeat(33), false],
  ['e\u0301'.repeat(32), true], // 64 code points as typed, 32 after NFC
  ['', false],
  [' sam', false],
  ['sam ', false],
  ['\u00a0sam', false],
  ['sam\u3000', false],
  ['sa\u200bm', false], // ZERO WIDTH SPACE is Cf
  ['sa\u2028m', false],
  ['sa\u0007m', false],
  ['sa\ud800m', false],
].map(([nick, valid]) => {
  const out = validNick(nick);
  assert((out !== undefined) === valid, `nick validity ${JSON.stringify(nick)}`);
  return { nick_text: nick, valid, ...(valid ? { nfc_text: out } : {}) };
});
const nickKeys = ['Sam', 'ZOË', 'Zoe\u0308', '\u0130stanbul', '\u03a3\u0391\u03a3', '\u1e9e', 'Stra\u00dfe', '\u{1F98A}Fox'].map(
  (nick) => ({ nick_text: nick, key_text: nickKey(nick) }),
);
/**
 * The joiner's rule of §3.5, written out here from the spec, apart from the client's own code
 * (`uniqueNick` in packages/crypto/src/credential.ts), which packages/crypto/test/vectors.test.ts
 * checks against these vectors: two implementations of one rule.
 */
function suffixed(requested, takenKeys) {
  const taken = new Set(takenKeys);
  if (!taken.has(nickKey(requested))) return requested;
  for (let k = 2; ; k++) {
    const suffix = `-${k}`;
    const candidate = [...requested].slice(0, 32 - suffix.length).join('') + suffix;
    if (!taken.has(nickKey(candidate))) return candidate;
  }
}
const n32 = 'n'.repeat(32);
const nickSuffixes = [
  ['sam', ['bob']],
  ['sam', ['sam']],
  ['Sam', ['sam', 'sam-2']],
  ['sam', ['sam', 'sam-3']],
  ['Zo\u00eb\u{1F98A}', ['zoe\u0308\u{1F98A}'.normalize('NFC')]],
  [n32, [n32]],
  ['n'.repeat(31) + '\u{1F98A}', [nickKey('n'.repeat(31) + '\u{1F98A}')]],
  [n32, [n32, ...Array.from({ length: 8 }, (_, i) => 'n'.repeat(30) + `-${i + 2}`)]],
  ['\u5c0f\u660e', ['\u5c0f\u660e']],
].map(([requested, taken]) => {
  const result = suffixed(requested, taken);
  assert(validNick(result) === result && [...result].length <= 32, `suffix result valid: ${result}`);
  return { requested_text: requested, taken_keys_text: taken, result_text: result, result_code_points: [...result].length };
});

// ---------------------------------------------------------------- frames

const LOC = seq(32, 0x20);
const frameSamples = [
  { type: 'JOIN', reqId: 1, room: LOC },
  { type: 'CREATE', reqId: 2, room: LOC, groupInfo: seq(5, 0xf0) },
  { type: 'COMMIT', reqId: 3, room: LOC, epoch: 7, commit: seq(3, 0xc0), groupInfo: seq(2, 0xf0) },
  { type: 'APP', reqId: 0xfffffffe, room: LOC, epoch: 2 ** 53 - 1, data: seq(4, 0xd0) },
  { type: 'LEAVE', reqId: 5, room: LOC },
  { type: 'SYNC', reqId: 6, room: LOC },
  { type: 'DIRECT', reqId: 7, room: LOC, to: 3, data: new Uint8Array(0) },
  { type: 'RESUME', reqId: 8, room: LOC, slot: 2, token: seq(32, 0x90), seq: 41 },
  { type: 'JOINED', reqId: 1, room: LOC, slot: 1, members: 1, resume: seq(32, 0x90) },
  { type: 'GROUP_STATE', room: LOC, status: 2, epoch: 7, seq: 42, groupInfo: seq(5, 0xf0) },
  { type: 'DELIVER', room: LOC, seq: 43, kind: 1, epoch: 7, from: 2, data: seq(3, 0xc0) },
  { type: 'ACK', reqId: 3, seq: 43 },
  { type: 'PEER_GONE', room: LOC, slot: 2 },
  { type: 'ERROR', reqId: 3, code: 14 },
  { type: 'DIRECT_DELIVER', room: LOC, from: 2, data: seq(4, 0xd0) },
  { type: 'RESUMED', reqId: 8, room: LOC, epoch: 7, seq: 43 },
];
const jsonFrame = (f) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v instanceof Uint8Array ? hex(v) : v]));
const frames = frameSamples.map((f) => {
  const bytes = encodeFrame(f);
  assert(JSON.stringify(jsonFrame(decodeFrame(bytes))) === JSON.stringify(jsonFrame(f)), `frame ${f.type}`);
  return { name: f.type, frame: jsonFrame(f), encoded: hex(bytes) };
});
const badFrames = [
  ['unknown type 0x00', '00'],
  ['JOIN cut inside the locator', '01' + '00000001' + hex(LOC).slice(0, 20)],
  ['JOIN with a trailing byte', frames[0].encoded + '00'],
  ['APP epoch 2^53 (u64 values must be below 2^53)', '04' + '00000001' + hex(LOC) + '0020000000000000' + '00000000'],
  ['GROUP_STATE status 3', '42' + hex(LOC) + '03' + '0000000000000000' + '0000000000000000' + '00000000'],
  ['DELIVER kind 0', '43' + hex(LOC) + '0000000000000000' + '00' + '0000000000000000' + '00000000' + '00000000'],
  ['APP data declaring more bytes than the payload limit', '04' + '00000001' + hex(LOC) + '0000000000000000' + 'ffffffff'],
].map(([name, h]) => {
  let code;
  try {
    decodeFrame(unhex(h));
  } catch (e) {
    if (e instanceof ProtocolError) code = e.code;
    else throw e;
  }
  assert(code !== undefined, `bad frame ${name}`);
  return { name, encoded: h, error: code };
});

// ---------------------------------------------------------------- write or check

const out = {
  'room-secret.json': {
    ...header(
      'docs/PROTOCOL.md §3: room secret (Argon2id from room name and password, or an invite link secret) -> locator, gi_key, cred_key (HKDF-SHA-256). gi_key and cred_key are given raw, although clients keep them as non-extractable AES-256-GCM keys: sealing.json shows what they seal. `invite_reject`: invite fragments every reader refuses, among them the non-canonical spellings of a real link.',
    ),
    vectors: rooms,
    invite_reject: inviteReject,
  },
  'sealing.json': {
    ...header(
      'docs/PROTOCOL.md §3.1: Seal(key, pt, aad) = nonce || AES-256-GCM(key, nonce, pt, aad) (ciphertext || 16-byte tag). The nonce is random in real use; fixed here.',
    ),
    vectors: seals,
  },
  'credential.json': {
    ...header(
      'docs/PROTOCOL.md §3.3: the BasicCredential identity "NR2" || slot || Seal(cred_key, identity_key || binding || nick, aad), and the leaf binding signature (Ed25519, RFC 8032, deterministic). The seal nonce is random in real use; fixed here.',
    ),
    vectors: credentials,
  },
  'safety-number.json': {
    ...header(
      "docs/PROTOCOL.md §8: safety numbers from two identity keys: each side's 30 digits, the 60 digits (sorted halves), the display form, and the text the QR code encodes.",
    ),
    vectors: safety,
  },
  'room-fingerprint.json': {
    ...header(
      'docs/PROTOCOL.md §8.1: room fingerprints: HKDF-SHA256(salt empty, IKM epoch_authenticator, info "nullroom/v1/room-fingerprint" || group_id<V> || uint64 epoch, L 15), three groups of four digits (uint40 big-endian mod 10000), the display form. Clients refuse epochs above 2^53 - 1.',
    ),
    vectors: fingerprints,
  },
  'file-stream.json': {
    ...header(
      'docs/PROTOCOL.md §5.1: file STREAM over AES-256-GCM: header, payload key, per-chunk nonce and sealed chunk (blob chunk i is `sealed` of chunk i), SHA-256 of the plaintext. The file id is random in real use; fixed here. The 16-byte chunk size is the smallest allowed, used to keep the vectors short; clients send 4 MiB chunks.',
    ),
    vectors: files,
  },
  'payloads.json': {
    ...header(
      'docs/PROTOCOL.md §5: application payloads. `valid`: exact bytes our client writes (not canonical: receivers must accept any JSON text with the same value, see `accept`). `reject`: payloads every receiver refuses (BAD_PAYLOAD).',
    ),
    valid,
    accept,
    reject,
  },
  'nicknames.json': {
    ...header(
      "docs/PROTOCOL.md §3.3 and §3.5: which nicknames are valid (and their NFC form), the uniqueness key NFC(nick).toLowerCase(), and the joiner's suffix rule. The suffix vectors come from the rule as written in §3.5 (a reference implementation in scripts/make-vectors.mjs, apart from the client's uniqueNick, which the tests check against them).",
    ),
    validity: nickValidity,
    keys: nickKeys,
    suffix: nickSuffixes,
  },
  'frames.json': {
    ...header(
      'docs/PROTOCOL.md §4: one frame of each type (fields, then the encoded bytes), and malformed frames with the error a decoder reports.',
    ),
    valid: frames,
    invalid: badFrames,
  },
};

const dir = join(root, 'docs', 'vectors');
const check = process.argv.includes('--check');
let stale = 0;
if (!check) mkdirSync(dir, { recursive: true });
for (const [file, body] of Object.entries(out)) {
  const text = JSON.stringify(body, null, 2) + '\n';
  const path = join(dir, file);
  if (check) {
    let old = '';
    try {
      old = readFileSync(path, 'utf8');
    } catch {}
    if (old !== text) {
      console.error(`${file}: differs from what our code computes now`);
      stale++;
    }
  } else writeFileSync(path, text);
}
if (stale > 0) process.exit(1);
console.log(check ? 'docs/vectors: up to date' : `docs/vectors: wrote ${Object.keys(out).length} files`);
