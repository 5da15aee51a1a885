/**
 * HPKE for the default suite (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM) with
 * the X25519 and HMAC of node:crypto under @hpke/core's own construction (issue #14). ts-mls's HPKE
 * goes through Web Crypto: every X25519 operation imports a PKCS#8 key (OpenSSL's decoder: about
 * 0.6 ms each here) and every HKDF step imports an HMAC key; processing another member's join at
 * 40 members spent a third of its time there. The KEM, key schedule and encryption context stay
 * the library's (`Dhkem`, `CipherSuite`); only the curve, the HMAC and the AES-GCM under them change, and the
 * object handed to ts-mls mirrors its own (`makeGenericHpke`). test/hpke.test.ts checks every
 * operation against ts-mls's own HPKE, both ways.
 *
 * Used in Node only (primitives.ts), where node:crypto is there; browsers keep Web Crypto's.
 */
import {
  type AeadEncryptionContext,
  AeadId,
  type AeadInterface,
  Dhkem,
  HkdfSha256Native,
  KemId,
  XCurveDhkemPrimitives,
  type MontgomeryECDH,
} from '@hpke/common';
import { CipherSuite } from '@hpke/core';
import { type CiphersuiteImpl, CryptoError } from 'ts-mls';
import { fromBase64Url, toBase64Url } from './bytes.js';

type Hpke = CiphersuiteImpl['hpke'];
type X25519Key = { export(o: { format: 'jwk' }): { x?: string } };

/** What we use of node:crypto here (typed, never imported: this package runs in browsers too). */
export interface NodeX25519 {
  createPrivateKey(o: { key: { kty: 'OKP'; crv: 'X25519'; d: string; x: string }; format: 'jwk' }): X25519Key;
  createPublicKey(o: X25519Key | { key: { kty: 'OKP'; crv: 'X25519'; x: string }; format: 'jwk' }): X25519Key;
  diffieHellman(o: { privateKey: X25519Key; publicKey: X25519Key }): Uint8Array;
}

const NO_X = toBase64Url(new Uint8Array(32));

/**
 * X25519 (RFC 7748) through OpenSSL. A private key is imported as a JWK, whose `d` OpenSSL takes
 * as the raw scalar; the `x` a JWK must carry is not read for a private key (OpenSSL derives the
 * public key from `d`; the tests check the public keys against the library's), and this is about
 * fifteen times cheaper than a PKCS#8 import.
 */
function opensslX25519(n: NodeX25519): MontgomeryECDH {
  const secret = (sk: Uint8Array) => n.createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: toBase64Url(sk), x: NO_X }, format: 'jwk' });
  const publicKey = (sk: Uint8Array) => fromBase64Url(n.createPublicKey(secret(sk)).export({ format: 'jwk' }).x ?? '');
  return {
    getPublicKey: publicKey,
    getSharedSecret(sk, pk) {
      const peer = n.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: toBase64Url(pk) }, format: 'jwk' });
      const shared = Uint8Array.from(n.diffieHellman({ privateKey: secret(sk), publicKey: peer }));
      // A small-order public key gives all zeros (RFC 7748 §6.1): refused, as the library's curve does.
      if (shared.every((b) => b === 0)) throw new Error('X25519: all-zero shared secret');
      return shared;
    },
    utils: { randomSecretKey: async () => globalThis.crypto.getRandomValues(new Uint8Array(32)) },
  } as Partial<MontgomeryECDH> as MontgomeryECDH;
}

type Mac = (key: Uint8Array, data: Uint8Array) => Uint8Array;

/** @hpke's HKDF-SHA256 with its HMAC replaced (its labels and layout unchanged). */
class MacHkdfSha256 extends HkdfSha256Native {
  constructor(private readonly mac: Mac) {
    super();
  }
  override async extract(salt: ArrayBuffer, ikm: ArrayBuffer): Promise<ArrayBuffer> {
    const s = salt.byteLength === 0 ? new Uint8Array(this.hashSize) : new Uint8Array(salt);
    return this.mac(s, new Uint8Array(ikm)).slice().buffer as ArrayBuffer;
  }
  override async expand(prk: ArrayBuffer, info: ArrayBuffer, len: number): Promise<ArrayBuffer> {
    if (len > 255 * this.hashSize) throw new Error('Entropy limit reached');
    const key = new Uint8Array(prk);
    const mid = new Uint8Array(info);
    const out = new Uint8Array(len);
    let prev: Uint8Array = new Uint8Array(0);
    for (let i = 1, at = 0; at < len; i++) {
      const block = new Uint8Array(prev.byteLength + mid.byteLength + 1);
      block.set(prev, 0);
      block.set(mid, prev.byteLength);
      block[block.byteLength - 1] = i;
      prev = this.mac(key, block);
      out.set(prev.subarray(0, Math.min(prev.byteLength, len - at)), at);
      at += prev.byteLength;
    }
    return out.buffer;
  }
  override async extractAndExpand(salt: ArrayBuffer, ikm: ArrayBuffer, info: ArrayBuffer, len: number): Promise<ArrayBuffer> {
    return this.expand(await this.extract(salt, ikm), info, len);
  }
}

/** DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1: Nsecret, Nenc, Npk, Nsk are 32), as @hpke's own declares it. */
class OpensslDhkemX25519 extends Dhkem {
  override readonly id = KemId.DhkemX25519HkdfSha256;
  override readonly secretSize = 32;
  override readonly encSize = 32;
  override readonly publicKeySize = 32;
  override readonly privateKeySize = 32;
  constructor(n: NodeX25519, mac: Mac) {
    const kdf = new MacHkdfSha256(mac);
    super(KemId.DhkemX25519HkdfSha256, new XCurveDhkemPrimitives('X25519', 32, opensslX25519(n), kdf), kdf);
  }
}

const buf = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;
const view = (b: ArrayBufferLike | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b);

/** The AES-GCM we give ts-mls (node:crypto's, primitives.ts), as ts-mls's HPKE object names it. */
type Aead = Pick<Hpke, 'encryptAead' | 'decryptAead'>;

/**
 * AES-128-GCM (RFC 9180 AEAD 0x0001) through `aead`, node:crypto's, in place of @hpke's Web Crypto
 * one (a key import and a job on the thread pool per context). An HPKE context's key is kept for its
 * life, as @hpke's own keeps its imported key; a wrong tag throws, as Web Crypto's does.
 */
class NodeAes128Gcm implements AeadInterface {
  readonly id = AeadId.Aes128Gcm;
  readonly keySize = 16;
  readonly nonceSize = 12;
  readonly tagSize = 16;
  constructor(private readonly aead: Aead) {}
  createEncryptionContext(key: ArrayBufferLike | ArrayBufferView): AeadEncryptionContext {
    const k = view(key).slice();
    const aead = this.aead;
    return {
      seal: async (iv, data, aad) => buf(await aead.encryptAead(k, view(iv), view(aad), view(data))),
      open: async (iv, data, aad) => buf(await aead.decryptAead(k, view(iv), view(aad), view(data))),
    };
  }
}
/** As ts-mls's own HPKE reports a failure. */
const fail = (e: unknown) => new CryptoError(`${e}`);

/**
 * ts-mls's HPKE object for the default suite over node:crypto: `stock` is ts-mls's own (its AEAD
 * entries are kept: primitives.ts puts node:crypto's there); `aead` is node:crypto's AES-GCM, also
 * used inside HPKE.
 */
export function opensslHpke(n: NodeX25519, mac: Mac, stock: Hpke, aead: Aead): Hpke {
  const cs = new CipherSuite({ kem: new OpensslDhkemX25519(n, mac), kdf: new MacHkdfSha256(mac), aead: new NodeAes128Gcm(aead) });
  const kem = cs.kem;
  type Key = Parameters<Hpke['open']>[0];
  return {
    ...stock,
    async open(privateKey, kemOutput, ciphertext, info, aad) {
      try {
        const pt = await cs.open(
          { recipientKey: privateKey, enc: buf(kemOutput), info: buf(info) },
          buf(ciphertext),
          aad ? buf(aad) : new ArrayBuffer(0),
        );
        return new Uint8Array(pt);
      } catch (e) {
        throw fail(e);
      }
    },
    async seal(publicKey, plaintext, info, aad) {
      const r = await cs.seal({ recipientPublicKey: publicKey, info: buf(info) }, buf(plaintext), aad ? buf(aad) : new ArrayBuffer(0));
      return { ct: new Uint8Array(r.ct), enc: new Uint8Array(r.enc) };
    },
    async exportSecret(publicKey, exporterContext, length, info) {
      const ctx = await cs.createSenderContext({ recipientPublicKey: publicKey, info: buf(info) });
      return { enc: new Uint8Array(ctx.enc), secret: new Uint8Array(await ctx.export(buf(exporterContext), length)) };
    },
    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      try {
        const ctx = await cs.createRecipientContext({ recipientKey: privateKey, info: buf(info), enc: buf(kemOutput) });
        return new Uint8Array(await ctx.export(buf(exporterContext), length));
      } catch (e) {
        throw fail(e);
      }
    },
    async importPrivateKey(k) {
      try {
        return (await kem.deserializePrivateKey(buf(k))) as Key;
      } catch (e) {
        throw fail(e);
      }
    },
    async importPublicKey(k) {
      try {
        return (await kem.deserializePublicKey(buf(k))) as Parameters<Hpke['seal']>[0];
      } catch (e) {
        throw fail(e);
      }
    },
    exportPublicKey: async (k) => new Uint8Array(await kem.serializePublicKey(k)),
    exportPrivateKey: async (k) => new Uint8Array(await kem.serializePrivateKey(k)),
    async deriveKeyPair(ikm) {
      const kp = await kem.deriveKeyPair(buf(ikm));
      return { privateKey: kp.privateKey as Key, publicKey: kp.publicKey as Parameters<Hpke['seal']>[0] };
    },
    async generateKeyPair() {
      const kp = await kem.generateKeyPair();
      return { privateKey: kp.privateKey as Key, publicKey: kp.publicKey as Parameters<Hpke['seal']>[0] };
    },
  };
}
