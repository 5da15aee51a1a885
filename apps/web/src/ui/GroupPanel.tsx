/**
 * A conversation's members and name (docs/PROTOCOL.md §11.15): rename it (the name travels
 * end-to-end encrypted), add contacts, remove a member, verify each one's safety number, leave.
 * Any member may do each of these, as in Signal's default groups; every member's history shows who
 * did it.
 */
import { useState } from 'preact/hooks';
import type { AccountSession, Conversation } from '../accountSession.js';
import { t } from '../i18n.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { useAction } from './useAction.js';

export function GroupPanel(props: {
  session: AccountSession;
  conversation: Conversation;
  onVerify: (name: string) => void;
  onClose: () => void;
  onLeft: () => void;
}) {
  const s = props.session;
  const c = props.conversation;
  const [name, setName] = useState(c.name ?? '');
  const [adding, setAdding] = useState<Set<string>>(new Set());
  const { busy, error, act } = useAction();
  const [confirm, setConfirm] = useState<{ kind: 'leave' } | { kind: 'remove'; name: string } | undefined>();
  const candidates = s.contacts.contacts.map((x) => x.name).filter((n) => !c.members.includes(n));

  return (
    <section class="panel group-panel" data-testid="group-panel" aria-labelledby="group-title">
      <h2 id="group-title">{t('messages.groupTitle')}</h2>
      <form
        class="add-contact"
        onSubmit={(e) => {
          e.preventDefault();
          void act(() => s.rename(c.id, name.trim()));
        }}
      >
        <label>
          {t('messages.groupName')}
          <input data-testid="group-name" maxLength={64} required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit" data-testid="group-rename" disabled={busy || name.trim() === (c.name ?? '')}>
          {t('messages.rename')}
        </button>
      </form>
      <p class="hint">{t('messages.groupNameHint')}</p>
      <h3>{t('messages.members', { count: c.members.length })}</h3>
      <ul class="contact-list" data-testid="group-members">
        {c.members.map((m) => (
          <li key={m}>
            <span class={`dot${m === s.name || s.online.get(m) ? ' on' : ''}`} aria-hidden="true" />
            <span class="contact-name">{m === s.name ? t('messages.youName', { name: m }) : m}</span>
            {m !== s.name && (
              <>
                <button type="button" class="secondary" onClick={() => props.onVerify(m)}>
                  {t('messages.verify')}
                </button>
                <button
                  type="button"
                  class="secondary danger"
                  aria-label={t('messages.removeMemberName', { name: m })}
                  disabled={busy}
                  onClick={() => setConfirm({ kind: 'remove', name: m })}
                >
                  {t('messages.removeContact')}
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {candidates.length > 0 && (
        <fieldset class="add-members">
          <legend>{t('messages.addMembers')}</legend>
          {candidates.map((n) => (
            <label key={n} class="check">
              <input
                type="checkbox"
                data-testid="group-candidate"
                checked={adding.has(n)}
                onChange={(e) => {
                  const next = new Set(adding);
                  if (e.currentTarget.checked) next.add(n);
                  else next.delete(n);
                  setAdding(next);
                }}
              />
              {n}
            </label>
          ))}
          <button
            type="button"
            data-testid="group-add"
            disabled={busy || adding.size === 0}
            onClick={() => void act(() => s.addMembers(c.id, [...adding]).then(() => setAdding(new Set())))}
          >
            {t('messages.addSelected', { count: adding.size })}
          </button>
        </fieldset>
      )}
      {error !== undefined && (
        <p class="error" role="alert" data-testid="group-error">
          {error}
        </p>
      )}
      <div class="row">
        <button
          type="button"
          class="secondary danger"
          data-testid="group-leave"
          disabled={busy}
          onClick={() => setConfirm({ kind: 'leave' })}
        >
          {t('messages.leave')}
        </button>
        <button type="button" class="secondary" onClick={props.onClose}>
          {t('settings.close')}
        </button>
      </div>
      {confirm !== undefined && (
        <ConfirmDialog
          title={confirm.kind === 'leave' ? t('messages.leaveTitle') : t('messages.removeMemberTitle', { name: confirm.name })}
          body={confirm.kind === 'leave' ? t('messages.leaveBody') : t('messages.removeMemberBody')}
          confirm={confirm.kind === 'leave' ? t('messages.leave') : t('messages.removeContact')}
          cancel={t('account.cancel')}
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => {
            const what = confirm;
            setConfirm(undefined);
            if (what.kind === 'leave') void act(() => s.leave(c.id).then(props.onLeft));
            else void act(() => s.removeMember(c.id, what.name));
          }}
        />
      )}
    </section>
  );
}
