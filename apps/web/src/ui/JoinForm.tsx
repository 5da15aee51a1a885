/**
 * The join screen: a nickname, a room name and a password (stretched by Argon2id into the room
 * secret, in this browser), or, for an invite link, only a nickname. "Create a room" makes a
 * random 256-bit secret that lives only in the link's fragment, which browsers never send, and
 * may be given a name, which travels only inside the room's MLS group (RoomName, docs/PROTOCOL.md §5.3).
 */
import { useState } from 'preact/hooks';
import {
  ClientError,
  type NullroomClient,
  type Room,
  RoomName,
  type RoomSecret,
  checkRoomName,
  deriveRoomSecret,
  inviteFragment,
  randomRoomSecret,
  roomLabel,
} from '@nullroom/client';
import { t } from '../i18n.js';
import { PasswordStrength } from './PasswordStrength.js';

export interface Joined {
  room: Room;
  /** The room's name as the members set it (made before the join completes, so that it hears the answer to it). */
  names: RoomName;
  /** What to call the room while it has no name: a password room's name as typed, or an invite room's label. */
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
  /** The optional name of an invite room being created. */
  const [inviteName, setInviteName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  /** The room's group information was unusable (someone disrupted it): the SDK retries while the members repair it. */
  const [repairing, setRepairing] = useState(false);
  const enter = async (secret: RoomSecret | undefined, invite: string | undefined, named?: string) => {
    setError(undefined);
    try {
      if (secret === undefined) {
        setBusy(t('join.deriving'));
        secret = await deriveRoomSecret(roomName, password);
      }
      setBusy(t('join.connecting'));
      const client = await props.client();
      setBusy(t('join.joining'));
      const label = invite === undefined ? roomName : t('chat.inviteRoomLabel', { label: await roomLabel(secret) });
      let off: (() => void) | undefined;
      let names: RoomName | undefined;
      const onRoom = (r: Room) => {
        // A password room's name is known; an invite room's is the creator's choice, or told by a member once we joined.
        names = new RoomName(r, invite === undefined ? roomName : named);
        off = r.on('repair-wait', () => setRepairing(true));
      };
      const room = await client.join({ secret, nick, onRoom }).finally(() => (off?.(), setRepairing(false)));
      props.onJoined({ room, names: names!, name: label, invite });
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
    let named: string | undefined;
    try {
      named = inviteName.trim() === '' ? undefined : checkRoomName(inviteName);
    } catch {
      return setError(t('chat.badRoomName'));
    }
    const secret = randomRoomSecret();
    const fragment = inviteFragment(secret);
    history.replaceState(null, '', `/${fragment}`);
    void enter(secret, `${location.origin}/${fragment}`, named);
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
          <fieldset class="create-invite">
            <legend>{t('join.createLegend')}</legend>
            <label>
              {t('join.inviteName')}
              <input
                data-testid="invite-name"
                maxLength={64}
                autoComplete="off"
                aria-describedby="invite-name-hint"
                value={inviteName}
                onInput={(e) => setInviteName(e.currentTarget.value)}
              />
            </label>
            <p class="hint" id="invite-name-hint">
              {t('join.inviteNameHint')}
            </p>
            <button data-testid="create-invite" type="button" class="secondary" disabled={busy !== undefined} onClick={createInviteRoom}>
              {t('join.create')}
            </button>
          </fieldset>
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
