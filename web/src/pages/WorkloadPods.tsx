// The pods of a workload (its selector's matchLabels as a label selector), live, linked to
// their pages (logs, terminal, events).
import { useMemo } from 'react';
import { Link } from 'react-router';
import { age, collectionPath, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { LiveTable, type Column } from '../list/LiveTable';
import { useNow } from '../list/useLiveList';
import { field } from '../resources';
import { kindColumns } from './kindColumns';
import { objectLink } from './ClusterResources';

/** `a=b,c=d` from a selector's matchLabels; '' when there is none (then no pods are listed). */
export function labelSelectorOf(o: KubeObject): string {
  const labels = field(o, 'spec', 'selector', 'matchLabels');
  if (!labels || typeof labels !== 'object') return '';
  return Object.entries(labels as Record<string, unknown>)
    .filter(([, v]) => typeof v === 'string')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
}

export function WorkloadPods({ cluster, workload }: { cluster: string; workload: KubeObject }) {
  const { t } = useI18n();
  const now = useNow();
  const selector = labelSelectorOf(workload);
  const query = useMemo(() => ({ labelSelector: selector }), [selector]);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      {
        id: 'name',
        header: t('common.name'),
        value: (o) => o.metadata.name,
        render: (o) => <Link to={objectLink(cluster, 'pods', o.metadata.name, o.metadata.namespace)}>{o.metadata.name}</Link>,
        width: '1.6fr',
      },
      ...kindColumns('pods', t),
      {
        id: 'age',
        header: t('common.age'),
        value: (o) => -Date.parse(o.metadata.creationTimestamp ?? '') || 0,
        render: (o) => age(o.metadata.creationTimestamp, now),
        width: '0.5fr',
      },
    ],
    [t, cluster, now],
  );
  if (!selector) return null;
  return (
    <section className="card" aria-labelledby="workload-pods">
      <h2 id="workload-pods">{t('kind.pods')}</h2>
      <LiveTable
        url={collectionPath({ group: '', version: 'v1', resource: 'pods', namespaced: true, cluster }, workload.metadata.namespace ?? 'default')}
        query={query}
        columns={columns}
        label={t('kind.pods')}
        rowHeight={34}
      />
    </section>
  );
}
