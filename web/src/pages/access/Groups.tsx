// Groups of the caller's tenant (LocalGroup): live list; create and edit (display name,
// description); members bound and unbound through the group's binding subresources; delete.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import { age, type KubeObject } from '../../api/kube';
import { AUTH } from '../../access/policy';
import { AUTH_V1, BindDialog, subjectNames, subjectsOf } from '../../access/shared';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useNow } from '../../list/useLiveList';
import { str } from '../../resources';
import { ConfirmDialog, Dialog } from '../../ui/Dialog';
import { FormError, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { required } from '../../ui/validation';

/** What the search box matches besides the object's name. */
const searchText = (o: KubeObject) => `${str(o, 'spec', 'displayName')} ${str(o, 'spec', 'description')}`;

const R = 'localgroups';
const checks: Record<'create' | 'update' | 'delete' | 'bind', Check> = {
  create: { verb: 'create', group: AUTH, resource: R },
  update: { verb: 'update', group: AUTH, resource: R },
  delete: { verb: 'delete', group: AUTH, resource: R },
  bind: { verb: 'create', group: AUTH, resource: R, subresource: 'binding' },
};

export function GroupsPage() {
  const { t } = useI18n();
  const toast = useToast();
  const now = useNow();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const [form, setForm] = useState<{ group?: KubeObject } | null>(null);
  const [members, setMembers] = useState<KubeObject | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canUpdate = perms.can(checks.update);
  const canDelete = perms.can(checks.delete);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.3fr' },
      { id: 'name', header: t('pages.id'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'description', header: t('common.description'), value: (o) => str(o, 'spec', 'description'), width: '1.6fr' },
      { id: 'members', header: t('groups.members'), value: (o) => subjectNames(subjectsOf(o, 'status', 'users')), width: '1.4fr' },
      { id: 'age', header: t('common.age'), value: (o) => -Date.parse(o.metadata.creationTimestamp ?? '') || 0, render: (o) => age(o.metadata.creationTimestamp, now), width: '0.5fr' },
      {
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.6fr',
        render: (o) => (
          <span className="row-actions">
            <button type="button" className="btn btn-small" onClick={() => setMembers(o)}>
              {t('groups.members')}
            </button>
            {canUpdate && (
              <button type="button" className="btn btn-small" onClick={() => setForm({ group: o })}>
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
    [t, now, canUpdate, canDelete],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('groups.title')}</h1>
      <LiveTable
        url={`${AUTH_V1}/${R}`}
        columns={columns}
        label={t('groups.title')}
        searchText={searchText}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setForm({})}>
              {t('groups.create')}
            </button>
          )
        }
      />
      {form && <GroupForm group={form.group} onClose={() => setForm(null)} />}
      {members && (
        <BindDialog
          path={`${AUTH_V1}/${R}/${encodeURIComponent(members.metadata.name)}`}
          title={t('groups.membersOf', { name: str(members, 'spec', 'displayName') || members.metadata.name })}
          live={{ collection: `${AUTH_V1}/${R}`, name: members.metadata.name, users: ['status', 'users'] }}
          withGroups={false}
          canEdit={perms.can(checks.bind)}
          onClose={() => setMembers(null)}
        />
      )}
      <ConfirmDialog
        open={deleting !== null}
        title={t('groups.deleteTitle')}
        message={t('groups.deleteMessage', { name: str(deleting, 'spec', 'displayName') || (deleting?.metadata.name ?? '') })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          await api.del(`${AUTH_V1}/${R}/${encodeURIComponent(deleting.metadata.name)}`);
          toast.success(t('pages.deleted', { name: str(deleting, 'spec', 'displayName') }));
        }}
      />
    </div>
  );
}

function GroupForm({ group, onClose }: { group?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const form = useApiForm<'displayName' | 'description'>(
    { displayName: str(group, 'spec', 'displayName'), description: str(group, 'spec', 'description') },
    { displayName: { validators: [required] } },
    { 'spec.displayName': 'displayName', 'spec.description': 'description' },
    async (v) => {
      const spec = { ...((group?.spec as Record<string, unknown>) ?? {}), displayName: v.displayName.trim(), description: v.description };
      if (group) await api.put(`${AUTH_V1}/${R}/${encodeURIComponent(group.metadata.name)}`, { ...group, spec });
      else await api.post(`${AUTH_V1}/${R}`, { apiVersion: 'auth.tkestack.io/v1', kind: 'LocalGroup', metadata: { generateName: 'grp-' }, spec });
      toast.success(t(group ? 'pages.saved' : 'pages.createdNamed', { name: v.displayName }));
      onClose();
    },
  );
  return (
    <Dialog
      open
      title={group ? t('groups.edit') : t('groups.create')}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" form="group-form" className="btn btn-primary" disabled={form.busy}>
            {form.busy ? t('common.working') : group ? t('common.save') : t('common.create')}
          </button>
        </>
      }
    >
      <form
        noValidate
        id="group-form"
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit();
        }}
      >
        <TextField label={t('pages.displayName')} value={form.values.displayName} onChange={(v) => form.set('displayName', v)} error={form.error('displayName')} required />
        <TextField label={t('common.description')} multiline rows={3} value={form.values.description} onChange={(v) => form.set('description', v)} error={form.error('description')} />
        <FormError message={form.error('')} />
      </form>
    </Dialog>
  );
}
