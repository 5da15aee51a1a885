/**
 * One account conversation: its members, the messages (ours marked with their delivery state), and
 * the composer (Enter sends, Shift+Enter a new line). Verify shows the safety number with each other
 * member over their signed device lists (docs/PROTOCOL.md §11.12) as digits and a QR code, with a
 * warning when their devices changed since this browser last looked.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { AccountSession, Conversation, Line } from '../accountSession.js';
import { t } from '../i18n.js';
import { DeliveryMark } from './DeliveryMark.js';
import { Qr } from './Qr.js';
import type { ConversationNotice } from '@nullroom/client/accounts';
import { AccountFile } from './AccountFile.js';
import { GroupPanel } from './GroupPanel.js';
import { accountMessage } from './ContactsPane.js';
import { Icon } from './Icon.js';

const time = (at: number) => new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

function SafetyNumber(props: { session: AccountSession; other: string; onClose: () => void }) {
  const [shown, setShown] = useState<{ digits: string; changed: boolean } | { error: string } | undefined>();
  useEffect(() => {
    props.session.safetyNumber(props.other).then(setShown, (e: unknown) => setShown({ error: accountMessage(e) }));
  }, [props.other]);
  return (
    <section class="panel safety-panel" data-testid="safety" aria-labelledby="safety-title">
      <h2 id="safety-title">{t('messages.safetyTitle', { name: props.other })}</h2>
      {shown === undefined && <p role="status">{t('account.loading')}</p>}
      {shown !== undefined && 'error' in shown && <p class="error">{shown.error}</p>}
      {shown !== undefined && 'digits' in shown && (
        <>
          {(shown.changed || props.session.warnings.some((w) => w.code === 'DEVICES_CHANGED' && w.name === props.other)) && (
            <p class="warning" role="alert" data-testid="safety-changed">
              {t('messages.devicesChanged', { name: props.other })}
            </p>
          )}
          <p class="safety safety-grid" data-testid="safety-digits">
            {shown.digits.match(/.{5}/g)!.map((g, i) => (
              <span key={i}>{g}</span>
            ))}
          </p>
          <Qr text={shown.digits} label={t('messages.safetyQr')} size={160} />
          <p class="hint">{t('messages.safetyHint', { name: props.other })}</p>
        </>
      )}
      <button type="button" class="secondary" onClick={props.onClose}>
        {t('settings.close')}
      </button>
    </section>
  );
}

/** One row quoting the message a reply answers (or saying it is not here: older than what is shown). */
function Quote(props: { line: Line | undefined }) {
  const l = props.line;
  const what = l === undefined ? t('messages.quoteMissing') : l.file !== undefined ? l.file.name : l.text;
  return (
    <p class={`quote${l === undefined ? ' quote-missing' : ''}`} data-testid="quote">
      {l !== undefined && <span class="quote-from">{l.own ? t('messages.me') : l.from}</span>} {what}
    </p>
  );
}

/** A change of the conversation in words: who (you, or an account) did what. */
function noticeText(n: ConversationNotice, own: boolean): string {
  const by = own ? t('messages.you') : n.by;
  const names = (n.names ?? []).join(', ');
  if (n.what === 'renamed') return t('messages.noticeRenamed', { by, name: n.name ?? '' });
  if (n.what === 'left') return t('messages.noticeLeft', { by });
  return t(n.what === 'added' ? 'messages.noticeAdded' : 'messages.noticeRemoved', { by, names });
}

export function ConversationPane(props: {
  session: AccountSession;
  conversation: Conversation;
  keepMetadata: boolean;
  onLeft: () => void;
}) {
  const s = props.session;
  const c = props.conversation;
  const others = s.others(c);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [verify, setVerify] = useState<string | undefined>();
  const [group, setGroup] = useState(false);
  /** The message the composer answers. */
  const [replyTo, setReplyTo] = useState<Line | undefined>();
  /** A file on its way out: its name and how far the upload is (the message follows once it is whole). */
  const [upload, setUpload] = useState<{ name: string; done: number; size: number } | undefined>();
  const picker = useRef<HTMLInputElement>(null);
  const list = useRef<HTMLOListElement>(null);
  const composer = useRef<HTMLTextAreaElement>(null);
  useEffect(() => composer.current?.focus(), []);
  useLayoutEffect(() => {
    const el = list.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  }, [c.lines.length]);

  const send = () => {
    const body = text.trim();
    if (body.length === 0) return;
    setText('');
    setError(undefined);
    setReplyTo(undefined);
    s.send(c.id, body, replyTo?.id).catch((e: unknown) => setError(accountMessage(e)));
  };

  const attach = (file: File) => {
    setError(undefined);
    setUpload({ name: file.name, done: 0, size: file.size });
    props.session
      .sendFile(c.id, file, props.keepMetadata, (p) => setUpload({ name: file.name, done: p.bytes, size: file.size }))
      .catch((e: unknown) => setError(accountMessage(e)))
      .finally(() => setUpload(undefined));
  };

  return (
    <section class="conversation-pane" aria-labelledby="conversation-title">
      <header class="room-bar">
        <h1 id="conversation-title" class="room-name" data-testid="conversation-title">
          {s.title(c) ?? t('messages.justYou')}
        </h1>
        {others.length === 1 && (
          <button
            type="button"
            class="secondary"
            data-testid="verify"
            onClick={() => setVerify(verify === others[0] ? undefined : others[0])}
          >
            {t('messages.verify')}
          </button>
        )}
        {c.gone !== true && (
          <button type="button" class="secondary" data-testid="group-open" aria-expanded={group} onClick={() => setGroup(!group)}>
            {t('messages.groupOpen')}
          </button>
        )}
      </header>
      {group && (
        <GroupPanel
          session={s}
          conversation={c}
          onVerify={(name) => (setVerify(name), setGroup(false))}
          onClose={() => setGroup(false)}
          onLeft={props.onLeft}
        />
      )}
      {verify !== undefined && <SafetyNumber session={s} other={verify} onClose={() => setVerify(undefined)} />}
      <ol
        class="messages"
        ref={list}
        data-testid="conversation-messages"
        aria-live="polite"
        aria-label={s.title(c) ?? t('messages.justYou')}
        // Scrolled with the keyboard too, as the rooms' timeline.
        tabIndex={0}
      >
        {c.lines.length === 0 && <li class="line notice">{t('messages.empty')}</li>}
        {c.lines.map((l) =>
          l.notice !== undefined ? (
            <li key={l.id} class="line notice" data-testid="account-notice">
              {noticeText(l.notice, l.own)} <time>{time(l.at)}</time>
            </li>
          ) : (
            <li key={l.id} class={`line message-line${l.own ? ' self' : ''}`} data-testid="account-message">
              <span class="from">{l.own ? t('messages.me') : l.from}</span> <time>{time(l.at)}</time>
              {l.status !== undefined && (
                <DeliveryMark state={l.status === 'sending' ? 'pending' : l.status === 'sent' ? 'sent' : 'failed'} />
              )}
              {l.delivered !== undefined && l.delivered > 0 && (
                <span class="delivered hint" data-testid="delivered">
                  {l.recipients !== undefined && l.recipients > 1
                    ? t('messages.deliveredTo', { count: l.delivered, of: l.recipients })
                    : t('messages.delivered')}
                </span>
              )}
              {l.replyTo !== undefined && <Quote line={c.lines.find((x) => x.id === l.replyTo)} />}
              {l.file === undefined ? <p class="text">{l.text}</p> : <AccountFile session={s} conversation={c.id} line={l} />}
              {c.gone !== true && (
                <button
                  type="button"
                  class="secondary icon reply-button"
                  aria-label={t('messages.replyTo', { name: l.own ? t('messages.me') : l.from })}
                  data-testid="reply"
                  onClick={() => (setReplyTo(l), composer.current?.focus())}
                >
                  <Icon name="reply" size={14} />
                </button>
              )}
            </li>
          ),
        )}
      </ol>
      {error !== undefined && (
        <p class="error" role="alert" data-testid="send-error">
          {error}
        </p>
      )}
      {upload !== undefined && (
        <p class="hint upload" role="status" data-testid="uploading">
          {t('messages.uploading', { name: upload.name })} <progress max={upload.size} value={upload.done} />
        </p>
      )}
      {replyTo !== undefined && c.gone !== true && (
        <div class="replying" data-testid="replying">
          <Quote line={replyTo} />
          <button type="button" class="secondary icon" aria-label={t('messages.cancelReply')} onClick={() => setReplyTo(undefined)}>
            <Icon name="close" size={14} />
          </button>
        </div>
      )}
      {c.gone === true ? (
        <p class="line notice gone" role="status" data-testid="conversation-gone">
          {t('messages.gone')}
        </p>
      ) : (
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            send();
          }}
        >
          <input
            ref={picker}
            type="file"
            class="sr-only"
            tabIndex={-1}
            aria-hidden="true"
            data-testid="account-file-input"
            onChange={(e) => {
              const file = e.currentTarget.files?.[0];
              e.currentTarget.value = '';
              if (file !== undefined) attach(file);
            }}
          />
          <button
            type="button"
            class="secondary icon"
            aria-label={t('files.attach')}
            data-testid="account-attach"
            disabled={upload !== undefined}
            onClick={() => picker.current?.click()}
          >
            <Icon name="attach" />
          </button>
          <textarea
            ref={composer}
            rows={2}
            data-testid="account-composer"
            aria-label={t('chat.message')}
            maxLength={4000}
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                send();
              }
            }}
          />
          <button type="submit" data-testid="account-send">
            {t('chat.send')}
          </button>
        </form>
      )}
    </section>
  );
}
