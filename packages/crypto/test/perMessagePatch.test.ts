// The per-message pieces of the ts-mls patch (patches/README.md). ExpandWithLabel's KDFLabel and
// DeriveTreeSecret's generation are written directly instead of through composed encoders (SenderData
// key and nonce, the ratchet's key, nonce and next secret): these tests hand the patched functions a
// recording KDF and compare what they would expand with our own KDFLabel (_mlsCodec.ts, checked
// against the RFC 9420 test vectors in rfc9420SenderData.test.ts), over every length form. The
// uint16 and uint32 decoders read bytes directly instead of through a DataView made per field:
// checked against DataView at every offset of buffers and views, out of range included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CiphersuiteImpl } from 'ts-mls';
import { kdfLabel } from '../src/_mlsCodec.js';

type Kdf = CiphersuiteImpl['kdf'];
const inside = async (file: string) => import(new URL(`./${file}`, import.meta.resolve('ts-mls')).href);
type Decoder = (b: Uint8Array, offset: number) => [number, number] | undefined;
const { uint16Decoder, uint32Decoder } = (await inside('codec/number.js')) as { uint16Decoder: Decoder; uint32Decoder: Decoder };
const { expandWithLabel, deriveTreeSecret } = (await inside('crypto/kdf.js')) as {
  expandWithLabel(secret: Uint8Array, label: string, context: Uint8Array, length: number, kdf: Kdf): Promise<Uint8Array>;
  deriveTreeSecret(secret: Uint8Array, label: string, generation: number, length: number, kdf: Kdf): Promise<Uint8Array>;
};

/** A KDF whose expand returns the info it was given, and checks the secret and length passed through. */
const recording = (secret: Uint8Array, length: number): Kdf =>
  ({
    size: 32,
    expand: async (s: Uint8Array, info: Uint8Array, len: number) => {
      assert.equal(s, secret);
      assert.equal(len, length);
      return info;
    },
  }) as unknown as Kdf;

const uint32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);

test('the patched ExpandWithLabel expands with the KDFLabel of RFC 9420 §8, for every length form of label and context', async () => {
  const secret = new Uint8Array(32).fill(9);
  const labels = ['key', 'nonce', 'secret', 'application', 'a'.repeat(56), 'b'.repeat(60), 'c'.repeat(70)];
  // Context sizes at each varint boundary (1, 2 and 4 bytes of length: 16384 and above take the library's own encoders).
  const sizes = [0, 1, 32, 63, 64, 65, 300, 16383, 16384, 70_000];
  // uint16 lengths, including those that wrap as the library's uint16 does.
  const lengths = [0, 12, 16, 32, 255, 256, 65535, 65536, 65537];
  for (const label of labels)
    for (const size of sizes)
      for (const length of lengths) {
        const context = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
        const ctx = size > 65536 ? new Uint8Array(size) : context;
        const got = await expandWithLabel(secret, label, ctx, length, recording(secret, length));
        assert.deepEqual(got, kdfLabel(label, ctx, length), `${label.length}-char label, ${size}-byte context, length ${length}`);
      }
  // Asked again (the label's encoding now kept): the same.
  assert.deepEqual(await expandWithLabel(secret, 'key', uint32(7), 16, recording(secret, 16)), kdfLabel('key', uint32(7), 16));
});

test('the patched DeriveTreeSecret expands with the generation as a big-endian uint32', async () => {
  const secret = new Uint8Array(32).fill(3);
  for (const generation of [0, 1, 255, 256, 65_535, 65_536, 2 ** 24, 2 ** 31, 2 ** 32 - 1])
    for (const label of ['key', 'nonce', 'secret']) {
      const got = await deriveTreeSecret(secret, label, generation, 16, recording(secret, 16));
      assert.deepEqual(got, kdfLabel(label, uint32(generation), 16), `${label} at generation ${generation}`);
    }
});

test('the patched uint16 and uint32 decoders read what a DataView reads, and nothing out of range', () => {
  const whole = crypto.getRandomValues(new Uint8Array(40));
  // A view into a larger buffer (as a decoded message's fields are), and a small array of its own.
  for (const b of [whole, whole.subarray(5, 23), Uint8Array.of(0xff, 0xfe, 0x01), new Uint8Array(0)]) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let offset = -1; offset <= b.byteLength + 1; offset++) {
      const want16 = offset >= 0 && offset + 2 <= b.byteLength ? [view.getUint16(offset), 2] : undefined;
      const want32 = offset >= 0 && offset + 4 <= b.byteLength ? [view.getUint32(offset), 4] : undefined;
      assert.deepEqual(uint16Decoder(b, offset), want16, `uint16 at ${offset} of ${b.byteLength}`);
      assert.deepEqual(uint32Decoder(b, offset), want32, `uint32 at ${offset} of ${b.byteLength}`);
    }
  }
  assert.deepEqual(uint32Decoder(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0), [2 ** 32 - 1, 4], 'unsigned');
});
