// A cluster's own page: its conditions as a live step-by-step progress view (the Cluster's
// status.conditions, updated through the watch), addresses, capacity, the kubeconfig to download,
// its CPU, memory and pod charts (with the monitor component) and the generic YAML view/edit/delete.
import { useParams } from 'react-router';
import type { KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { clusterCharts, MetricCharts } from '../monitor/MetricCharts';
import { formatBytes, formatCpu, parseQuantity } from '../quantity';
import { arr, num, platformKinds, str } from '../resources';
import { useToast } from '../ui/Toasts';
import { DetailPage } from './DetailPage';
import { kubeconfigFor, download } from './kubeconfig';

const clusterRef = platformKinds[0]!.ref;

export function ClusterOverviewPage() {
  const { cluster = '' } = useParams();
  const { t } = useI18n();
  const toast = useToast();
  return (
    <DetailPage
      key={cluster}
      ref_={clusterRef}
      kind="Cluster"
      name={cluster}
      backTo="/tkestack/clusters"
      actions={() => (
        <button
          type="button"
          className="btn"
          onClick={() => {
            kubeconfigFor(cluster)
              .then((text) => download(`${cluster}.kubeconfig`, text))
              .catch((e: unknown) => toast.error(e));
          }}
        >
          {t('cluster.kubeconfig')}
        </button>
      )}
      extra={(o) => (
        <>
          <ClusterFacts o={o} />
          <MetricCharts spec={clusterCharts(cluster)} />
        </>
      )}
    />
  );
}

function ClusterFacts({ o }: { o: KubeObject }) {
  const { t } = useI18n();
  const res = (k: string, r: string) => parseQuantity(str(o, 'status', 'resource', k, r));
  return (
    <dl className="props">
      <dt>{t('common.phase')}</dt>
      <dd>{str(o, 'status', 'phase') || '-'}</dd>
      {str(o, 'status', 'message') && (
        <>
          <dt>{t('common.message')}</dt>
          <dd>{str(o, 'status', 'message')}</dd>
        </>
      )}
      <dt>{t('common.type')}</dt>
      <dd>{str(o, 'spec', 'type')}</dd>
      <dt>{t('common.version')}</dt>
      <dd>{str(o, 'status', 'version') || str(o, 'spec', 'version') || '-'}</dd>
      <dt>{t('cluster.addresses')}</dt>
      <dd>
        {arr(o, 'status', 'addresses')
          .map((a) => `${str(a, 'type')} ${str(a, 'host')}:${num(a, 'port')}`)
          .join(', ') || '-'}
      </dd>
      <dt>{t('overview.cpu')}</dt>
      <dd>{t('overview.capacity', { cap: formatCpu(res('capacity', 'cpu')), alloc: formatCpu(res('allocatable', 'cpu')) })}</dd>
      <dt>{t('overview.memory')}</dt>
      <dd>{t('overview.capacity', { cap: formatBytes(res('capacity', 'memory')), alloc: formatBytes(res('allocatable', 'memory')) })}</dd>
    </dl>
  );
}

