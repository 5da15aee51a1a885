/** A member's panel: the safety number you share (digits and QR), the room fingerprint, verification, key-change warning. */
import { useEffect, useState } from 'preact/hooks';
import { formatFingerprintDigits, formatSafetyNumber, type Room } from '@nullroom/client';
import { t } from '../i18n.js';
import type { MemberView } from '../session.js';
import { Icon } from './Icon.js';
import { Qr } from './Qr.js';

export function MemberPanel(props: { room: Room; member: MemberView; onClose: () => void; onOpenPrivate: (nick: string) => void }) {
  const { nick, verified, changed } = props.member;
  const digits = props.room.safetyNumber(nick) ?? '';
  // The fingerprint moves with every commit (a self-update emits no event): read it again each second while open.
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, []);
  const fp = props.room.fingerprint();
  return (
    <section class="panel" data-testid="member-panel" aria-labelledby="panel-title">
      <h3 id="panel-title">{t('panel.title', { nick })}</h3>
      {changed && (
        <p class="warning" role="alert" data-testid="key-changed">
          <Icon name="warning" size={16} /> {t('panel.changed', { nick })}
        </p>
      )}
      <p>{t('panel.intro', { nick })}</p>
      {/* One grid at every width, as the terminal prints it: 3 rows of 4 groups of 5 digits (spaces kept for copying and reading aloud). */}
      <p class="safety safety-grid" data-testid="safety-number">
        {formatSafetyNumber(digits)
          .split(' ')
          .map((g, i, all) => (
            <span key={i}>{i < all.length - 1 ? `${g} ` : g}</span>
          ))}
      </p>
      <Qr text={digits} label={t('panel.qr')} size={160} testid="safety-qr" />
      {fp !== undefined && (
        <>
          <h4>{t('panel.fingerprintTitle')}</h4>
          <p class="safety" data-testid="room-fingerprint">
            {t('panel.fingerprint', { epoch: fp.epoch, digits: formatFingerprintDigits(fp) })}
          </p>
          <p>{t('panel.fingerprintIntro', { epoch: fp.epoch, nick })}</p>
        </>
      )}
      {verified && (
        <p class="verified">
          <Icon name="check" size={16} /> {t('panel.verified', { nick })}
        </p>
      )}
      <div class="row">
        <button type="button" data-testid="open-private" onClick={() => props.onOpenPrivate(nick)}>
          <Icon name="lock" size={16} /> {t('private.open')}
        </button>
        <button
          type="button"
          data-testid="verify-toggle"
          class={verified ? 'secondary' : ''}
          onClick={() => void props.room.setVerified(nick, !verified)}
        >
          {verified ? t('panel.unmark') : t('panel.markVerified')}
        </button>
        <button type="button" class="secondary" onClick={props.onClose}>
          {t('panel.close')}
        </button>
      </div>
    </section>
  );
}
