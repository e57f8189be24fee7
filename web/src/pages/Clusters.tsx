// The clusters list: live, sortable, searchable; import for users allowed to create clusters.
import { useMemo } from 'react';
import { Link } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { age, PLATFORM, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { LiveTable, type Column } from '../list/LiveTable';
import { useNow } from '../list/useLiveList';
import { formatBytes, formatCpu, parseQuantity } from '../quantity';
import { str } from '../resources';
import { Phase } from '../ui/bits';

const createCluster: Check = { verb: 'create', group: PLATFORM, resource: 'clusters' };

export function ClustersPage() {
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => [createCluster], []));
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      {
        id: 'name',
        header: t('common.name'),
        value: (o) => o.metadata.name,
        render: (o) => <Link to={`/tkestack/clusters/${encodeURIComponent(o.metadata.name)}`}>{o.metadata.name}</Link>,
        width: '1.4fr',
      },
      { id: 'display', header: t('clusters.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.4fr' },
      { id: 'type', header: t('common.type'), value: (o) => str(o, 'spec', 'type'), width: '0.8fr' },
      { id: 'version', header: t('common.version'), value: (o) => str(o, 'status', 'version') || str(o, 'spec', 'version'), width: '0.7fr' },
      {
        id: 'phase',
        header: t('common.phase'),
        value: (o) => str(o, 'status', 'phase'),
        render: (o) => <Phase phase={str(o, 'status', 'phase')} />,
        width: '0.9fr',
      },
      {
        id: 'cpu',
        header: t('overview.cpu'),
        value: (o) => parseQuantity(str(o, 'status', 'resource', 'allocatable', 'cpu')) || 0,
        render: (o) => formatCpu(parseQuantity(str(o, 'status', 'resource', 'allocatable', 'cpu'))),
        width: '0.6fr',
      },
      {
        id: 'memory',
        header: t('overview.memory'),
        value: (o) => parseQuantity(str(o, 'status', 'resource', 'allocatable', 'memory')) || 0,
        render: (o) => formatBytes(parseQuantity(str(o, 'status', 'resource', 'allocatable', 'memory'))),
        width: '0.8fr',
      },
      {
        id: 'age',
        header: t('common.age'),
        value: (o) => -Date.parse(o.metadata.creationTimestamp ?? '') || 0,
        render: (o) => age(o.metadata.creationTimestamp, now),
        width: '0.6fr',
      },
    ],
    [t, now],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('clusters.title')}</h1>
      <LiveTable
        url={`/apis/${PLATFORM}/v1/clusters`}
        columns={columns}
        label={t('clusters.title')}
        toolbar={
          perms.can(createCluster) && (
            <>
              <Link className="btn btn-primary" to="/tkestack/clusters/create">
                {t('clusters.create')}
              </Link>
              <Link className="btn" to="/tkestack/clusters/import">
                {t('clusters.import')}
              </Link>
            </>
          )
        }
      />
    </div>
  );
}
