/**
 * The frame vectors (docs/vectors/frames.json, docs/PROTOCOL.md §4 and §10): each frame encodes to
 * the published bytes and decodes back, and each malformed frame fails with the published code.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type Frame, ProtocolError, decodeFrame, encodeFrame } from '../src/index.js';

const vectors = JSON.parse(readFileSync(new URL('../../../../docs/vectors/frames.json', import.meta.url), 'utf8'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const BYTE_FIELDS = new Set(['room', 'groupInfo', 'commit', 'data', 'token', 'resume', 'ticket']);

/** The vector's fields as a frame: byte fields are hex in the file. */
const toFrame = (f: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(f).map(([k, v]) => [k, BYTE_FIELDS.has(k) ? unhex(v as string) : v])) as unknown as Frame;
const toJson = (f: Frame) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v instanceof Uint8Array ? hex(v) : v]));

describe('vectors: frames (PROTOCOL.md §4)', () => {
  for (const v of vectors.valid as { name: string; frame: Record<string, unknown>; encoded: string }[]) {
    test(v.name, () => {
      assert.equal(hex(encodeFrame(toFrame(v.frame))), v.encoded);
      assert.deepEqual(toJson(decodeFrame(unhex(v.encoded))), v.frame);
    });
  }
  for (const v of vectors.invalid as { name: string; encoded: string; error: string }[]) {
    test(`refused: ${v.name}`, () => {
      assert.throws(
        () => decodeFrame(unhex(v.encoded)),
        (e: unknown) => e instanceof ProtocolError && e.code === v.error,
      );
    });
  }
});
