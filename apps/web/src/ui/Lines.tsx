/**
 * One line of a conversation: a message (avatar, name and time, or, grouped under the previous
 * message of the same sender, its time small at the side), a file, or a notice. Peer text is only
 * ever rendered as text: Preact escapes it, and links become anchors only for http(s) URLs, opened
 * on click in a new tab with rel="noopener noreferrer" (no preview is fetched).
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { isDisruptionLine } from '../disruptions.js';
import { t } from '../i18n.js';
import type { MessageActions } from '../messageActions.js';
import type { RoomSession } from '../session.js';
import type { Line, MessageLine as MessageLineOf } from '../timeline.js';
import { fullTime, shortTime, sideTime } from '../when.js';
import { Avatar } from './Avatar.js';
import { DeliveryMark } from './DeliveryMark.js';
import { FileCard } from './FileCard.js';
import { MessageToolbar, QuoteView, Reactions } from './MessageTools.js';

const GROUP_MS = 5 * 60_000;
/** How long a touch must rest on a message to open its actions. */
const LONG_PRESS_MS = 450;

/** Splits text into plain runs and http(s) links. Anything else (javascript:, data:, ...) stays text. */
export function linkify(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  let last = 0;
  for (const m of text.matchAll(/\bhttps?:\/\/[^\s<>"']+/gi)) {
    const url = m[0].replace(/[.,;:!?)\]}]+$/, '');
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(url).protocol);
    } catch {
      ok = false;
    }
    if (!ok) continue;
    out.push(text.slice(last, m.index));
    out.push(
      <a href={url} target="_blank" rel="noopener noreferrer" referrerpolicy="no-referrer">
        {url}
      </a>,
    );
    last = m.index + url.length;
  }
  out.push(text.slice(last));
  return out;
}

function Time(props: { ts: number; side?: boolean }) {
  return (
    <time class={props.side ? 'side' : undefined} dateTime={new Date(props.ts).toISOString()} title={fullTime(props.ts)}>
      {props.side ? sideTime(props.ts) : shortTime(props.ts)}
    </time>
  );
}

export function MessageLine(props: {
  line: Line;
  prev: Line | undefined;
  session: RoomSession;
  /** Opens a member's panel (their avatar was clicked); undefined in a private chat. */
  onMember: ((nick: string) => void) | undefined;
  /** Replies, reactions, edits and deletes of the conversation this line is in (the room's or a private chat's). */
  actions: MessageActions;
  /** Reply to, or edit, a message (the composer takes it). */
  onReply?: ((line: MessageLineOf) => void) | undefined;
  onEdit?: ((line: MessageLineOf) => void) | undefined;
}) {
  const l = props.line;
  const [toolsOpen, setToolsOpen] = useState(false);
  const press = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const item = useRef<HTMLLIElement>(null);
  // Actions opened by a long press close on a touch anywhere else.
  useEffect(() => {
    if (!toolsOpen) return;
    const away = (e: PointerEvent) => item.current?.contains(e.target as Node) || setToolsOpen(false);
    document.addEventListener('pointerdown', away);
    return () => document.removeEventListener('pointerdown', away);
  }, [toolsOpen]);
  if (l.kind !== 'message' && l.kind !== 'file') {
    return (
      <li
        class={`line ${l.kind}${isDisruptionLine(l) ? ' disruption' : ''}`}
        role={l.kind === 'warning' ? 'alert' : undefined}
        data-testid={isDisruptionLine(l) ? 'disruption' : undefined}
      >
        <span class="notice">{t(l.i18n, l.params)}</span>
      </li>
    );
  }
  const p = props.prev;
  const grouped =
    l.kind === 'message' &&
    (p?.kind === 'message' || p?.kind === 'file') &&
    p.from === l.from &&
    p.self === l.self &&
    l.ts - p.ts < GROUP_MS;
  // Only a member still in the room (with the same key as when the line came) can be opened.
  const here = props.session.members.find((m) => m.nick === l.from && m.seed === l.seed && !m.self);
  const open = here === undefined || props.onMember === undefined ? undefined : () => props.onMember?.(l.from);
  const delivery = l.kind === 'message' ? l.delivery : undefined;
  const acts = l.kind === 'message' && l.id !== undefined && !l.deleted && props.onReply !== undefined && props.onEdit !== undefined;
  const endPress = () => clearTimeout(press.current);
  // A touch held still on a message opens its actions (there is no hover on a phone).
  const touch = acts
    ? {
        onPointerDown: (e: PointerEvent) => {
          if (e.pointerType !== 'touch') return;
          endPress();
          press.current = setTimeout(() => setToolsOpen(true), LONG_PRESS_MS);
        },
        onPointerUp: endPress,
        onPointerMove: endPress,
        onPointerCancel: endPress,
        onContextMenu: (e: MouseEvent) => (e as PointerEvent).pointerType === 'touch' && e.preventDefault(),
      }
    : {};
  return (
    <li
      class={`line message${l.self ? ' self' : ''}${grouped ? ' grouped' : ''}${delivery === undefined ? '' : ` ${delivery}`}`}
      data-testid={l.kind === 'message' ? 'message' : undefined}
      ref={item}
      // A message with actions is one tab stop: focused, its actions show and are next in the tab order.
      tabIndex={acts ? 0 : undefined}
      {...touch}
    >
      <div class="gutter">{grouped ? <Time ts={l.ts} side /> : <Avatar seed={l.seed} nick={l.from} onOpen={open} />}</div>
      <div class="body">
        {grouped ? (
          <span class="sr-only">{l.from}</span>
        ) : (
          <div class="meta">
            <span class="from">{l.from}</span> <Time ts={l.ts} />
          </div>
        )}
        {l.kind === 'message' && l.replyTo !== undefined && <QuoteView quote={props.actions.quote(l.replyTo)} />}
        {l.kind === 'file' ? (
          <FileCard file={l.file} from={l.from} self={l.self} session={props.session} />
        ) : l.deleted ? (
          <p class="text deleted" data-testid="deleted">
            {t('actions.deletedMessage')}
          </p>
        ) : (
          <p class="text">
            {linkify(l.text)}
            {l.edited && (
              <span class="edited" data-testid="edited">
                {t('actions.edited')}
              </span>
            )}
            {l.delivery !== undefined && <DeliveryMark state={l.delivery} />}
            {l.retryId !== undefined && (
              <button type="button" class="retry" data-testid="retry" onClick={() => props.session.retry(l)}>
                {t('delivery.retry')}
              </button>
            )}
          </p>
        )}
        {l.kind === 'message' && l.reactions !== undefined && (
          <Reactions
            reactions={l.reactions}
            onToggle={props.onReply === undefined ? undefined : (emoji) => props.actions.toggleReaction(l, emoji)}
          />
        )}
      </div>
      {acts && l.kind === 'message' && (
        <MessageToolbar
          line={l}
          actions={props.actions}
          open={toolsOpen}
          onReply={props.onReply!}
          onEdit={props.onEdit!}
          onDone={() => setToolsOpen(false)}
        />
      )}
    </li>
  );
}
