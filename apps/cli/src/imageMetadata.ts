/**
 * Photos sent from the terminal leave without their metadata, as from the web app (which re-encodes
 * them): a phone's JPEG carries where and when it was taken (EXIF GPS), the camera, often a
 * thumbnail of the uncropped original; a PNG can carry text chunks. This copies the image without
 * those parts, losslessly (the pixels are the same bytes):
 *
 * - JPEG: every segment before the first scan except APP0 (JFIF), APP2 holding an ICC profile
 *   (colours) and APP14 (Adobe: colour transform) is dropped (APP1 EXIF and XMP, APP13 IPTC, the
 *   other APPn, COM); the EXIF orientation, if not upright, is kept as a minimal EXIF of that one tag,
 *   so the photo is still shown the right way up. The scan data and what follows are copied as is.
 * - PNG: tEXt, zTXt, iTXt, eXIf and tIME chunks are dropped; every other chunk is copied as is.
 *
 * Anything that does not parse returns undefined, and the caller sends the file as it is (as the
 * web app does when an image does not decode).
 */
import { readFile } from 'node:fs/promises';
import type { FileSource } from '@nullroom/client';
import exifr from 'exifr';

/** Larger photos are sent as they are (they are read whole to be copied). */
const MAX_BYTES = 64 * 1024 * 1024;

/**
 * The file at `path` (already open as `src`) as a source without its metadata, held in memory; or
 * undefined when it is not a JPEG or PNG we can copy so (then `src` is sent as it is). Closes `src` when it replaces it.
 */
export async function withoutMetadata(
  path: string,
  src: FileSource & { close(): Promise<void> },
): Promise<(FileSource & { close(): Promise<void> }) | undefined> {
  if ((src.mime !== 'image/jpeg' && src.mime !== 'image/png') || src.size > MAX_BYTES) return undefined;
  const bytes = new Uint8Array(await readFile(path));
  let out: Uint8Array | undefined;
  if (src.mime === 'image/png') out = pngWithoutMetadata(bytes);
  else {
    const orientation = await exifr.orientation(bytes).catch(() => undefined);
    out = jpegWithoutMetadata(bytes, typeof orientation === 'number' ? orientation : 1);
  }
  if (out === undefined) return undefined;
  await src.close();
  const data = out;
  return {
    name: src.name,
    size: data.length,
    mime: src.mime,
    read: async (offset, length) => data.subarray(offset, offset + length),
    close: async () => undefined,
  };
}

const u16 = (b: Uint8Array, i: number) => (b[i]! << 8) | b[i + 1]!;
const u32 = (b: Uint8Array, i: number) => ((b[i]! << 24) >>> 0) + (b[i + 1]! << 16) + (b[i + 2]! << 8) + b[i + 3]!;
const ascii = (b: Uint8Array, i: number, n: number) => String.fromCharCode(...b.subarray(i, i + n));

/** A minimal EXIF APP1 segment holding only the Orientation tag (big-endian TIFF, one IFD entry). */
export function orientationSegment(orientation: number): Uint8Array {
  const body = [
    ...[0x45, 0x78, 0x69, 0x66, 0, 0], // "Exif\0\0"
    ...[0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8], // "MM", 42, IFD0 at offset 8
    ...[0, 1], // one entry
    ...[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0], // Orientation, SHORT, 1 value
    ...[0, 0, 0, 0], // no next IFD
  ];
  const len = body.length + 2;
  return Uint8Array.from([0xff, 0xe1, len >> 8, len & 0xff, ...body]);
}

/** JPEG `bytes` without metadata; `orientation` (1..8) is kept when it is not 1. */
export function jpegWithoutMetadata(bytes: Uint8Array, orientation = 1): Uint8Array | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  const out: Uint8Array[] = [bytes.subarray(0, 2)];
  let placed = orientation < 2 || orientation > 8;
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) {
      // Start of scan (or an image with none): the rest is image data, copied as it is.
      if (!placed) out.push(orientationSegment(orientation));
      out.push(bytes.subarray(i));
      return concat(out);
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) return undefined; // no such marker before a scan
    const len = u16(bytes, i + 2);
    if (len < 2 || i + 2 + len > bytes.length) return undefined;
    const segment = bytes.subarray(i, i + 2 + len);
    const app = marker >= 0xe0 && marker <= 0xef;
    const keep =
      marker === 0xfe
        ? false // COM
        : !app || marker === 0xe0 || marker === 0xee || (marker === 0xe2 && len >= 14 && ascii(bytes, i + 4, 12) === 'ICC_PROFILE\0');
    if (keep) out.push(segment);
    else if (!placed && marker === 0xe1) {
      out.push(orientationSegment(orientation)); // where the EXIF was
      placed = true;
    }
    i += 2 + len;
  }
  return undefined; // no scan: not an image we understand
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_METADATA = new Set(['tEXt', 'zTXt', 'iTXt', 'eXIf', 'tIME']);

/** PNG `bytes` without its text, EXIF and time chunks. */
export function pngWithoutMetadata(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, k) => bytes[k] !== b)) return undefined;
  const out: Uint8Array[] = [bytes.subarray(0, 8)];
  let i = 8;
  while (i + 12 <= bytes.length) {
    const len = u32(bytes, i);
    const type = ascii(bytes, i + 4, 4);
    if (!/^[A-Za-z]{4}$/.test(type) || i + 12 + len > bytes.length) return undefined;
    if (!PNG_METADATA.has(type)) out.push(bytes.subarray(i, i + 12 + len));
    i += 12 + len;
    if (type === 'IEND') return concat(out);
  }
  return undefined;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
