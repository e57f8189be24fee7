// Receivers and receiver groups (notify.tkestack.io): live lists; create and edit (a receiver's
// platform user and addresses; a group's member receivers); delete.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import type { KubeObject } from '../../api/kube';
import { useI18n } from '../../i18n';
import { ageColumn } from '../../list/columns';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useNow } from '../../list/useLiveList';
import { API_VERSION, IDENTITIES, identities, nameList, NOTIFY, NOTIFY_V1 } from '../../notify/objects';
import { arr, str } from '../../resources';
import { DeleteDialog } from '../../ui/DeleteDialog';
import { FormDialog } from '../../ui/Dialog';
import { FormError, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { required } from '../../ui/validation';

type Kind = 'receivers' | 'receivergroups';
const checksOf = (r: Kind): Record<'create' | 'update' | 'delete', Check> => ({
  create: { verb: 'create', group: NOTIFY, resource: r },
  update: { verb: 'update', group: NOTIFY, resource: r },
  delete: { verb: 'delete', group: NOTIFY, resource: r },
});

export function ReceiversPage() {
  const { t } = useI18n();
  return (
    <div className="page">
      <h1 className="page-title">{t('notify.receivers')}</h1>
      <ObjectList kind="receivers" />
      <h2>{t('notify.groups')}</h2>
      <ObjectList kind="receivergroups" />
    </div>
  );
}

function ObjectList({ kind }: { kind: Kind }) {
  const { t } = useI18n();
  const now = useNow();
  const checks = useMemo(() => checksOf(kind), [kind]);
  const perms = usePermissions(useMemo(() => Object.values(checks), [checks]));
  const [form, setForm] = useState<{ obj?: KubeObject } | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canUpdate = perms.can(checks.update);
  const canDelete = perms.can(checks.delete);
  const isReceiver = kind === 'receivers';
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.2fr' },
      { id: 'name', header: t('pages.id'), value: (o) => o.metadata.name, width: '1fr' },
      isReceiver
        ? { id: 'user', header: t('notify.username'), value: (o) => str(o, 'spec', 'username'), width: '0.8fr' }
        : { id: 'members', header: t('notify.receivers'), value: (o) => arr(o, 'spec', 'receivers').join(', '), width: '1.6fr' },
      ...(isReceiver ? [{ id: 'email', header: t('notify.email'), value: (o: KubeObject) => str(o, 'spec', 'identities', 'email'), width: '1.2fr' }] : []),
      ageColumn(t('common.age'), now),
      {
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.1fr',
        render: (o) => (
          <span className="row-actions">
            {canUpdate && (
              <button type="button" className="btn btn-small" onClick={() => setForm({ obj: o })}>
                {t('common.edit')}
              </button>
            )}
            {canDelete && (
              <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDeleting(o)}>
                {t('common.delete')}
              </button>
            )}
          </span>
        ),
      },
    ],
    [t, now, canUpdate, canDelete, isReceiver],
  );
  const label = isReceiver ? t('notify.receivers') : t('notify.groups');
  return (
    <>
      <LiveTable
        url={`${NOTIFY_V1}/${kind}`}
        columns={columns}
        label={label}
        searchText={(o) => `${str(o, 'spec', 'displayName')} ${str(o, 'spec', 'username')}`}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setForm({})}>
              {isReceiver ? t('notify.newReceiver') : t('notify.newGroup')}
            </button>
          )
        }
      />
      {form && (isReceiver ? <ReceiverForm receiver={form.obj} onClose={() => setForm(null)} /> : <GroupForm group={form.obj} onClose={() => setForm(null)} />)}
      <DeleteDialog
        target={deleting}
        url={(o) => `${NOTIFY_V1}/${kind}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'displayName')}
        title={isReceiver ? t('notify.deleteReceiver') : t('notify.deleteGroup')}
        message={(name) => t(isReceiver ? 'notify.deleteReceiverMessage' : 'notify.deleteGroupMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </>
  );
}

type ReceiverField = 'displayName' | 'username' | (typeof IDENTITIES)[number];

function ReceiverForm({ receiver, onClose }: { receiver?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const form = useApiForm<ReceiverField>(
    {
      displayName: str(receiver, 'spec', 'displayName'),
      username: str(receiver, 'spec', 'username'),
      email: str(receiver, 'spec', 'identities', 'email'),
      mobile: str(receiver, 'spec', 'identities', 'mobile'),
      wechat_openid: str(receiver, 'spec', 'identities', 'wechat_openid'),
      webhook: str(receiver, 'spec', 'identities', 'webhook'),
    },
    { displayName: { validators: [required] } },
    { 'spec.displayName': 'displayName', 'spec.identities.email': 'email' },
    async (v) => {
      const spec = { ...((receiver?.spec as Record<string, unknown>) ?? {}), displayName: v.displayName.trim(), username: v.username.trim(), identities: identities(v) };
      if (receiver) await api.put(`${NOTIFY_V1}/receivers/${encodeURIComponent(receiver.metadata.name)}`, { ...receiver, spec });
      else await api.post(`${NOTIFY_V1}/receivers`, { apiVersion: API_VERSION, kind: 'Receiver', metadata: { generateName: 'rcv-' }, spec });
      toast.success(t(receiver ? 'pages.saved' : 'pages.createdNamed', { name: v.displayName }));
      onClose();
    },
  );
  const labels: Record<(typeof IDENTITIES)[number], string> = {
    email: t('notify.email'),
    mobile: t('notify.mobile'),
    wechat_openid: t('notify.wechat_openid'),
    webhook: t('notify.webhookIdentity'),
  };
  return (
    <FormDialog id="receiver-form" title={receiver ? t('notify.editReceiver') : t('notify.newReceiver')} busy={form.busy} submitLabel={receiver ? t('common.save') : t('common.create')} onClose={onClose} onSubmit={() => void form.submit()}>
      <TextField label={t('pages.displayName')} value={form.values.displayName} onChange={(x) => form.set('displayName', x)} error={form.error('displayName')} required />
      <TextField label={t('notify.username')} value={form.values.username} onChange={(x) => form.set('username', x)} error={form.error('username')} />
      {IDENTITIES.map((k) => (
        <TextField key={k} label={labels[k]} value={form.values[k]} onChange={(x) => form.set(k, x)} error={form.error(k)} />
      ))}
      <FormError message={form.error('')} />
    </FormDialog>
  );
}

function GroupForm({ group, onClose }: { group?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const form = useApiForm<'displayName' | 'receivers'>(
    { displayName: str(group, 'spec', 'displayName'), receivers: arr(group, 'spec', 'receivers').join(', ') },
    { displayName: { validators: [required] } },
    { 'spec.displayName': 'displayName' },
    async (v) => {
      const spec = { ...((group?.spec as Record<string, unknown>) ?? {}), displayName: v.displayName.trim(), receivers: nameList(v.receivers) };
      if (group) await api.put(`${NOTIFY_V1}/receivergroups/${encodeURIComponent(group.metadata.name)}`, { ...group, spec });
      else await api.post(`${NOTIFY_V1}/receivergroups`, { apiVersion: API_VERSION, kind: 'ReceiverGroup', metadata: { generateName: 'rg-' }, spec });
      toast.success(t(group ? 'pages.saved' : 'pages.createdNamed', { name: v.displayName }));
      onClose();
    },
  );
  return (
    <FormDialog id="group-form" title={group ? t('notify.editGroup') : t('notify.newGroup')} busy={form.busy} submitLabel={group ? t('common.save') : t('common.create')} onClose={onClose} onSubmit={() => void form.submit()}>
      <TextField label={t('pages.displayName')} value={form.values.displayName} onChange={(x) => form.set('displayName', x)} error={form.error('displayName')} required />
      <TextField label={t('notify.members')} value={form.values.receivers} onChange={(x) => form.set('receivers', x)} />
      <FormError message={form.error('')} />
    </FormDialog>
  );
}
