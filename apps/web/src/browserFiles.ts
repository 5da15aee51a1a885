/**
 * The browser side of file transfer: a File as a source, a sink that writes to the Origin Private
 * File System (on disk, so a large file never sits in memory) and hands out a download link only
 * once the file verified, and image preparation: metadata (EXIF, GPS, camera) removed by
 * re-encoding, and a small thumbnail that travels inside the MLS message.
 */
import { type FileSink, type FileSource, type Thumbnail, toBase64 } from '@nullroom/client';

export function fileSourceOf(file: File, replacement?: Blob): FileSource {
  const data = replacement ?? file;
  return {
    name: file.name || 'file',
    size: data.size,
    mime: data.type,
    read: async (offset, length) => new Uint8Array(await data.slice(offset, offset + length).arrayBuffer()),
  };
}

/** A received file, once verified: a link to save or show it. */
export interface Received {
  url: string;
  blob: Blob;
}

/**
 * Writes into a hidden part file in the origin's private file system; on commit the verified file
 * becomes a Blob (backed by that file on disk) and an object URL. Falls back to memory where the
 * browser has no OPFS writable streams.
 */
export async function downloadSink(onDone: (r: Received) => void, mime: string): Promise<FileSink> {
  const name = `${Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('')}.part`;
  let dir: FileSystemDirectoryHandle | undefined;
  try {
    dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('incoming', { create: true });
  } catch {
    dir = undefined;
  }
  const handle = dir === undefined ? undefined : await dir.getFileHandle(name, { create: true }).catch(() => undefined);
  const writable = handle === undefined ? undefined : await handle.createWritable().catch(() => undefined);
  if (dir !== undefined && handle !== undefined && writable !== undefined) {
    return {
      write: (chunk) => writable.write(chunk as Uint8Array<ArrayBuffer>),
      async commit() {
        await writable.close();
        const file = await handle.getFile();
        const blob = mime === '' ? file : file.slice(0, file.size, mime);
        onDone({ url: URL.createObjectURL(blob), blob });
        return undefined;
      },
      async abort() {
        await writable.abort().catch(() => undefined);
        await dir.removeEntry(name).catch(() => undefined);
      },
    };
  }
  const parts: Uint8Array<ArrayBuffer>[] = [];
  return {
    write: async (chunk) => void parts.push(chunk as Uint8Array<ArrayBuffer>),
    async commit() {
      const blob = new Blob(parts, mime === '' ? {} : { type: mime });
      parts.length = 0;
      onDone({ url: URL.createObjectURL(blob), blob });
      return undefined;
    },
    abort: async () => void (parts.length = 0),
  };
}

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export const isImage = (mime: string): mime is (typeof IMAGE_TYPES)[number] => (IMAGE_TYPES as readonly string[]).includes(mime);


/**
 * Re-encodes an image from its pixels, which drops every metadata block (EXIF with GPS position,
 * camera, time; XMP; comments), and applies its orientation first so it still shows upright.
 */
export async function withoutMetadata(file: File): Promise<Blob> {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
    return await canvas.convertToBlob({ type: file.type === 'image/png' ? 'image/png' : file.type, quality: 0.92 });
  } finally {
    bitmap.close();
  }
}

/** A JPEG preview at most 320 px on its longer side and 48 KiB, carried inside the MLS message. */
export async function thumbnailOf(image: Blob): Promise<Thumbnail | undefined> {
  try {
    const bitmap = await createImageBitmap(image);
    const scale = Math.min(1, 320 / Math.max(bitmap.width, bitmap.height));
    const w = Math.max(1, Math.round(bitmap.width * scale));
    const h = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(w, h);
    canvas.getContext('2d')!.drawImage(bitmap, 0, 0, w, h);
    bitmap.close();
    for (const quality of [0.7, 0.5, 0.3]) {
      const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/jpeg', quality })).arrayBuffer());
      if (bytes.byteLength <= 48 * 1024) return { mime: 'image/jpeg', data: toBase64(bytes), w, h };
    }
  } catch {
    // Not decodable here: send it without a preview.
  }
  return undefined;
}
