/**
 * A small emoji palette for the composer: the emoji people use most, as plain text characters
 * (rendered by the system's emoji font; no image is fetched). Keyboard: Tab through, Enter picks,
 * Escape closes and gives focus back to the composer.
 */
import { useEffect, useRef } from 'preact/hooks';
import { t } from '../i18n.js';

const EMOJI = [
  '😀',
  '😂',
  '🙂',
  '😉',
  '😊',
  '😍',
  '🥰',
  '😘',
  '😎',
  '🤔',
  '😐',
  '🙄',
  '😴',
  '😅',
  '😭',
  '😱',
  '😡',
  '🤯',
  '🥳',
  '😇',
  '🤝',
  '👍',
  '👎',
  '👏',
  '🙌',
  '🙏',
  '💪',
  '👋',
  '👀',
  '🎉',
  '🔥',
  '✨',
  '❤️',
  '💔',
  '💯',
  '✅',
  '❌',
  '⚠️',
  '❓',
  '❗',
  '☕',
  '🍕',
  '🍺',
  '🎂',
  '🌞',
  '🌧️',
  '🚀',
  '🔒',
];

export function EmojiPicker(props: { onPick: (emoji: string) => void; onClose: () => void }) {
  const grid = useRef<HTMLDivElement>(null);
  useEffect(() => {
    grid.current?.querySelector('button')?.focus();
  }, []);
  return (
    <div
      class="emoji-picker"
      role="dialog"
      aria-label={t('emoji.title')}
      data-testid="emoji-picker"
      ref={grid}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          props.onClose();
        }
      }}
    >
      {EMOJI.map((emoji) => (
        <button key={emoji} type="button" class="emoji" onClick={() => props.onPick(emoji)}>
          {emoji}
        </button>
      ))}
    </div>
  );
}
