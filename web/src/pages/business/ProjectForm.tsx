// Create or edit a project: display name, parent project, members (usernames, made the
// project's owners), and per business cluster the quota rows. Checked as the quota admission
// checks before sending; the admission's own answers ("project p has 2 cpu left in cluster …")
// land on the row they are about.
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { api, requestJson } from '../../api/client';
import { ApiError, messageOf } from '../../api/errors';
import { PLATFORM, type KubeObject } from '../../api/kube';
import { BUSINESS_V1, nameList } from '../../access/shared';
import { clustersOf, clustersSpec, COMMON_RESOURCES, unplacedErrors, validateClusters, type ClusterQuota } from '../../business/quota';
import { useI18n } from '../../i18n';
import { useLiveList } from '../../list/useLiveList';
import { arr, str } from '../../resources';
import { FormDialog } from '../../ui/Dialog';
import { FormError, SelectField, TextField } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { QuotaRows } from './QuotaRows';

export function ProjectForm({ project, onClose }: { project?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const navigate = useNavigate();
  const clusterList = useLiveList(`/apis/${PLATFORM}/v1/clusters`);
  const projectList = useLiveList(`${BUSINESS_V1}/projects`);
  const clusterNames = clusterList.state ? [...clusterList.state.items.keys()].sort() : [];
  const parents = projectList.state ? [...projectList.state.items.values()].filter((p) => p.metadata.name !== project?.metadata.name) : [];
  const [displayName, setDisplayName] = useState(str(project, 'spec', 'displayName'));
  const [parent, setParent] = useState(str(project, 'spec', 'parentProjectName'));
  const [members, setMembers] = useState(arr(project, 'spec', 'members').join(', '));
  const [clusters, setClusters] = useState<ClusterQuota[]>(() => clustersOf((project?.spec as { clusters?: unknown } | undefined)?.clusters));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const save = async () => {
    const local = validateClusters(clusters);
    if (!displayName.trim()) local['spec.displayName'] = 'Required value: give the project a name to show';
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    setBusy(true);
    setErrors({});
    const spec: Record<string, unknown> = {
      ...((project?.spec as Record<string, unknown>) ?? {}),
      displayName: displayName.trim(),
      members: nameList(members),
      clusters: clustersSpec(clusters),
    };
    if (parent) spec.parentProjectName = parent;
    else delete spec.parentProjectName;
    try {
      const saved = project
        ? await requestJson<KubeObject>(`${BUSINESS_V1}/projects/${encodeURIComponent(project.metadata.name)}`, {
            method: 'PUT',
            body: { ...project, spec },
            headers: { 'X-TKE-ProjectName': project.metadata.name },
          })
        : await api.post<KubeObject>(`${BUSINESS_V1}/projects`, {
            apiVersion: 'business.tkestack.io/v1',
            kind: 'Project',
            metadata: { generateName: 'prj-' },
            spec,
          });
      toast.success(t(project ? 'pages.saved' : 'pages.createdNamed', { name: displayName }));
      onClose();
      if (!project) navigate(`/tkestack/projects/${encodeURIComponent(saved.metadata.name)}`);
    } catch (e) {
      if (e instanceof ApiError) {
        const fe = e.fieldErrors();
        setErrors(Object.keys(fe).length ? fe : { '': e.message });
      } else setErrors({ '': messageOf(e) });
    } finally {
      setBusy(false);
    }
  };
  const leftover = unplacedErrors(
    Object.fromEntries(Object.entries(errors).filter(([k]) => !['spec.displayName', 'spec.parentProjectName', 'spec.members', ''].includes(k) && !k.startsWith('spec.members'))),
    clusters,
  );
  const addCluster = () => {
    const free = clusterNames.find((c) => !clusters.some((q) => q.cluster === c)) ?? '';
    setClusters((cs) => [...cs, { cluster: free, rows: [{ resource: COMMON_RESOURCES[0] as string, value: '' }] }]);
  };
  return (
    <FormDialog
      id="project-form"
      title={project ? t('projects.edit', { name: str(project, 'spec', 'displayName') }) : t('projects.create')}
      onClose={onClose}
      wide
      busy={busy}
      submitLabel={project ? t('common.save') : t('common.create')}
      onSubmit={() => void save()}
    >
      <TextField label={t('pages.displayName')} value={displayName} onChange={setDisplayName} error={errors['spec.displayName']} required />
      <SelectField
        label={t('projects.parent')}
        value={parent}
        onChange={setParent}
        error={errors['spec.parentProjectName']}
        options={[{ value: '', label: t('projects.noParent') }, ...parents.map((p) => ({ value: p.metadata.name, label: `${str(p, 'spec', 'displayName')} (${p.metadata.name})` }))]}
      />
      <TextField label={t('projects.members')} value={members} onChange={setMembers} error={errors['spec.members']} hint={t('bind.namesHint')} />
      <h3>{t('projects.quota')}</h3>
      {clusters.map((c, i) => (
        <fieldset key={i} className="quota-cluster">
          <legend>{t('common.cluster')}</legend>
          <div className="form-row">
            <SelectField
              label={t('common.cluster')}
              value={c.cluster}
              onChange={(v) => setClusters((cs) => cs.map((x, j) => (j === i ? { ...x, cluster: v } : x)))}
              error={errors[`spec.clusters[${c.cluster}]`] ?? (c.cluster === '' ? errors['spec.clusters[]'] : undefined)}
              options={[{ value: '', label: '—' }, ...[...new Set([...clusterNames, c.cluster])].filter(Boolean).map((n) => ({ value: n, label: n }))]}
            />
            <button type="button" className="btn btn-small btn-danger-text" onClick={() => setClusters((cs) => cs.filter((_, j) => j !== i))}>
              {t('projects.removeCluster')}
            </button>
          </div>
          <QuotaRows cluster={c.cluster} rows={c.rows} errors={errors} onChange={(rows) => setClusters((cs) => cs.map((x, j) => (j === i ? { ...x, rows } : x)))} />
        </fieldset>
      ))}
      <button type="button" className="btn" onClick={addCluster}>
        {t('projects.addCluster')}
      </button>
      <FormError message={[errors[''], ...leftover].filter(Boolean).join('; ') || undefined} />
    </FormDialog>
  );
}
