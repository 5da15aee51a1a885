/**
 * The join screen: a nickname, a room name and a password (stretched by Argon2id into the room
 * secret, in this browser), or, for an invite link, only a nickname. "Create a room" makes a
 * random 256-bit secret that lives only in the link's fragment, which browsers never send.
 */
import { useState } from 'preact/hooks';
import {
  ClientError,
  type NullroomClient,
  type Room,
  type RoomSecret,
  deriveRoomSecret,
  inviteFragment,
  randomRoomSecret,
} from '@nullroom/client';
import { t } from '../i18n.js';
import { PasswordStrength } from './PasswordStrength.js';

export interface Joined {
  room: Room;
  name: string;
  invite: string | undefined;
}

export function JoinForm(props: {
  invite: RoomSecret | undefined;
  defaultNick: string;
  client: () => Promise<NullroomClient>;
  onJoined: (j: Joined) => void;
  onCancel: (() => void) | undefined;
}) {
  const [nick, setNick] = useState(props.defaultNick);
  const [roomName, setRoomName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  /** The room's group information was unusable (someone disrupted it): the SDK retries while the members repair it. */
  const [repairing, setRepairing] = useState(false);
  const enter = async (secret: RoomSecret | undefined, invite: string | undefined) => {
    setError(undefined);
    try {
      if (secret === undefined) {
        setBusy(t('join.deriving'));
        secret = await deriveRoomSecret(roomName, password);
      }
      setBusy(t('join.connecting'));
      const client = await props.client();
      setBusy(t('join.joining'));
      let off: (() => void) | undefined;
      const room = await client
        .join({ secret, nick, onRoom: (r) => (off = r.on('repair-wait', () => setRepairing(true))) })
        .finally(() => (off?.(), setRepairing(false)));
      props.onJoined({ room, name: invite === undefined ? roomName : t('chat.inviteRoom'), invite });
    } catch (err) {
      const already = err instanceof ClientError && (err.code === 'ALREADY_JOINED' || err.relayCode === 'ALREADY_IN_ROOM');
      setError(already ? t('join.alreadyIn') : t('join.failed', { message: err instanceof Error ? err.message : String(err) }));
      setBusy(undefined);
    }
  };
  const submit = (e: Event) => {
    e.preventDefault();
    if (props.invite !== undefined) return void enter(props.invite, `${location.origin}/${inviteFragment(props.invite)}`);
    void enter(undefined, undefined);
  };
  const createInviteRoom = () => {
    if (nick.trim() === '') return setError(t('join.pickNick'));
    const secret = randomRoomSecret();
    const fragment = inviteFragment(secret);
    history.replaceState(null, '', `/${fragment}`);
    void enter(secret, `${location.origin}/${fragment}`);
  };
  // Inside the app shell the form sits in its <main>; alone, it is the page's main content.
  const Wrapper = props.onCancel !== undefined ? 'section' : 'main';
  const intro = props.invite !== undefined ? t('join.invited') : props.onCancel !== undefined ? t('join.another') : t('join.tagline');
  return (
    <Wrapper class="join">
      <h1>{props.onCancel !== undefined ? t('chat.addRoom') : t('app.name')}</h1>
      <p class="tagline">{intro}</p>
      <form onSubmit={submit} aria-describedby={error ? 'join-error' : undefined}>
        <label>
          {t('join.nick')}
          <input
            data-testid="nick"
            required
            maxLength={32}
            autoComplete="nickname"
            value={nick}
            onInput={(e) => setNick(e.currentTarget.value)}
          />
        </label>
        {props.invite === undefined && (
          <>
            <label>
              {t('join.room')}
              <input data-testid="room" required autoComplete="off" value={roomName} onInput={(e) => setRoomName(e.currentTarget.value)} />
            </label>
            <label>
              {t('join.password')}
              <input
                data-testid="password"
                type="password"
                required
                autoComplete="current-password"
                aria-describedby="password-hint strength"
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
            <p class="hint" id="password-hint">
              {t('join.passwordHint')}
            </p>
            <PasswordStrength password={password} knownWords={[roomName, nick]} />
          </>
        )}
        <button data-testid="join" type="submit" disabled={busy !== undefined}>
          {busy ?? (props.invite === undefined ? t('join.submit') : t('join.submitInvite'))}
        </button>
        {busy !== undefined && repairing && (
          <p class="hint" role="status" data-testid="join-repairing">
            {t('join.repairing')}
          </p>
        )}
        {props.invite === undefined && (
          <button data-testid="create-invite" type="button" class="secondary" disabled={busy !== undefined} onClick={createInviteRoom}>
            {t('join.create')}
          </button>
        )}
        {props.onCancel !== undefined && (
          <button type="button" class="secondary" onClick={props.onCancel}>
            {t('join.cancel')}
          </button>
        )}
        {error && (
          <p id="join-error" class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </Wrapper>
  );
}
