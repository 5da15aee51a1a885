/**
 * The byte encodings the client writes into payloads and keys. One copy lives in the crypto
 * package (bytes.ts, on the noble utilities); this module names the ones the client uses so its
 * files import them from one place. Decoders throw a SyntaxError on text that is not their
 * encoding; callers reading the network or the disk validate first and map that to their own code.
 * Imported through the `bytes` entry, not the package index, so that the chunk worker (chunks.ts)
 * does not load the MLS library for a hex string.
 */
export {
  toHex,
  fromHex,
  randomBytes,
  randomHex,
  equalBytes,
  toBase64,
  fromBase64,
  toBase64Url,
  fromBase64Url,
} from '@nullroom/crypto/bytes';
