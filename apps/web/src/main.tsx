/**
 * The Nullroom browser client (issue #3). One connection to the relay that served this page, any
 * number of rooms over it; everything cryptographic happens in @nullroom/client, which keeps this
 * browser's identity keys in IndexedDB as non-extractable Web Crypto keys.
 */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import {
  ClientError,
  type ConnectionState,
  IndexedDbKeyStore,
  type KeyStore,
  MemoryKeyStore,
  NullroomClient,
  browserWebSocket,
  secretFromInvite,
} from '@nullroom/client';
import { receivedFolder } from './browserFiles.js';
import { initI18n, setLanguage, t } from './i18n.js';
import { attention, setTitleUnread } from './notify.js';
import { type Prefs, applyTheme, languageOf, loadPrefs, savePrefs } from './prefs.js';
import { RoomSession } from './session.js';
import { ChatView } from './ui/ChatView.js';
import { ConfirmDialog } from './ui/ConfirmDialog.js';
import { Icon } from './ui/Icon.js';
import { JoinForm, type Joined } from './ui/JoinForm.js';
import { Settings } from './ui/Settings.js';

function App(props: { keyStore: KeyStore; storeNotice: 'unavailable' | 'corrupt' | undefined; initialPrefs: Prefs }) {
  const [prefs, setPrefs] = useState(props.initialPrefs);
  const [sessions, setSessions] = useState<RoomSession[]>([]);
  const [activeId, setActiveId] = useState<number | undefined>();
  /** A private chat of the active room on screen instead of the room. */
  const [activePrivate, setActivePrivate] = useState<string | undefined>();
  const [joining, setJoining] = useState(true);
  const [settingsOpen, setSettingsOpen] = useState(false);
  /** The room whose Leave was pressed, waiting for the user to confirm. */
  const [leaving, setLeaving] = useState<RoomSession | undefined>();
  const [conn, setConn] = useState<ConnectionState>('connecting');
  const [invite, setInvite] = useState(() => secretFromInvite(location.hash));
  const [, setTick] = useState(0);
  const [client, setClient] = useState<NullroomClient | undefined>();
  const active = sessions.find((s) => s.id === activeId);

  const connection = useMemo(() => ({ pending: undefined as Promise<NullroomClient> | undefined }), []);
  const ensureClient = useMemo(() => {
    return () => {
      connection.pending ??= (async () => {
        const c = new NullroomClient({ url: location.origin, webSocket: browserWebSocket, keyStore: props.keyStore });
        c.on('connection', (e) => setConn(e.state));
        try {
          await c.connect();
        } catch (e) {
          connection.pending = undefined;
          throw e;
        }
        setConn(c.connectionState);
        setClient(c);
        return c;
      })();
      return connection.pending;
    };
  }, [props.keyStore]);

  // Unread counts: a message counts as unread unless its room is on screen in a visible tab.
  const refreshTitle = () => setTitleUnread(sessionsRef.current.reduce((n, s) => n + s.totalUnread, 0));
  const sessionsRef = useMemo(() => ({ current: [] as RoomSession[] }), []);
  const activeRef = useMemo(() => ({ current: undefined as number | undefined }), []);
  const activePrivateRef = useMemo(() => ({ current: undefined as string | undefined }), []);
  const prefsRef = useMemo(() => ({ current: prefs }), []);
  sessionsRef.current = sessions;
  activeRef.current = joining ? undefined : activeId;
  activePrivateRef.current = activePrivate;
  prefsRef.current = prefs;

  useEffect(() => {
    const onVisible = () => {
      const s = sessionsRef.current.find((x) => x.id === activeRef.current);
      if (!document.hidden && s !== undefined) {
        if (activePrivateRef.current === undefined) s.markRead();
        else s.markPrivateRead(activePrivateRef.current);
      }
      refreshTitle();
      setTick((n) => n + 1);
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, []);
  useEffect(() => {
    if (!document.hidden && active !== undefined) {
      if (activePrivate === undefined) active.markRead();
      else active.markPrivateRead(activePrivate);
      setTick((n) => n + 1);
    }
    refreshTitle();
  }, [activeId, joining, activePrivate]);

  const onJoined = (j: Joined) => {
    const s = new RoomSession(
      j.room,
      j.name,
      j.invite,
      (session, privateId) => {
        const onScreen = session.id === activeRef.current && activePrivateRef.current === privateId && !document.hidden;
        if (!onScreen) {
          const pv = privateId === undefined ? undefined : session.privates.get(privateId);
          if (pv !== undefined) pv.unread++;
          else session.unread++;
          attention(prefsRef.current, session.name, `nullroom-${session.id}`);
        }
        refreshTitle();
        setTick((n) => n + 1);
      },
      prefsRef.current.privateRouting,
    );
    s.subscribe(() => setTick((n) => n + 1));
    setSessions((prev) => [...prev, s]);
    setActiveId(s.id);
    setActivePrivate(undefined);
    setJoining(false);
    setInvite(undefined);
  };

  const leave = async (s: RoomSession) => {
    const rest = sessions.filter((x) => x !== s);
    s.close();
    setSessions(rest);
    setActiveId(rest[rest.length - 1]?.id);
    if (rest.length > 0) return void (await s.room.leave(2000).catch(() => undefined));
    // The last room: close the connection too, and start afresh on the join screen.
    connection.pending = undefined;
    setClient(undefined);
    setJoining(true);
    history.replaceState(null, '', '/');
    await client?.close();
  };

  const changePrefs = (p: Prefs) => {
    setPrefs(p);
    savePrefs(p);
    applyTheme(p.theme);
    for (const s of sessions) s.privateChats.routing = p.privateRouting;
    if (languageOf(p) !== languageOf(prefs)) void setLanguage(languageOf(p)).then(() => (refreshTitle(), setTick((n) => n + 1)));
  };

  const settingsButton = (
    <button
      type="button"
      class="secondary icon"
      aria-label={t('settings.open')}
      aria-expanded={settingsOpen}
      data-testid="settings-button"
      onClick={() => setSettingsOpen(!settingsOpen)}
    >
      <Icon name="settings" />
    </button>
  );
  const settings = settingsOpen && (
    <Settings prefs={prefs} language={languageOf(prefs)} onChange={changePrefs} onClose={() => setSettingsOpen(false)} />
  );

  const storeNotice = props.storeNotice !== undefined && (
    <p class={`store-notice ${props.storeNotice}`} role={props.storeNotice === 'corrupt' ? 'alert' : 'status'}>
      {t(`store.${props.storeNotice}`)}
    </p>
  );

  if (sessions.length === 0) {
    return (
      <>
        <div class="corner">{settingsButton}</div>
        {settings}
        {props.storeNotice === 'corrupt' && storeNotice}
        <JoinForm invite={invite} defaultNick="" client={ensureClient} onJoined={onJoined} onCancel={undefined} />
      </>
    );
  }
  return (
    <div class="app">
      <a class="skip" href="#composer-area">
        {t('chat.message')}
      </a>
      <header class="top">
        <span class="brand">{t('app.name')}</span>
        <span data-testid="connection" class={`conn conn-${conn}`} role="status">
          {t(`connection.${conn}`)}
        </span>
        {settingsButton}
        {/* Leaving a room, not the private chat on screen (that has its own Close): not offered from a private chat. */}
        {active !== undefined && !joining && activePrivate === undefined && (
          <button type="button" class="secondary danger" data-testid="leave" onClick={() => setLeaving(active)}>
            <Icon name="leave" />
            {t('chat.leave')}
          </button>
        )}
      </header>
      {settings}
      {leaving !== undefined && (
        <ConfirmDialog
          title={t('chat.leaveTitle', { room: leaving.name })}
          body={t('chat.leaveBody')}
          confirm={t('chat.leave')}
          cancel={t('chat.stay')}
          onCancel={() => setLeaving(undefined)}
          onConfirm={() => (setLeaving(undefined), void leave(leaving))}
        />
      )}
      <nav class="rooms" aria-label={t('chat.rooms')}>
        <ul data-testid="rooms">
          {sessions.map((s) => (
            <li key={s.id}>
              <button
                type="button"
                class={`room-tab${s.id === activeId && activePrivate === undefined && !joining ? ' active' : ''}`}
                aria-current={s.id === activeId && activePrivate === undefined && !joining ? 'page' : undefined}
                onClick={() => (setActiveId(s.id), setActivePrivate(undefined), setJoining(false))}
              >
                <span class="room-label">{s.name}</span>
                {s.unread > 0 && (
                  <span class="unread" data-testid="unread" aria-label={t('chat.unread', { count: s.unread })}>
                    {s.unread}
                  </span>
                )}
              </button>
              {[...s.privates.values()].map((pv) => (
                <button
                  key={pv.id}
                  type="button"
                  data-testid="private-tab"
                  class={`room-tab private${s.id === activeId && activePrivate === pv.id && !joining ? ' active' : ''}`}
                  aria-current={s.id === activeId && activePrivate === pv.id && !joining ? 'page' : undefined}
                  aria-label={t('private.label', { nick: pv.chat.peer })}
                  onClick={() => (setActiveId(s.id), setActivePrivate(pv.id), setJoining(false))}
                >
                  <Icon name="lock" size={14} />
                  <span class="room-label">{pv.chat.peer}</span>
                  {pv.unread > 0 && (
                    <span class="unread" data-testid="unread" aria-label={t('chat.unread', { count: pv.unread })}>
                      {pv.unread}
                    </span>
                  )}
                </button>
              ))}
            </li>
          ))}
          <li>
            <button type="button" class="secondary add-room" data-testid="add-room" onClick={() => setJoining(true)}>
              <Icon name="plus" size={16} />
              {t('chat.addRoom')}
            </button>
          </li>
        </ul>
      </nav>
      <main class="chat" id="composer-area">
        {joining || active === undefined ? (
          <JoinForm
            invite={undefined}
            defaultNick={sessions[0]?.room.requestedNick ?? ''}
            client={ensureClient}
            onJoined={onJoined}
            onCancel={() => setJoining(false)}
          />
        ) : (
          <ChatView
            session={active}
            privateView={activePrivate === undefined ? undefined : active.privates.get(activePrivate)}
            stripMetadata={prefs.stripMetadata}
            onOpenPrivate={(nick) =>
              void active.openPrivate(nick).then(
                (id) => setActivePrivate(id),
                () => undefined,
              )
            }
          />
        )}
      </main>
      {storeNotice}
    </div>
  );
}

async function main(): Promise<void> {
  void receivedFolder(); // deletes the received files of pages that are gone
  const prefs = loadPrefs();
  applyTheme(prefs.theme);
  await initI18n(languageOf(prefs));
  setTitleUnread(0);
  let keyStore: KeyStore;
  let storeNotice: 'unavailable' | 'corrupt' | undefined;
  try {
    keyStore = await IndexedDbKeyStore.open();
  } catch (e) {
    // Damaged device keys are left as they are (never replaced: that would reset every room's trust) and said so.
    keyStore = new MemoryKeyStore();
    storeNotice = e instanceof ClientError && e.code === 'KEY_STORE_CORRUPT' ? 'corrupt' : 'unavailable';
  }
  render(<App keyStore={keyStore} storeNotice={storeNotice} initialPrefs={prefs} />, document.getElementById('app')!);
}

void main();
