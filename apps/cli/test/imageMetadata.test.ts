/**
 * Photos leave the terminal without their metadata (imageMetadata.ts), as they leave the web app:
 * EXIF (GPS), XMP, IPTC and comments out of a JPEG, text chunks out of a PNG, the pixels the same
 * bytes, the orientation kept; and end to end, a file received from a terminal holds none of it
 * unless its sender said --keep-metadata.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import exifr from 'exifr';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { jpegWithoutMetadata, orientationSegment, pngWithoutMetadata } from '../src/imageMetadata.js';
import { run, serveProc } from './_spawn.js';

const CANARY = 'GPS-CANARY-51.5007N';
const enc = new TextEncoder();
const has = (b: Uint8Array, s: string) => Buffer.from(b).includes(s);

/** An APPn segment with `body`. */
const segment = (marker: number, body: Uint8Array) => {
  const len = body.length + 2;
  return Uint8Array.from([0xff, marker, len >> 8, len & 0xff, ...body]);
};

/** A JPEG with EXIF (orientation `o` and the canary as ImageDescription), XMP, IPTC and a comment. */
function photo(o: number): { bytes: Uint8Array; plain: Uint8Array } {
  const raw = new Uint8Array(64 * 48 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 13) % 256));
  const plain = new Uint8Array(jpeg.encode({ data: raw, width: 64, height: 48 }, 90).data);
  const desc = enc.encode(`${CANARY}\0`);
  // Big-endian TIFF: IFD0 with Orientation and ImageDescription (its text after the IFD).
  const tiff = [0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 2];
  tiff.push(0x01, 0x0e, 0, 2, 0, 0, 0, desc.length, 0, 0, 0, 8 + 2 + 24 + 4);
  tiff.push(0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, o, 0, 0);
  tiff.push(0, 0, 0, 0, ...desc);
  const exif = segment(0xe1, Uint8Array.from([...enc.encode('Exif\0\0'), ...tiff]));
  const xmp = segment(0xe1, enc.encode(`http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>${CANARY}</x:xmpmeta>`));
  const iptc = segment(0xed, enc.encode(`Photoshop 3.0\0${CANARY}`));
  const com = segment(0xfe, enc.encode(CANARY));
  const bytes = Uint8Array.from([...plain.subarray(0, 2), ...exif, ...xmp, ...iptc, ...com, ...plain.subarray(2)]);
  return { bytes, plain };
}

test('a JPEG: EXIF, XMP, IPTC and comments go, the pixels are the same bytes, the orientation stays', async () => {
  const { bytes } = photo(6);
  assert.ok(has(bytes, CANARY));
  assert.equal(await exifr.orientation(bytes), 6);
  const out = jpegWithoutMetadata(bytes, 6);
  assert.ok(out !== undefined);
  assert.ok(!has(out, CANARY), 'no metadata left');
  assert.equal(await exifr.orientation(out), 6, 'still shown the right way up');
  assert.deepEqual(jpeg.decode(out, { useTArray: true }).data, jpeg.decode(bytes, { useTArray: true }).data, 'the same pixels');
  // Upright: no EXIF at all.
  const upright = jpegWithoutMetadata(photo(1).bytes, 1)!;
  assert.ok(!has(upright, 'Exif'));
  assert.deepEqual(orientationSegment(3).subarray(0, 4), Uint8Array.from([0xff, 0xe1, 0, 34]));
  for (const bad of [new Uint8Array(0), enc.encode('not a jpeg'), bytes.subarray(0, 30)]) assert.equal(jpegWithoutMetadata(bad), undefined);
});

/** CRC-32 of a PNG chunk's type and data (ISO 3309). */
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const body = Uint8Array.from([...enc.encode(type), ...data]);
  const out = new Uint8Array(12 + data.length);
  new DataView(out.buffer).setUint32(0, data.length);
  out.set(body, 4);
  new DataView(out.buffer).setUint32(8 + data.length, crc32(body));
  return out;
}

test('a PNG: text, EXIF and time chunks go, every other chunk stays as it was', () => {
  const p = new PNG({ width: 8, height: 8 });
  p.data.fill(200);
  const plain = new Uint8Array(PNG.sync.write(p));
  const extra = [chunk('tEXt', enc.encode(`Comment\0${CANARY}`)), chunk('eXIf', enc.encode(CANARY)), chunk('tIME', new Uint8Array(7))];
  const bytes = Uint8Array.from([...plain.subarray(0, 33), ...extra.flatMap((c) => [...c]), ...plain.subarray(33)]);
  assert.ok(has(bytes, CANARY));
  const out = pngWithoutMetadata(bytes);
  assert.ok(out !== undefined);
  assert.ok(!has(out, CANARY));
  assert.deepEqual(out, plain, 'exactly the file without those chunks');
  assert.equal(pngWithoutMetadata(enc.encode('not a png')), undefined);
});

test('end to end: a photo a terminal sends arrives without its metadata, unless --keep-metadata', async () => {
  const { proc: relay, url } = await serveProc();
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-meta-'));
  const PW = { NULLROOM_PASSWORD: 'metadata stays home 7731' };
  const path = join(dir, 'holiday.jpg');
  writeFileSync(path, photo(6).bytes);
  try {
    for (const keep of [false, true]) {
      const down = mkdtempSync(join(dir, 'down-'));
      const recv = run(['chat', url, '--room', `meta-${keep}`, '--nick', 'bob', '--json', '--download-dir', down], PW);
      await recv.waitFor((e) => e['event'] === 'joined', 'bob joined', 30_000);
      const send = run(['chat', url, '--room', `meta-${keep}`, '--nick', 'alice', '--json', ...(keep ? ['--keep-metadata'] : [])], PW);
      await send.waitFor((e) => e['event'] === 'joined', 'alice joined', 30_000);
      await recv.waitFor((e) => e['event'] === 'member-joined', 'bob sees alice');
      send.child.stdin.write(`/send ${path}\n`);
      await recv.waitFor((e) => e['event'] === 'file' && e['name'] === 'holiday.jpg', 'bob has the file', 30_000);
      const got = new Uint8Array(readFileSync(join(down, readdirSync(down).find((n) => n.endsWith('.jpg'))!)));
      assert.equal(has(got, CANARY), keep, keep ? 'kept when asked' : 'no metadata reached the other member');
      assert.equal(await exifr.orientation(got), 6, 'upright either way');
      for (const p of [send, recv]) p.child.stdin.end();
      for (const p of [send, recv]) await p.exited;
    }
  } finally {
    relay.child.kill('SIGTERM');
  }
});
