/** The member list of a room (avatar, name, verified and key-changed marks) and the panel of the member picked. */
import { t } from '../i18n.js';
import type { MemberView, RoomSession } from '../session.js';
import { Avatar } from './Avatar.js';
import { Icon } from './Icon.js';
import { MemberPanel } from './MemberPanel.js';

export function Members(props: {
  session: RoomSession;
  members: MemberView[];
  open: boolean;
  /** The member whose panel is open (picked here or by their avatar in the timeline). */
  selected: string | undefined;
  onSelect: (nick: string | undefined) => void;
  onOpenPrivate: (nick: string) => void;
}) {
  const { selected } = props;
  const member = props.members.find((m) => m.nick === selected && !m.self);
  return (
    <aside class={`members${props.open ? ' open' : ''}`} id="members" aria-label={t('chat.members', { count: props.members.length })}>
      <h2 data-testid="member-count">{t('chat.members', { count: props.members.length })}</h2>
      <ul data-testid="members">
        {props.members.map((m) => (
          <li key={m.nick}>
            <Avatar seed={m.seed} nick={m.nick} size={24} />
            {m.self ? (
              <span class="member">{t('chat.you', { nick: m.nick })}</span>
            ) : (
              <button
                type="button"
                class="member"
                aria-expanded={selected === m.nick}
                onClick={() => props.onSelect(selected === m.nick ? undefined : m.nick)}
              >
                {m.nick}
                {m.verified && (
                  <span class="badge ok" title={t('chat.verifiedMark')}>
                    <Icon name="check" size={14} label={t('chat.verifiedMark')} />
                  </span>
                )}
                {m.changed && (
                  <span class="badge warn" title={t('chat.changedMark')}>
                    <Icon name="warning" size={14} label={t('chat.changedMark')} />
                  </span>
                )}
              </button>
            )}
          </li>
        ))}
      </ul>
      {member !== undefined && (
        <MemberPanel
          room={props.session.room}
          member={member}
          onClose={() => props.onSelect(undefined)}
          onOpenPrivate={props.onOpenPrivate}
        />
      )}
    </aside>
  );
}
