/** A live strength hint under the password field; the estimator loads on the first keystroke. */
import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n.js';

type Estimator = typeof import('../strength.js');
let loading: Promise<Estimator> | undefined;

export function PasswordStrength(props: { password: string; knownWords: string[] }) {
  const [estimator, setEstimator] = useState<Estimator | undefined>();
  useEffect(() => {
    if (props.password === '' || estimator !== undefined) return;
    loading ??= import('../strength.js');
    void loading.then(setEstimator, () => undefined);
  }, [props.password, estimator]);
  if (props.password === '' || estimator === undefined) return <p class="strength" id="strength" aria-live="polite" />;
  const s = estimator.score(
    props.password,
    props.knownWords.filter((w) => w !== ''),
  );
  return (
    <div class="strength" id="strength" aria-live="polite" data-testid="strength" data-score={s}>
      <meter min={0} max={4} low={2} high={3} optimum={4} value={s} aria-hidden="true" />
      <span>{t('strength.label', { level: t(`strength.levels.${s}`) })}</span>
      {s < 3 && <p class="hint">{t('strength.tip')}</p>}
    </div>
  );
}
