/**
 * The browser side of file transfer: a File as a source, a sink that writes to the Origin Private
 * File System (on disk, so a large file never sits in memory) and releases the file only once it
 * verified, what a received file may become here (never active content: see `receivedFile`), and
 * image preparation: metadata (EXIF, GPS, camera) removed by re-encoding, and a small thumbnail that
 * travels inside the MLS message.
 */
import {
  type FileSink,
  type FileSource,
  type Thumbnail,
  SNIFF_BYTES,
  receivedType,
  safeFileName,
  sniffImage,
  toBase64,
} from '@nullroom/client';

export function fileSourceOf(file: File, replacement?: Blob): FileSource {
  const data = replacement ?? file;
  return {
    name: file.name || 'file',
    size: data.size,
    mime: data.type,
    read: async (offset, length) => new Uint8Array(await data.slice(offset, offset + length).arrayBuffer()),
  };
}

const OCTET_STREAM = 'application/octet-stream';

/**
 * A file, once verified, as the app may use it. Its type is never the one its sender chose: it is
 * a raster image type (PNG, JPEG, GIF, WebP) when the sender called it that and its bytes are
 * that format, else application/octet-stream. A same-origin blob: URL is a document of this origin
 * when navigated to (a new tab, a pasted address), and Chromium gives it none of the page's CSP
 * then: typed text/html or image/svg+xml it would run the sender's script with access to this
 * origin's IndexedDB and keys (issue #11, point 9). Typed as an image it renders as an image;
 * typed application/octet-stream it can only be downloaded.
 */
export interface Received {
  blob: Blob;
  /** An object URL for an <img>, only for a verified raster image; revoked by `releaseFile`. */
  preview?: string;
  /** Deletes the file's bytes from disk (the private file system); called by `releaseFile`. */
  discard?: () => Promise<void>;
}

/** What `file` (bytes the sender called `declared`) may become here: see Received. */
export async function receivedFile(file: Blob, declared: string): Promise<Received> {
  const head = new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer());
  const type = receivedType(declared, head);
  const blob = file.slice(0, file.size, type);
  return type === OCTET_STREAM ? { blob } : { blob, preview: URL.createObjectURL(blob) };
}

/** Frees the preview's object URL and deletes the file from disk (nothing may show or save it after). */
export function releaseFile(r: Received | undefined): void {
  if (r?.preview !== undefined) URL.revokeObjectURL(r.preview);
  void r?.discard?.();
}

/**
 * Saves a file as a download under a safe name (safeFileName: no path, no bidirectional tricks).
 * The object URL is of an application/octet-stream copy, never put in the page (so it cannot be
 * opened in a tab), and revoked once the download has started.
 */
export function saveFile(r: Received, name: string): void {
  const url = URL.createObjectURL(r.blob.type === OCTET_STREAM ? r.blob : r.blob.slice(0, r.blob.size, OCTET_STREAM));
  const a = document.createElement('a');
  a.href = url;
  a.download = safeFileName(name);
  a.rel = 'noopener';
  a.click();
  // The click resolved the URL to its blob already (Chromium, Firefox); the delay is for slower engines.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The data: URL of a thumbnail that came inside the MLS message, only if its bytes are the image type it names. */
export function thumbnailUrl(t: Thumbnail): string | undefined {
  try {
    const head = Uint8Array.from(atob(t.data.slice(0, 16)), (c) => c.charCodeAt(0));
    return sniffImage(head) === t.mime ? `data:${t.mime};base64,${t.data}` : undefined;
  } catch {
    return undefined; // not base64
  }
}

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');

/** This page's folder of received files in the origin's private file system, `received/<page>`. */
const PAGE = hex(8);
const lockName = (page: string) => `nullroom-received-${page}`;
let pageDir: Promise<FileSystemDirectoryHandle | undefined> | undefined;

/**
 * This page's folder for received files (decrypted plaintext, on disk). The page holds a Web Lock
 * named after it for as long as it lives; every other page's folder whose lock is free belongs to a
 * page that is gone (closed, crashed, reloaded) and is deleted, so received files do not outlive
 * the page that received them by more than the next visit. Called at start-up and by downloadSink.
 */
export function receivedFolder(): Promise<FileSystemDirectoryHandle | undefined> {
  pageDir ??= (async () => {
    try {
      const root = await navigator.storage.getDirectory();
      // The layout before per-page folders: files there belong to no page that can still show them.
      await root.removeEntry('incoming', { recursive: true }).catch(() => undefined);
      const all = await root.getDirectoryHandle('received', { create: true });
      // The lock first, then the folder: a folder whose lock is free is never one being made.
      await new Promise<void>((held) => void navigator.locks.request(lockName(PAGE), () => (held(), new Promise<never>(() => undefined))));
      for await (const name of (all as unknown as { keys(): AsyncIterable<string> }).keys()) {
        if (name === PAGE) continue;
        await navigator.locks.request(lockName(name), { ifAvailable: true }, async (lock) => {
          if (lock !== null) await all.removeEntry(name, { recursive: true }).catch(() => undefined);
        });
      }
      return await all.getDirectoryHandle(PAGE, { create: true });
    } catch {
      return undefined; // no OPFS or no Web Locks: downloadSink keeps files in memory
    }
  })();
  return pageDir;
}

/**
 * Writes into a part file in this page's folder of the origin's private file system; on commit the
 * verified file becomes a Blob (backed by that file on disk), typed by `receivedFile`, and
 * `releaseFile` deletes it. Falls back to memory where the browser has no OPFS writable streams.
 */
export async function downloadSink(onDone: (r: Received) => void, mime: string): Promise<FileSink> {
  const name = `${hex(8)}.part`;
  const dir = await receivedFolder();
  const handle = dir === undefined ? undefined : await dir.getFileHandle(name, { create: true }).catch(() => undefined);
  const writable = handle === undefined ? undefined : await handle.createWritable().catch(() => undefined);
  if (dir !== undefined && handle !== undefined && writable !== undefined) {
    return {
      write: (chunk) => writable.write(chunk as Uint8Array<ArrayBuffer>),
      async commit() {
        await writable.close();
        const r = await receivedFile(await handle.getFile(), mime);
        onDone({ ...r, discard: () => dir.removeEntry(name).catch(() => undefined) });
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
      const blob = new Blob(parts);
      parts.length = 0;
      onDone(await receivedFile(blob, mime));
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
