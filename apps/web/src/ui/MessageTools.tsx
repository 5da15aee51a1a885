/**
 * What hangs off a room message: the quote of the message it answers, its reactions (counts, and
 * who in the tooltip and for screen readers), and its actions (reply, react, and for our own
 * messages edit and delete), shown on hover or keyboard focus, or after a long press on a phone.
 * The SDK decides what counts (messageActions.ts); these only render and ask.
 */
import { useState } from 'preact/hooks';
import type { Reaction } from '@nullroom/client';
import { t } from '../i18n.js';
import { QUICK_REACTIONS } from '../emojiData.js';
import type { MessageActions, Quote } from '../messageActions.js';
import type { MessageLine } from '../timeline.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { EmojiPicker } from './EmojiPicker.js';
import { Icon, type IconName } from './Icon.js';

const QUOTE_CHARS = 140;
const short = (s: string) => ([...s].length > QUOTE_CHARS ? `${[...s].slice(0, QUOTE_CHARS).join('')}…` : s);

/** The quoted original of a reply (in the timeline, or above the composer). */
export function QuoteView(props: { quote: Quote; class?: string }) {
  const q = props.quote;
  return (
    <blockquote class={`quote${props.class === undefined ? '' : ` ${props.class}`}`} data-testid="quote">
      {q.state === 'missing' ? (
        <span class="quote-missing">{t('actions.originalMissing')}</span>
      ) : (
        <>
          <span class="quote-from">{q.from}</span>{' '}
          {q.state === 'deleted' ? (
            <span class="quote-missing">{t('actions.deleted')}</span>
          ) : (
            <span class="quote-text">{short(q.text)}</span>
          )}
        </>
      )}
    </blockquote>
  );
}

/** The reactions on a message: one button per emoji, pressed when ours (pressing takes it back, or adds ours). */
/** A message's reactions; without `onToggle` (a conversation that sends nothing) they are shown, not pressable. */
export function Reactions(props: { reactions: readonly Reaction[]; onToggle?: ((emoji: string) => void) | undefined }) {
  if (props.reactions.length === 0) return null;
  return (
    <div class="reactions" data-testid="reactions">
      {props.reactions.map((r) => {
        const who = t('actions.reactedBy', { names: r.from.join(', '), emoji: r.emoji });
        return (
          <button
            key={r.emoji}
            type="button"
            class={`reaction emoji${r.mine ? ' mine' : ''}`}
            aria-pressed={r.mine}
            title={who}
            aria-label={`${r.emoji} ${r.count}: ${who}`}
            data-testid="reaction"
            disabled={props.onToggle === undefined}
            onClick={() => props.onToggle?.(r.emoji)}
          >
            <span class="reaction-emoji">{r.emoji}</span> <span class="reaction-count">{r.count}</span>
          </button>
        );
      })}
    </div>
  );
}

/** The action bar of one message. `open`: shown without hover (a long press). */
export function MessageToolbar(props: {
  line: MessageLine;
  actions: MessageActions;
  open: boolean;
  onReply: (line: MessageLine) => void;
  onEdit: (line: MessageLine) => void;
  onDone: () => void;
}) {
  const { line, actions } = props;
  const [picking, setPicking] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const react = (emoji: string) => {
    actions.toggleReaction(line, emoji);
    setPicking(false);
    props.onDone();
    // Done with this message: its actions hide (they stay shown while one of them has focus).
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  };
  return (
    <div
      class={`message-tools${props.open || picking || confirming ? ' open' : ''}`}
      role="toolbar"
      aria-label={t('actions.label')}
      data-testid="message-tools"
    >
      {QUICK_REACTIONS.slice(0, 3).map((e) => (
        <button key={e} type="button" class="tool quick emoji" aria-label={t('actions.reactWith', { emoji: e })} onClick={() => react(e)}>
          {e}
        </button>
      ))}
      <Tool label={t('actions.react')} icon="react" testid="action-react" expanded={picking} onClick={() => setPicking(!picking)} />
      <Tool label={t('actions.reply')} icon="reply" testid="action-reply" onClick={() => (props.onReply(line), props.onDone())} />
      {line.self && (
        <>
          <Tool label={t('actions.edit')} icon="edit" testid="action-edit" onClick={() => (props.onEdit(line), props.onDone())} />
          <Tool label={t('actions.delete')} icon="trash" testid="action-delete" danger onClick={() => setConfirming(true)} />
        </>
      )}
      {picking && <EmojiPicker class="reaction-picker" label={t('actions.react')} onPick={react} onClose={() => setPicking(false)} />}
      {confirming && (
        <ConfirmDialog
          title={t('actions.deleteTitle')}
          body={t('actions.deleteBody')}
          confirm={t('actions.delete')}
          cancel={t('actions.keep')}
          onConfirm={() => {
            setConfirming(false);
            actions.delete(line);
            props.onDone();
          }}
          onCancel={() => setConfirming(false)}
        />
      )}
    </div>
  );
}

/** One of a message's actions: an icon button named by its label (read out, and shown on hover). */
function Tool(props: { label: string; icon: IconName; testid: string; onClick: () => void; expanded?: boolean; danger?: boolean }) {
  return (
    <button
      type="button"
      class={props.danger === true ? 'tool danger-text' : 'tool'}
      aria-label={props.label}
      title={props.label}
      aria-expanded={props.expanded}
      data-testid={props.testid}
      onClick={props.onClick}
    >
      <Icon name={props.icon} />
    </button>
  );
}
