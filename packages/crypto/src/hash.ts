/**
 * Incremental SHA-256 for whole files (the hash a file offer promises). hash-wasm's WebAssembly
 * SHA-256 runs about 2.5x faster than pure JS and works in browsers and Node alike; the Node
 * adapter may pass node:crypto's instead, which is faster still.
 */
import { createSHA256 } from 'hash-wasm';

export interface IncrementalHash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

export async function sha256Incremental(): Promise<IncrementalHash> {
  const h = await createSHA256();
  h.init();
  return {
    update: (data) => void h.update(data),
    digest: () => h.digest('binary'),
  };
}
