/**
 * The primitives we put under ts-mls in place of its own (issue #14): the same algorithms and the
 * same bytes (test/suite.test.ts checks each against the library's implementation), without the
 * per-call costs that dominated a receiver's profile. ts-mls reaches every primitive through Web
 * Crypto, which in Node costs a key import, a key object and a job on the thread pool per call:
 * about 60% of what receiving a message cost, for microseconds of cryptography.
 *
 * - Hash: @noble/hashes (audited, synchronous). HMAC: node:crypto in Node, @noble/hashes elsewhere;
 *   HKDF (RFC 5869) is two lines over that HMAC.
 * - AES-GCM: node:crypto (OpenSSL, AES-NI) in Node, synchronous; Web Crypto in browsers, as before
 *   (hardware AES, constant time: a table-based AES in JavaScript is not).
 * - Ed25519: node:crypto in Node with the key objects kept (verify keys by public key, bounded;
 *   sign keys by the private key's array, weakly); Web Crypto in browsers with the same caching of
 *   imported keys. Ed25519 is deterministic: the signatures are the library's, byte for byte.
 *
 * node:crypto is reached through `process.getBuiltinModule` (Node >= 20.16), never imported, so the
 * web bundle neither sees nor stubs it.
 */
import type { CiphersuiteImpl } from 'ts-mls';
import { equalBytes, toBase64Url, toHex } from './bytes.js';
import { type NodeX25519, opensslHpke } from './hpkeNode.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import type { CHash } from '@noble/hashes/utils.js';

type Digest = CHash;
export type HashName = 'SHA-256' | 'SHA-384' | 'SHA-512';
const digests: Record<HashName, Digest> = { 'SHA-256': sha256, 'SHA-384': sha384, 'SHA-512': sha512 };

/** What we use of node:crypto (typed here: this module imports nothing of Node's, not even types). */
type KeyObject = object;
/** MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (RFC 9420 §17.1). */
const DEFAULT_SUITE_ID = 1;

interface NodeCrypto {
  createCipheriv(alg: string, key: Uint8Array, iv: Uint8Array): GcmCipher;
  createDecipheriv(alg: string, key: Uint8Array | KeyObject, iv: Uint8Array): GcmDecipher;
  KeyObject: { from(key: CryptoKey): KeyObject };
  createHmac(alg: string, key: Uint8Array): { update(data: Uint8Array): { digest(): Uint8Array } };
  createPrivateKey(o: { key: Uint8Array; format: 'der'; type: 'pkcs8' }): KeyObject;
  createPublicKey(o: { key: { kty: 'OKP'; crv: 'Ed25519'; x: string }; format: 'jwk' }): KeyObject;
  sign(alg: null, data: Uint8Array, key: KeyObject): Uint8Array;
  verify(alg: null, data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean;
  verify(alg: null, data: Uint8Array, key: KeyObject, signature: Uint8Array, done: (err: Error | null, ok: boolean) => void): void;
}
interface GcmCipher {
  setAAD(aad: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}
interface GcmDecipher {
  setAAD(aad: Uint8Array): unknown;
  setAuthTag(tag: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}

const node: NodeCrypto | undefined = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;

/** HMAC: node:crypto's (OpenSSL, about 3x cheaper per call here) in Node, @noble/hashes' elsewhere. */
type Mac = (key: Uint8Array, data: Uint8Array) => Uint8Array;
function macOf(hash: HashName): Mac {
  if (node !== undefined) {
    const n = node;
    const alg = hash.replace('-', '').toLowerCase();
    return (key, data) => {
      const d = n.createHmac(alg, key).update(data).digest();
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    };
  }
  const h = digests[hash];
  return (key, data) => hmac(h, key, data);
}

function fastHash(impl: CiphersuiteImpl, h: Digest, mac: Mac): CiphersuiteImpl['hash'] {
  return {
    ...impl.hash,
    digest: async (data) => h(data),
    mac: async (key, data) => mac(key, data),
    verifyMac: async (key, tag, data) => equalBytes(mac(key, data), tag),
  };
}

/**
 * Expansions kept for one identical call that follows (same secret object, info and length), each
 * served once: a received message's SenderData key and nonce, which we derive to read its sender
 * before ts-mls processes it and ts-mls then derives again (senderData.ts). By secret object, a few
 * each (the oldest dropped); only what `rememberingExpand` asks for is kept (never a ratchet's secrets).
 */
const remembered = new WeakMap<Uint8Array, { info: Uint8Array; len: number; out: Uint8Array }[]>();
let remember = false;
/** HKDF-Expands computed (not served from what was kept), for tests. */
export const expandsDerived = { count: 0 };

/** Runs `f`; an HKDF-Expand of ours it makes synchronously is kept for one identical call later. */
export function rememberingExpand<T>(f: () => T): T {
  remember = true;
  try {
    return f();
  } finally {
    remember = false;
  }
}

function takeRemembered(prk: Uint8Array, info: Uint8Array, len: number): Uint8Array | undefined {
  const kept = remembered.get(prk);
  const i = kept === undefined ? -1 : kept.findIndex((r) => r.len === len && equalBytes(r.info, info));
  return i < 0 ? undefined : kept!.splice(i, 1)[0]!.out;
}

function keep(prk: Uint8Array, info: Uint8Array, len: number, out: Uint8Array): void {
  let kept = remembered.get(prk);
  if (kept === undefined) remembered.set(prk, (kept = []));
  kept.push({ info: info.slice(), len, out: out.slice() });
  if (kept.length > 8) kept.shift();
}

/** HKDF (RFC 5869) over `mac`: extract is one HMAC, expand one per hash-length block. */
function fastKdf(impl: CiphersuiteImpl, mac: Mac): CiphersuiteImpl['kdf'] {
  const size = impl.kdf.size;
  return {
    ...impl.kdf,
    extract: async (salt, ikm) => mac(salt.byteLength === 0 ? new Uint8Array(size) : salt, ikm),
    expand: async (prk, info, len) => {
      const kept = takeRemembered(prk, info, len);
      if (kept !== undefined) return kept;
      const out = expand(prk, info, len);
      if (remember) keep(prk, info, len, out);
      return out;
    },
  };

  function expand(prk: Uint8Array, info: Uint8Array, len: number): Uint8Array {
    expandsDerived.count++;
    if (len > 255 * size) throw new Error('HKDF: length too large');
    const out = new Uint8Array(len);
    const block = new Uint8Array(size + info.byteLength + 1);
    let prev = 0;
    for (let i = 1, at = 0; at < len; i++) {
      block.set(info, prev);
      block[prev + info.byteLength] = i;
      const t = mac(prk, block.subarray(0, prev + info.byteLength + 1));
      out.set(t.subarray(0, Math.min(size, len - at)), at);
      at += size;
      block.set(t, 0);
      prev = size;
    }
    return out;
  }
}

/** Opens `sealed` (ciphertext, then its 16-byte tag) with a decipher made for its key and nonce; a wrong tag throws. */
function gcmOpen(d: GcmDecipher, aad: Uint8Array | undefined, sealed: Uint8Array): Uint8Array {
  if (aad !== undefined) d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.byteLength - 16));
  const head = d.update(sealed.subarray(0, sealed.byteLength - 16));
  const tail = d.final();
  const out = new Uint8Array(head.byteLength + tail.byteLength);
  out.set(head, 0);
  out.set(tail, head.byteLength);
  return out;
}

/** AES-GCM through node:crypto; a wrong tag throws, as Web Crypto's does. */
function nodeAead(n: NodeCrypto): Pick<CiphersuiteImpl['hpke'], 'encryptAead' | 'decryptAead'> {
  const name = (key: Uint8Array) => (key.byteLength === 16 ? 'aes-128-gcm' : 'aes-256-gcm');
  return {
    async encryptAead(key, nonce, aad, plaintext) {
      const c = n.createCipheriv(name(key), key, nonce);
      if (aad !== undefined) c.setAAD(aad);
      const head = c.update(plaintext);
      const tail = c.final();
      const tag = c.getAuthTag();
      const out = new Uint8Array(head.byteLength + tail.byteLength + tag.byteLength);
      out.set(head, 0);
      out.set(tail, head.byteLength);
      out.set(tag, head.byteLength + tail.byteLength);
      return out;
    },
    async decryptAead(key, nonce, aad, ciphertext) {
      if (ciphertext.byteLength < 16) throw new Error('AES-GCM: ciphertext shorter than its tag');
      return gcmOpen(n.createDecipheriv(name(key), key, nonce), aad, ciphertext);
    },
  };
}

/** A map that forgets its oldest entry past `max` (public keys seen: bounded by the members one meets). */
class Bounded<V> extends Map<string, V> {
  constructor(private readonly max: number) {
    super();
  }
  override set(k: string, v: V): this {
    if (this.size >= this.max && !this.has(k)) this.delete(this.keys().next().value as string);
    return super.set(k, v);
  }
}

/** ts-mls's Ed25519 sign keys are PKCS#8 (48 bytes, from its keygen) or raw 32-byte seeds. */
const PKCS8_ED25519 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const pkcs8 = (k: Uint8Array) => {
  if (k.byteLength !== 32) return k;
  const out = new Uint8Array(48);
  out.set(PKCS8_ED25519, 0);
  out.set(k, 16);
  return out;
};

/** Ed25519 verify keys by public key, shared by the suite and the identity bindings (identity.ts). */
const verifyKeys = new Bounded<KeyObject>(4096);
function verifyKey(n: NodeCrypto, publicKey: Uint8Array, signature: Uint8Array): KeyObject | undefined {
  if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return undefined;
  const id = toHex(publicKey);
  let k = verifyKeys.get(id);
  if (k === undefined) {
    try {
      k = n.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(publicKey) }, format: 'jwk' });
    } catch {
      return undefined;
    }
    verifyKeys.set(id, k);
  }
  return k;
}
function nodeVerify(n: NodeCrypto, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const k = verifyKey(n, publicKey, signature);
  return k !== undefined && n.verify(null, message, k, signature);
}

/**
 * Ed25519 verification (OpenSSL's, as Node's Web Crypto does it) through node:crypto, on its thread
 * pool but without Web Crypto's key import per call; undefined outside Node. A joiner checks two
 * signatures per member of the tree: the leaf's (ts-mls, synchronously on the main thread) and the
 * identity binding (this), which ts-mls's patched tree validation lets run alongside.
 */
export const nodeEd25519Verify: ((publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Promise<boolean>) | undefined =
  node === undefined
    ? undefined
    : (publicKey, message, signature) => {
        const k = verifyKey(node, publicKey, signature);
        if (k === undefined) return Promise.resolve(false);
        return new Promise((resolve) => node.verify(null, message, k, signature, (err, ok) => resolve(err === null && ok)));
      };

/**
 * AES-256-GCM decryption under a Web Crypto key through node:crypto (its key object, kept weakly
 * per key), synchronous; undefined outside Node. `sealed` is ciphertext || tag(16). Returns
 * undefined when the tag does not verify. A joiner opens every member's credential with it.
 */
const gcmKeys = new WeakMap<CryptoKey, KeyObject>();
export const nodeAesGcmOpen: ((key: CryptoKey, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array) => Uint8Array | undefined) | undefined =
  node === undefined
    ? undefined
    : (key, iv, aad, sealed) => {
        let k = gcmKeys.get(key);
        if (k === undefined) {
          k = node.KeyObject.from(key);
          gcmKeys.set(key, k);
        }
        try {
          return gcmOpen(node.createDecipheriv(`aes-${(key.algorithm as AesKeyAlgorithm).length}-gcm`, k, iv), aad, sealed);
        } catch {
          return undefined;
        }
      };

function nodeEd25519(n: NodeCrypto, impl: CiphersuiteImpl): CiphersuiteImpl['signature'] {
  const signKeys = new WeakMap<Uint8Array, KeyObject>();
  return {
    ...impl.signature,
    async sign(signKey, message) {
      let k = signKeys.get(signKey);
      if (k === undefined) {
        k = n.createPrivateKey({ key: pkcs8(signKey), format: 'der', type: 'pkcs8' });
        signKeys.set(signKey, k);
      }
      const sig = n.sign(null, message, k);
      return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
    },
    async verify(publicKey, message, signature) {
      return nodeVerify(n, publicKey, message, signature);
    },
  };
}

function webEd25519(impl: CiphersuiteImpl): CiphersuiteImpl['signature'] {
  const subtle = globalThis.crypto.subtle;
  const verifyKeys = new Bounded<Promise<CryptoKey>>(4096);
  const signKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();
  return {
    ...impl.signature,
    async sign(signKey, message) {
      let k = signKeys.get(signKey);
      if (k === undefined) {
        k = subtle.importKey('pkcs8', pkcs8(signKey) as Uint8Array<ArrayBuffer>, 'Ed25519', false, ['sign']);
        signKeys.set(signKey, k);
      }
      return new Uint8Array(await subtle.sign('Ed25519', await k, message as Uint8Array<ArrayBuffer>));
    },
    async verify(publicKey, message, signature) {
      const id = toHex(publicKey);
      let k = verifyKeys.get(id);
      if (k === undefined) {
        k = subtle.importKey('raw', publicKey as Uint8Array<ArrayBuffer>, 'Ed25519', false, ['verify']);
        verifyKeys.set(id, k);
      }
      let key: CryptoKey;
      try {
        key = await k;
      } catch {
        verifyKeys.delete(id);
        return false;
      }
      return subtle.verify('Ed25519', key, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>);
    },
  };
}

/**
 * What the AEAD last opened, by the ciphertext's array (weakly held), with the key, nonce and AAD
 * it opened under. ts-mls opens a PrivateMessage's SenderData but does not return the sender's
 * leaf: senderData.ts finds the plaintext here when ts-mls passed that very array (it does), and
 * opens it again otherwise. The other way round, a room message whose SenderData the client opened
 * first (to tell a hidden private message from a member's, roomGroup.ts) is not opened a second
 * time by ts-mls: the same array under the same key, nonce and AAD gives what it gave. Only
 * ciphertexts of a sealed SenderData's size (12 bytes and a 16-byte tag) are remembered: message
 * contents and their keys are not kept past their use.
 */
const SEALED_SENDER_DATA = 28;
const opened = new WeakMap<Uint8Array, { key: Uint8Array; nonce: Uint8Array; aad: Uint8Array | undefined; pt: Uint8Array }>();
export const openedBefore = (ciphertext: Uint8Array): Uint8Array | undefined => opened.get(ciphertext)?.pt;

const sameAad = (a: Uint8Array | undefined, b: Uint8Array | undefined) => (a === undefined || b === undefined ? a === b : equalBytes(a, b));

function remembering(hpke: CiphersuiteImpl['hpke']): CiphersuiteImpl['hpke'] {
  const open = hpke.decryptAead;
  return {
    ...hpke,
    async decryptAead(key, nonce, aad, ciphertext) {
      const seen = opened.get(ciphertext);
      if (seen !== undefined && equalBytes(seen.key, key) && equalBytes(seen.nonce, nonce) && sameAad(seen.aad, aad)) return seen.pt;
      const pt = await open(key, nonce, aad, ciphertext);
      if (ciphertext.byteLength === SEALED_SENDER_DATA)
        opened.set(ciphertext, { key: key.slice(), nonce: nonce.slice(), aad: aad?.slice(), pt });
      return pt;
    },
  };
}

/** `impl` with our primitives under it (the same algorithms: `hash` names the suite's hash). */
export function withFastPrimitives(impl: CiphersuiteImpl, hash: HashName): CiphersuiteImpl {
  const h = digests[hash];
  const mac = macOf(hash);
  // The default suite's HPKE (X25519) over node:crypto too (hpkeNode.ts); the PQ suite's KEM stays the library's.
  const aead = node === undefined ? undefined : nodeAead(node);
  const base =
    aead !== undefined && impl.id === DEFAULT_SUITE_ID ? opensslHpke(node as unknown as NodeX25519, mac, impl.hpke, aead) : impl.hpke;
  const hpke = remembering(aead === undefined ? base : { ...base, ...aead });
  const signature = node === undefined ? webEd25519(impl) : nodeEd25519(node, impl);
  return { ...impl, hash: fastHash(impl, h, mac), kdf: fastKdf(impl, mac), hpke, signature };
}

/**
 * The suite with its Ed25519 verification on node:crypto's thread pool (`nodeEd25519Verify`, the
 * same OpenSSL check) instead of the main thread; the suite itself outside Node. For joins: the
 * patched tree validation starts every leaf's check at once, so the pool's threads verify the leaf
 * signatures while the main thread decodes, opens credentials and hashes the tree. A received
 * message's single signature stays on the main thread (withFastPrimitives), where it costs no dispatch.
 */
export function withPooledVerify(impl: CiphersuiteImpl): CiphersuiteImpl {
  return nodeEd25519Verify === undefined ? impl : { ...impl, signature: { ...impl.signature, verify: nodeEd25519Verify } };
}

/** Whether node:crypto carries AES-GCM and Ed25519 here (else Web Crypto does). */
export const nativeNodeCrypto = node !== undefined;
