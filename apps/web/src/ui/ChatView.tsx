/**
 * One room on screen: messages grouped by sender and time (ui/Lines.tsx), the composer (Enter
 * sends, Shift+Enter starts a new line, emoji), the member list with each member's panel
 * (ui/Members.tsx), and the invite link. The timeline follows new messages while it is scrolled to
 * the bottom; scrolled up, it stays put and offers a "new messages" button instead.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n.js';
import type { PrivateView, RoomSession } from '../session.js';
import { EmojiPicker } from './EmojiPicker.js';
import { Icon } from './Icon.js';
import { MessageLine } from './Lines.js';
import { Members } from './Members.js';
import { Qr } from './Qr.js';

/** How close to the bottom (px) still counts as "at the bottom". */
const NEAR_BOTTOM = 48;

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
  const [selected, setSelected] = useState<string | undefined>();
  /** New lines arrived below while the user was reading further up. */
  const [below, setBelow] = useState(false);
  const atBottom = useRef(true);
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
  const toBottom = () => {
    const el = list.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setBelow(false);
  };
  // Another conversation: start at its newest line.
  useLayoutEffect(toBottom, [session, privateView]);
  // New lines: follow them if the user was at the bottom (or wrote the last one), else say they are there.
  useLayoutEffect(() => {
    const last = lines[lines.length - 1];
    if (atBottom.current || ((last?.kind === 'message' || last?.kind === 'file') && last.self)) toBottom();
    else setBelow(true);
  }, [lines.length]);
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
        <h1 class="room-name">
          {privateView !== undefined && <Icon name="lock" size={18} />}
          {title}
        </h1>
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
      <ol
        class="messages"
        ref={list}
        data-testid="messages"
        aria-live="polite"
        aria-label={title}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM;
          if (atBottom.current && below) setBelow(false);
        }}
        {...dropProps}
      >
        {lines.map((l, i) => (
          <MessageLine
            key={l.key}
            line={l}
            prev={lines[i - 1]}
            session={session}
            onMember={privateView === undefined ? (nick) => (setSelected(nick), setMembersOpen(true)) : undefined}
          />
        ))}
      </ol>
      {below && (
        <button type="button" class="new-messages" data-testid="new-messages" onClick={toBottom}>
          <Icon name="down" size={16} />
          {t('chat.newMessages')}
        </button>
      )}
      {privateView === undefined && (
        <Members
          session={session}
          members={session.members}
          open={membersOpen}
          selected={selected}
          onSelect={setSelected}
          onOpenPrivate={props.onOpenPrivate}
        />
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
              <Icon name="attach" />
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
          <Icon name="emoji" />
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
