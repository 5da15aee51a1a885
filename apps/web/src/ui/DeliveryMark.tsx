/**
 * The delivery state of one of our own messages, as Signal shows it: a clock while it waits for the
 * relay, a check once the relay acknowledged it, a warning circle if the room dropped first. Inline
 * SVG (currentColor), so the marks never depend on an emoji font; the label says the same in words.
 */
import { t } from '../i18n.js';
import type { Delivery } from '../timeline.js';

const PATHS: Record<Delivery, string> = {
  pending: 'M8 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13ZM8 4v4.2l2.8 1.7',
  sent: 'M2.5 8.5 6.2 12 13.5 4.5',
  failed: 'M8 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13ZM8 4.5v4.2M8 11v.3',
};

export function DeliveryMark(props: { state: Delivery }) {
  const label = t(`delivery.${props.state}`);
  return (
    <span class={`delivery ${props.state}`} role="img" aria-label={label} title={label} data-testid="delivery" data-state={props.state}>
      <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">
        <path d={PATHS[props.state]} fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" />
      </svg>
    </span>
  );
}
