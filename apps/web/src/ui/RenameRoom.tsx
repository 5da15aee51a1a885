/**
 * Renaming an invite room: a button beside the room's name opens a small form. The name goes to
 * every member inside the room's MLS group (RoomName, docs/PROTOCOL.md §5.3), never to the relay;
 * each member's room shows "X renamed the room to …".
 */
import { useState } from 'preact/hooks';
import { ClientError, MAX_ROOM_NAME_CHARS, type RoomName } from '@nullroom/client';
import { t } from '../i18n.js';
import { Icon } from './Icon.js';

export function RenameRoom(props: { names: RoomName; current: string }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | undefined>();
  if (!editing) {
    return (
      <button
        type="button"
        class="secondary icon rename-button"
        data-testid="rename-room"
        aria-label={t('chat.rename')}
        title={t('chat.rename')}
        onClick={() => (setDraft(props.names.name ?? ''), setError(undefined), setEditing(true))}
      >
        <Icon name="pencil" size={16} />
      </button>
    );
  }
  const save = (e: Event) => {
    e.preventDefault();
    try {
      if (draft.trim() !== props.names.name) props.names.rename(draft);
      setEditing(false);
    } catch (err) {
      setError(err instanceof ClientError && err.code === 'BAD_ROOM_NAME' ? t('chat.badRoomName') : t('chat.renameFailed'));
    }
  };
  return (
    <form class="rename" onSubmit={save} aria-describedby={error === undefined ? undefined : 'rename-error'}>
      <label>
        <span class="sr-only">{t('chat.renameLabel')}</span>
        <input
          data-testid="rename-input"
          maxLength={MAX_ROOM_NAME_CHARS}
          autoComplete="off"
          placeholder={props.current}
          value={draft}
          autoFocus
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => e.key === 'Escape' && setEditing(false)}
        />
      </label>
      <button type="submit" data-testid="rename-save">
        {t('chat.renameSave')}
      </button>
      <button type="button" class="secondary" onClick={() => setEditing(false)}>
        {t('files.cancel')}
      </button>
      {error !== undefined && (
        <p id="rename-error" class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
