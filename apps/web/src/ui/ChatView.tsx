/**
 * One room on screen: messages grouped by sender and time, the composer (Enter sends, Shift+Enter
 * starts a new line, emoji), the member list with each member's panel, and the invite link.
 * Peer text is only ever rendered as text: Preact escapes it, and links become anchors only for
 * http(s) URLs, opened on click in a new tab with rel="noopener noreferrer" (no preview is fetched).
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { isDisruptionLine } from '../disruptions.js';
import { t } from '../i18n.js';
import type { MemberView, PrivateView, RoomSession } from '../session.js';
import type { Line } from '../timeline.js';
import { DeliveryMark } from './DeliveryMark.js';
import { EmojiPicker } from './EmojiPicker.js';
import { FileCard } from './FileCard.js';
import { MemberPanel } from './MemberPanel.js';
import { Qr } from './Qr.js';

const GROUP_MS = 5 * 60_000;
const time = (ts: number) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

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

function MessageLine(props: { line: Line; prev: Line | undefined; session: RoomSession }) {
  const l = props.line;
  if (l.kind === 'file') {
    return (
      <li class={`line message${l.self ? ' self' : ''}`}>
        <span class="from">{l.from}</span> <time dateTime={new Date(l.ts).toISOString()}>{time(l.ts)}</time>
        <FileCard file={l.file} from={l.from} session={props.session} />
      </li>
    );
  }
  if (l.kind !== 'message') {
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
  const grouped = p?.kind === 'message' && p.from === l.from && p.self === l.self && l.ts - p.ts < GROUP_MS;
  return (
    <li class={`line message${l.self ? ' self' : ''}${grouped ? ' grouped' : ''}${l.delivery === undefined ? '' : ` ${l.delivery}`}`}>
      {grouped ? (
        <span class="sr-only">{l.from}</span>
      ) : (
        <>
          <span class="from">{l.from}</span> <time dateTime={new Date(l.ts).toISOString()}>{time(l.ts)}</time>
        </>
      )}
      <p class="text">
        {linkify(l.text)}
        {l.delivery !== undefined && <DeliveryMark state={l.delivery} />}
      </p>
    </li>
  );
}

function Members(props: { session: RoomSession; members: MemberView[]; open: boolean; onOpenPrivate: (nick: string) => void }) {
  const [selected, setSelected] = useState<string | undefined>();
  const member = props.members.find((m) => m.nick === selected && !m.self);
  return (
    <aside class={`members${props.open ? ' open' : ''}`} id="members" aria-label={t('chat.members', { count: props.members.length })}>
      <h2 data-testid="member-count">{t('chat.members', { count: props.members.length })}</h2>
      <ul data-testid="members">
        {props.members.map((m) => (
          <li key={m.nick}>
            {m.self ? (
              t('chat.you', { nick: m.nick })
            ) : (
              <button
                class="member"
                aria-expanded={selected === m.nick}
                onClick={() => setSelected(selected === m.nick ? undefined : m.nick)}
              >
                {m.nick}
                {m.verified && (
                  <span class="badge ok" title={t('chat.verifiedMark')} aria-label={t('chat.verifiedMark')}>
                    {' '}
                    ✓
                  </span>
                )}
                {m.changed && (
                  <span class="badge warn" title={t('chat.changedMark')} aria-label={t('chat.changedMark')}>
                    {' '}
                    ⚠
                  </span>
                )}
              </button>
            )}
          </li>
        ))}
      </ul>
      {member !== undefined && (
        <MemberPanel room={props.session.room} member={member} onClose={() => setSelected(undefined)} onOpenPrivate={props.onOpenPrivate} />
      )}
    </aside>
  );
}

export function ChatView(props: {
  session: RoomSession;
  /** A private chat of this room instead of the room itself. */
  privateView?: PrivateView | undefined;
  stripMetadata: boolean;
  onOpenPrivate: (nick: string) => void;
}) {
  const { session, privateView } = props;
  const lines = privateView?.lines ?? session.lines;
  const title = privateView === undefined ? session.name : t('private.title', { nick: privateView.chat.peer });
  const fileInput = useRef<HTMLInputElement>(null);
  const sendFiles = (files: FileList | File[] | null | undefined) => {
    const list = Array.from(files ?? []);
    if (list.length > 0 && !privateView?.closed) void session.sendFiles(list, !props.stripMetadata, privateView);
  };
  const dropProps = {
    onDragOver: (e: DragEvent) => {
      if (!privateView?.closed && e.dataTransfer?.types.includes('Files')) e.preventDefault();
    },
    onDrop: (e: DragEvent) => {
      if (privateView?.closed || !e.dataTransfer?.files.length) return;
      e.preventDefault();
      sendFiles(e.dataTransfer.files);
    },
  };
  const [, setVersion] = useState(0);
  const [draft, setDraft] = useState('');
  const [emoji, setEmoji] = useState(false);
  const [membersOpen, setMembersOpen] = useState(false);
  const [showQr, setShowQr] = useState(false);
  const [copied, setCopied] = useState(false);
  const list = useRef<HTMLOListElement>(null);
  const composer = useRef<HTMLTextAreaElement>(null);
  useEffect(() => session.subscribe(() => setVersion((v) => v + 1)), [session]);
  // A new conversation on screen: empty composer, focused. Before paint, so nothing typed is lost.
  useLayoutEffect(() => {
    composer.current?.focus();
    setDraft('');
  }, [session.id, privateView?.id]);
  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: 'end' });
  }, [lines.length, session, privateView]);
  const send = () => {
    if (draft.trim() === '') return;
    if (privateView !== undefined) {
      if (privateView.closed) return;
      session.sendPrivate(privateView, draft);
    } else session.send(draft);
    setDraft('');
  };
  const insert = (text: string) => {
    const el = composer.current;
    const start = el?.selectionStart ?? draft.length;
    const end = el?.selectionEnd ?? draft.length;
    setDraft(draft.slice(0, start) + text + draft.slice(end));
    setEmoji(false);
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(start + text.length, start + text.length);
    });
  };
  return (
    <>
      <div class="room-bar">
        <h1 class="room-name">{privateView !== undefined ? `🔒 ${title}` : title}</h1>
        {privateView !== undefined && !privateView.closed && (
          <button type="button" class="secondary" data-testid="private-close" onClick={() => privateView.chat.close()}>
            {t('private.close')}
          </button>
        )}
        {privateView === undefined && (
          <button
            type="button"
            class="secondary members-toggle"
            aria-expanded={membersOpen}
            aria-controls="members"
            data-testid="members-toggle"
            onClick={() => setMembersOpen(!membersOpen)}
          >
            {t('chat.membersButton', { count: session.members.length })}
          </button>
        )}
      </div>
      {session.invite !== undefined && privateView === undefined && (
        <div class="invite">
          <label>
            {t('chat.invite')}
            <input data-testid="invite-link" readOnly value={session.invite} onFocus={(e) => e.currentTarget.select()} />
          </label>
          <button
            type="button"
            data-testid="copy-invite"
            onClick={() =>
              void navigator.clipboard?.writeText(session.invite!).then(() => (setCopied(true), setTimeout(() => setCopied(false), 1500)))
            }
          >
            {copied ? t('chat.copied') : t('chat.copy')}
          </button>
          <button type="button" class="secondary" aria-expanded={showQr} data-testid="invite-qr-toggle" onClick={() => setShowQr(!showQr)}>
            {t('chat.qr')}
          </button>
          {showQr && (
            <div class="invite-qr">
              <Qr text={session.invite} label={t('chat.inviteQr')} testid="invite-qr" />
            </div>
          )}
        </div>
      )}
      <ol class="messages" ref={list} data-testid="messages" aria-live="polite" aria-label={title} tabIndex={0} {...dropProps}>
        {lines.map((l, i) => (
          <MessageLine key={l.key} line={l} prev={lines[i - 1]} session={session} />
        ))}
      </ol>
      {privateView === undefined && (
        <Members session={session} members={session.members} open={membersOpen} onOpenPrivate={props.onOpenPrivate} />
      )}
      <form
        {...dropProps}
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        {!privateView?.closed && (
          <>
            <button
              type="button"
              class="secondary icon"
              aria-label={t('files.attach')}
              data-testid="attach"
              onClick={() => fileInput.current?.click()}
            >
              📎
            </button>
            <input
              ref={fileInput}
              type="file"
              multiple
              hidden
              data-testid="file-input"
              onChange={(e) => {
                sendFiles(e.currentTarget.files);
                e.currentTarget.value = '';
              }}
            />
          </>
        )}
        <button
          type="button"
          class="secondary icon"
          aria-label={t('emoji.open')}
          aria-expanded={emoji}
          data-testid="emoji-button"
          onClick={() => setEmoji(!emoji)}
        >
          🙂
        </button>
        {emoji && (
          <EmojiPicker
            onPick={insert}
            onClose={() => {
              setEmoji(false);
              composer.current?.focus();
            }}
          />
        )}
        <textarea
          ref={composer}
          data-testid="composer"
          aria-label={t('chat.message')}
          placeholder={t('chat.placeholder', { room: title })}
          onPaste={(e) => {
            if (!privateView?.closed && e.clipboardData?.files.length) {
              e.preventDefault();
              sendFiles(e.clipboardData.files);
            }
          }}
          rows={2}
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            }
          }}
        />
        <button type="submit">{t('chat.send')}</button>
      </form>
    </>
  );
}
