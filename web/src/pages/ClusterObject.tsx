// One object of a business cluster: the generic detail page plus the kind's own actions
// (scale through the scale subresource, restart as `kubectl rollout restart` does), and the
// charts of nodes, pods and sampled workloads (with the monitor component).
import { useMemo, useState } from 'react';
import { useParams } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { objectPath, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { MetricCharts, nodeCharts, podCharts, SAMPLED_WORKLOADS, workloadCharts } from '../monitor/MetricCharts';
import { clusterKind, num, type Kind } from '../resources';
import { ConfirmDialog, Dialog } from '../ui/Dialog';
import { FormError, TextField, useApiForm } from '../ui/Form';
import { useToast } from '../ui/Toasts';
import { intRange, required } from '../ui/validation';
import { clusterRef } from './ClusterResources';
import { DetailPage } from './DetailPage';
import { ObjectEvents } from './ObjectEvents';
import { PodLogs } from './PodLogs';
import { PodLogFiles } from '../logs/PodLogFiles';
import { WorkloadPods } from './WorkloadPods';
import { ConfigMapData, SecretData, maskSecret } from './SecretData';
import { Link } from 'react-router';
import { arr, str } from '../resources';

export function ClusterObjectPage() {
  const { cluster = '', kind: kindId, namespace = '_', name = '' } = useParams();
  const { t } = useI18n();
  const kind = clusterKind(kindId);
  if (!kind) return <p>{t('common.notFound')}</p>;
  const ns = namespace === '_' ? undefined : namespace;
  return <ObjectPage key={`${cluster}/${kind.id}/${namespace}/${name}`} cluster={cluster} kind={kind} namespace={ns} name={name} />;
}

function ObjectPage({ cluster, kind, namespace, name }: { cluster: string; kind: Kind; namespace: string | undefined; name: string }) {
  const { t } = useI18n();
  const toast = useToast();
  const ref = clusterRef(kind, cluster);
  const checks = useMemo<Check[]>(
    () => [
      { verb: 'update', group: kind.ref.group, resource: kind.ref.resource, subresource: 'scale', namespace: namespace ?? '', name },
      { verb: 'patch', group: kind.ref.group, resource: kind.ref.resource, namespace: namespace ?? '', name },
    ],
    [kind, namespace, name],
  );
  const perms = usePermissions(checks, cluster);
  const [scaling, setScaling] = useState(false);
  const [restarting, setRestarting] = useState(false);
  const path = objectPath(ref, name, namespace ?? '');
  return (
    <>
      <DetailPage
        ref_={ref}
        kind={kind.kind}
        name={name}
        namespace={namespace}
        backTo={`/tkestack/clusters/${encodeURIComponent(cluster)}/r/${kind.id}`}
        actions={(o) => (
          <>
            {kind.scalable && perms.can(checks[0] as Check) && (
              <button type="button" className="btn" onClick={() => setScaling(true)}>
                {t('workload.scale')} ({num(o, 'spec', 'replicas')})
              </button>
            )}
            {kind.restartable && perms.can(checks[1] as Check) && (
              <button type="button" className="btn" onClick={() => setRestarting(true)}>
                {t('workload.restart')}
              </button>
            )}
          </>
        )}
        viewTransform={kind.id === 'secrets' ? maskSecret : undefined}
        extra={(o) => (
          <>
            <WorkloadFacts o={o} />
            {['deployments', 'statefulsets', 'daemonsets', 'jobs'].includes(kind.id) && <WorkloadPods cluster={cluster} workload={o} />}
            {kind.id === 'nodes' && <MetricCharts spec={nodeCharts(cluster, o.metadata.name)} />}
            {kind.id in SAMPLED_WORKLOADS && (
              <MetricCharts spec={workloadCharts(cluster, o.metadata.namespace ?? 'default', SAMPLED_WORKLOADS[kind.id] as string, o.metadata.name)} />
            )}
            {kind.id === 'pods' && <MetricCharts spec={podCharts(cluster, o.metadata.namespace ?? 'default', o.metadata.name)} />}
            {kind.id === 'pods' && <PodExtras cluster={cluster} pod={o} />}
            {kind.id === 'secrets' && <SecretData o={o} />}
            {kind.id === 'configmaps' && <ConfigMapData o={o} />}
            {kind.ref.namespaced && kind.id !== 'events' && (
              <ObjectEvents cluster={cluster} kind={kind.kind} name={o.metadata.name} namespace={o.metadata.namespace ?? 'default'} />
            )}
          </>
        )}
      />
      {scaling && <ScaleDialog path={path} name={name} onClose={() => setScaling(false)} />}
      <ConfirmDialog
        open={restarting}
        danger={false}
        title={t('workload.restartTitle', { kind: kind.kind })}
        message={t('workload.restartMessage', { name })}
        confirmLabel={t('workload.restart')}
        onClose={() => setRestarting(false)}
        onConfirm={async () => {
          await api.patch(path, {
            spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } },
          });
          toast.success(t('workload.restarted', { name }));
        }}
      />
    </>
  );
}

function WorkloadFacts({ o }: { o: KubeObject }) {
  const { t } = useI18n();
  if (typeof (o.spec as { replicas?: unknown } | undefined)?.replicas !== 'number') return null;
  return (
    <dl className="props">
      <dt>{t('workload.replicas')}</dt>
      <dd>{num(o, 'spec', 'replicas')}</dd>
      <dt>{t('col.ready')}</dt>
      <dd>{num(o, 'status', 'readyReplicas')}</dd>
      <dt>{t('col.upToDate')}</dt>
      <dd>{num(o, 'status', 'updatedReplicas')}</dd>
    </dl>
  );
}

function ScaleDialog({ path, name, onClose }: { path: string; name: string; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const form = useApiForm(
    { replicas: '' },
    { replicas: { validators: [required, intRange(0, 10000)] } },
    { 'spec.replicas': 'replicas' },
    async (v) => {
      await api.patch(`${path}/scale`, { spec: { replicas: Number(v.replicas) } });
      toast.success(t('workload.scaled', { name, n: v.replicas }));
    },
  );
  return (
    <Dialog
      open
      title={t('workload.scaleTitle', { name })}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" form="scale-form" className="btn btn-primary" disabled={form.busy}>
            {form.busy ? t('common.working') : t('workload.scale')}
          </button>
        </>
      }
    >
      <form
        id="scale-form"
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit().then((ok) => ok && onClose());
        }}
      >
        <TextField label={t('workload.replicas')} type="number" value={form.values.replicas} onChange={(v) => form.set('replicas', v)} error={form.error('replicas')} required />
        <FormError message={form.error('')} />
      </form>
    </Dialog>
  );
}

/** A pod's logs and a terminal link for each of its containers. */
function PodExtras({ cluster, pod }: { cluster: string; pod: KubeObject }) {
  const { t } = useI18n();
  const containers = arr(pod, 'spec', 'containers').map((c) => str(c, 'name'));
  const ns = pod.metadata.namespace ?? 'default';
  return (
    <>
      <section className="card" aria-labelledby="pod-terminal">
        <h2 id="pod-terminal">{t('terminal.title')}</h2>
        <ul className="row-actions">
          {containers.map((c) => (
            <li key={c} style={{ listStyle: 'none' }}>
              <Link
                className="btn"
                to={`/tkestack/clusters/${encodeURIComponent(cluster)}/terminal?${new URLSearchParams({ namespace: ns, pod: pod.metadata.name, container: c }).toString()}`}
              >
                {t('terminal.open', { container: c })}
              </Link>
            </li>
          ))}
        </ul>
      </section>
      <PodLogs key={pod.metadata.uid ?? pod.metadata.name} cluster={cluster} pod={pod} />
      <PodLogFiles cluster={cluster} pod={pod} />
    </>
  );
}
