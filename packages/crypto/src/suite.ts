import { type CiphersuiteImpl, type CiphersuiteName, getCiphersuiteImpl } from 'ts-mls';
import { type HashName, withFastPrimitives } from './primitives.js';

/** The default suite (RFC 9420 §17.1, 0x0001) and the post-quantum hybrid option (X-Wing). */
export const Suites = {
  default: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  postQuantum: 'MLS_256_XWING_AES256GCM_SHA512_Ed25519',
} as const satisfies Record<string, CiphersuiteName>;
export type SuiteName = (typeof Suites)[keyof typeof Suites];

const hashOf: Record<SuiteName, HashName> = { [Suites.default]: 'SHA-256', [Suites.postQuantum]: 'SHA-512' };

const cache = new Map<SuiteName, Promise<CiphersuiteImpl>>();
export function suiteImpl(name: SuiteName = Suites.default): Promise<CiphersuiteImpl> {
  let p = cache.get(name);
  if (p === undefined) {
    p = getCiphersuiteImpl(name).then((impl) => withFastPrimitives(impl, hashOf[name]));
    cache.set(name, p);
  }
  return p;
}
