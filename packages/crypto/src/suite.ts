import { type CiphersuiteImpl, type CiphersuiteName, getCiphersuiteImpl } from 'ts-mls';

/** The default suite (RFC 9420 §17.1, 0x0001) and the post-quantum hybrid option (X-Wing). */
export const Suites = {
  default: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  postQuantum: 'MLS_256_XWING_AES256GCM_SHA512_Ed25519',
} as const satisfies Record<string, CiphersuiteName>;
export type SuiteName = (typeof Suites)[keyof typeof Suites];

const cache = new Map<SuiteName, Promise<CiphersuiteImpl>>();
export function suiteImpl(name: SuiteName = Suites.default): Promise<CiphersuiteImpl> {
  let p = cache.get(name);
  if (p === undefined) {
    p = getCiphersuiteImpl(name);
    cache.set(name, p);
  }
  return p;
}
