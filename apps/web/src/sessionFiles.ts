/**
 * Files in a conversation as the session shows them (timeline.ts, FileView): what an offer looks
 * like, a file of ours on its way out, accepting an offer, and following a transfer to its end.
 * The session (session.ts) places the lines; this keeps each view up to date and calls `changed`.
 */
import { ClientError, type Thumbnail, type IncomingFile, type Transfer } from '@nullroom/client';
import type { FileView } from './timeline.js';
import { downloadSink, isImage, receivedFile, saveFile, thumbnailOf, thumbnailUrl, withoutMetadata } from './browserFiles.js';

/**
 * A file someone offered: not fetched until accepted. It turns `unavailable` by itself, accepted or
 * not, once the SDK says it can no longer arrive (its sender left before sending it completely, or
 * the relay no longer holds it).
 */
export function offeredView(f: IncomingFile, changed: () => void = () => undefined): FileView {
  const thumb = f.thumbnail === undefined ? undefined : thumbnailUrl(f.thumbnail);
  const view: FileView = {
    name: f.name,
    size: f.size,
    mime: f.mime,
    direction: 'receive',
    state: f.unavailable === undefined ? 'offered' : 'unavailable',
    incoming: f,
    ...(thumb === undefined || f.thumbnail === undefined ? {} : { thumb, thumbSize: { w: f.thumbnail.w, h: f.thumbnail.h } }),
  };
  f.on('unavailable', () => {
    if (view.state !== 'offered' && view.state !== 'active') return;
    view.state = 'unavailable';
    changed();
  });
  return view;
}

/** What we send for a chosen file: images without their metadata unless `keepMetadata`, with a preview. */
export async function prepared(file: File, keepMetadata: boolean): Promise<{ data: Blob; thumbnail?: Thumbnail }> {
  if (!isImage(file.type)) return { data: file };
  const data = keepMetadata ? file : await withoutMetadata(file).catch(() => file);
  const thumbnail = await thumbnailOf(data);
  return thumbnail === undefined ? { data } : { data, thumbnail };
}

/** A file of ours, its transfer under way. */
export async function sendingView(file: File, data: Blob, transfer: Transfer, thumbnail: Thumbnail | undefined): Promise<FileView> {
  return {
    name: file.name || 'file',
    size: data.size,
    mime: file.type,
    direction: 'send',
    state: 'active',
    transfer,
    // Our own file, but perhaps one we were sent elsewhere: the same rules as a received one.
    received: await receivedFile(data, file.type),
    ...(thumbnail === undefined
      ? {}
      : { thumb: `data:${thumbnail.mime};base64,${thumbnail.data}`, thumbSize: { w: thumbnail.w, h: thumbnail.h } }),
  };
}

/** Downloads an offered file (or the full image behind a preview). */
export async function acceptFile(view: FileView, changed: () => void): Promise<void> {
  if (view.incoming === undefined || view.state !== 'offered') return;
  if (view.incoming.unavailable !== undefined) {
    view.state = 'unavailable';
    changed();
    return;
  }
  view.state = 'active';
  changed();
  const sink = await downloadSink((r) => (view.received = r), view.mime);
  const t = view.incoming.accept(sink);
  view.transfer = t;
  followTransfer(t, view, changed);
}

/** Keeps a file's view in step with its transfer: progress, then done, cancelled or failed. */
export function followTransfer(t: Transfer, view: FileView, changed: () => void): void {
  t.on('progress', (p) => {
    view.progress = p;
    changed();
  });
  t.done.then(
    () => {
      view.state = 'done';
      if (view.saveWhenDone === true && view.received !== undefined) saveFile(view.received, view.name);
      changed();
    },
    (e: unknown) => {
      const code = e instanceof ClientError ? e.code : undefined;
      view.state = code === 'FILE_CANCELLED' ? 'cancelled' : code === 'FILE_UNAVAILABLE' ? 'unavailable' : 'failed';
      view.error = e instanceof Error ? e.message : String(e);
      changed();
    },
  );
}
