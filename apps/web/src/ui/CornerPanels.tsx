/**
 * The two buttons at the top right and their panels, one open at a time: Account (AccountPanel.tsx)
 * and Settings (Settings.tsx). The account panel comes with OPAQUE's WebAssembly (about 160 KB
 * gzip), so it is imported the first time its button is pressed, never with the page.
 */
import { useState } from 'preact/hooks';
import { t } from '../i18n.js';
import { type Prefs, languageOf } from '../prefs.js';
import { Icon } from './Icon.js';
import { Settings } from './Settings.js';

type AccountPanel = typeof import('./AccountPanel.js').AccountPanel;

export function useCornerPanels(prefs: Prefs, onPrefs: (p: Prefs) => void, onAccount?: (name: string | undefined) => void) {
  const [open, setOpen] = useState<'account' | 'settings' | undefined>();
  const [AccountPanel, setAccountPanel] = useState<AccountPanel | undefined>();
  const toggle = (which: 'account' | 'settings') => setOpen(open === which ? undefined : which);
  const close = () => setOpen(undefined);
  const button = (which: 'account' | 'settings', icon: 'user' | 'settings', onClick: () => void) => (
    <button
      type="button"
      class="secondary icon"
      aria-label={t(`${which}.open`)}
      aria-expanded={open === which}
      data-testid={`${which}-button`}
      onClick={onClick}
    >
      <Icon name={icon} />
    </button>
  );
  const loadAccount = () => {
    if (AccountPanel === undefined) void import('./AccountPanel.js').then((m) => setAccountPanel(() => m.AccountPanel));
  };
  const buttons = (
    <>
      {button('account', 'user', () => {
        loadAccount();
        toggle('account');
      })}
      {button('settings', 'settings', () => toggle('settings'))}
    </>
  );
  const panels =
    open === 'settings' ? (
      <Settings prefs={prefs} language={languageOf(prefs)} onChange={onPrefs} onClose={close} />
    ) : open === 'account' && AccountPanel !== undefined ? (
      <AccountPanel onClose={close} {...(onAccount === undefined ? {} : { onAccount })} />
    ) : undefined;
  /** Opens the account panel (Messages asks to sign in). */
  const openAccount = () => {
    loadAccount();
    setOpen('account');
  };
  return { buttons, panels, openAccount };
}
