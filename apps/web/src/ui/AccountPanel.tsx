/**
 * Accounts in the browser (docs/PROTOCOL.md §11): register or sign in, then who is signed in, sign
 * out (here or everywhere), change the password, delete the account. The session is the relay's
 * HttpOnly cookie (this code never sees it); the password goes only into OPAQUE, in this page.
 * Loaded on demand (main.tsx imports it dynamically), so OPAQUE's WebAssembly is not in the first
 * bundle. The relay's OPAQUE key is pinned in localStorage on first use: another key is refused.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { AccountClient, AccountError } from '@nullroom/client/accounts';
import { t } from '../i18n.js';
import { CornerPanel } from './CornerPanel.js';

const PIN = 'nullroom.accountServerKey';

type Mode = 'sign-in' | 'register';
type View = { kind: 'loading' } | { kind: 'signed-out' } | { kind: 'signed-in'; name: string } | { kind: 'password' } | { kind: 'delete' };

function client(): AccountClient {
  const pinned = localStorage.getItem(PIN) ?? undefined;
  return new AccountClient({ url: location.origin, session: 'cookie', ...(pinned === undefined ? {} : { serverKey: pinned }) });
}

/** The message for a refusal: its code's string, with the detail the relay gave. */
function message(e: unknown): string {
  if (!(e instanceof AccountError)) return t('account.errors.UNAVAILABLE');
  if (e.code === 'USERNAME_INVALID' && e.details.problem !== undefined) return t(`account.problems.${e.details.problem}`);
  if (e.code === 'RATE_LIMITED') return t('account.errors.RATE_LIMITED', { seconds: e.details.retryAfter ?? 60 });
  return t(`account.errors.${e.code}`);
}

export function AccountPanel(props: { onClose: () => void; onAccount?: (name: string | undefined) => void }) {
  const [view, setView] = useState<View>({ kind: 'loading' });
  const [mode, setMode] = useState<Mode>('sign-in');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  /** The signed-in name, kept while the password or delete form is on screen. */
  const [accountName, setAccountName] = useState('');
  const first = useRef<HTMLInputElement>(null);

  const signedIn = (n: string | undefined) => {
    if (n !== undefined) setAccountName(n);
    props.onAccount?.(n);
    setView(n === undefined ? { kind: 'signed-out' } : { kind: 'signed-in', name: n });
  };
  useEffect(() => {
    client()
      .whoami()
      .then(
        (me) => signedIn(me?.name),
        () => setView({ kind: 'signed-out' }), // unreachable: said so when the user acts, and Messages keeps going
      );
  }, []);
  useEffect(() => first.current?.focus(), [view.kind, mode]);

  /** Runs one action with the form disabled; a refusal is shown, never thrown. */
  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      await fn();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
      setPassword('');
      setNext('');
    }
  };
  const pin = (key: string) => localStorage.setItem(PIN, key);

  const submit = (e: Event) => {
    e.preventDefault();
    if (view.kind === 'signed-out') {
      void act(async () => {
        const c = client();
        const s = mode === 'register' ? await c.register(name, password) : await c.login(name, password);
        pin(s.serverKey);
        signedIn(s.name);
      });
    } else if (view.kind === 'password') {
      void act(async () => {
        await client().changePassword(accountName, password, next);
        setView({ kind: 'signed-in', name: accountName });
        setNotice(t('account.passwordChanged'));
      });
    } else if (view.kind === 'delete') {
      void act(async () => {
        await client().deleteAccount(accountName, password);
        signedIn(undefined);
        setNotice(t('account.deleted'));
      });
    }
  };
  return (
    <CornerPanel id="account" title={t('account.title')} onClose={props.onClose}>
      {view.kind === 'loading' && <p role="status">{t('account.loading')}</p>}
      {view.kind === 'signed-in' && (
        <>
          <p data-testid="account-name">{t('account.signedInAs', { name: accountName })}</p>
          <div class="actions">
            <button
              type="button"
              class="secondary"
              data-testid="sign-out"
              disabled={busy}
              onClick={() => void act(async () => (await client().logout(), signedIn(undefined)))}
            >
              {t('account.signOut')}
            </button>
            <button
              type="button"
              class="secondary"
              data-testid="sign-out-everywhere"
              disabled={busy}
              onClick={() => void act(async () => (await client().logoutEverywhere(), signedIn(undefined)))}
            >
              {t('account.signOutEverywhere')}
            </button>
            <button type="button" class="secondary" data-testid="change-password" onClick={() => setView({ kind: 'password' })}>
              {t('account.changePassword')}
            </button>
            <button type="button" class="secondary danger" data-testid="delete-account" onClick={() => setView({ kind: 'delete' })}>
              {t('account.delete')}
            </button>
          </div>
        </>
      )}
      {(view.kind === 'signed-out' || view.kind === 'password' || view.kind === 'delete') && (
        <form onSubmit={submit} data-testid="account-form">
          {view.kind === 'signed-out' && (
            <>
              <div class="tabs" role="group" aria-label={t('account.title')}>
                <button type="button" aria-pressed={mode === 'sign-in'} data-testid="mode-sign-in" onClick={() => setMode('sign-in')}>
                  {t('account.signIn')}
                </button>
                <button type="button" aria-pressed={mode === 'register'} data-testid="mode-register" onClick={() => setMode('register')}>
                  {t('account.register')}
                </button>
              </div>
              <label>
                {t('account.username')}
                <input
                  ref={first}
                  data-testid="account-username"
                  autocomplete="username"
                  maxLength={64}
                  required
                  value={name}
                  onInput={(e) => setName(e.currentTarget.value)}
                />
              </label>
            </>
          )}
          {view.kind === 'delete' && <p class="warning">{t('account.deleteWarning')}</p>}
          <label>
            {view.kind === 'password' ? t('account.currentPassword') : t('account.password')}
            <input
              ref={view.kind === 'signed-out' ? undefined : first}
              type="password"
              data-testid="account-password"
              autocomplete={mode === 'register' && view.kind === 'signed-out' ? 'new-password' : 'current-password'}
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </label>
          {view.kind === 'password' && (
            <label>
              {t('account.newPassword')}
              <input
                type="password"
                data-testid="account-new-password"
                autocomplete="new-password"
                required
                value={next}
                onInput={(e) => setNext(e.currentTarget.value)}
              />
            </label>
          )}
          <div class="actions">
            <button type="submit" data-testid="account-submit" class={view.kind === 'delete' ? 'danger' : undefined} disabled={busy}>
              {busy
                ? t('account.working')
                : view.kind === 'password'
                  ? t('account.changePassword')
                  : view.kind === 'delete'
                    ? t('account.deleteConfirm')
                    : mode === 'register'
                      ? t('account.register')
                      : t('account.signIn')}
            </button>
            {view.kind !== 'signed-out' && (
              <button type="button" class="secondary" onClick={() => setView({ kind: 'signed-in', name: accountName })}>
                {t('account.cancel')}
              </button>
            )}
          </div>
        </form>
      )}
      {error !== undefined && (
        <p class="error" role="alert" data-testid="account-error">
          {error}
        </p>
      )}
      {notice !== undefined && (
        <p role="status" data-testid="account-notice">
          {notice}
        </p>
      )}
      <p class="hint">{t('account.privacy')}</p>
      <button type="button" class="secondary" data-testid="account-close" onClick={props.onClose}>
        {t('settings.close')}
      </button>
    </CornerPanel>
  );
}
