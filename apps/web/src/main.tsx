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
  type SealedRecords,
  MemoryKeyStore,
  NullroomClient,
  RoomName,
  browserWebSocket,
  secretFromInvite,
} from '@nullroom/client';
import { receivedFolder } from './browserFiles.js';
import { initI18n, setLanguage, t } from './i18n.js';
import { attention, setTitleUnread } from './notify.js';
import { type Prefs, applyTheme, languageOf, loadPrefs, savePrefs } from './prefs.js';
import { HistoryStore, type RoomHistory, emptyPast } from './history.js';
import { TabSessions, roomKey, takeUpRooms } from './reload.js';
import { RoomSession } from './session.js';
import { ChatView } from './ui/ChatView.js';
import { ConfirmDialog } from './ui/ConfirmDialog.js';
import { Icon } from './ui/Icon.js';
import { JoinForm, type Joined } from './ui/JoinForm.js';
import { useCornerPanels } from './ui/CornerPanels.js';
import { accountUnread, useMessagesView } from './ui/MessagesView.js';

/** What a reload keeps (reload.ts, history.ts): only with the browser's sealed store. */
interface Keeping {
  tab: TabSessions;
  histories: HistoryStore;
  profile: SealedRecords;
  /** The nickname last used, for the join form. */
  nick: string;
}

function App(props: {
  keyStore: KeyStore;
  storeNotice: 'unavailable' | 'corrupt' | undefined;
  initialPrefs: Prefs;
  keeping: Keeping | undefined;
}) {
  const keeping = props.keeping;
  const [prefs, setPrefs] = useState(props.initialPrefs);
  const [sessions, setSessions] = useState<RoomSession[]>([]);
  const [activeId, setActiveId] = useState<number | undefined>();
  /** A private chat of the active room on screen instead of the room. */
  const [activePrivate, setActivePrivate] = useState<string | undefined>();
  const [joining, setJoining] = useState(true);
  /** Rooms kept from before a reload are being taken up: the join form waits. */
  const [restoring, setRestoring] = useState(keeping !== undefined);
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
        const c = new NullroomClient({
          url: location.origin,
          webSocket: browserWebSocket,
          keyStore: props.keyStore,
          ...(keeping === undefined ? {} : { sessions: keeping.tab }),
        });
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
  const refreshTitle = () => setTitleUnread(sessionsRef.current.reduce((n, s) => n + s.totalUnread, 0) + accountUnread());
  const sessionsRef = useMemo(() => ({ current: [] as RoomSession[] }), []);
  const live = useMemo(() => new Map<string, RoomSession>(), []);
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

  const onJoined = (j: Joined, past?: RoomHistory) => {
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
      past,
    );
    s.names = j.names;
    if (j.names.name !== undefined) s.name = j.names.name;
    j.names.on('name', (e) => s.renamed(e));
    s.subscribe(() => setTick((n) => n + 1));
    if (keeping !== undefined) {
      keepHistory(s, keeping.histories);
      if (past === undefined) void keeping.profile.put('nick', new TextEncoder().encode(s.room.requestedNick)).catch(() => undefined);
    }
    live.set(roomKey(s.room.locator), s);
    setSessions((prev) => [...prev, s]);
    setActiveId(s.id);
    setActivePrivate(undefined);
    setJoining(false);
    if (past === undefined) setInvite(undefined);
  };

  // After a reload: the rooms this tab had are taken up (they resume their slots), with what they showed.
  useEffect(() => {
    if (keeping === undefined) return;
    // The sessions by room, at once (sessionsRef waits for a render): a room restored a moment ago saves too.
    keeping.tab.beforeSave = (room) => {
      const s = live.get(room);
      return s === undefined ? Promise.resolve() : keeping.histories.save(room, s.history());
    };
    void takeUpRooms(keeping.tab, keeping.histories, ensureClient, (room, past) =>
      onJoined(
        { room, names: new RoomName(room, past?.roomName), name: past?.name || t('join.room'), invite: past?.invite },
        past ?? emptyPast(room.created),
      ),
    )
      .then((back) => {
        // The link this page was opened with is a room we are back in (its creator reloading): not an invitation.
        if (location.hash.length <= 1 || back.some((p) => p?.invite?.endsWith(location.hash) === true)) setInvite(undefined);
        else if (secretFromInvite(location.hash) !== undefined) setJoining(true); // another room's invitation: offered next
      })
      .catch(() => undefined) // the relay is unreachable: the join form says so when the user tries
      .finally(() => setRestoring(false));
  }, []);

  const leave = async (s: RoomSession) => {
    const rest = sessions.filter((x) => x !== s);
    s.close();
    live.delete(roomKey(s.room.locator));
    await keeping?.tab.forget(roomKey(s.room.locator)); // before the LEAVE: a reload right after must not take the room up
    void keeping?.histories.remove(roomKey(s.room.locator));
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

  const messages = useMessagesView(
    () => (refreshTitle(), setTick((n) => n + 1)),
    () => attention(prefsRef.current, t('messages.title'), 'nullroom-messages'),
    props.keyStore instanceof IndexedDbKeyStore ? props.keyStore : undefined,
  );
  const { buttons: cornerButtons, panels, openAccount } = useCornerPanels(prefs, changePrefs, messages.onAccount);
  const buttons = (
    <>
      {messages.button}
      {cornerButtons}
    </>
  );

  const storeNotice = props.storeNotice !== undefined && (
    <p class={`store-notice ${props.storeNotice}`} role={props.storeNotice === 'corrupt' ? 'alert' : 'status'}>
      {t(`store.${props.storeNotice}`)}
    </p>
  );

  if (messages.view === 'messages') {
    return messages.screen(buttons, panels, openAccount, !prefs.stripMetadata);
  }
  if (sessions.length === 0 && restoring) {
    // A page like any other while the rooms come back: a main landmark and a heading for screen readers.
    return (
      <main>
        <h1 class="sr-only">{t('app.name')}</h1>
        <p class="restoring" role="status" data-testid="restoring">
          {t('join.restoring')}
        </p>
      </main>
    );
  }
  if (sessions.length === 0) {
    return (
      <>
        <div class="corner">{buttons}</div>
        {panels}
        {props.storeNotice === 'corrupt' && storeNotice}
        <JoinForm invite={invite} defaultNick={keeping?.nick ?? ''} client={ensureClient} onJoined={onJoined} onCancel={undefined} />
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
        {buttons}
        {/* Leaving a room, not the private chat on screen (that has its own Close): not offered from a private chat. */}
        {active !== undefined && !joining && activePrivate === undefined && (
          <button type="button" class="secondary danger" data-testid="leave" onClick={() => setLeaving(active)}>
            <Icon name="leave" />
            <span class="narrow-hidden">{t('chat.leave')}</span>
          </button>
        )}
      </header>
      {panels}
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
                  aria-label={t('private.label', { nick: pv.peer })}
                  onClick={() => (setActiveId(s.id), setActivePrivate(pv.id), setJoining(false))}
                >
                  <Icon name="lock" size={14} />
                  <span class="room-label">{pv.peer}</span>
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
            invite={invite}
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
            sendTyping={prefs.sendTyping}
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
  let keeping: Keeping | undefined;
  try {
    const store = await IndexedDbKeyStore.open();
    keyStore = store;
    const profile = store.records('profile');
    const nick = await profile.get('nick').catch(() => undefined);
    keeping = {
      tab: new TabSessions(store.sessions()),
      histories: new HistoryStore(store.records('history')),
      profile,
      nick: nick === undefined ? '' : new TextDecoder().decode(nick),
    };
  } catch (e) {
    // Damaged device keys are left as they are (never replaced: that would reset every room's trust) and said so.
    keyStore = new MemoryKeyStore();
    storeNotice = e instanceof ClientError && e.code === 'KEY_STORE_CORRUPT' ? 'corrupt' : 'unavailable';
  }
  render(<App keyStore={keyStore} storeNotice={storeNotice} initialPrefs={prefs} keeping={keeping} />, document.getElementById('app')!);
}

/** Writes a room's history a moment after it changes (and, through TabSessions, before its session). */
function keepHistory(s: RoomSession, histories: HistoryStore): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const room = roomKey(s.room.locator);
  s.subscribe(() => {
    if (timer !== undefined || s.room.state === 'left') return;
    timer = setTimeout(() => {
      timer = undefined;
      if (s.room.state !== 'left') void histories.save(room, s.history());
    }, 500);
  });
}

void main();
