/**
 * Rooms or Messages on screen (the choice kept in localStorage), the button that switches, and the
 * Messages screen. Messages (ui/Messages.tsx, with the accounts SDK and OPAQUE) is imported the
 * first time it is opened, never with the page, and stays loaded: its account session keeps its
 * connection while the rooms are on screen, and the button shows its unread count.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { IndexedDbKeyStore } from '@nullroom/client';
import { t } from '../i18n.js';
import { Icon } from './Icon.js';

type MessagesModule = typeof import('./Messages.js');
type View = 'rooms' | 'messages';
const VIEW = 'nullroom.view';
/**
 * Set once this browser is a device of the signed-in account (enrolled or approved), removed at sign
 * out: the page then opens the account's conversations at load, on any screen. Never set by merely
 * signing in, which must not start a device approval nobody asked for.
 */
export const DEVICE_HERE = 'nullroom.accountDevice';

let loaded: MessagesModule | undefined;

/** Unread account messages (0 until the account's conversations were opened in this page). */
export const accountUnread = (): number => loaded?.totalAccountUnread() ?? 0;

/** `onChange`: the account session changed (messages, contacts); `onIncoming`: a message arrived unread. */
export function useMessagesView(onChange: () => void, onIncoming: () => void, store: IndexedDbKeyStore | undefined) {
  const [view, setView] = useState<View>(() => (localStorage.getItem(VIEW) === 'messages' ? 'messages' : 'rooms'));
  const [mod, setMod] = useState<MessagesModule | undefined>();
  /** Who is signed in, for Messages (null: not asked yet). */
  const [account, setAccount] = useState<string | undefined | null>(null);
  const show = (v: View) => {
    setView(v);
    localStorage.setItem(VIEW, v);
  };
  // Loaded when Messages is opened, or at once when an account is signed in here (its messages then
  // arrive, and count as unread, while the rooms are on screen). Neither loads OPAQUE.
  useEffect(() => {
    if ((view !== 'messages' && localStorage.getItem(DEVICE_HERE) === null) || mod !== undefined) return;
    void import('./Messages.js').then((m) => {
      loaded = m;
      m.setHooks(onChange, onIncoming);
      setMod(m);
      m.whoami().then(
        (name) => {
          setAccount(name);
          if (name === undefined) localStorage.removeItem(DEVICE_HERE);
          else if (store !== undefined) m.sessionFor(name, store);
        },
        () => setAccount(undefined),
      );
    });
  }, [view]);

  /** The account panel signed in or out. */
  const onAccount = (name: string | undefined) => {
    setAccount(name);
    if (name === undefined) {
      localStorage.removeItem(DEVICE_HERE);
      mod?.endAccountSession();
    }
  };
  const unread = accountUnread();
  const button = (
    <button
      type="button"
      class="secondary"
      data-testid={view === 'messages' ? 'rooms-button' : 'messages-button'}
      onClick={() => show(view === 'messages' ? 'rooms' : 'messages')}
    >
      <Icon name={view === 'messages' ? 'rooms' : 'messages'} />
      <span class="narrow-hidden">{view === 'messages' ? t('messages.rooms') : t('messages.open')}</span>
      {view === 'rooms' && unread > 0 && (
        <span class="unread" data-testid="messages-unread" aria-label={t('chat.unread', { count: unread })}>
          {unread}
        </span>
      )}
    </button>
  );
  const screen = (buttons: ComponentChildren, panels: ComponentChildren, openAccount: () => void, keepMetadata: boolean) => (
    <div class="app messenger-app">
      <header class="top">
        <span class="brand">{t('app.name')}</span>
        {buttons}
      </header>
      {panels}
      {mod === undefined ? (
        <main class="messages-intro">
          <p role="status">{t('account.loading')}</p>
        </main>
      ) : (
        <mod.Messages store={store} account={account} onSignIn={openAccount} keepMetadata={keepMetadata} />
      )}
    </div>
  );
  return { view, button, onAccount, screen };
}
