/**
 * A preview for a JPEG or PNG sent from the terminal, by the web app's rules (thumbnailOf in
 * apps/web/src/browserFiles.ts): a JPEG at most 320 px on its longer side and 48 KiB, carried inside
 * the MLS message, so that browsers show the image before anyone fetches it. Decoded and encoded in
 * pure JavaScript (jpeg-js, pngjs: no native code), in a worker thread, so that a large photo does
 * not stall the chat. A JPEG's EXIF orientation (exifr) is applied, as browsers apply it to the full
 * image, so a phone's portrait photo is upright in its preview too. Anything that does not decode, is
 * too large to decode cheaply, or takes too long is sent without a preview, as the web app does.
 *
 * The file itself leaves without its metadata (imageMetadata.ts).
 */
import { readFile, stat } from 'node:fs/promises';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Thumbnail } from '@nullroom/client';
import exifr from 'exifr';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** Longer side of the preview (px) and its largest size (bytes), as in the web app. */
export const THUMB_SIDE = 320;
export const THUMB_MAX_BYTES = 48 * 1024;
/** Larger sources are sent without a preview: decoding them would take seconds and much memory. */
const MAX_SOURCE_BYTES = 32 * 1024 * 1024;
const MAX_MEGAPIXELS = 50;
const WORKER_TIMEOUT_MS = 15_000;

interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Box-filter downscale of RGBA pixels to `tw`×`th`, transparent pixels laid on white (JPEG has no alpha). */
export function downscale(src: Rgba, tw: number, th: number): Uint8Array {
  const { width: w, height: h, data } = src;
  const sums = new Float64Array(tw * th * 3);
  const counts = new Uint32Array(tw * th);
  for (let y = 0; y < h; y++) {
    const ty = Math.min(th - 1, Math.floor((y * th) / h));
    for (let x = 0; x < w; x++) {
      const tx = Math.min(tw - 1, Math.floor((x * tw) / w));
      const s = (y * w + x) * 4;
      const a = data[s + 3]! / 255;
      const t = ty * tw + tx;
      for (let c = 0; c < 3; c++) sums[t * 3 + c]! += data[s + c]! * a + 255 * (1 - a);
      counts[t]!++;
    }
  }
  const out = new Uint8Array(tw * th * 4);
  for (let t = 0; t < tw * th; t++) {
    const n = Math.max(1, counts[t]!);
    for (let c = 0; c < 3; c++) out[t * 4 + c] = Math.round(sums[t * 3 + c]! / n);
    out[t * 4 + 3] = 255;
  }
  return out;
}

/**
 * RGBA pixels turned as EXIF orientation `o` (1-8, TIFF 6.0 tag 0x0112) says they are shown: 2 and 4
 * mirror, 3 turns 180°, 6 turns 90° clockwise, 8 counter-clockwise, 5 and 7 swap the axes.
 */
export function oriented(src: Rgba, o: number): Rgba {
  if (o < 2 || o > 8) return src;
  const { width: w, height: h, data } = src;
  const swap = o >= 5;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const out = new Uint8Array(ow * oh * 4);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // Where output pixel (x, y) comes from in the stored image.
      const [sx, sy] = [
        [x, y],
        [x, y],
        [w - 1 - x, y],
        [w - 1 - x, h - 1 - y],
        [x, h - 1 - y],
        [y, x],
        [y, h - 1 - x],
        [w - 1 - y, h - 1 - x],
        [w - 1 - y, x],
      ][o]!;
      out.set(data.subarray((sy! * w + sx!) * 4, (sy! * w + sx!) * 4 + 4), (y * ow + x) * 4);
    }
  }
  return { width: ow, height: oh, data: out };
}

/** The preview of an image's bytes (`orientation`: its EXIF orientation), or undefined when they do not decode as `mime`. */
export function makeThumbnail(bytes: Uint8Array, mime: string, orientation = 1): Thumbnail | undefined {
  let img: Rgba;
  if (mime === 'image/jpeg') {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: 512 });
  } else if (mime === 'image/png') {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (png.width * png.height > MAX_MEGAPIXELS * 1e6) return undefined;
    img = { width: png.width, height: png.height, data: png.data };
  } else return undefined;
  if (img.width < 1 || img.height < 1) return undefined;
  const scale = Math.min(1, THUMB_SIDE / Math.max(img.width, img.height));
  const w = Math.max(1, Math.round(img.width * scale));
  const h = Math.max(1, Math.round(img.height * scale));
  const shown = oriented({ width: w, height: h, data: downscale(img, w, h) }, orientation);
  for (const quality of [70, 50, 30]) {
    const out = jpeg.encode(shown, quality).data;
    if (out.byteLength <= THUMB_MAX_BYTES) return { mime: 'image/jpeg', data: out.toString('base64'), w: shown.width, h: shown.height };
  }
  return undefined;
}

const JOB = 'nullroom-thumbnail';

/** The preview of the image file at `path` (a JPEG or PNG by its name), made in a worker thread; undefined for anything else. */
export async function thumbnailOf(path: string, mime: string): Promise<Thumbnail | undefined> {
  if (mime !== 'image/jpeg' && mime !== 'image/png') return undefined;
  try {
    if ((await stat(path)).size > MAX_SOURCE_BYTES) return undefined;
  } catch {
    return undefined;
  }
  return new Promise((resolve) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { job: JOB, path, mime } });
    const done = (t: Thumbnail | undefined) => {
      clearTimeout(timer);
      void w.terminate();
      resolve(t);
    };
    const timer = setTimeout(() => done(undefined), WORKER_TIMEOUT_MS);
    w.once('message', (t: Thumbnail | undefined) => done(t ?? undefined));
    w.once('error', () => done(undefined));
    w.once('exit', () => done(undefined));
  });
}

// In the worker: read, decode, shrink, encode, answer.
const job = workerData as { job?: string; path?: string; mime?: string } | null;
if (!isMainThread && job?.job === JOB && job.path !== undefined && job.mime !== undefined) {
  const { path, mime } = job;
  void readFile(path)
    .then(async (bytes) => {
      const o = mime === 'image/jpeg' ? await exifr.orientation(bytes).catch(() => undefined) : undefined;
      return makeThumbnail(bytes, mime, o ?? 1);
    })
    .catch(() => undefined)
    .then((t) => parentPort?.postMessage(t ?? null));
}
