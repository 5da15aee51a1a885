/** A file or image in the conversation: preview, progress with speed and time left, cancel, save. */
import { t } from '../i18n.js';
import type { FileView, RoomSession } from '../session.js';

export const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`);
const duration = (ms: number) => (ms < 60_000 ? `${Math.ceil(ms / 1000)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);

export function FileCard(props: { file: FileView; from: string; session: RoomSession }) {
  const f = props.file;
  const image = f.mime.startsWith('image/') && (f.thumb !== undefined || f.received !== undefined);
  const full = f.state === 'done' || f.direction === 'send' ? f.received : undefined;
  const p = f.progress;
  return (
    <div class={`file-card${image ? ' image' : ''}`} data-testid="file-card" data-state={f.state}>
      {image &&
        (full !== undefined ? (
          <img src={full.url} alt={t('files.image', { nick: props.from, name: f.name })} data-testid="full-image" />
        ) : (
          <button type="button" class="thumb" onClick={() => void props.session.accept(f)} disabled={f.state !== 'offered'} aria-label={t('files.loadImage')}>
            <img src={f.thumb} alt={t('files.image', { nick: props.from, name: f.name })} data-testid="thumbnail" />
          </button>
        ))}
      <div class="file-meta">
        <span class="file-name">{f.name}</span> <span class="file-size">{size(f.size)}</span>
      </div>
      {f.state === 'active' && (
        <div class="file-progress">
          <progress data-testid="file-progress" max={f.size || 1} value={p?.bytes ?? 0} aria-label={f.name} />
          <span class="hint">
            {p === undefined
              ? t('files.progressNoEta', { done: size(0), total: size(f.size) })
              : p.etaMs === undefined
                ? t('files.progressNoEta', { done: size(p.bytes), total: size(f.size) })
                : t('files.progress', { done: size(p.bytes), total: size(f.size), speed: size(p.bytesPerSecond), left: duration(p.etaMs) })}
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
          <a class="button" href={f.received.url} download={f.name} data-testid="file-save">
            {t('files.save')}
          </a>
        )}
        {f.state === 'done' && f.direction === 'send' && <span class="hint">{t('files.sent')}</span>}
        {f.state === 'failed' && <span class="error">{t('files.failed', { message: f.error ?? '' })}</span>}
        {f.state === 'cancelled' && <span class="hint">{t('files.cancelled')}</span>}
      </div>
    </div>
  );
}
