/** Settings: theme, language, notifications, photo metadata, typing, private-chat routing. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { type Language, languages, t } from '../i18n.js';
import { CornerPanel } from './CornerPanel.js';
import { enableNotifications } from '../notify.js';
import { PRIVATE_ROUTINGS } from '@nullroom/client';
import { type Prefs, THEMES, type Theme } from '../prefs.js';

export function Settings(props: { prefs: Prefs; language: Language; onChange: (p: Prefs) => void; onClose: () => void }) {
  const { prefs } = props;
  /** Why notifications stayed off (an i18n key), when the browser refused or failed. */
  const [refusal, setRefusal] = useState<'settings.notificationsDenied' | 'settings.notificationsFailed' | undefined>(undefined);
  const first = useRef<HTMLSelectElement>(null);
  useEffect(() => first.current?.focus(), []);
  return (
    <CornerPanel id="settings" title={t('settings.title')} onClose={props.onClose}>
      <label>
        {t('settings.theme')}
        <select
          ref={first}
          data-testid="theme"
          value={prefs.theme}
          onChange={(e) => props.onChange({ ...prefs, theme: e.currentTarget.value as Theme })}
        >
          {THEMES.map((th) => (
            <option key={th} value={th}>
              {t(`settings.themes.${th}`)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('settings.language')}
        <select
          data-testid="language"
          value={props.language}
          onChange={(e) => props.onChange({ ...prefs, language: e.currentTarget.value as Language })}
        >
          {Object.entries(languages).map(([code, name]) => (
            <option key={code} value={code} lang={code}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label class="check">
        <input
          type="checkbox"
          data-testid="notifications"
          checked={prefs.notifications}
          onChange={(e) => {
            const on = e.currentTarget.checked;
            setRefusal(undefined);
            if (!on) return props.onChange({ ...prefs, notifications: false });
            // The browser asks the user; a request it cannot make (no secure context, a broken
            // permission API) rejects: the setting stays off and the user is told why.
            enableNotifications().then(
              (ok) => {
                if (!ok) setRefusal('settings.notificationsDenied');
                props.onChange({ ...prefs, notifications: ok });
              },
              () => {
                setRefusal('settings.notificationsFailed');
                props.onChange({ ...prefs, notifications: false });
              },
            );
          }}
        />
        {t('settings.notifications')}
      </label>
      {refusal !== undefined && (
        <p class="error" role="alert">
          {t(refusal)}
        </p>
      )}
      <label class="check">
        <input
          type="checkbox"
          data-testid="sound"
          checked={prefs.sound}
          onChange={(e) => props.onChange({ ...prefs, sound: e.currentTarget.checked })}
        />
        {t('settings.sound')}
      </label>
      <label class="check">
        <input
          type="checkbox"
          data-testid="strip-metadata"
          checked={prefs.stripMetadata}
          onChange={(e) => props.onChange({ ...prefs, stripMetadata: e.currentTarget.checked })}
        />
        {t('settings.stripMetadata')}
      </label>
      <label class="check">
        <input
          type="checkbox"
          data-testid="send-typing"
          checked={prefs.sendTyping}
          onChange={(e) => props.onChange({ ...prefs, sendTyping: e.currentTarget.checked })}
        />
        {t('settings.sendTyping')}
      </label>
      <fieldset data-testid="private-routing">
        <legend>{t('settings.privateRouting')}</legend>
        {PRIVATE_ROUTINGS.map((r) => (
          <label class="check" key={r}>
            <input
              type="radio"
              name="private-routing"
              value={r}
              data-testid={`private-routing-${r}`}
              checked={prefs.privateRouting === r}
              onChange={() => props.onChange({ ...prefs, privateRouting: r })}
            />
            {t(`settings.privateRoutings.${r}`)}
          </label>
        ))}
      </fieldset>
      <button type="button" onClick={props.onClose}>
        {t('settings.close')}
      </button>
    </CornerPanel>
  );
}
