/**
 * The frame of a panel opened from the top-right buttons (Settings, Account): a non-modal dialog
 * named by its heading, closed with Escape.
 */
import type { ComponentChildren } from 'preact';

export function CornerPanel(props: { id: 'settings' | 'account'; title: string; onClose: () => void; children: ComponentChildren }) {
  return (
    <div
      class={props.id === 'settings' ? 'settings' : `settings ${props.id}`}
      role="dialog"
      aria-modal="false"
      aria-labelledby={`${props.id}-title`}
      data-testid={props.id}
      onKeyDown={(e) => {
        if (e.key === 'Escape') props.onClose();
      }}
    >
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      {props.children}
    </div>
  );
}
