/**
 * Previews of images sent from the terminal (thumbnail.ts): the web app's rules (a JPEG at most
 * 320 px on its longer side and 48 KiB), made in a worker thread from real PNG and JPEG files;
 * transparent pixels on white; anything that does not decode gets no preview.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { THUMB_MAX_BYTES, thumbnailOf } from '../src/thumbnail.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-thumb-'));

function png(width: number, height: number, pixel: (x: number, y: number) => [number, number, number, number]): string {
  const p = new PNG({ width, height });
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) p.data.set(pixel(x, y), (y * width + x) * 4);
  const path = join(dir, `${width}x${height}.png`);
  writeFileSync(path, PNG.sync.write(p));
  return path;
}

const decoded = (data: string) => jpeg.decode(Buffer.from(data, 'base64'), { useTArray: true, formatAsRGBA: true });

test('a PNG: a JPEG preview 320 px on its longer side, the shape kept, under 48 KiB, its colours kept', async () => {
  const path = png(800, 600, (x) => (x < 400 ? [200, 30, 30, 255] : [30, 30, 200, 255]));
  const t = await thumbnailOf(path, 'image/png');
  assert.ok(t !== undefined);
  assert.deepEqual([t.mime, t.w, t.h], ['image/jpeg', 320, 240]);
  const img = decoded(t.data);
  assert.deepEqual([img.width, img.height], [320, 240]);
  assert.ok(Buffer.from(t.data, 'base64').byteLength <= THUMB_MAX_BYTES);
  const at = (x: number, y: number) => [...img.data.subarray((y * 320 + x) * 4, (y * 320 + x) * 4 + 3)];
  const [r, , b] = at(40, 120);
  assert.ok(r! > 150 && b! < 80, `left is red (${at(40, 120)})`);
  const [r2, , b2] = at(280, 120);
  assert.ok(b2! > 150 && r2! < 80, `right is blue (${at(280, 120)})`);
});

test('a tall JPEG of noise (the hardest to compress): 160 × 320, still under 48 KiB', async () => {
  const width = 1000;
  const height = 2000;
  const raw = randomBytes(width * height * 4);
  const path = join(dir, 'noise.jpg');
  writeFileSync(path, jpeg.encode({ data: raw, width, height }, 90).data);
  const t = await thumbnailOf(path, 'image/jpeg');
  assert.ok(t !== undefined);
  assert.deepEqual([t.w, t.h], [160, 320]);
  assert.ok(Buffer.from(t.data, 'base64').byteLength <= THUMB_MAX_BYTES);
});

test('transparent pixels are laid on white; a small image is not enlarged', async () => {
  const t = await thumbnailOf(
    png(40, 20, () => [0, 0, 0, 0]),
    'image/png',
  );
  assert.ok(t !== undefined);
  assert.deepEqual([t.w, t.h], [40, 20]);
  const img = decoded(t.data);
  assert.ok(img.data[0]! > 240 && img.data[1]! > 240 && img.data[2]! > 240, 'white');
});

test('no preview for what does not decode, or is not a JPEG or PNG', async () => {
  const bad = join(dir, 'bad.jpg');
  writeFileSync(bad, randomBytes(5000));
  assert.equal(await thumbnailOf(bad, 'image/jpeg'), undefined);
  assert.equal(await thumbnailOf(bad, 'image/png'), undefined);
  assert.equal(
    await thumbnailOf(
      png(10, 10, () => [0, 0, 0, 255]),
      'image/gif',
    ),
    undefined,
  );
  assert.equal(await thumbnailOf(join(dir, 'missing.png'), 'image/png'), undefined);
});

/** `jpegBytes` with an EXIF block (APP1, big-endian TIFF, one IFD entry) saying orientation `o`, spliced in after SOI. */
function withOrientation(jpegBytes: Uint8Array, o: number): Buffer {
  const tiff = Buffer.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, o, 0, 0, 0, 0, 0, 0]);
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'binary'), tiff]);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff]), body]);
  return Buffer.concat([jpegBytes.subarray(0, 2), app1, jpegBytes.subarray(2)]);
}

test('a JPEG whose EXIF says "turn 90° clockwise" (a phone held upright): the preview is upright, as browsers show the photo', async () => {
  // Stored 400 × 200: red on the left, blue on the right. Shown turned clockwise: red on top.
  const width = 400;
  const height = 200;
  const raw = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) raw.set(i % width < width / 2 ? [220, 20, 20, 255] : [20, 20, 220, 255], i * 4);
  const path = join(dir, 'portrait.jpg');
  writeFileSync(path, withOrientation(jpeg.encode({ data: raw, width, height }, 90).data, 6));
  const t = await thumbnailOf(path, 'image/jpeg');
  assert.ok(t !== undefined);
  assert.deepEqual([t.w, t.h], [160, 320]);
  const img = decoded(t.data);
  const at = (x: number, y: number) => [...img.data.subarray((y * 160 + x) * 4, (y * 160 + x) * 4 + 3)];
  assert.ok(at(80, 40)[0]! > 150 && at(80, 40)[2]! < 80, `top is red (${at(80, 40)})`);
  assert.ok(at(80, 280)[2]! > 150 && at(80, 280)[0]! < 80, `bottom is blue (${at(80, 280)})`);
});
