/**
 * This browser as a device of the account (docs/PROTOCOL.md §11.8). A browser signing in to an
 * account that has devices shows a code (and its QR) and waits until one of them approves it; the
 * relay cannot approve it, nor slip in a key of its own, without the code. On a device that is
 * one: the account's devices (this one marked), an approve form for the code a new one shows, and
 * removing a device.
 */
import { useEffect, useState } from 'preact/hooks';
import type { AccountDevice } from '@nullroom/client/accounts';
import type { AccountSession } from '../accountSession.js';
import { t } from '../i18n.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { Qr } from './Qr.js';
import { accountMessage } from './ContactsPane.js';
import { useAction } from './useAction.js';

/** A device key as people compare it, the same as the terminal's: the first 16 hex digits of its SHA-256, in fours. */
async function fingerprint(key: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(key)));
  return Array.from(hash.slice(0, 8), (b) => b.toString(16).padStart(2, '0'))
    .join('')
    .match(/.{4}/g)!
    .join(' ');
}

type Listed = AccountDevice & { fingerprint: string };

export function ApprovalWait(props: { code: string; expiresAt: number }) {
  const minutes = Math.max(1, Math.round((props.expiresAt - Date.now()) / 60_000));
  return (
    <main class="messages-intro" data-testid="approval" aria-labelledby="approval-title">
      <h1 id="approval-title">{t('messages.approvalTitle')}</h1>
      <p>{t('messages.approvalBody', { minutes })}</p>
      <p class="approval-code" data-testid="approval-code">
        {props.code}
      </p>
      <Qr text={props.code} label={t('messages.approvalQr')} size={160} />
      <p class="hint" role="status">
        {t('messages.approvalWaiting')}
      </p>
    </main>
  );
}

export function DevicesPane(props: { session: AccountSession }) {
  const s = props.session;
  const [devices, setDevices] = useState<Listed[] | undefined>();
  const [code, setCode] = useState('');
  const [removing, setRemoving] = useState<Listed | undefined>();
  const reload = () =>
    s.devices
      .devices()
      .then((all) => Promise.all(all.map(async (d) => ({ ...d, fingerprint: await fingerprint(d.identityKey) }))))
      .then(setDevices, (e: unknown) => setError(accountMessage(e)));
  useEffect(() => void reload(), []);
  const { busy, error, notice, setNotice, setError, act } = useAction(reload);

  return (
    <section class="contacts-pane" aria-labelledby="devices-title">
      <h1 id="devices-title">{t('messages.devices')}</h1>
      <form
        class="add-contact"
        onSubmit={(e) => {
          e.preventDefault();
          void act(async () => {
            await s.devices.approve(code.trim());
            setCode('');
            setNotice(t('messages.approved'));
          });
        }}
      >
        <label>
          {t('messages.approveLabel')}
          <input
            data-testid="approve-code"
            autocomplete="off"
            spellcheck={false}
            maxLength={32}
            required
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </label>
        <button type="submit" data-testid="approve" disabled={busy}>
          {t('messages.approve')}
        </button>
      </form>
      {error !== undefined && (
        <p class="error" role="alert" data-testid="devices-error">
          {error}
        </p>
      )}
      {notice !== undefined && (
        <p role="status" data-testid="devices-notice">
          {notice}
        </p>
      )}
      <ul class="contact-list" data-testid="device-list">
        {(devices ?? []).map((d) => (
          <li key={d.device}>
            <span class="contact-name">
              <code>{d.fingerprint}</code> {d.device === s.device && <strong>{t('messages.thisDevice')}</strong>}
            </span>
            <time>{new Date(d.createdAt).toLocaleDateString()}</time>
            {d.device !== s.device && (
              <button type="button" class="secondary danger" disabled={busy} onClick={() => setRemoving(d)}>
                {t('messages.removeDevice')}
              </button>
            )}
          </li>
        ))}
      </ul>
      <p class="hint">{t('messages.devicesHint')}</p>
      {removing !== undefined && (
        <ConfirmDialog
          title={t('messages.removeTitle')}
          body={t('messages.removeBody', { key: removing.fingerprint })}
          confirm={t('messages.removeDevice')}
          cancel={t('account.cancel')}
          onCancel={() => setRemoving(undefined)}
          onConfirm={() => {
            const d = removing;
            setRemoving(undefined);
            void act(() => s.devices.removeDevice(d.device));
          }}
        />
      )}
    </section>
  );
}
