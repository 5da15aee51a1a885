/**
 * A confirmation asked before something that cannot be undone (leaving a room). A native modal
 * <dialog>: focus moves into it and stays there, Escape cancels, the page behind is inert. Focus
 * starts on the safe choice, so Enter never confirms by accident.
 */
import { useEffect, useRef } from 'preact/hooks';

export function ConfirmDialog(props: {
  title: string;
  body: string;
  confirm: string;
  cancel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const safe = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (d === null) return;
    if (!d.open) d.showModal();
    safe.current?.focus();
    return () => d.close();
  }, []);
  return (
    <dialog
      ref={dialog}
      class="confirm"
      data-testid="confirm"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-body"
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <h2 id="confirm-title">{props.title}</h2>
      <p id="confirm-body">{props.body}</p>
      <div class="row">
        <button type="button" class="secondary" ref={safe} data-testid="confirm-cancel" onClick={props.onCancel}>
          {props.cancel}
        </button>
        <button type="button" class="danger" data-testid="confirm-ok" onClick={props.onConfirm}>
          {props.confirm}
        </button>
      </div>
    </dialog>
  );
}
