/**
 * Messages: the account messenger (docs/PROTOCOL.md §11), beside the rooms. Loaded on demand with
 * the accounts SDK (main.tsx imports it when Messages is opened). Signed out, it asks to sign in
 * (the account panel); signed in, this browser becomes a device of the account (ui/DevicePanes.tsx:
 * enrolment, or a code another device approves), then the contacts and conversations
 * (ui/ContactsPane.tsx, ui/ConversationPane.tsx). One AccountSession lives as long as the page, so
 * going back to the rooms and returning keeps the connection and what was received.
 */
import { useEffect, useState } from 'preact/hooks';
import { AccountClient } from '@nullroom/client/accounts';
import type { IndexedDbKeyStore } from '@nullroom/client';
import { AccountSession } from '../accountSession.js';
import { t } from '../i18n.js';
import { ContactsPane } from './ContactsPane.js';
import { ConversationPane } from './ConversationPane.js';
import { ApprovalWait, DevicesPane } from './DevicePanes.js';
import { Icon } from './Icon.js';
import { Warnings } from './Warnings.js';
import { DEVICE_HERE } from './MessagesView.js';

const PIN = 'nullroom.accountServerKey';

let current: AccountSession | undefined;
/** What the page does when the session changes and when a message arrives unread, on screen or not (MessagesView.tsx). */
const hooks = { changed: () => undefined as void, incoming: () => undefined as void };
export function setHooks(changed: () => void, incoming: () => void): void {
  hooks.changed = changed;
  hooks.incoming = incoming;
}

function accountClient(): AccountClient {
  const pinned = localStorage.getItem(PIN) ?? undefined;
  return new AccountClient({ url: location.origin, session: 'cookie', ...(pinned === undefined ? {} : { serverKey: pinned }) });
}

/** The session for `name` (made and started on first use; another account's is closed). */
export function sessionFor(name: string, store: IndexedDbKeyStore): AccountSession {
  if (current?.name === name) return current;
  current?.close();
  current = new AccountSession(accountClient(), name, store);
  current.onIncoming = () => hooks.incoming();
  current.subscribe(() => {
    if (current?.phase.kind === 'ready') localStorage.setItem(DEVICE_HERE, '1');
    hooks.changed();
  });
  void current.start();
  return current;
}

/** Who is signed in on this relay (undefined: nobody). */
export async function whoami(): Promise<string | undefined> {
  return (await accountClient().whoami())?.name;
}

/** Ends the session (signed out). */
export function endAccountSession(): void {
  current?.close();
  current = undefined;
}

export function totalAccountUnread(): number {
  return current?.totalUnread() ?? 0;
}

/** A screen of one line (a main landmark, as every screen has): something is being done, or went wrong. */
function Plain(props: { status?: string; error?: string }) {
  return (
    <main class="messages-intro">
      {props.status !== undefined && <p role="status">{props.status}</p>}
      {props.error !== undefined && (
        <p class="error" role="alert" data-testid="messages-failed">
          {props.error}
        </p>
      )}
    </main>
  );
}

type Pane = { kind: 'contacts' } | { kind: 'devices' } | { kind: 'conversation'; id: string };

export function Messages(props: {
  store: IndexedDbKeyStore | undefined;
  /** Who is signed in (undefined: nobody; null: not known yet). */
  account: string | undefined | null;
  onSignIn: () => void;
  /** Send photos with their location and camera details (Settings). */
  keepMetadata: boolean;
}) {
  const [, setTick] = useState(0);
  const [pane, setPane] = useState<Pane>({ kind: 'contacts' });
  const session = props.account && props.store !== undefined ? sessionFor(props.account, props.store) : undefined;

  useEffect(() => {
    if (session === undefined) return;
    return session.subscribe(() => setTick((n) => n + 1));
  }, [session]);
  // The conversation on screen: its past read from the history, and its messages read as they come.
  const openId = pane.kind === 'conversation' ? pane.id : undefined;
  useEffect(() => {
    if (session === undefined) return;
    session.open = openId;
    if (openId !== undefined) void session.show(openId);
  }, [session, openId, session?.phase.kind]);
  useEffect(() => {
    if (session !== undefined && openId !== undefined && !document.hidden) session.markRead(openId);
  });

  if (props.account === null) return <Plain status={t('account.loading')} />;
  if (props.store === undefined) return <Plain error={t('messages.noStore')} />;
  // The relay ended the session (signed out elsewhere, the password changed, this device removed): sign in again.
  const ended = session?.phase.kind === 'failed' && session.phase.code === 'NOT_SIGNED_IN';
  if (session === undefined || ended) {
    return (
      <main class="messages-intro" data-testid="messages-signed-out">
        <h1>{t('messages.title')}</h1>
        {ended && (
          <p class="warning" role="alert">
            {t('messages.signedOut')}
          </p>
        )}
        <p>{t('messages.intro')}</p>
        <button type="button" data-testid="messages-sign-in" onClick={props.onSignIn}>
          {t('messages.signIn')}
        </button>
      </main>
    );
  }
  const phase = session!.phase;
  if (phase.kind === 'starting') return <Plain status={t('messages.starting')} />;
  if (phase.kind === 'approval') return <ApprovalWait code={phase.code} expiresAt={phase.expiresAt} />;
  if (phase.kind === 'failed') {
    return <Plain error={t(`messages.failed.${phase.code}`, { defaultValue: t('messages.failed.other', { code: phase.code }) })} />;
  }
  const list = session.list();
  return (
    <div class="messenger">
      <nav class="conversations" aria-label={t('messages.conversations')}>
        {session.connection !== 'online' && (
          <p class="conn conn-reconnecting" role="status" data-testid="account-connection">
            {t(`connection.${session.connection === 'closed' ? 'closed' : 'reconnecting'}`)}
          </p>
        )}
        <ul data-testid="conversations">
          <li>
            <button
              type="button"
              class={`room-tab${pane.kind === 'contacts' ? ' active' : ''}`}
              aria-current={pane.kind === 'contacts' ? 'page' : undefined}
              data-testid="contacts-tab"
              onClick={() => setPane({ kind: 'contacts' })}
            >
              <Icon name="user" size={16} />
              <span class="room-label">{t('messages.contacts')}</span>
              {session.contacts.incoming.length > 0 && (
                <span class="unread" aria-label={t('messages.requests', { count: session.contacts.incoming.length })}>
                  {session.contacts.incoming.length}
                </span>
              )}
            </button>
          </li>
          {list.map((c) => {
            const others = session.others(c);
            const active = pane.kind === 'conversation' && pane.id === c.id;
            return (
              <li key={c.id}>
                <button
                  type="button"
                  class={`room-tab${active ? ' active' : ''}`}
                  aria-current={active ? 'page' : undefined}
                  data-testid="conversation-tab"
                  onClick={() => setPane({ kind: 'conversation', id: c.id })}
                >
                  {others.length === 1 && <span class={`dot${session.online.get(others[0]!) ? ' on' : ''}`} aria-hidden="true" />}
                  <span class="room-label">{session.title(c) ?? t('messages.justYou')}</span>
                  {c.unread > 0 && (
                    <span class="unread" data-testid="unread" aria-label={t('chat.unread', { count: c.unread })}>
                      {c.unread}
                    </span>
                  )}
                </button>
              </li>
            );
          })}
          <li>
            <button
              type="button"
              class={`room-tab${pane.kind === 'devices' ? ' active' : ''}`}
              data-testid="devices-tab"
              onClick={() => setPane({ kind: 'devices' })}
            >
              <Icon name="lock" size={16} />
              <span class="room-label">{t('messages.devices')}</span>
            </button>
          </li>
        </ul>
      </nav>
      <main class="conversation" id="composer-area">
        <Warnings session={session} />
        {pane.kind === 'contacts' && <ContactsPane session={session} onOpen={(id) => setPane({ kind: 'conversation', id })} />}
        {pane.kind === 'devices' && <DevicesPane session={session} />}
        {pane.kind === 'conversation' && session.conversations.has(pane.id) && (
          <ConversationPane
            key={pane.id}
            session={session}
            conversation={session.conversations.get(pane.id)!}
            keepMetadata={props.keepMetadata}
            onLeft={() => setPane({ kind: 'contacts' })}
          />
        )}
      </main>
    </div>
  );
}
