/**
 * One account action at a time from a pane (contacts, devices, members): the pane's controls are
 * disabled while it runs, and a refusal is shown in words (accountMessage), never thrown. `after`
 * runs when the action succeeded (the devices pane reads its list again).
 */
import { useState } from 'preact/hooks';
import { accountMessage } from './ContactsPane.js';

export function useAction(after?: () => Promise<unknown>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      await fn();
      await after?.();
    } catch (e) {
      setError(accountMessage(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, notice, setNotice, setError, act };
}
