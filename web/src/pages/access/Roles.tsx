// Roles (auth.tkestack.io Role): a named set of policies bound to users and groups. Live list;
// create and edit (display name, description, policies chosen from the tenant's); users and
// groups bound through the role's binding subresources; delete.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import { type KubeObject } from '../../api/kube';
import { AUTH } from '../../access/policy';
import { AUTH_V1, BindDialog, subjectNames, subjectsOf } from '../../access/shared';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useLiveList, useNow } from '../../list/useLiveList';
import { arr, str } from '../../resources';
import { FormDialog } from '../../ui/Dialog';
import { FormError, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { required } from '../../ui/validation';
import { ageColumn } from '../../list/columns';
import { DeleteDialog } from '../../ui/DeleteDialog';

/** What the search box matches besides the object's name. */
const searchText = (o: KubeObject) => str(o, 'spec', 'displayName');

const R = 'roles';
const checks: Record<'create' | 'update' | 'delete' | 'bind', Check> = {
  create: { verb: 'create', group: AUTH, resource: R },
  update: { verb: 'update', group: AUTH, resource: R },
  delete: { verb: 'delete', group: AUTH, resource: R },
  bind: { verb: 'create', group: AUTH, resource: R, subresource: 'binding' },
};

export function RolesPage() {
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const [form, setForm] = useState<{ role?: KubeObject } | null>(null);
  const [binding, setBinding] = useState<KubeObject | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canUpdate = perms.can(checks.update);
  const canDelete = perms.can(checks.delete);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.3fr' },
      { id: 'name', header: t('pages.id'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'policies', header: t('roles.policies'), value: (o) => arr(o, 'spec', 'policies').join(', '), width: '1.5fr' },
      { id: 'project', header: t('projects.project'), value: (o) => str(o, 'spec', 'projectID'), width: '0.8fr' },
      {
        id: 'subjects',
        header: t('policies.boundTo'),
        value: (o) => [subjectNames(subjectsOf(o, 'status', 'users')), subjectNames(subjectsOf(o, 'status', 'groups'))].filter(Boolean).join('; '),
        width: '1.2fr',
      },
      ageColumn(t('common.age'), now),
      {
        id: 'ops',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.7fr',
        render: (o) => (
          <span className="row-actions">
            <button type="button" className="btn btn-small" onClick={() => setBinding(o)}>
              {t('policies.bindings')}
            </button>
            {canUpdate && (
              <button type="button" className="btn btn-small" onClick={() => setForm({ role: o })}>
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
      <h1 className="page-title">{t('roles.title')}</h1>
      <LiveTable
        url={`${AUTH_V1}/${R}`}
        columns={columns}
        label={t('roles.title')}
        searchText={searchText}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setForm({})}>
              {t('roles.create')}
            </button>
          )
        }
      />
      {form && <RoleForm role={form.role} onClose={() => setForm(null)} />}
      {binding && (
        <BindDialog
          path={`${AUTH_V1}/${R}/${encodeURIComponent(binding.metadata.name)}`}
          title={t('policies.bindingsOf', { name: str(binding, 'spec', 'displayName') })}
          live={{ collection: `${AUTH_V1}/${R}`, name: binding.metadata.name, users: ['status', 'users'], groups: ['status', 'groups'] }}
          withGroups
          canEdit={perms.can(checks.bind)}
          onClose={() => setBinding(null)}
        />
      )}
      <DeleteDialog
        target={deleting}
        url={(o) => `${AUTH_V1}/${R}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'displayName')}
        title={t('roles.deleteTitle')}
        message={(name) => t('roles.deleteMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

function RoleForm({ role, onClose }: { role?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const policies = useLiveList(`${AUTH_V1}/policies`);
  const all = policies.state ? [...policies.state.items.values()].sort((a, b) => str(a, 'spec', 'displayName').localeCompare(str(b, 'spec', 'displayName'))) : [];
  const [chosen, setChosen] = useState<string[]>(role ? arr(role, 'spec', 'policies').map(String) : []);
  const [policyError, setPolicyError] = useState<string | undefined>();
  const form = useApiForm<'displayName' | 'description'>(
    { displayName: str(role, 'spec', 'displayName'), description: str(role, 'spec', 'description') },
    { displayName: { validators: [required] } },
    { 'spec.displayName': 'displayName', 'spec.description': 'description' },
    async (v) => {
      setPolicyError(undefined);
      const spec = { ...((role?.spec as Record<string, unknown>) ?? {}), displayName: v.displayName.trim(), description: v.description, policies: chosen };
      try {
        if (role) await api.put(`${AUTH_V1}/${R}/${encodeURIComponent(role.metadata.name)}`, { ...role, spec });
        else await api.post(`${AUTH_V1}/${R}`, { apiVersion: 'auth.tkestack.io/v1', kind: 'Role', metadata: { generateName: 'rol-' }, spec });
      } catch (e) {
        const causes = (e as { causes?: { field?: string; message?: string }[] }).causes ?? [];
        const p = causes.filter((c) => c.field?.startsWith('spec.policies')).map((c) => c.message ?? '');
        if (p.length) setPolicyError(p.join('; '));
        throw e;
      }
      toast.success(t(role ? 'pages.saved' : 'pages.createdNamed', { name: v.displayName }));
      onClose();
    },
  );
  return (
    <FormDialog
      id="role-form"
      title={role ? t('roles.edit') : t('roles.create')}
      onClose={onClose}
      wide
      busy={form.busy}
      submitLabel={role ? t('common.save') : t('common.create')}
      onSubmit={() => void form.submit()}
    >
      <TextField label={t('pages.displayName')} value={form.values.displayName} onChange={(v) => form.set('displayName', v)} error={form.error('displayName')} required />
      <TextField label={t('common.description')} value={form.values.description} onChange={(v) => form.set('description', v)} error={form.error('description')} />
      <fieldset className="checks" aria-invalid={!!policyError}>
        <legend>{t('roles.policies')}</legend>
        {all.length === 0 && <p className="field-hint">{t('roles.noPolicies')}</p>}
        {all.map((p) => {
          const name = p.metadata.name;
          const on = chosen.includes(name);
          return (
            <label key={name} className="check">
              <input type="checkbox" checked={on} onChange={() => setChosen((c) => (on ? c.filter((x) => x !== name) : [...c, name]))} />
              {str(p, 'spec', 'displayName') || name} <span className="field-hint">({name})</span>
            </label>
          );
        })}
        {policyError && <div className="field-error">{policyError}</div>}
      </fieldset>
      <FormError message={form.error('')} />
    </FormDialog>
  );
}
