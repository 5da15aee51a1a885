/**
 * The Nullroom browser client (first step of issue #3): join a password room, chat, see who is
 * there. Everything cryptographic happens in @nullroom/client; this file only renders its events.
 * Peer text is always rendered as text (Preact escapes it); nothing from a peer becomes markup.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  type ConnectionState,
  NullroomClient,
  type Room,
  type RoomSecret,
  browserWebSocket,
  deriveRoomSecret,
  formatSafetyNumber,
  inviteFragment,
  randomRoomSecret,
  secretFromInvite,
} from '@nullroom/client';

interface Line {
  key: number;
  kind: 'message' | 'notice' | 'error';
  from?: string;
  text: string;
  ts: number;
  self?: boolean;
}

let lineKey = 0;
const time = (ts: number) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

interface Session {
  room: Room;
  client: NullroomClient;
  name: string;
  /** The invite link, for rooms made from a random secret. */
  invite?: string;
}

function JoinScreen(props: { invite: RoomSecret | undefined; onJoined: (s: Session) => void }) {
  const [nick, setNick] = useState('');
  const [roomName, setRoomName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const enter = async (secret: RoomSecret | undefined, invite: string | undefined) => {
    setError(undefined);
    try {
      if (secret === undefined) {
        setBusy('Deriving the room key…');
        secret = await deriveRoomSecret(roomName, password);
      }
      setBusy('Connecting…');
      const client = new NullroomClient({ url: location.origin, webSocket: browserWebSocket });
      await client.connect();
      setBusy('Joining…');
      const room = await client.join({ secret, nick });
      props.onJoined({ room, client, name: invite === undefined ? roomName : 'Invite room', ...(invite === undefined ? {} : { invite }) });
    } catch (err) {
      setError(err instanceof Error ? err.message : 'could not join');
      setBusy(undefined);
    }
  };
  const submit = (e: Event) => {
    e.preventDefault();
    if (props.invite !== undefined) return void enter(props.invite, `${location.origin}/${inviteFragment(props.invite)}`);
    void enter(undefined, undefined);
  };
  /** A room behind a random 256-bit secret that lives only in the link's fragment (never sent to the server). */
  const createInviteRoom = () => {
    if (nick.trim() === '') return setError('Pick a nickname first.');
    const secret = randomRoomSecret();
    const fragment = inviteFragment(secret);
    history.replaceState(null, '', `/${fragment}`);
    void enter(secret, `${location.origin}/${fragment}`);
  };
  return (
    <main class="join">
      <h1>Nullroom</h1>
      <p class="tagline">
        {props.invite === undefined
          ? 'End-to-end encrypted rooms. The server never sees your name, your room or your words.'
          : 'You were invited to an end-to-end encrypted room. Pick a nickname to join.'}
      </p>
      <form onSubmit={submit} aria-describedby={error ? 'join-error' : undefined}>
        <label>
          Nickname
          <input data-testid="nick" required maxLength={32} autoComplete="nickname" value={nick} onInput={(e) => setNick(e.currentTarget.value)} />
        </label>
        {props.invite === undefined && (
          <>
            <label>
              Room
              <input data-testid="room" required autoComplete="off" value={roomName} onInput={(e) => setRoomName(e.currentTarget.value)} />
            </label>
            <label>
              Password
              <input data-testid="password" type="password" required autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            </label>
          </>
        )}
        <button data-testid="join" type="submit" disabled={busy !== undefined}>
          {busy ?? (props.invite === undefined ? 'Join' : 'Join the invite room')}
        </button>
        {props.invite === undefined && (
          <button data-testid="create-invite" type="button" class="secondary" disabled={busy !== undefined} onClick={createInviteRoom}>
            Create a room with an invite link
          </button>
        )}
        {error && (
          <p id="join-error" class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function ChatScreen(props: Session & { onLeft: () => void }) {
  const { room, client } = props;
  const [lines, setLines] = useState<Line[]>(() => [
    {
      key: lineKey++,
      kind: 'notice',
      text: room.created ? 'You created a new room.' : `You joined ${room.members().length - 1} member(s).`,
      ts: Date.now(),
    },
  ]);
  const [members, setMembers] = useState(() => room.members().map((m) => ({ nick: m.nick, self: m.self })));
  const [conn, setConn] = useState<ConnectionState>(client.connectionState);
  const [draft, setDraft] = useState('');
  const [selected, setSelected] = useState<string | undefined>();
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const add = (l: Omit<Line, 'key'>) => setLines((prev) => [...prev, { ...l, key: lineKey++ }]);
    const refresh = () => setMembers(room.members().map((m) => ({ nick: m.nick, self: m.self })));
    const offs = [
      room.on('message', (e) => add({ kind: 'message', from: e.from, text: e.text, ts: e.ts })),
      room.on('member-joined', (e) => (add({ kind: 'notice', text: `${e.nick} joined`, ts: Date.now() }), refresh())),
      room.on('member-left', (e) => (add({ kind: 'notice', text: `${e.nick} left`, ts: Date.now() }), refresh())),
      room.on('joined', (e) => (add({ kind: 'notice', text: e.created ? 'Reconnected: you created a new room.' : 'Reconnected.', ts: Date.now() }), refresh())),
      room.on('error', (e) => add({ kind: 'error', text: `${e.code}: ${e.message}`, ts: Date.now() })),
      client.on('connection', (e) => setConn(e.state)),
    ];
    return () => offs.forEach((off) => off());
  }, [room, client]);
  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: 'end' });
  }, [lines]);
  const send = () => {
    const text = draft.trim();
    if (text === '') return;
    try {
      room.send(draft);
      setLines((prev) => [...prev, { key: lineKey++, kind: 'message', from: room.nick, text: draft, ts: Date.now(), self: true }]);
      setDraft('');
    } catch (err) {
      setLines((prev) => [...prev, { key: lineKey++, kind: 'error', text: err instanceof Error ? err.message : 'not sent', ts: Date.now() }]);
    }
  };
  const leave = async () => {
    await client.close();
    props.onLeft();
  };
  return (
    <div class="chat">
      <header>
        <h1>{props.name}</h1>
        <span data-testid="connection" class={`conn conn-${conn}`} role="status">
          {conn}
        </span>
        <button onClick={leave}>Leave</button>
      </header>
      {props.invite !== undefined && (
        <div class="invite">
          <label>
            Invite link (anyone with it can join; the server never sees the part after #)
            <input data-testid="invite-link" readOnly value={props.invite} onFocus={(e) => e.currentTarget.select()} />
          </label>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(props.invite!)}>
            Copy
          </button>
        </div>
      )}
      <ol class="messages" ref={list} data-testid="messages" aria-live="polite">
        {lines.map((l) => (
          <li key={l.key} class={`line ${l.kind}${l.self ? ' self' : ''}`}>
            {l.kind === 'message' ? (
              <>
                <span class="from">{l.from}</span> <time>{time(l.ts)}</time>
                <p class="text">{l.text}</p>
              </>
            ) : (
              <span class="notice">{l.text}</span>
            )}
          </li>
        ))}
      </ol>
      <aside class="members" aria-label="Members">
        <h2 data-testid="member-count">{members.length === 1 ? '1 member' : `${members.length} members`}</h2>
        <ul data-testid="members">
          {members.map((m) => (
            <li key={m.nick}>
              {m.self ? (
                `${m.nick} (you)`
              ) : (
                <button class="member" aria-expanded={selected === m.nick} onClick={() => setSelected(selected === m.nick ? undefined : m.nick)}>
                  {m.nick}
                </button>
              )}
            </li>
          ))}
        </ul>
        {selected !== undefined && members.some((m) => m.nick === selected) && (
          <section class="panel" data-testid="member-panel" aria-label={`About ${selected}`}>
            <h3>{selected}</h3>
            <p>Safety number you share with {selected}. Compare it with theirs in person or over a call you trust; if it matches, nobody is in between.</p>
            <p class="safety" data-testid="safety-number">
              {formatSafetyNumber(room.safetyNumber(selected) ?? '')}
            </p>
          </section>
        )}
      </aside>
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <textarea
          data-testid="composer"
          aria-label="Message"
          rows={2}
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              send();
            }
          }}
        />
        <button type="submit">Send</button>
      </form>
    </div>
  );
}

function App() {
  const [session, setSession] = useState<Session | undefined>();
  const invite = secretFromInvite(location.hash);
  return session === undefined ? (
    <JoinScreen invite={invite} onJoined={setSession} />
  ) : (
    <ChatScreen {...session} onLeft={() => setSession(undefined)} />
  );
}

render(<App />, document.getElementById('app')!);
