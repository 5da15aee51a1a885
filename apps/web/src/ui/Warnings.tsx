/**
 * What the account's conversations need the user to see, above whatever is on screen: a contact's
 * devices changed (compare the safety number: the relay cannot hide this), a device list that does
 * not continue the one seen before, messages the relay did not keep, a store that failed. Each
 * stays until dismissed. Security warnings are alerts (read out at once); the rest are status.
 */
import type { AccountSession } from '../accountSession.js';
import { t } from '../i18n.js';
import { Icon } from './Icon.js';

const ALERTS = new Set([
  'DEVICES_CHANGED',
  'DEVICE_LIST_FORKED',
  'DEVICE_LIST_INVALID',
  'STORE_FAILED',
  'HISTORY_CORRUPT',
  'MESSENGER_STORE_CORRUPT',
]);

export function Warnings(props: { session: AccountSession }) {
  const s = props.session;
  if (s.warnings.length === 0) return null;
  return (
    <ul class="account-warnings" data-testid="account-warnings">
      {s.warnings.map((w) => {
        const conv = w.conversation === undefined ? undefined : s.conversations.get(w.conversation);
        const where = conv === undefined ? '' : (s.title(conv) ?? t('messages.justYou'));
        return (
          <li
            key={`${w.code}/${w.name}/${w.conversation}`}
            class="line warning"
            role={ALERTS.has(w.code) ? 'alert' : 'status'}
            data-code={w.code}
          >
            <Icon name="warning" size={16} />
            <span>{t(`messages.warnings.${w.code}`, { name: w.name ?? '', conversation: where })}</span>
            <button type="button" class="secondary icon" aria-label={t('messages.dismiss')} onClick={() => s.dismiss(w)}>
              <Icon name="close" size={14} />
            </button>
          </li>
        );
      })}
    </ul>
  );
}
