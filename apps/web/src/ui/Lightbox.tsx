/**
 * An image enlarged over the page. A native modal <dialog>: focus moves into it (onto its close
 * button) and stays there, Escape closes it, the page behind is inert, and focus goes back to the
 * image's button when it closes. A click beside the image closes it too.
 */
import { useEffect, useRef } from 'preact/hooks';
import { t } from '../i18n.js';
import { Icon } from './Icon.js';

export function Lightbox(props: { src: string; alt: string; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (d === null) return;
    // Closing by unmounting (the dialog leaves the page) restores no focus by itself: we do.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (!d.open) d.showModal();
    close.current?.focus();
    return () => {
      d.close();
      opener?.focus();
    };
  }, []);
  return (
    <dialog
      ref={dialog}
      class="lightbox"
      data-testid="lightbox"
      aria-label={props.alt}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
      onClick={(e) => e.target === e.currentTarget && props.onClose()}
    >
      <img src={props.src} alt={props.alt} />
      <button
        type="button"
        class="lightbox-close"
        ref={close}
        data-testid="lightbox-close"
        aria-label={t('files.closeImage')}
        onClick={props.onClose}
      >
        <Icon name="close" size={22} />
      </button>
    </dialog>
  );
}
