/**
 * The primitives we put under ts-mls in place of its own (issue #14): the same algorithms and the
 * same bytes (test/suite.test.ts checks each against the library's implementation), without the
 * per-call costs that dominated a receiver's profile. ts-mls reaches every primitive through Web
 * Crypto, which in Node costs a key import, a key object and a job on the thread pool per call:
 * about 60% of what receiving a message cost, for microseconds of cryptography.
 *
 * - Hash: @noble/hashes (audited, synchronous). HMAC: node:crypto in Node, @noble/hashes elsewhere;
 *   HKDF (RFC 5869) is two lines over that HMAC. Under an epoch's sender_data_secret, which every
 *   message's SenderData is derived from, @noble/hashes' HMAC with its keyed state kept per secret
 *   (`senderDataPrimitives`, with a synchronous AES-GCM opening in Node: no await, no key object).
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
import { remembering, takeRemembered } from './receiveMemo.js';
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

/** HKDF-Expand computations (not served from what was kept for ts-mls), for tests. */
export const expandsDerived = { count: 0 };

/** RFC 5869 HKDF-Expand over `mac` (HMAC under the PRK): one call per hash-length block. */
function hkdfExpand(size: number, mac: (data: Uint8Array) => Uint8Array, info: Uint8Array, len: number): Uint8Array {
  expandsDerived.count++;
  if (len > 255 * size) throw new Error('HKDF: length too large');
  const out = new Uint8Array(len);
  const block = new Uint8Array(size + info.byteLength + 1);
  let prev = 0;
  for (let i = 1, at = 0; at < len; i++) {
    block.set(info, prev);
    block[prev + info.byteLength] = i;
    const t = mac(block.subarray(0, prev + info.byteLength + 1));
    out.set(t.subarray(0, Math.min(size, len - at)), at);
    at += size;
    block.set(t, 0);
    prev = size;
  }
  return out;
}

/** HKDF (RFC 5869) over `mac`: extract is one HMAC, expand one per hash-length block. */
function fastKdf(impl: CiphersuiteImpl, mac: Mac): CiphersuiteImpl['kdf'] {
  const size = impl.kdf.size;
  return {
    ...impl.kdf,
    extract: async (salt, ikm) => mac(salt.byteLength === 0 ? new Uint8Array(size) : salt, ikm),
    expand: async (prk, info, len) => takeRemembered(prk, info, len) ?? hkdfExpand(size, (data) => mac(prk, data), info, len),
  };
}

/**
 * HKDF-Expand under a secret used for every message of an epoch (its sender_data_secret): the
 * HMAC's keyed state (the hashes of the padded key) is computed once per secret and kept, weakly
 * by its array, as long as the secret itself lives; each expansion then hashes only its own block,
 * with no allocation but its output. @noble/hashes' HMAC, the same bytes (test/suite.test.ts).
 */
function keptKeyExpand(hash: HashName): (prk: Uint8Array, info: Uint8Array, len: number) => Uint8Array {
  const h = digests[hash];
  const keyed = new WeakMap<Uint8Array, { base: ReturnType<typeof hmac.create>; tmp: ReturnType<typeof hmac.create> }>();
  return (prk, info, len) => {
    let k = keyed.get(prk);
    if (k === undefined) {
      const base = hmac.create(h, prk);
      k = { base, tmp: base._cloneInto() };
      keyed.set(prk, k);
    }
    const { base, tmp } = k;
    return hkdfExpand(
      h.outputLen,
      (data) => {
        base._cloneInto(tmp);
        tmp.update(data);
        const out = new Uint8Array(h.outputLen);
        tmp.digestInto(out);
        return out;
      },
      info,
      len,
    );
  };
}

/** Opens `sealed` (ciphertext, then its 16-byte tag) with a decipher made for its key and nonce; a wrong tag throws. */
function gcmOpen(d: GcmDecipher, aad: Uint8Array | undefined, sealed: Uint8Array): Uint8Array {
  if (aad !== undefined) d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.byteLength - 16));
  const head = d.update(sealed.subarray(0, sealed.byteLength - 16));
  const tail = d.final();
  // GCM is a stream mode: final() gives nothing more, and the plaintext is `head`'s bytes, handed
  // out as a plain Uint8Array (a Buffer's slice() would be a view, not a copy) without copying them.
  if (tail.byteLength === 0) return new Uint8Array(head.buffer, head.byteOffset, head.byteLength);
  const out = new Uint8Array(head.byteLength + tail.byteLength);
  out.set(head, 0);
  out.set(tail, head.byteLength);
  return out;
}

/** node:crypto's name of AES-GCM for a key of this size. */
const gcmName = (key: Uint8Array) => (key.byteLength === 16 ? 'aes-128-gcm' : 'aes-256-gcm');

/** AES-GCM through node:crypto; a wrong tag throws, as Web Crypto's does. */
function nodeAead(n: NodeCrypto): Pick<CiphersuiteImpl['hpke'], 'encryptAead' | 'decryptAead'> {
  return {
    async encryptAead(key, nonce, aad, plaintext) {
      const c = n.createCipheriv(gcmName(key), key, nonce);
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
      return gcmOpen(n.createDecipheriv(gcmName(key), key, nonce), aad, ciphertext);
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
 * What reading a SenderData takes (senderData.ts), synchronously where it can be: HKDF-Expand under
 * the epoch's sender_data_secret (`keptKeyExpand`, everywhere) and, in Node, the AES-GCM opening
 * (node:crypto; undefined when the tag does not verify). Every room member does this for every message, its own and hidden ones included, and
 * each `await` and native object it spared was a measurable part of that (issue #14).
 */
export interface SenderDataPrimitives {
  expand(senderDataSecret: Uint8Array, info: Uint8Array, len: number): Uint8Array;
  open?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
}
/** By the suite's `kdf` object, which the suites derived from one (withPooledVerify) share. */
const senderDataPrimitivesOf = new WeakMap<CiphersuiteImpl['kdf'], SenderDataPrimitives>();
export const senderDataPrimitives = (cs: CiphersuiteImpl): SenderDataPrimitives | undefined => senderDataPrimitivesOf.get(cs.kdf);

function nodeOpen(n: NodeCrypto): NonNullable<SenderDataPrimitives['open']> {
  return (key, nonce, aad, sealed) => {
    if (sealed.byteLength < 16) return undefined;
    let pt: Uint8Array;
    try {
      pt = gcmOpen(n.createDecipheriv(gcmName(key), key, nonce), aad, sealed);
    } catch {
      return undefined;
    }
    return pt;
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
  const kdf = fastKdf(impl, mac);
  senderDataPrimitivesOf.set(kdf, { expand: keptKeyExpand(hash), ...(node === undefined ? {} : { open: nodeOpen(node) }) });
  return { ...impl, hash: fastHash(impl, h, mac), kdf, hpke, signature };
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
