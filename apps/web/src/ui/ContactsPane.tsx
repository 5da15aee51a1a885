/**
 * Contacts (docs/PROTOCOL.md §11.10): find an account by its exact name and ask; requests waiting
 * for an answer (accept, decline, block); the contacts with a live online dot (presence reaches only
 * accepted contacts), each a button that opens the conversation with them; requests sent; a group
 * started with several contacts at once.
 */
import { useState } from 'preact/hooks';
import { AccountError } from '@nullroom/client/accounts';
import type { AccountSession } from '../accountSession.js';
import { t } from '../i18n.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { useAction } from './useAction.js';

/** A refusal or failure of the accounts SDK in words: its code's string, or the code itself in a generic one. */
export function accountMessage(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (!(e instanceof AccountError) && typeof code === 'string' && /^[A-Z_]+$/.test(code))
    return t(`account.errors.${code}`, { defaultValue: t('messages.failed.other', { code }) });
  if (!(e instanceof AccountError)) return t('account.errors.UNAVAILABLE');
  if (e.code === 'RATE_LIMITED') return t('account.errors.RATE_LIMITED', { seconds: e.details.retryAfter ?? 60 });
  return t(`account.errors.${e.code}`, { defaultValue: t('messages.failed.other', { code: e.code }) });
}

export function ContactsPane(props: { session: AccountSession; onOpen: (conversation: string) => void }) {
  const s = props.session;
  const [name, setName] = useState('');
  const { busy, error, notice, setNotice, act } = useAction();
  const [group, setGroup] = useState<Set<string>>(new Set());
  /** The contact whose Remove was pressed, waiting for the user to confirm. */
  const [removing, setRemoving] = useState<string | undefined>();

  const open = (names: string[]) => act(async () => props.onOpen(await s.conversationWith(names)));
  const { contacts, incoming, outgoing, blocked } = s.contacts;

  return (
    <section class="contacts-pane" aria-labelledby="contacts-title">
      <h1 id="contacts-title">{t('messages.contacts')}</h1>
      <form
        class="add-contact"
        onSubmit={(e) => {
          e.preventDefault();
          const who = name.trim();
          void act(async () => {
            await s.contact('request', who);
            setName('');
            setNotice(t('messages.requested', { name: who }));
          });
        }}
      >
        <label>
          {t('messages.addLabel')}
          <input
            data-testid="contact-name"
            maxLength={64}
            required
            autocomplete="off"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <button type="submit" data-testid="contact-add" disabled={busy}>
          {t('messages.add')}
        </button>
      </form>
      {error !== undefined && (
        <p class="error" role="alert" data-testid="contacts-error">
          {error}
        </p>
      )}
      {notice !== undefined && (
        <p role="status" data-testid="contacts-notice">
          {notice}
        </p>
      )}
      {incoming.length > 0 && (
        <>
          <h2>{t('messages.incoming')}</h2>
          <ul class="contact-list" data-testid="incoming">
            {incoming.map((c) => (
              <li key={c.name}>
                <span class="contact-name">{c.name}</span>
                <button type="button" data-testid="accept" disabled={busy} onClick={() => void act(() => s.contact('accept', c.name))}>
                  {t('messages.accept')}
                </button>
                <button type="button" class="secondary" disabled={busy} onClick={() => void act(() => s.contact('decline', c.name))}>
                  {t('messages.decline')}
                </button>
                <button type="button" class="secondary danger" disabled={busy} onClick={() => void act(() => s.contact('block', c.name))}>
                  {t('messages.block')}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      <h2>{t('messages.yourContacts')}</h2>
      {contacts.length === 0 ? (
        <p class="hint">{t('messages.noContacts')}</p>
      ) : (
        <ul class="contact-list" data-testid="contacts">
          {contacts.map((c) => {
            const online = s.online.get(c.name) === true;
            return (
              <li key={c.name} data-testid="contact" data-online={online ? 'yes' : 'no'}>
                <span class={`dot${online ? ' on' : ''}`} role="img" aria-label={online ? t('messages.online') : t('messages.offline')} />
                <span class="contact-name">{c.name}</span>
                <label class="check">
                  <input
                    type="checkbox"
                    checked={group.has(c.name)}
                    aria-label={t('messages.pick', { name: c.name })}
                    onChange={(e) => {
                      const next = new Set(group);
                      if (e.currentTarget.checked) next.add(c.name);
                      else next.delete(c.name);
                      setGroup(next);
                    }}
                  />
                </label>
                <button type="button" data-testid="message-contact" disabled={busy} onClick={() => void open([c.name])}>
                  {t('messages.message')}
                </button>
                <button
                  type="button"
                  class="secondary danger"
                  aria-label={t('messages.removeContactName', { name: c.name })}
                  disabled={busy}
                  onClick={() => setRemoving(c.name)}
                >
                  {t('messages.removeContact')}
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {group.size > 1 && (
        <button
          type="button"
          data-testid="start-group"
          disabled={busy}
          onClick={() => void open([...group]).then(() => setGroup(new Set()))}
        >
          {t('messages.startGroup', { count: group.size })}
        </button>
      )}
      {outgoing.length > 0 && (
        <>
          <h2>{t('messages.outgoing')}</h2>
          <ul class="contact-list" data-testid="outgoing">
            {outgoing.map((c) => (
              <li key={c.name}>
                <span class="contact-name">{c.name}</span>
                <button type="button" class="secondary" disabled={busy} onClick={() => void act(() => s.contact('remove', c.name))}>
                  {t('messages.withdraw')}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      {blocked.length > 0 && (
        <>
          <h2>{t('messages.blocked')}</h2>
          <ul class="contact-list" data-testid="blocked">
            {blocked.map((c) => (
              <li key={c.name}>
                <span class="contact-name">{c.name}</span>
                <button type="button" class="secondary" disabled={busy} onClick={() => void act(() => s.contact('unblock', c.name))}>
                  {t('messages.unblock')}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      <p class="hint">{t('messages.presenceHint')}</p>
      {removing !== undefined && (
        <ConfirmDialog
          title={t('messages.removeContactTitle', { name: removing })}
          body={t('messages.removeContactBody')}
          confirm={t('messages.removeContact')}
          cancel={t('account.cancel')}
          onCancel={() => setRemoving(undefined)}
          onConfirm={() => {
            const who = removing;
            setRemoving(undefined);
            void act(() => s.contact('remove', who));
          }}
        />
      )}
    </section>
  );
}
