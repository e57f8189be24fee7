// A cluster's nodes (through the cluster proxy, live): cordon and uncordon (the node's
// spec.unschedulable, patched as the user), and drain through the platform's drain subresource
// (cordon, then evict the node's pods; pods a disruption budget keeps are reported).
import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { age, objectPath, PLATFORM, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { LiveTable, type Column } from '../list/LiveTable';
import { useNow } from '../list/useLiveList';
import { clusterKind, str } from '../resources';
import { ConfirmDialog } from '../ui/Dialog';
import { useToast } from '../ui/Toasts';
import { clusterRef, objectLink } from './ClusterResources';
import { kindColumns } from './kindColumns';
import { collectionPath } from '../api/kube';

interface DrainResult {
  evicted?: string[];
  errors?: string[];
}

export function NodesPage() {
  const { cluster = '' } = useParams();
  const { t } = useI18n();
  const toast = useToast();
  const now = useNow();
  const kind = clusterKind('nodes')!;
  const ref = clusterRef(kind, cluster);
  const patchCheck: Check = { verb: 'patch', resource: 'nodes' };
  const drainCheck: Check = { verb: 'create', group: PLATFORM, resource: 'clusters', subresource: 'drain', name: cluster };
  const inCluster = usePermissions(useMemo(() => [patchCheck], []), cluster); // eslint-disable-line react-hooks/exhaustive-deps
  const platform = usePermissions(useMemo(() => [drainCheck], [cluster])); // eslint-disable-line react-hooks/exhaustive-deps
  const [draining, setDraining] = useState<string | null>(null);
  const canPatch = inCluster.can(patchCheck);
  const canDrain = platform.can(drainCheck);

  const cordon = async (node: string, on: boolean) => {
    try {
      await api.patch(objectPath(ref, node), { spec: { unschedulable: on ? true : null } });
      toast.success(t(on ? 'nodes.cordonedNamed' : 'nodes.uncordonedNamed', { name: node }));
    } catch (e) {
      toast.error(e);
    }
  };

  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      {
        id: 'name',
        header: t('common.name'),
        value: (o) => o.metadata.name,
        render: (o) => <Link to={objectLink(cluster, 'nodes', o.metadata.name)}>{o.metadata.name}</Link>,
        width: '1.5fr',
      },
      ...kindColumns('nodes', t),
      {
        id: 'age',
        header: t('common.age'),
        value: (o) => -Date.parse(o.metadata.creationTimestamp ?? '') || 0,
        render: (o) => age(o.metadata.creationTimestamp, now),
        width: '0.5fr',
      },
      {
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.6fr',
        render: (o) => {
          const cordoned = str(o, 'spec', 'unschedulable') === 'true';
          const name = o.metadata.name;
          return (
            <span className="row-actions">
              {canPatch && (
                <button type="button" className="btn btn-small" onClick={() => void cordon(name, !cordoned)}>
                  {cordoned ? t('nodes.uncordon') : t('nodes.cordon')}
                </button>
              )}
              {canDrain && (
                <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDraining(name)}>
                  {t('nodes.drain')}
                </button>
              )}
            </span>
          );
        },
      },
    ],
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [t, cluster, now, canPatch, canDrain],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('cluster.nodes')}</h1>
      <LiveTable url={collectionPath(ref)} columns={columns} label={t('cluster.nodes')} />
      <ConfirmDialog
        open={draining !== null}
        title={t('nodes.drainTitle')}
        message={t('nodes.drainMessage', { name: draining ?? '' })}
        confirmLabel={t('nodes.drain')}
        onClose={() => setDraining(null)}
        onConfirm={async () => {
          if (!draining) return;
          const r = await api.post<DrainResult>(`/apis/${PLATFORM}/v1/clusters/${encodeURIComponent(cluster)}/drain/${encodeURIComponent(draining)}`, {});
          toast.success(t('nodes.drained', { name: draining, n: r?.evicted?.length ?? 0 }));
        }}
      />
    </div>
  );
}
