/**
 * A file or image in the conversation: preview, progress with speed and time left (or what it waits
 * for), cancel, save, and "no longer available" when it can never arrive. Only a verified raster
 * image is ever shown, and only as an <img> (enlarged in a Lightbox on click); every file is saved
 * as a download and never opened here (browserFiles.ts, Received).
 */
import { formatBytes, isPreviewType, safeFileName } from '@nullroom/client';
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { saveFile } from '../browserFiles.js';
import { t } from '../i18n.js';
import type { RoomSession } from '../session.js';
import type { FileView } from '../timeline.js';
import { duration } from '../when.js';
import { Icon } from './Icon.js';
import { Lightbox } from './Lightbox.js';

/** Sizes and times in the progress line never break inside a number and its unit (non-breaking spaces). */
const NBSP = '\u00a0';
const bytes = (n: number) => formatBytes(n).replaceAll(' ', NBSP);
const left = (ms: number) => duration(ms).replaceAll(' ', NBSP);

/** The line under a transfer's progress bar: how far, how fast and how long, or what it waits for. */
function progressText(f: FileView): string {
  const p = f.progress;
  const done = bytes(p?.bytes ?? 0);
  const total = bytes(f.size);
  if (p?.waiting === 'sender') return t('files.waitingSender', { done, total });
  if (p?.waiting === 'relay') return t('files.waitingRelay', { done, total });
  if (p === undefined || p.etaMs === undefined) return t('files.progressNoEta', { done, total });
  return t('files.progress', { done, total, speed: bytes(p.bytesPerSecond), left: left(p.etaMs) });
}

/**
 * The progress line's parts (split at " · ") each kept whole, the dot at the end of the part before:
 * on a narrow card the line breaks between parts only, never inside "12.0 KiB of 310.4 KiB".
 */
function parts(text: string) {
  const all = text.split(' · ');
  return all.map((p, i) => (
    <Fragment key={i}>
      <span class="nowrap">{i < all.length - 1 ? `${p} ·` : p}</span>
      {i < all.length - 1 ? ' ' : ''}
    </Fragment>
  ));
}

export function FileCard(props: { file: FileView; from: string; self?: boolean; session: RoomSession }) {
  const f = props.file;
  const [enlarged, setEnlarged] = useState(false);
  // The name as it will be saved, which is also how it is shown (no bidirectional tricks: "gpj.exe").
  const name = safeFileName(f.name);
  const full = f.state === 'done' || f.direction === 'send' ? f.received?.preview : undefined;
  // Bytes that are not the image their sender said: no picture, not even the sender's thumbnail.
  const notImage = f.received !== undefined && f.received.preview === undefined;
  const thumb = isPreviewType(f.mime) && !notImage ? f.thumb : undefined;
  const image = full !== undefined || thumb !== undefined;
  const alt = t('files.image', { nick: props.from, name });
  // The preview's size reserves the image's place before it decodes: the timeline does not jump.
  const dims = f.thumbSize === undefined ? {} : { width: f.thumbSize.w, height: f.thumbSize.h };
  const accept = (save: boolean) => {
    f.saveWhenDone = save;
    void props.session.accept(f);
  };
  return (
    <div class={`file-card${image ? ' image' : ''}`} data-testid="file-card" data-state={f.state}>
      {image &&
        (full !== undefined ? (
          <button
            type="button"
            class="thumb"
            onClick={() => setEnlarged(true)}
            aria-label={t('files.enlarge', { name })}
            data-testid="enlarge"
          >
            <img src={full} alt={alt} data-testid="full-image" {...dims} />
          </button>
        ) : (
          <button
            type="button"
            class="thumb"
            onClick={() => accept(false)}
            disabled={f.state !== 'offered'}
            aria-label={t('files.loadImage')}
          >
            <img src={thumb} alt={alt} data-testid="thumbnail" {...dims} />
          </button>
        ))}
      {enlarged && full !== undefined && <Lightbox src={full} alt={alt} onClose={() => setEnlarged(false)} />}
      <div class="file-meta">
        <span class="file-name">{name}</span> <span class="file-size">{formatBytes(f.size)}</span>
      </div>
      {f.state === 'done' && f.direction === 'receive' && notImage && isPreviewType(f.mime) && (
        <div class="hint" data-testid="not-image">
          {t('files.notImage')}
        </div>
      )}
      {f.state === 'active' && (
        <div class="file-progress">
          <progress data-testid="file-progress" max={f.size || 1} value={f.progress?.bytes ?? 0} aria-label={name} />
          <span class="hint" data-testid="file-progress-text" data-waiting={f.progress?.waiting}>
            {parts(progressText(f))}
          </span>
          <button type="button" class="secondary" data-testid="file-cancel" onClick={() => f.transfer?.cancel()}>
            {t('files.cancel')}
          </button>
        </div>
      )}
      {f.state === 'offered' && f.again === true && (
        <div class="hint" data-testid="file-again">
          {t(props.self === true ? 'files.fetchAgainOwn' : 'files.fetchAgain')}
        </div>
      )}
      {f.state === 'unavailable' && (
        <div class="file-unavailable" data-testid="file-unavailable" role="status">
          <strong>{t('files.unavailable')}</strong>
          <span class="hint">{t(f.afterReload ? 'files.unavailableReload' : 'files.unavailableWhy')}</span>
        </div>
      )}
      <div class="row">
        {f.state === 'offered' && !image && (
          <button type="button" data-testid="file-download" onClick={() => accept(true)}>
            <Icon name="save" /> {t('files.download')}
          </button>
        )}
        {f.state === 'done' && f.direction === 'receive' && f.received !== undefined && (
          <button
            type="button"
            class={image ? 'secondary' : undefined}
            data-testid="file-save"
            onClick={() => f.received !== undefined && saveFile(f.received, f.name)}
          >
            <Icon name="save" /> {t('files.save')}
          </button>
        )}
        {f.state === 'done' && f.direction === 'send' && <span class="hint">{t('files.sent')}</span>}
        {f.state === 'failed' && <span class="error">{t('files.failed', { message: f.error ?? '' })}</span>}
        {f.state === 'cancelled' && <span class="hint">{t('files.cancelled')}</span>}
      </div>
    </div>
  );
}
