// One project, live: its quota per cluster as gauges (spec.clusters[].hard against
// status.clusters[].used), members, sub-projects, the policies bound in it, and its
// namespaces (create with a quota, delete, phase). Edit and delete follow one batchauthz call.
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { usePermissions, type Check } from '../../api/authz';
import { requestJson } from '../../api/client';
import { ApiError, messageOf } from '../../api/errors';
import { type KubeObject } from '../../api/kube';
import { AUTH_V1, BUSINESS_V1, subjectNames, subjectsOf } from '../../access/shared';
import { BUSINESS, formatResource, hardOf, usageOf, validateRows, type QuotaRow } from '../../business/quota';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useLiveList, useNow } from '../../list/useLiveList';
import { arr, field, str } from '../../resources';
import { Phase } from '../../ui/bits';
import { ConfirmDialog, Dialog } from '../../ui/Dialog';
import { FormError, SelectField, TextField } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { dnsLabel, required } from '../../ui/validation';
import { projectClusters } from './Projects';
import { ProjectForm } from './ProjectForm';
import { QuotaRows } from './QuotaRows';
import { ageColumn } from '../../list/columns';

/** What the search box matches besides the object's name. */
const searchText = (o: KubeObject) => `${str(o, 'spec', 'namespace')} ${str(o, 'spec', 'clusterName')}`;

export function ProjectPage() {
  const { name = '' } = useParams();
  const { t } = useI18n();
  const toast = useToast();
  const navigate = useNavigate();
  const now = useNow();
  const query = useMemo(() => ({ fieldSelector: `metadata.name=${name}` }), [name]);
  // Members reach their project through project-scoped policies: every request names it.
  const inProject = useMemo(() => ({ 'X-TKE-ProjectName': name }), [name]);
  const { state, project } = useProject(name, query, inProject);
  const checks = useMemo<Check[]>(
    () => [
      { verb: 'update', group: BUSINESS, resource: 'projects', name },
      { verb: 'delete', group: BUSINESS, resource: 'projects', name },
      { verb: 'create', group: BUSINESS, resource: 'namespaces', namespace: name },
      { verb: 'delete', group: BUSINESS, resource: 'namespaces', namespace: name },
    ],
    [name],
  );
  const perms = usePermissions(checks, undefined, name);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [creatingNs, setCreatingNs] = useState(false);
  const [deletingNs, setDeletingNs] = useState<KubeObject | null>(null);
  const canDeleteNs = perms.can(checks[3] as Check);
  const subQuery = useMemo(() => ({ fieldSelector: `spec.parentProjectName=${name}` }), [name]);
  const bindQuery = useMemo(() => ({ fieldSelector: `spec.projectID=${name}` }), [name]);
  const nsColumns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'namespace', header: t('common.namespace'), value: (o) => str(o, 'spec', 'namespace'), width: '1.2fr' },
      { id: 'cluster', header: t('common.cluster'), value: (o) => str(o, 'spec', 'clusterName'), width: '1fr' },
      { id: 'phase', header: t('common.phase'), value: (o) => str(o, 'status', 'phase'), render: (o) => <Phase phase={str(o, 'status', 'phase')} />, width: '0.7fr' },
      {
        id: 'quota',
        header: t('projects.quota'),
        value: (o) =>
          usageOf(field(o, 'spec', 'hard') as Record<string, unknown>, field(o, 'status', 'used') as Record<string, unknown>)
            .map((u) => `${u.resource} ${formatResource(u.resource, u.used)}/${formatResource(u.resource, u.hard)}`)
            .join(', '),
        width: '2fr',
      },
      ageColumn(t('common.age'), now),
      ...(canDeleteNs
        ? [
            {
              id: 'ops',
              header: t('common.actions'),
              sortable: false,
              value: () => '',
              width: '0.7fr',
              render: (o: KubeObject) => (
                <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDeletingNs(o)}>
                  {t('common.delete')}
                </button>
              ),
            },
          ]
        : []),
    ],
    [t, now, canDeleteNs],
  );
  if (!project) {
    return (
      <div className="page">
        <h1 className="page-title">{name}</h1>
        {state?.error ? (
          <p className="form-error" role="alert">
            {state.error.message}
          </p>
        ) : (
          <p>{state?.loading !== false ? t('common.loading') : t('detail.gone', { kind: 'Project', name })}</p>
        )}
      </div>
    );
  }
  const hard = (field(project, 'spec', 'clusters') ?? {}) as Record<string, { hard?: Record<string, unknown> }>;
  const used = (field(project, 'status', 'clusters') ?? {}) as Record<string, { used?: Record<string, unknown> }>;
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <div className="page-kind">{t('projects.project')}</div>
          <h1 className="page-title">{str(project, 'spec', 'displayName') || name}</h1>
          <div className="page-sub">
            {name} · <Phase phase={str(project, 'status', 'phase')} />
            {str(project, 'status', 'message') ? ` · ${str(project, 'status', 'message')}` : ''}
          </div>
        </div>
        <div className="page-actions">
          {perms.can(checks[0] as Check) && (
            <button type="button" className="btn" onClick={() => setEditing(true)}>
              {t('common.edit')}
            </button>
          )}
          {perms.can(checks[1] as Check) && (
            <button type="button" className="btn btn-danger" onClick={() => setDeleting(true)}>
              {t('common.delete')}
            </button>
          )}
        </div>
      </div>
      <section className="card" aria-labelledby="quota-h">
        <h2 id="quota-h">{t('projects.quota')}</h2>
        {Object.keys(hard).length === 0 && <p className="field-hint">{t('projects.noClusters')}</p>}
        {Object.entries(hard).map(([cluster, q]) => (
          <div key={cluster} className="quota-gauges">
            <h3>{cluster}</h3>
            {usageOf(q?.hard, used[cluster]?.used).map((u) => (
              <div key={u.resource} className="gauge">
                <span className="gauge-label">{u.resource}</span>
                <div className="meter" role="meter" aria-label={`${cluster} ${u.resource}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={u.percent}>
                  <div className={u.percent >= 90 ? 'meter-fill meter-high' : 'meter-fill'} style={{ width: `${u.percent}%` }} />
                </div>
                <span>
                  {formatResource(u.resource, u.used)} / {formatResource(u.resource, u.hard)} ({u.percent}%)
                </span>
              </div>
            ))}
          </div>
        ))}
      </section>
      <section className="card">
        <h2>{t('projects.members')}</h2>
        <p>{arr(project, 'spec', 'members').join(', ') || '-'}</p>
        <h2>{t('projects.subProjects')}</h2>
        <SubProjects query={subQuery} headers={inProject} />
        <h2>{t('projects.policies')}</h2>
        <ProjectPolicies query={bindQuery} headers={inProject} />
      </section>
      <h2>{t('projects.namespaces')}</h2>
      <LiveTable
        url={`${BUSINESS_V1}/namespaces/${encodeURIComponent(name)}/namespaces`}
        headers={inProject}
        columns={nsColumns}
        label={t('projects.namespaces')}
        searchText={searchText}
        toolbar={
          perms.can(checks[2] as Check) && (
            <button type="button" className="btn btn-primary" onClick={() => setCreatingNs(true)}>
              {t('projects.createNamespace')}
            </button>
          )
        }
      />
      {editing && <ProjectForm project={project} onClose={() => setEditing(false)} />}
      {creatingNs && <NamespaceForm project={name} clusters={projectClusters(project)} onClose={() => setCreatingNs(false)} />}
      <ConfirmDialog
        open={deleting}
        title={t('projects.deleteTitle')}
        message={t('projects.deleteMessage', { name: str(project, 'spec', 'displayName') || name })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(false)}
        onConfirm={async () => {
          await requestJson(`${BUSINESS_V1}/projects/${encodeURIComponent(name)}`, { method: 'DELETE', headers: inProject });
          toast.success(t('pages.deleted', { name }));
          navigate('/tkestack/projects');
        }}
      />
      <ConfirmDialog
        open={deletingNs !== null}
        title={t('projects.deleteNamespaceTitle')}
        message={t('projects.deleteNamespaceMessage', { name: str(deletingNs, 'spec', 'namespace'), cluster: str(deletingNs, 'spec', 'clusterName') })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeletingNs(null)}
        onConfirm={async () => {
          if (!deletingNs) return;
          await requestJson(`${BUSINESS_V1}/namespaces/${encodeURIComponent(name)}/namespaces/${encodeURIComponent(deletingNs.metadata.name)}`, {
            method: 'DELETE',
            headers: inProject,
          });
          toast.success(t('pages.deleted', { name: str(deletingNs, 'spec', 'namespace') }));
        }}
      />
    </div>
  );
}

/**
 * The project, live: watched when the caller may list projects; a member whose project policy
 * grants only `getProject` (a list narrowed to one name is `listProject`, which it lacks) gets
 * it by GET, again every 5 seconds.
 */
function useProject(name: string, query: Record<string, string>, headers: Record<string, string>) {
  const { state, version } = useLiveList(`${BUSINESS_V1}/projects`, query, 0, headers);
  const watched = state ? [...state.items.values()][0] : undefined;
  const refused = state?.error?.code === 403;
  const [polled, setPolled] = useState<{ obj?: KubeObject; error?: ApiError }>({});
  useEffect(() => {
    if (!refused) return;
    let live = true;
    const get = () =>
      requestJson<KubeObject>(`${BUSINESS_V1}/projects/${encodeURIComponent(name)}`, { headers })
        .then((obj) => live && setPolled({ obj }))
        .catch((e: unknown) => live && setPolled({ error: e instanceof ApiError ? e : new ApiError(0, '', messageOf(e)) }));
    void get();
    const id = setInterval(() => void get(), 5000);
    return () => {
      live = false;
      clearInterval(id);
    };
  }, [refused, name, headers]);
  if (!refused) return { state: state ? { loading: state.loading, error: state.error } : null, project: watched, version };
  return { state: { loading: !polled.obj && !polled.error, error: polled.error ?? null }, project: polled.obj, version };
}

function SubProjects({ query, headers }: { query: Record<string, string>; headers: Record<string, string> }) {
  const { state } = useLiveList(`${BUSINESS_V1}/projects`, query, 0, headers);
  const items = state ? [...state.items.values()] : [];
  if (items.length === 0) return <p>-</p>;
  return (
    <ul className="plain-list">
      {items.map((p) => (
        <li key={p.metadata.name}>
          <Link to={`/tkestack/projects/${encodeURIComponent(p.metadata.name)}`}>{str(p, 'spec', 'displayName') || p.metadata.name}</Link>
        </li>
      ))}
    </ul>
  );
}

function ProjectPolicies({ query, headers }: { query: Record<string, string>; headers: Record<string, string> }) {
  const { state } = useLiveList(`${AUTH_V1}/projectpolicybindings`, query, 0, headers);
  const items = state ? [...state.items.values()] : [];
  if (items.length === 0) return <p>-</p>;
  return (
    <ul className="plain-list">
      {items.map((b) => (
        <li key={b.metadata.name}>
          {str(b, 'spec', 'policyID')}: {[subjectNames(subjectsOf(b, 'spec', 'users')), subjectNames(subjectsOf(b, 'spec', 'groups'))].filter(Boolean).join('; ') || '-'}
        </li>
      ))}
    </ul>
  );
}

/** A namespace of the project in one of its clusters, with its own quota. */
function NamespaceForm({ project, clusters, onClose }: { project: string; clusters: string[]; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const [cluster, setCluster] = useState(clusters[0] ?? '');
  const [namespace, setNamespace] = useState('');
  const [rows, setRows] = useState<QuotaRow[]>([
    { resource: 'requests.cpu', value: '' },
    { resource: 'requests.memory', value: '' },
  ]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const save = async () => {
    const local = validateRows(null, rows.filter((r) => r.value.trim() !== ''));
    const nsErr = required(namespace) ?? dnsLabel(namespace);
    if (nsErr) local['spec.namespace'] = nsErr;
    if (!cluster) local['spec.clusterName'] = 'Required value: name the business cluster of the namespace';
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      await requestJson(`${BUSINESS_V1}/namespaces/${encodeURIComponent(project)}/namespaces`, {
        method: 'POST',
        headers: { 'X-TKE-ProjectName': project },
        body: {
          apiVersion: 'business.tkestack.io/v1',
          kind: 'Namespace',
          metadata: { namespace: project },
          spec: { clusterName: cluster, namespace, hard: hardOf(rows.filter((r) => r.value.trim() !== '')) },
        },
      });
      toast.success(t('pages.createdNamed', { name: namespace }));
      onClose();
    } catch (e) {
      if (e instanceof ApiError) {
        const fe = e.fieldErrors();
        setErrors(Object.keys(fe).length ? fe : { '': e.message });
      } else setErrors({ '': messageOf(e) });
    } finally {
      setBusy(false);
    }
  };
  const known = new Set(['spec.namespace', 'spec.clusterName', 'metadata.name', ...rows.map((r) => `spec.hard[${r.resource.trim()}]`)]);
  const other = Object.entries(errors)
    .filter(([k]) => !known.has(k))
    .map(([k, v]) => (k ? `${k}: ${v}` : v))
    .join('; ');
  return (
    <Dialog
      open
      wide
      title={t('projects.createNamespace')}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" form="ns-form" className="btn btn-primary" disabled={busy}>
            {busy ? t('common.working') : t('common.create')}
          </button>
        </>
      }
    >
      <form
        noValidate
        id="ns-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <SelectField
          label={t('common.cluster')}
          value={cluster}
          onChange={setCluster}
          error={errors['spec.clusterName']}
          options={[{ value: '', label: '—' }, ...clusters.map((c) => ({ value: c, label: c }))]}
        />
        <TextField label={t('common.namespace')} value={namespace} onChange={setNamespace} error={errors['spec.namespace'] ?? errors['metadata.name']} required />
        <h3>{t('projects.quota')}</h3>
        <QuotaRows cluster={null} rows={rows} errors={errors} onChange={setRows} />
        <FormError message={other || undefined} />
      </form>
    </Dialog>
  );
}
