/**
 * The application payload vectors (docs/vectors/payloads.json, docs/PROTOCOL.md §5 and §10): our
 * encoder writes exactly the published bytes, our parser accepts every other encoding of the same
 * value that the spec allows (key order, whitespace, escapes, limits counted in code points), and
 * refuses every payload the spec refuses. The limits count code points: zod 4.6.7's `min`/`max`
 * do (earlier zod counted UTF-16 units, and would refuse 16384 emoji); these vectors pin that.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type Payload, encodePayload, parsePayload } from '../src/payload.js';

const vectors = JSON.parse(readFileSync(new URL('../../../../docs/vectors/payloads.json', import.meta.url), 'utf8'));
const enc = new TextEncoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface JsonEntry {
  name: string;
  json_text?: string;
  json_text_template?: string;
  repeat?: { unit: string; times: number };
  utf8?: string;
}
/** The bytes a vector stands for (a long one is a template with `{REPEAT}`). */
function bytesOf(v: JsonEntry): Uint8Array {
  if (v.utf8 !== undefined) return new Uint8Array(Buffer.from(v.utf8, 'hex'));
  if (v.json_text !== undefined) return enc.encode(v.json_text);
  return enc.encode(v.json_text_template!.replace('{REPEAT}', v.repeat!.unit.repeat(v.repeat!.times)));
}

describe('vectors: payloads our client writes (PROTOCOL.md §5)', () => {
  for (const v of vectors.valid as (JsonEntry & { value: Payload; utf8: string })[]) {
    test(v.name, () => {
      const bytes = encodePayload(v.value);
      assert.equal(hex(bytes), v.utf8);
      assert.equal(new TextDecoder().decode(bytes), v.json_text);
      assert.deepEqual(parsePayload(bytes), v.value);
    });
  }
});

describe('vectors: other encodings every receiver accepts', () => {
  for (const v of vectors.accept as (JsonEntry & { expect: Record<string, unknown> })[]) {
    test(v.name, () => {
      const p = parsePayload(bytesOf(v)) as Record<string, unknown> | undefined;
      assert.ok(p !== undefined, 'accepted');
      for (const [k, x] of Object.entries(v.expect)) assert.equal(p[k], x, k);
      if (v.repeat !== undefined) {
        const field = p.type === 'text' ? 'text' : 'name';
        assert.equal(p[field], v.repeat.unit.repeat(v.repeat.times));
      }
    });
  }
});

describe('vectors: payloads every receiver refuses (BAD_PAYLOAD)', () => {
  for (const v of vectors.reject as JsonEntry[]) {
    test(v.name, () => assert.equal(parsePayload(bytesOf(v)), undefined));
  }
});
