/**
 * One room on screen: messages grouped by sender and time (ui/Lines.tsx), the composer (Enter
 * sends, Shift+Enter starts a new line, emoji), the member list with each member's panel
 * (ui/Members.tsx), the invite link, and renaming an invite room (ui/RenameRoom.tsx). A private
 * chat whose peer left, or that was closed, says why nothing can be sent, under a disabled composer.
 * The timeline follows new messages while it is scrolled to the bottom; scrolled up, it stays put
 * and offers a "new messages" button instead.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n.js';
import type { PrivateView, RoomSession } from '../session.js';
import type { MessageLine as MessageLineOf } from '../timeline.js';
import { EmojiPicker } from './EmojiPicker.js';
import { Icon } from './Icon.js';
import { MessageLine } from './Lines.js';
import { QuoteView } from './MessageTools.js';
import { Members } from './Members.js';
import { Qr } from './Qr.js';
import { RenameRoom } from './RenameRoom.js';

/** How close to the bottom (px) still counts as "at the bottom". */
const NEAR_BOTTOM = 48;

export function ChatView(props: {
  session: RoomSession;
  /** A private chat of this room instead of the room itself. */
  privateView?: PrivateView | undefined;
  stripMetadata: boolean;
  /** Tell the room when we type (Settings). */
  sendTyping: boolean;
  onOpenPrivate: (nick: string) => void;
}) {
  const { session, privateView } = props;
  const lines = privateView?.lines ?? session.lines;
  const actions = privateView?.actions ?? session.actions;
  const title = privateView === undefined ? session.name : t('private.title', { nick: privateView.peer });
  const fileInput = useRef<HTMLInputElement>(null);
  /** A private chat without its chat (being taken up after a reload, or that could not be): read-only, no composer. */
  const readOnly = privateView !== undefined && privateView.chat === undefined;
  /** Why nothing can be sent in this private chat now, or undefined. */
  const blocked = privateView?.closed
    ? t('private.closedComposer')
    : readOnly
      ? t('private.restoring')
      : privateView?.peerLeft
        ? t('private.peerLeftComposer', { nick: privateView.peer })
        : undefined;
  const sendFiles = (files: FileList | File[] | null | undefined) => {
    const list = Array.from(files ?? []);
    if (list.length > 0 && blocked === undefined) void session.sendFiles(list, !props.stripMetadata, privateView);
  };
  const dropProps = {
    onDragOver: (e: DragEvent) => {
      if (blocked === undefined && e.dataTransfer?.types.includes('Files')) e.preventDefault();
    },
    onDrop: (e: DragEvent) => {
      if (blocked !== undefined || !e.dataTransfer?.files.length) return;
      e.preventDefault();
      sendFiles(e.dataTransfer.files);
    },
  };
  const [, setVersion] = useState(0);
  const [draft, setDraft] = useState('');
  const [emoji, setEmoji] = useState(false);
  /** The composer answers a message, or edits one of ours. */
  const [compose, setCompose] = useState<{ mode: 'reply' | 'edit'; line: MessageLineOf } | undefined>();
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
    setCompose(undefined);
  }, [session.id, privateView?.id]);
  const focusComposer = () => requestAnimationFrame(() => composer.current?.focus());
  const reply = (line: MessageLineOf) => (setCompose({ mode: 'reply', line }), focusComposer());
  const edit = (line: MessageLineOf) => (setCompose({ mode: 'edit', line }), setDraft(line.text), focusComposer());
  const endCompose = () => {
    if (compose?.mode === 'edit') setDraft('');
    setCompose(undefined);
  };
  /** Up in an empty composer edits our last message, as in other chat apps. */
  const editLast = () => {
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i]!;
      if (l.kind === 'message' && l.self && l.id !== undefined && !l.deleted) return edit(l);
    }
  };
  const toBottom = () => {
    const el = list.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setBelow(false);
  };
  // Another conversation: start at its newest line.
  useLayoutEffect(toBottom, [session, privateView]);
  // Any other change that makes the timeline taller (a file card's progress, "no longer available",
  // an image) or its window smaller (a phone's keyboard): a timeline at its newest line stays there.
  useLayoutEffect(() => {
    const el = list.current;
    if (atBottom.current && el !== null) el.scrollTop = el.scrollHeight;
  });
  useEffect(() => {
    const el = list.current;
    if (el === null || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => atBottom.current && (el.scrollTop = el.scrollHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  // New lines: follow them if the user was at the bottom (or wrote the last one), else say they are there.
  useLayoutEffect(() => {
    const last = lines[lines.length - 1];
    if (atBottom.current || ((last?.kind === 'message' || last?.kind === 'file') && last.self)) toBottom();
    else setBelow(true);
  }, [lines.length]);
  const send = () => {
    if (draft.trim() === '') return;
    if (blocked !== undefined) return;
    if (compose?.mode === 'edit') actions.edit(compose.line, draft);
    else if (privateView !== undefined) session.sendPrivate(privateView, draft, compose?.line.id);
    else session.send(draft, compose?.line.id);
    setDraft('');
    setCompose(undefined);
  };
  const typed = (text: string) => {
    setDraft(text);
    if (props.sendTyping && compose?.mode !== 'edit' && blocked === undefined) actions.composing(text.trim() !== '');
  };
  const typing = actions.typing;
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
        <h1 class="room-name" data-testid="room-title">
          {privateView !== undefined && <Icon name="lock" size={18} />}
          {title}
        </h1>
        {privateView === undefined && session.invite !== undefined && session.names !== undefined && (
          <RenameRoom names={session.names} current={session.name} />
        )}
        {privateView?.chat !== undefined && !privateView.closed && (
          <button type="button" class="secondary" data-testid="private-close" onClick={() => privateView.chat?.close()}>
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
        // An image that loads makes its line taller: a timeline that was at its newest line stays there.
        onLoadCapture={() => atBottom.current && toBottom()}
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
            actions={actions}
            onReply={privateView?.closed || readOnly ? undefined : reply}
            onEdit={privateView?.closed || readOnly ? undefined : edit}
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
      {readOnly && (
        // In the composer's place (and grid row), only the reason: nothing can be typed, sent or attached here.
        <div class="composer">
          <p class="composer-blocked" id="composer-blocked" role="status" data-testid="composer-blocked">
            {blocked}
          </p>
        </div>
      )}
      {!readOnly && (
        <form
          {...dropProps}
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            send();
          }}
        >
          {blocked === undefined && (
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
          {!privateView?.closed && (
            <p class="typing" data-testid="typing" aria-live="polite">
              {typing.length === 0
                ? ''
                : typing.length === 1
                  ? t('actions.typingOne', { nick: typing[0] })
                  : typing.length === 2
                    ? t('actions.typingTwo', { a: typing[0], b: typing[1] })
                    : t('actions.typingMany')}
            </p>
          )}
          {compose !== undefined && (
            <div class="compose-context" data-testid={`compose-${compose.mode}`}>
              <div class="compose-what">
                <span class="compose-label">
                  {compose.mode === 'reply' ? t('actions.replyingTo', { nick: compose.line.from }) : t('actions.editing')}
                </span>
                {compose.mode === 'reply' && compose.line.id !== undefined && (
                  <QuoteView quote={actions.quote(compose.line.id)} class="compose-quote" />
                )}
              </div>
              <button
                type="button"
                class="secondary icon"
                aria-label={t('actions.cancel')}
                data-testid="compose-cancel"
                onClick={endCompose}
              >
                <Icon name="close" />
              </button>
            </div>
          )}
          <button
            type="button"
            class="secondary icon"
            disabled={blocked !== undefined}
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
            disabled={blocked !== undefined}
            aria-describedby={blocked === undefined ? undefined : 'composer-blocked'}
            placeholder={blocked === undefined ? t('chat.placeholder', { room: title }) : ''}
            onPaste={(e) => {
              if (blocked === undefined && e.clipboardData?.files.length) {
                e.preventDefault();
                sendFiles(e.clipboardData.files);
              }
            }}
            rows={2}
            value={draft}
            onInput={(e) => typed(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                send();
              } else if (e.key === 'Escape' && compose !== undefined) {
                e.preventDefault();
                endCompose();
              } else if (e.key === 'ArrowUp' && draft === '' && compose === undefined) {
                e.preventDefault();
                editLast();
              }
            }}
          />
          <button type="submit" disabled={blocked !== undefined}>
            {t('chat.send')}
          </button>
          {blocked !== undefined && (
            <p class="composer-blocked" id="composer-blocked" role="status" data-testid="composer-blocked">
              {blocked}
            </p>
          )}
        </form>
      )}
    </>
  );
}
