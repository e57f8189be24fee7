// Policies (auth.tkestack.io Policy): live list; the policy editor (statement actions and
// resources one pattern per line, effect, scope), checked as the API checks before sending and
// showing the API's own causes at their lines; users and groups bound platform-wide
// (binding/unbinding) or, for project-scoped policies, in a chosen project
// (projectbinding/projectunbinding, which keep ProjectPolicyBindings); delete.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import { ApiError, messageOf } from '../../api/errors';
import { type KubeObject } from '../../api/kube';
import { AUTH, draftOf, emptyPolicy, policyErrors, policyObject, validatePolicy, type PolicyDraft } from '../../access/policy';
import { AUTH_V1, BUSINESS_V1, BindDialog, subjectNames, subjectsOf } from '../../access/shared';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useLiveList, useNow } from '../../list/useLiveList';
import { arr, str } from '../../resources';
import { Dialog, FormDialog } from '../../ui/Dialog';
import { Field, FormError, SelectField, TextField } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { ageColumn } from '../../list/columns';
import { DeleteDialog } from '../../ui/DeleteDialog';

/** What the search box matches besides the object's name. */
const searchText = (o: KubeObject) => `${str(o, 'spec', 'displayName')} ${str(o, 'spec', 'category')}`;

const R = 'policies';
const checks: Record<'create' | 'update' | 'delete' | 'bind' | 'projectbind', Check> = {
  create: { verb: 'create', group: AUTH, resource: R },
  update: { verb: 'update', group: AUTH, resource: R },
  delete: { verb: 'delete', group: AUTH, resource: R },
  bind: { verb: 'create', group: AUTH, resource: R, subresource: 'binding' },
  projectbind: { verb: 'create', group: AUTH, resource: R, subresource: 'projectbinding' },
};

export function PoliciesPage() {
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const [editing, setEditing] = useState<{ policy?: KubeObject } | null>(null);
  const [binding, setBinding] = useState<KubeObject | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canUpdate = perms.can(checks.update);
  const canDelete = perms.can(checks.delete);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.4fr' },
      { id: 'name', header: t('pages.id'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'scope', header: t('policies.scope'), value: (o) => str(o, 'spec', 'scope'), width: '0.7fr' },
      {
        id: 'effect',
        header: t('policies.effect'),
        value: (o) => str(o, 'spec', 'statement', 'effect'),
        render: (o) => (
          <span className={str(o, 'spec', 'statement', 'effect') === 'deny' ? 'badge badge-bad' : 'badge badge-ok'}>{str(o, 'spec', 'statement', 'effect')}</span>
        ),
        width: '0.7fr',
      },
      { id: 'actions', header: t('policies.permissions'), value: (o) => arr(o, 'spec', 'statement', 'actions').join(', '), width: '1.6fr' },
      { id: 'type', header: t('common.type'), value: (o) => str(o, 'spec', 'type'), width: '0.6fr' },
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
            {canUpdate && str(o, 'spec', 'type') !== 'default' && (
              <button type="button" className="btn btn-small" onClick={() => setEditing({ policy: o })}>
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
      <h1 className="page-title">{t('policies.title')}</h1>
      <LiveTable
        url={`${AUTH_V1}/${R}`}
        columns={columns}
        label={t('policies.title')}
        searchText={searchText}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setEditing({})}>
              {t('policies.create')}
            </button>
          )
        }
      />
      {editing && <PolicyEditor policy={editing.policy} onClose={() => setEditing(null)} />}
      {binding &&
        (str(binding, 'spec', 'scope') === 'project' ? (
          <ProjectBinding policy={binding} canEdit={perms.can(checks.projectbind)} onClose={() => setBinding(null)} />
        ) : (
          <BindDialog
            path={`${AUTH_V1}/${R}/${encodeURIComponent(binding.metadata.name)}`}
            title={t('policies.bindingsOf', { name: str(binding, 'spec', 'displayName') })}
            live={{ collection: `${AUTH_V1}/${R}`, name: binding.metadata.name, users: ['status', 'users'], groups: ['status', 'groups'] }}
            withGroups
            canEdit={perms.can(checks.bind)}
            onClose={() => setBinding(null)}
          />
        ))}
      <DeleteDialog
        target={deleting}
        url={(o) => `${AUTH_V1}/${R}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'displayName')}
        title={t('policies.deleteTitle')}
        message={(name) => t('policies.deleteMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

/** The policy editor: one pattern per line, the API's rules checked as you save. */
export function PolicyEditor({ policy, onClose }: { policy?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const [draft, setDraft] = useState<PolicyDraft>(policy ? draftOf(policy) : emptyPolicy);
  const [errors, setErrors] = useState<Partial<Record<keyof PolicyDraft | '', string>>>({});
  const [busy, setBusy] = useState(false);
  const set = (k: keyof PolicyDraft, v: string) => {
    setDraft((d) => ({ ...d, [k]: v }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };
  const save = async () => {
    const local = validatePolicy(draft);
    if (Object.keys(local).length > 0) {
      setErrors(policyErrors(local));
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const obj = policyObject(draft, policy);
      if (policy) await api.put(`${AUTH_V1}/${R}/${encodeURIComponent(policy.metadata.name)}`, obj);
      else await api.post(`${AUTH_V1}/${R}`, obj);
      toast.success(t(policy ? 'pages.saved' : 'pages.createdNamed', { name: draft.displayName }));
      onClose();
    } catch (e) {
      if (e instanceof ApiError) {
        const out = policyErrors(e.fieldErrors());
        if (!out['']) out[''] = e.message;
        setErrors(out);
      } else setErrors({ '': messageOf(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <FormDialog
      id="policy-form"
      title={policy ? t('policies.edit', { name: str(policy, 'spec', 'displayName') }) : t('policies.create')}
      onClose={onClose}
      wide
      busy={busy}
      submitLabel={policy ? t('common.save') : t('common.create')}
      onSubmit={() => void save()}
    >
      <TextField label={t('pages.displayName')} value={draft.displayName} onChange={(v) => set('displayName', v)} error={errors.displayName} required />
      <TextField label={t('common.description')} value={draft.description} onChange={(v) => set('description', v)} error={errors.description} />
      <div className="form-row">
        <SelectField
          label={t('policies.effect')}
          value={draft.effect}
          onChange={(v) => set('effect', v)}
          error={errors.effect}
          options={[
            { value: 'allow', label: t('policies.allow') },
            { value: 'deny', label: t('policies.deny') },
          ]}
        />
        {policy ? (
          <Field label={t('policies.scope')}>{({ id }) => <output id={id}>{draft.scope}</output>}</Field>
        ) : (
          <SelectField
            label={t('policies.scope')}
            value={draft.scope}
            onChange={(v) => set('scope', v)}
            error={errors.scope}
            options={[
              { value: 'platform', label: t('policies.scopePlatform') },
              { value: 'project', label: t('policies.scopeProject') },
            ]}
          />
        )}
        <TextField label={t('policies.category')} value={draft.category} onChange={(v) => set('category', v)} error={errors.category} placeholder="cluster" />
      </div>
      <TextField
        label={t('policies.actions')}
        multiline
        rows={5}
        value={draft.actions}
        onChange={(v) => set('actions', v)}
        error={errors.actions}
        hint={t('policies.actionsHint')}
        placeholder={'listClusters\ngetCluster'}
      />
      <TextField
        label={t('policies.resources')}
        multiline
        rows={3}
        value={draft.resources}
        onChange={(v) => set('resources', v)}
        error={errors.resources}
        hint={t('policies.resourcesHint')}
        placeholder="*"
      />
      <FormError message={errors['']} />
    </FormDialog>
  );
}

/** Who a project-scoped policy is bound to in one project (its ProjectPolicyBinding). */
function ProjectBinding({ policy, canEdit, onClose }: { policy: KubeObject; canEdit: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const projects = useLiveList(`${BUSINESS_V1}/projects`);
  const [project, setProject] = useState('');
  const query = useMemo(() => ({ fieldSelector: `spec.policyID=${policy.metadata.name}` }), [policy]);
  const bindings = useLiveList(`${AUTH_V1}/projectpolicybindings`, query);
  const binding = bindings.state ? [...bindings.state.items.values()].find((b) => str(b, 'spec', 'projectID') === project) : undefined;
  const options = projects.state ? [...projects.state.items.values()] : [];
  if (!project) {
    return (
      <Dialog
        open
        title={t('policies.bindingsOf', { name: str(policy, 'spec', 'displayName') })}
        onClose={onClose}
        footer={
          <button type="button" className="btn" onClick={onClose}>
            {t('pages.close')}
          </button>
        }
      >
        <p>{t('policies.chooseProject')}</p>
        <SelectField
          label={t('projects.project')}
          value=""
          onChange={setProject}
          options={[{ value: '', label: '—' }, ...options.map((p) => ({ value: p.metadata.name, label: `${str(p, 'spec', 'displayName')} (${p.metadata.name})` }))]}
        />
      </Dialog>
    );
  }
  return (
    <BindDialog
      path={`${AUTH_V1}/${R}/${encodeURIComponent(policy.metadata.name)}`}
      title={t('policies.bindingsIn', { name: str(policy, 'spec', 'displayName'), project })}
      users={subjectsOf(binding, 'spec', 'users')}
      groups={subjectsOf(binding, 'spec', 'groups')}
      withGroups
      canEdit={canEdit}
      project={project}
      onClose={onClose}
    />
  );
}
