/**
 * A file or image in the conversation: preview, progress with speed and time left, cancel, save.
 * Only a verified raster image is ever shown, and only as an <img>; every file is saved as a
 * download and never opened here (browserFiles.ts, Received).
 */
import { formatBytes, isPreviewType, safeFileName } from '@nullroom/client';
import { saveFile } from '../browserFiles.js';
import { t } from '../i18n.js';
import type { RoomSession } from '../session.js';
import type { FileView } from '../timeline.js';
import { duration } from '../when.js';

/** Sizes and times in the progress line never break inside a number and its unit (non-breaking spaces). */
const NBSP = '\u00a0';
const bytes = (n: number) => formatBytes(n).replaceAll(' ', NBSP);
const left = (ms: number) => duration(ms).replaceAll(' ', NBSP);

export function FileCard(props: { file: FileView; from: string; session: RoomSession }) {
  const f = props.file;
  // The name as it will be saved, which is also how it is shown (no bidirectional tricks: "gpj.exe").
  const name = safeFileName(f.name);
  const full = f.state === 'done' || f.direction === 'send' ? f.received?.preview : undefined;
  // Bytes that are not the image their sender said: no picture, not even the sender's thumbnail.
  const notImage = f.received !== undefined && f.received.preview === undefined;
  const thumb = isPreviewType(f.mime) && !notImage ? f.thumb : undefined;
  const image = full !== undefined || thumb !== undefined;
  const p = f.progress;
  return (
    <div class={`file-card${image ? ' image' : ''}`} data-testid="file-card" data-state={f.state}>
      {image &&
        (full !== undefined ? (
          <img src={full} alt={t('files.image', { nick: props.from, name })} data-testid="full-image" />
        ) : (
          <button
            type="button"
            class="thumb"
            onClick={() => void props.session.accept(f)}
            disabled={f.state !== 'offered'}
            aria-label={t('files.loadImage')}
          >
            <img src={thumb} alt={t('files.image', { nick: props.from, name })} data-testid="thumbnail" />
          </button>
        ))}
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
          <progress data-testid="file-progress" max={f.size || 1} value={p?.bytes ?? 0} aria-label={name} />
          <span class="hint">
            {p === undefined
              ? t('files.progressNoEta', { done: bytes(0), total: bytes(f.size) })
              : p.etaMs === undefined
                ? t('files.progressNoEta', { done: bytes(p.bytes), total: bytes(f.size) })
                : t('files.progress', {
                    done: bytes(p.bytes),
                    total: bytes(f.size),
                    speed: bytes(p.bytesPerSecond),
                    left: left(p.etaMs),
                  })}
          </span>
          <button type="button" class="secondary" data-testid="file-cancel" onClick={() => f.transfer?.cancel()}>
            {t('files.cancel')}
          </button>
        </div>
      )}
      <div class="row">
        {f.state === 'offered' && !image && (
          <button type="button" data-testid="file-download" onClick={() => void props.session.accept(f)}>
            {t('files.download')}
          </button>
        )}
        {f.state === 'done' && f.direction === 'receive' && f.received !== undefined && (
          <button type="button" data-testid="file-save" onClick={() => f.received !== undefined && saveFile(f.received, f.name)}>
            {t('files.save')}
          </button>
        )}
        {f.state === 'done' && f.direction === 'send' && <span class="hint">{t('files.sent')}</span>}
        {f.state === 'failed' && <span class="error">{t('files.failed', { message: f.error ?? '' })}</span>}
        {f.state === 'cancelled' && <span class="hint">{t('files.cancelled')}</span>}
      </div>
    </div>
  );
}
