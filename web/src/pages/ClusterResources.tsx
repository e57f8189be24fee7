// One kind of a business cluster (Deployments, Pods, ...): a live list through the cluster
// proxy, filtered by namespace, with create-from-YAML and delete for users allowed to.
import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { age, apiVersionOf, collectionPath, objectPath, type KubeObject, type ResourceRef } from '../api/kube';
import { YamlEditor, useSchemaCheck } from '../editor';
import { useI18n } from '../i18n';
import { LiveTable, type Column } from '../list/LiveTable';
import { useLiveList, useNow } from '../list/useLiveList';
import { clusterKind, type Kind } from '../resources';
import { ConfirmDialog, Dialog } from '../ui/Dialog';
import { useToast } from '../ui/Toasts';
import { parseOne } from '../yamlText';
import { DeploymentForm } from './DeploymentForm';
import { kindColumns } from './kindColumns';
import { messageOf } from '../api/errors';

export function clusterRef(kind: Kind, cluster: string): ResourceRef {
  return { ...kind.ref, cluster };
}

/** Link to an object's page inside a cluster ('_' stands for no namespace). */
export function objectLink(cluster: string, kind: string, name: string, namespace?: string): string {
  return `/tkestack/clusters/${encodeURIComponent(cluster)}/r/${kind}/${encodeURIComponent(namespace || '_')}/${encodeURIComponent(name)}`;
}

export function NamespaceSelect({ cluster, value, onChange }: { cluster: string; value: string; onChange: (ns: string) => void }) {
  const { t } = useI18n();
  const { state, version } = useLiveList(`${collectionPath({ group: '', version: 'v1', resource: 'namespaces', namespaced: false, cluster })}`);
  const names = useMemo(() => [...(state?.items.keys() ?? [])].sort(), [state, version]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <label className="inline-field">
      <span>{t('common.namespace')}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{t('common.allNamespaces')}</option>
        {names.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}

function template(kind: Kind, namespace: string): string {
  const ns = kind.ref.namespaced ? `\n  namespace: ${namespace || 'default'}` : '';
  return `apiVersion: ${apiVersionOf({ ...kind.ref })}\nkind: ${kind.kind}\nmetadata:\n  name: ""${ns}\n`;
}

export function ClusterResourcesPage() {
  const { cluster = '', kind: kindId } = useParams();
  const kind = clusterKind(kindId);
  const { t } = useI18n();
  if (!kind) return <p>{t('common.notFound')}</p>;
  return <ResourceList key={`${cluster}/${kind.id}`} cluster={cluster} kind={kind} />;
}

function ResourceList({ cluster, kind }: { cluster: string; kind: Kind }) {
  const { t } = useI18n();
  const toast = useToast();
  const now = useNow();
  const [namespace, setNamespace] = useState('');
  const [creating, setCreating] = useState<string | null>(null);
  const [createError, setCreateError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const [formOpen, setFormOpen] = useState(false);
  const ref = clusterRef(kind, cluster);
  const schemaCheck = useSchemaCheck(cluster, creating !== null);
  const checks = useMemo<Check[]>(
    () => [
      { verb: 'create', group: kind.ref.group, resource: kind.ref.resource, namespace },
      { verb: 'delete', group: kind.ref.group, resource: kind.ref.resource, namespace },
    ],
    [kind, namespace],
  );
  const perms = usePermissions(checks, cluster);
  const canDelete = perms.can(checks[1] as Check);
  const columns = useMemo<Column<KubeObject>[]>(() => {
    const cols: Column<KubeObject>[] = [
      {
        id: 'name',
        header: t('common.name'),
        value: (o) => o.metadata.name,
        render: (o) => <Link to={objectLink(cluster, kind.id, o.metadata.name, o.metadata.namespace)}>{o.metadata.name}</Link>,
        width: '1.6fr',
      },
    ];
    if (kind.ref.namespaced) cols.push({ id: 'ns', header: t('common.namespace'), value: (o) => o.metadata.namespace ?? '', width: '0.9fr' });
    cols.push(...kindColumns(kind.id, t));
    cols.push({
      id: 'age',
      header: t('common.age'),
      value: (o) => -Date.parse(o.metadata.creationTimestamp ?? '') || 0,
      render: (o) => age(o.metadata.creationTimestamp, now),
      width: '0.5fr',
    });
    if (canDelete)
      cols.push({
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        render: (o) => (
          <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDeleting(o)} aria-label={t('list.deleteNamed', { name: o.metadata.name })}>
            {t('common.delete')}
          </button>
        ),
        width: '0.6fr',
      });
    return cols;
  }, [t, cluster, kind, now, canDelete]);

  const create = async () => {
    if (creating === null) return;
    setCreateError(null);
    try {
      const o = parseOne(creating);
      const ns = kind.ref.namespaced ? o.metadata?.namespace || namespace || 'default' : '';
      await api.post(collectionPath(ref, ns), o);
      toast.success(t('list.created', { kind: kind.kind, name: o.metadata?.name ?? '' }));
      setCreating(null);
    } catch (e) {
      setCreateError(messageOf(e));
    }
  };

  return (
    <div className="page">
      <h1 className="page-title">{t(`kind.${kind.id}` as 'kind.pods')}</h1>
      <LiveTable
        url={collectionPath(ref, namespace)}
        columns={columns}
        label={t(`kind.${kind.id}` as 'kind.pods')}
        toolbar={
          <>
            {kind.ref.namespaced && <NamespaceSelect cluster={cluster} value={namespace} onChange={setNamespace} />}
            {perms.can(checks[0] as Check) && kind.id === 'deployments' && (
              <button type="button" className="btn btn-primary" onClick={() => setFormOpen(true)}>
                {t('common.create')}
              </button>
            )}
            {perms.can(checks[0] as Check) && (
              <button type="button" className="btn" onClick={() => (setCreating(template(kind, namespace)), setCreateError(null))}>
                {t('list.createYaml')}
              </button>
            )}
          </>
        }
      />
      <Dialog
        open={creating !== null}
        wide
        title={t('list.createTitle', { kind: kind.kind })}
        onClose={() => setCreating(null)}
        footer={
          <>
            <button type="button" className="btn" onClick={() => setCreating(null)}>
              {t('common.cancel')}
            </button>
            <button type="button" className="btn btn-primary" onClick={create}>
              {t('common.create')}
            </button>
          </>
        }
      >
        {createError && (
          <p className="form-error" role="alert">
            {createError}
          </p>
        )}
        {creating !== null && <YamlEditor value={creating} onChange={setCreating} check={schemaCheck} label={t('list.createTitle', { kind: kind.kind })} height="50vh" />}
      </Dialog>
      {formOpen && <DeploymentForm cluster={cluster} namespace={namespace} onClose={() => setFormOpen(false)} />}
      <ConfirmDialog
        open={deleting !== null}
        title={t('detail.deleteTitle', { kind: kind.kind })}
        message={t('detail.deleteMessage', { kind: kind.kind, name: deleting?.metadata.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          await api.del(objectPath(ref, deleting.metadata.name, deleting.metadata.namespace ?? ''));
          toast.success(t('detail.deleted', { kind: kind.kind, name: deleting.metadata.name }));
        }}
      />
    </div>
  );
}
