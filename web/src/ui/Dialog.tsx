// Modal dialogs on the native <dialog> element (focus kept inside, Escape closes, aria-modal),
// the dialog every create/edit form lives in, and the confirmation dialog every destructive
// action goes through.
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { messageOf } from '../api/errors';
import { useI18n } from '../i18n';

interface DialogProps {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
}

export function Dialog({ open, title, onClose, children, footer, wide }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      if (typeof d.showModal === 'function') d.showModal();
      else d.setAttribute('open', '');
    } else if (!open && d.open) {
      if (typeof d.close === 'function') d.close();
      else d.removeAttribute('open');
    }
  }, [open]);
  return (
    <dialog
      ref={ref}
      className={wide ? 'dialog dialog-wide' : 'dialog'}
      aria-labelledby={titleId}
      aria-modal="true"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      {open && (
        <>
          <h2 id={titleId} className="dialog-title">
            {title}
          </h2>
          <div className="dialog-body">{children}</div>
          {footer && <div className="dialog-footer">{footer}</div>}
        </>
      )}
    </dialog>
  );
}

interface FormDialogProps {
  /** The form's id (the footer's submit button is outside the form). */
  id: string;
  title: string;
  onClose: () => void;
  /** Submitting: the button says so and cannot be pressed again. */
  busy: boolean;
  /** The submit button's word ("Create", "Save"). */
  submitLabel: string;
  onSubmit: () => void;
  wide?: boolean;
  children: ReactNode;
}

/** A form in a dialog: Cancel and a submit button that shows progress; Enter submits. */
export function FormDialog({ id, title, onClose, busy, submitLabel, onSubmit, wide, children }: FormDialogProps) {
  const { t } = useI18n();
  return (
    <Dialog
      open
      title={title}
      onClose={onClose}
      wide={wide}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" form={id} className="btn btn-primary" disabled={busy}>
            {busy ? t('common.working') : submitLabel}
          </button>
        </>
      }
    >
      <form
        noValidate
        id={id}
        onSubmit={(e) => {
          e.preventDefault();
          onSubmit();
        }}
      >
        {children}
      </form>
    </Dialog>
  );
}

interface ConfirmProps {
  open: boolean;
  title: string;
  /** What will happen, in words (names are shown as text, never as HTML). */
  message: ReactNode;
  confirmLabel?: string;
  danger?: boolean;
  /** Runs the action; the dialog shows progress and keeps an error on screen. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

export function ConfirmDialog({ open, title, message, confirmLabel, danger = true, onConfirm, onClose }: ConfirmProps) {
  const { t } = useI18n();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setBusy(false);
      setError(null);
    }
  }, [open]);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open={open}
      title={title}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} disabled={busy}>
            {t('common.cancel')}
          </button>
          <button type="button" className={danger ? 'btn btn-danger' : 'btn btn-primary'} onClick={run} disabled={busy} autoFocus>
            {busy ? t('common.working') : (confirmLabel ?? t('common.confirm'))}
          </button>
        </>
      }
    >
      <div>{message}</div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </Dialog>
  );
}
