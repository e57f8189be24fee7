// Groups of the caller's tenant (LocalGroup): live list; create and edit (display name,
// description); members bound and unbound through the group's binding subresources; delete.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import { type KubeObject } from '../../api/kube';
import { AUTH } from '../../access/policy';
import { AUTH_V1, BindDialog, subjectNames, subjectsOf } from '../../access/shared';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useNow } from '../../list/useLiveList';
import { str } from '../../resources';
import { FormDialog } from '../../ui/Dialog';
import { FormError, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { required } from '../../ui/validation';
import { ageColumn } from '../../list/columns';
import { DeleteDialog } from '../../ui/DeleteDialog';

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
      ageColumn(t('common.age'), now),
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
      <DeleteDialog
        target={deleting}
        url={(o) => `${AUTH_V1}/${R}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'displayName')}
        title={t('groups.deleteTitle')}
        message={(name) => t('groups.deleteMessage', { name })}
        onClose={() => setDeleting(null)}
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
    <FormDialog
      id="group-form"
      title={group ? t('groups.edit') : t('groups.create')}
      onClose={onClose}
      busy={form.busy}
      submitLabel={group ? t('common.save') : t('common.create')}
      onSubmit={() => void form.submit()}
    >
      <TextField label={t('pages.displayName')} value={form.values.displayName} onChange={(v) => form.set('displayName', v)} error={form.error('displayName')} required />
      <TextField label={t('common.description')} multiline rows={3} value={form.values.description} onChange={(v) => form.set('description', v)} error={form.error('description')} />
      <FormError message={form.error('')} />
    </FormDialog>
  );
}
