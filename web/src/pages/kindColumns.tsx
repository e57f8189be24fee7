// The kind-specific columns of a business cluster's lists (what `kubectl get` shows for each),
// appended to name/namespace/age by the generic resource page.
import type { KubeObject } from '../api/kube';
import type { T } from '../i18n';
import type { Column } from '../list/LiveTable';
import { arr, num, str } from '../resources';
import { Phase } from '../ui/bits';

function ready(o: KubeObject, readyPath: string[], wantPath: string[]): string {
  return `${num(o, ...readyPath)}/${num(o, ...wantPath)}`;
}

function podRestarts(o: KubeObject): number {
  return arr(o, 'status', 'containerStatuses').reduce<number>((n, c) => n + num(c, 'restartCount'), 0);
}

export function kindColumns(kind: string, t: T): Column<KubeObject>[] {
  switch (kind) {
    case 'deployments':
    case 'statefulsets':
      return [
        { id: 'ready', header: t('col.ready'), value: (o) => ready(o, ['status', 'readyReplicas'], ['spec', 'replicas']), width: '0.6fr' },
        { id: 'updated', header: t('col.upToDate'), value: (o) => num(o, 'status', 'updatedReplicas'), width: '0.6fr' },
      ];
    case 'daemonsets':
      return [
        {
          id: 'ready',
          header: t('col.ready'),
          value: (o) => ready(o, ['status', 'numberReady'], ['status', 'desiredNumberScheduled']),
          width: '0.6fr',
        },
      ];
    case 'jobs':
      return [
        { id: 'done', header: t('col.completions'), value: (o) => `${num(o, 'status', 'succeeded')}/${num(o, 'spec', 'completions') || 1}`, width: '0.6fr' },
      ];
    case 'cronjobs':
      return [
        { id: 'schedule', header: t('col.schedule'), value: (o) => str(o, 'spec', 'schedule'), width: '0.8fr' },
        { id: 'suspend', header: t('col.suspend'), value: (o) => str(o, 'spec', 'suspend') || 'false', width: '0.5fr' },
      ];
    case 'pods':
      return [
        {
          id: 'phase',
          header: t('common.phase'),
          value: (o) => str(o, 'status', 'phase'),
          render: (o) => <Phase phase={str(o, 'status', 'phase')} />,
          width: '0.7fr',
        },
        { id: 'restarts', header: t('col.restarts'), value: podRestarts, width: '0.5fr' },
        { id: 'node', header: t('col.node'), value: (o) => str(o, 'spec', 'nodeName'), width: '1fr' },
      ];
    case 'services':
      return [
        { id: 'type', header: t('common.type'), value: (o) => str(o, 'spec', 'type'), width: '0.7fr' },
        { id: 'ip', header: t('col.clusterIP'), value: (o) => str(o, 'spec', 'clusterIP'), width: '0.8fr' },
        {
          id: 'ports',
          header: t('col.ports'),
          value: (o) =>
            arr(o, 'spec', 'ports')
              .map((p) => `${num(p, 'port')}/${str(p, 'protocol') || 'TCP'}`)
              .join(', '),
          width: '1fr',
        },
      ];
    case 'ingresses':
      return [
        {
          id: 'hosts',
          header: t('col.hosts'),
          value: (o) =>
            arr(o, 'spec', 'rules')
              .map((r) => str(r, 'host') || '*')
              .join(', '),
          width: '1.2fr',
        },
      ];
    case 'configmaps':
    case 'secrets':
      return [
        {
          id: 'data',
          header: t('col.data'),
          value: (o) => Object.keys((o.data as Record<string, unknown> | undefined) ?? {}).length,
          width: '0.4fr',
        },
        ...(kind === 'secrets' ? [{ id: 'type', header: t('common.type'), value: (o: KubeObject) => str(o, 'type'), width: '1fr' }] : []),
      ];
    case 'persistentvolumeclaims':
      return [
        {
          id: 'phase',
          header: t('common.phase'),
          value: (o) => str(o, 'status', 'phase'),
          render: (o) => <Phase phase={str(o, 'status', 'phase')} />,
          width: '0.6fr',
        },
        { id: 'capacity', header: t('col.capacity'), value: (o) => str(o, 'status', 'capacity', 'storage'), width: '0.6fr' },
        { id: 'class', header: t('col.storageClass'), value: (o) => str(o, 'spec', 'storageClassName'), width: '0.8fr' },
      ];
    case 'namespaces':
      return [
        {
          id: 'phase',
          header: t('common.phase'),
          value: (o) => str(o, 'status', 'phase'),
          render: (o) => <Phase phase={str(o, 'status', 'phase')} />,
          width: '0.6fr',
        },
      ];
    case 'events':
      return [
        { id: 'type', header: t('common.type'), value: (o) => str(o, 'type'), width: '0.5fr' },
        { id: 'reason', header: t('common.reason'), value: (o) => str(o, 'reason'), width: '0.7fr' },
        {
          id: 'object',
          header: t('col.object'),
          value: (o) => `${str(o, 'involvedObject', 'kind')}/${str(o, 'involvedObject', 'name')}`,
          width: '1fr',
        },
        { id: 'message', header: t('col.message'), value: (o) => str(o, 'message'), width: '2fr' },
      ];
    case 'nodes':
      return [
        {
          id: 'status',
          header: t('common.status'),
          value: (o) => {
            const r = arr(o, 'status', 'conditions').some((c) => str(c, 'type') === 'Ready' && str(c, 'status') === 'True');
            return (r ? 'Ready' : 'NotReady') + (o.spec && (o.spec as { unschedulable?: boolean }).unschedulable ? ',SchedulingDisabled' : '');
          },
          render: (o) => {
            const r = arr(o, 'status', 'conditions').some((c) => str(c, 'type') === 'Ready' && str(c, 'status') === 'True');
            const cordoned = str(o, 'spec', 'unschedulable') === 'true';
            return (
              <>
                <Phase phase={r ? 'Ready' : 'NotReady'} /> {cordoned && <span className="badge badge-wait">{t('nodes.cordoned')}</span>}
              </>
            );
          },
          width: '1.2fr',
        },
        { id: 'version', header: t('common.version'), value: (o) => str(o, 'status', 'nodeInfo', 'kubeletVersion'), width: '0.7fr' },
        { id: 'cpu', header: t('overview.cpu'), value: (o) => str(o, 'status', 'allocatable', 'cpu'), width: '0.5fr' },
        { id: 'memory', header: t('overview.memory'), value: (o) => str(o, 'status', 'allocatable', 'memory'), width: '0.7fr' },
      ];
    default:
      return [];
  }
}
