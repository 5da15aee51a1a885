/**
 * What a receiver keeps of its own SenderData work for ts-mls, which does the same work again next
 * (issue #14). The room reads a PrivateMessage's SenderData before ts-mls processes it (to tell a
 * hidden private message, or a leaf beyond the tree: roomGroup.ts, hiddenMessage.ts), and ts-mls
 * then derives the same SenderData key and nonce and opens the same SenderData. Both are served
 * from here once, the same bytes, instead of being computed twice.
 *
 * Nothing here outlives what it was computed from: expansions are kept by the secret's array and
 * openings by the ciphertext's array, weakly, a few each; a ratchet's secrets and message contents
 * are never kept (only what `rememberExpansion` is given, and only ciphertexts of a sealed
 * SenderData's size).
 */
import type { CiphersuiteImpl } from 'ts-mls';
import { equalBytes } from './bytes.js';

/** Expansions kept for one identical call that follows (same secret object, info and length), each served once. */
const remembered = new WeakMap<Uint8Array, { info: Uint8Array; len: number; out: Uint8Array }[]>();

/** Keeps HKDF-Expand(prk, info, len) = out for one identical call later (`takeRemembered`). */
export function rememberExpansion(prk: Uint8Array, info: Uint8Array, len: number, out: Uint8Array): void {
  let kept = remembered.get(prk);
  if (kept === undefined) remembered.set(prk, (kept = []));
  kept.push({ info: info.slice(), len, out: out.slice() });
  if (kept.length > 8) kept.shift();
}

/** What `rememberExpansion` kept for this very call, handed out once; undefined otherwise. */
export function takeRemembered(prk: Uint8Array, info: Uint8Array, len: number): Uint8Array | undefined {
  const kept = remembered.get(prk);
  const i = kept === undefined ? -1 : kept.findIndex((r) => r.len === len && equalBytes(r.info, info));
  return i < 0 ? undefined : kept!.splice(i, 1)[0]!.out;
}

/**
 * What the AEAD last opened, by the ciphertext's array (weakly held), with the key, nonce and AAD
 * it opened under. ts-mls opens a PrivateMessage's SenderData but does not return the sender's
 * leaf: senderData.ts finds the plaintext here when ts-mls passed that very array (it does), and
 * opens it again otherwise. The other way round, a room message whose SenderData the client opened
 * first is not opened a second time by ts-mls: the same array under the same key, nonce and AAD
 * gives what it gave. Only ciphertexts of a sealed SenderData's size (12 bytes and a 16-byte tag)
 * are remembered: message contents and their keys are not kept past their use.
 */
const SEALED_SENDER_DATA = 28;
const opened = new WeakMap<Uint8Array, { key: Uint8Array; nonce: Uint8Array; aad: Uint8Array | undefined; pt: Uint8Array }>();
export const openedBefore = (ciphertext: Uint8Array): Uint8Array | undefined => opened.get(ciphertext)?.pt;

/** Records that `ciphertext` opened to `pt` under this key, nonce and AAD (a sealed SenderData only). */
export function recordOpened(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array | undefined,
  ciphertext: Uint8Array,
  pt: Uint8Array,
): void {
  if (ciphertext.byteLength === SEALED_SENDER_DATA)
    opened.set(ciphertext, { key: key.slice(), nonce: nonce.slice(), aad: aad?.slice(), pt });
}

const sameAad = (a: Uint8Array | undefined, b: Uint8Array | undefined) => (a === undefined || b === undefined ? a === b : equalBytes(a, b));

/** `hpke` whose AEAD opening answers from what was opened before, and records what it opens. */
export function remembering(hpke: CiphersuiteImpl['hpke']): CiphersuiteImpl['hpke'] {
  const open = hpke.decryptAead;
  return {
    ...hpke,
    async decryptAead(key, nonce, aad, ciphertext) {
      const seen = opened.get(ciphertext);
      if (seen !== undefined && equalBytes(seen.key, key) && equalBytes(seen.nonce, nonce) && sameAad(seen.aad, aad)) return seen.pt;
      const pt = await open(key, nonce, aad, ciphertext);
      recordOpened(key, nonce, aad, ciphertext, pt);
      return pt;
    },
  };
}
