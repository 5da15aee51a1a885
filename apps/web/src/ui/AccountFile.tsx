/**
 * A file or image in an account conversation. The preview that came inside the message is shown
 * only when its bytes are the image type it names; the file itself is fetched, decrypted and
 * verified when asked for (Save), into this page's private folder, then saved as a download under a
 * safe name; a verified raster image is then shown in full. Nothing is ever opened here.
 */
import { formatBytes, isPreviewType, safeFileName, type TransferProgress } from '@nullroom/client';
import { useState } from 'preact/hooks';
import type { AccountSession, Line } from '../accountSession.js';
import { type Received, saveFile, thumbnailUrl } from '../browserFiles.js';
import { t } from '../i18n.js';
import { accountMessage } from './ContactsPane.js';
import { Icon } from './Icon.js';

/** Files fetched in this page, by conversation and message: fetched once, saved as often as asked. */
const fetched = new Map<string, Received>();

export function AccountFile(props: { session: AccountSession; conversation: string; line: Line }) {
  const f = props.line.file!;
  const key = `${props.conversation}/${props.line.id}`;
  const [received, setReceived] = useState(fetched.get(key));
  const [progress, setProgress] = useState<TransferProgress | undefined>();
  const [error, setError] = useState<string | undefined>();
  const name = safeFileName(f.name);
  const thumb = f.thumb !== undefined && isPreviewType(f.mime) ? thumbnailUrl(f.thumb) : undefined;
  const image = received?.preview ?? thumb;

  const save = async () => {
    setError(undefined);
    try {
      let r = fetched.get(key);
      if (r === undefined) {
        r = await props.session.download(props.conversation, props.line.id, setProgress);
        fetched.set(key, r);
        setReceived(r);
      }
      saveFile(r, f.name);
    } catch (e) {
      setError(accountMessage(e));
    } finally {
      setProgress(undefined);
    }
  };

  return (
    <div class="file-card account-file" data-testid="account-file">
      {image !== undefined && (
        <img
          class="file-thumb"
          src={image}
          alt={t('files.image', { nick: props.line.from, name })}
          {...(f.thumb === undefined || received?.preview !== undefined ? {} : { width: f.thumb.w, height: f.thumb.h })}
        />
      )}
      <div class="file-meta">
        <span class="file-name">{name}</span> <span class="hint">{formatBytes(f.size)}</span>
      </div>
      {progress !== undefined && (
        <progress max={f.size} value={progress.bytes} aria-label={t('messages.fetching', { name })} data-testid="file-progress" />
      )}
      <button type="button" class="secondary" data-testid="file-save" disabled={progress !== undefined} onClick={() => void save()}>
        <Icon name="save" size={16} />
        {received === undefined ? t('messages.fetchSave') : t('messages.saveAgain')}
      </button>
      {received !== undefined && (
        <span class="hint" data-testid="file-verified">
          {t('messages.verified')}
        </span>
      )}
      {error !== undefined && (
        <p class="error" role="alert" data-testid="file-error">
          {error}
        </p>
      )}
    </div>
  );
}
