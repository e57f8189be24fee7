// A cluster's machines (platform Machine objects selected by spec.clusterName, live): their
// phase and conditions, add a worker (SSH address and credential; the controller installs and
// joins it) and remove one (the controller drains and resets it first).
import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { PLATFORM, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { LiveTable, type Column } from '../list/LiveTable';
import { useNow } from '../list/useLiveList';
import { conditions, str } from '../resources';
import { Phase } from '../ui/bits';
import { ConfirmDialog, Dialog } from '../ui/Dialog';
import { FormError, SelectField, TextField, useApiForm } from '../ui/Form';
import { useToast } from '../ui/Toasts';
import { ipAddress, port, required } from '../ui/validation';
import { ageColumn } from '../list/columns';

const createCheck: Check = { verb: 'create', group: PLATFORM, resource: 'machines' };
const deleteCheck: Check = { verb: 'delete', group: PLATFORM, resource: 'machines' };

export function MachinesPage() {
  const { cluster = '' } = useParams();
  const { t } = useI18n();
  const toast = useToast();
  const now = useNow();
  const perms = usePermissions(useMemo(() => [createCheck, deleteCheck], []));
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<string | null>(null);
  const query = useMemo(() => ({ fieldSelector: `spec.clusterName=${cluster}` }), [cluster]);
  const canDelete = perms.can(deleteCheck);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      {
        id: 'name',
        header: t('common.name'),
        value: (o) => o.metadata.name,
        render: (o) => <Link to={`/tkestack/machines/${encodeURIComponent(o.metadata.name)}`}>{o.metadata.name}</Link>,
        width: '1fr',
      },
      { id: 'ip', header: t('machines.ip'), value: (o) => str(o, 'spec', 'ip'), width: '1fr' },
      { id: 'phase', header: t('common.phase'), value: (o) => str(o, 'status', 'phase'), render: (o) => <Phase phase={str(o, 'status', 'phase')} />, width: '0.8fr' },
      {
        id: 'step',
        header: t('machines.step'),
        value: (o) => {
          const c = conditions(o).find((x) => x.status !== 'True');
          return c ? `${c.type}${c.message ? `: ${c.message}` : ''}` : '';
        },
        width: '2fr',
      },
      ageColumn(t('common.age'), now),
      ...(canDelete
        ? [
            {
              id: 'actions',
              header: t('common.actions'),
              sortable: false,
              value: () => '',
              render: (o: KubeObject) => (
                <button type="button" className="btn btn-small btn-danger-text" onClick={() => setRemoving(o.metadata.name)}>
                  {t('machines.remove')}
                </button>
              ),
              width: '0.7fr',
            },
          ]
        : []),
    ],
    [t, now, canDelete],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('cluster.machines')}</h1>
      <LiveTable
        url={`/apis/${PLATFORM}/v1/machines`}
        query={query}
        columns={columns}
        label={t('cluster.machines')}
        toolbar={
          perms.can(createCheck) && (
            <button type="button" className="btn btn-primary" onClick={() => setAdding(true)}>
              {t('machines.add')}
            </button>
          )
        }
      />
      {adding && <AddMachine cluster={cluster} onClose={() => setAdding(false)} />}
      <ConfirmDialog
        open={removing !== null}
        title={t('machines.removeTitle')}
        message={t('machines.removeMessage', { name: removing ?? '' })}
        confirmLabel={t('machines.remove')}
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          if (!removing) return;
          await api.del(`/apis/${PLATFORM}/v1/machines/${encodeURIComponent(removing)}`);
          toast.success(t('machines.removing', { name: removing }));
        }}
      />
    </div>
  );
}

type MF = 'ip' | 'port' | 'username' | 'auth' | 'password' | 'privateKey';

function AddMachine({ cluster, onClose }: { cluster: string; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const form = useApiForm<MF>(
    { ip: '', port: '22', username: 'root', auth: 'password', password: '', privateKey: '' },
    { ip: { validators: [required, ipAddress] }, port: { validators: [port] }, username: { validators: [required] } },
    { 'spec.ip': 'ip', 'spec.port': 'port', 'spec.username': 'username', 'spec.password': 'password', 'spec.privateKey': 'privateKey' },
    async (v) => {
      const spec: Record<string, unknown> = { clusterName: cluster, type: 'Baremetal', ip: v.ip, port: Number(v.port), username: v.username };
      // The API keeps secrets base64-encoded, as TKEStack does.
      if (v.auth === 'password') spec.password = btoa(v.password);
      else spec.privateKey = btoa(v.privateKey.trim() + '\n');
      const m = await api.post<KubeObject>(`/apis/${PLATFORM}/v1/machines`, {
        apiVersion: `${PLATFORM}/v1`,
        kind: 'Machine',
        metadata: { generateName: 'mc-' },
        spec,
      });
      toast.success(t('machines.added', { name: m.metadata.name }));
      onClose();
    },
  );
  return (
    <Dialog
      open
      title={t('machines.add')}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" form="add-machine" className="btn btn-primary" disabled={form.busy}>
            {form.busy ? t('common.working') : t('machines.add')}
          </button>
        </>
      }
    >
      <form
        id="add-machine"
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit();
        }}
      >
        <TextField label={t('machines.ip')} value={form.values.ip} onChange={(v) => form.set('ip', v)} error={form.error('ip')} required />
        <TextField label={t('machines.port')} value={form.values.port} onChange={(v) => form.set('port', v)} error={form.error('port')} />
        <TextField label={t('machines.username')} value={form.values.username} onChange={(v) => form.set('username', v)} error={form.error('username')} />
        <SelectField
          label={t('machines.auth')}
          value={form.values.auth}
          onChange={(v) => form.set('auth', v)}
          options={[
            { value: 'password', label: t('machines.password') },
            { value: 'key', label: t('machines.privateKey') },
          ]}
        />
        {form.values.auth === 'password' ? (
          <TextField label={t('machines.password')} type="password" autoComplete="off" value={form.values.password} onChange={(v) => form.set('password', v)} error={form.error('password')} />
        ) : (
          <TextField label={t('machines.privateKey')} multiline rows={4} value={form.values.privateKey} onChange={(v) => form.set('privateKey', v)} error={form.error('privateKey')} />
        )}
        <FormError message={form.error('')} />
      </form>
    </Dialog>
  );
}
