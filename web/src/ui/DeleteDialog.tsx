// Asking before one object of a list is deleted, deleting it through the API and saying so: the
// one way every list page removes an object (the dialog keeps the API's refusal on screen).
import { api } from '../api/client';
import type { KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { ConfirmDialog } from './Dialog';
import { useToast } from './Toasts';

interface DeleteDialogProps<T extends KubeObject> {
  /** The object to delete; the dialog is open while it is set. */
  target: T | null;
  /** Its URL in the API. */
  url: (o: T) => string;
  /** The name people know it by (a display name), for the message and the toast. */
  shownName: (o: T) => string;
  title: string;
  /** What will happen, given the shown name. */
  message: (name: string) => string;
  /** The button's word when it is not "Delete" (e.g. "Revoke"). */
  confirmLabel?: string;
  onClose: () => void;
}

export function DeleteDialog<T extends KubeObject>({ target, url, shownName, title, message, confirmLabel, onClose }: DeleteDialogProps<T>) {
  const { t } = useI18n();
  const toast = useToast();
  const name = target ? shownName(target) || target.metadata.name : '';
  return (
    <ConfirmDialog
      open={target !== null}
      title={title}
      message={message(name)}
      confirmLabel={confirmLabel ?? t('common.delete')}
      onClose={onClose}
      onConfirm={async () => {
        if (!target) return;
        await api.del(url(target));
        toast.success(t('pages.deleted', { name }));
      }}
    />
  );
}
