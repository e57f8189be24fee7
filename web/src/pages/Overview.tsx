// The platform at a glance: clusters by phase, capacity and allocation summed over clusters
// (from each Cluster's status.resource), nodes and add-ons with problems of the first clusters
// (read through each cluster's proxy and addons subresource, at most MAX_PROBED clusters so the
// page stays fast with a thousand of them). With the monitor component, a ClusterOverview (polled)
// adds what was measured: clusters by health, nodes, workloads and pods over every cluster, CPU
// and memory used against what is allocatable, and the busiest clusters.
import { useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { clusterProxy, PLATFORM, type KubeList, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { useLiveList } from '../list/useLiveList';
import { HealthLine, Meter, PodsCard, TopClusters, useCoreFormat, WorkloadsCard } from '../monitor/Dashboard';
import { MONITOR } from '../monitor/metrics';
import { useClusterOverview, usedTotals } from '../monitor/overview';
import { formatBytes, parseQuantity } from '../quantity';
import { arr, str } from '../resources';
import { useSession } from '../session';
import { Phase } from '../ui/bits';

const MAX_PROBED = 20;
const overviewCheck: Check = { verb: 'create', group: MONITOR, resource: 'clusteroverviews' };

interface Probe {
  cluster: string;
  nodes: number;
  ready: number;
  addons: { name: string; type: string; phase: string; reason: string }[];
  error?: string;
}

function sum(clusters: KubeObject[], kind: 'capacity' | 'allocatable' | 'allocated', res: string): number {
  let total = 0;
  for (const c of clusters) {
    const v = parseQuantity(str(c, 'status', 'resource', kind, res));
    if (Number.isFinite(v)) total += v;
  }
  return total;
}

function nodeReady(n: unknown): boolean {
  return arr(n, 'status', 'conditions').some((c) => str(c, 'type') === 'Ready' && str(c, 'status') === 'True');
}

async function probe(cluster: string, signal: AbortSignal): Promise<Probe> {
  try {
    const [nodes, addons] = await Promise.all([
      api.get<KubeList>(`${clusterProxy(cluster)}/api/v1/nodes`, signal),
      api.get<KubeList>(`/apis/${PLATFORM}/v1/clusters/${encodeURIComponent(cluster)}/addons`, signal).catch(() => ({ items: [] }) as unknown as KubeList),
    ]);
    return {
      cluster,
      nodes: nodes.items.length,
      ready: nodes.items.filter(nodeReady).length,
      addons: (addons.items ?? [])
        .map((a) => ({ name: str(a, 'name'), type: str(a, 'type'), phase: str(a, 'phase'), reason: str(a, 'reason') }))
        .filter((a) => a.phase !== 'Running'),
    };
  } catch (e) {
    if (signal.aborted) throw e;
    return { cluster, nodes: 0, ready: 0, addons: [], error: e instanceof Error ? e.message : String(e) };
  }
}

export function Overview() {
  const { t } = useI18n();
  const { sysinfo } = useSession();
  const monitorOn = sysinfo.monitor !== undefined;
  const checks = useMemo(() => (monitorOn ? [overviewCheck] : []), [monitorOn]);
  const perms = usePermissions(checks);
  const measured = useClusterOverview(monitorOn && perms.can(overviewCheck));
  const ov = measured.result;
  const used = ov ? usedTotals(ov) : null;
  const cores = useCoreFormat();
  const { state, version } = useLiveList(`/apis/${PLATFORM}/v1/clusters`);
  const clusters = useMemo(() => [...(state?.items.values() ?? [])], [state, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const byPhase = useMemo(() => {
    const m = new Map<string, number>();
    for (const c of clusters) {
      const p = str(c, 'status', 'phase') || 'Unknown';
      m.set(p, (m.get(p) ?? 0) + 1);
    }
    return [...m.entries()].sort((a, b) => b[1] - a[1]);
  }, [clusters]);
  const running = useMemo(
    () =>
      clusters
        .filter((c) => str(c, 'status', 'phase') === 'Running')
        .map((c) => c.metadata.name)
        .sort()
        .slice(0, MAX_PROBED),
    [clusters],
  );
  const runningKey = running.join(',');
  const [probes, setProbes] = useState<Probe[] | null>(null);
  useEffect(() => {
    if (!runningKey) {
      setProbes([]);
      return;
    }
    const ctl = new AbortController();
    Promise.all(runningKey.split(',').map((c) => probe(c, ctl.signal)))
      .then(setProbes)
      .catch(() => {});
    return () => ctl.abort();
  }, [runningKey]);

  const cpu = { cap: sum(clusters, 'capacity', 'cpu'), alloc: sum(clusters, 'allocatable', 'cpu'), used: sum(clusters, 'allocated', 'cpu') };
  const mem = {
    cap: sum(clusters, 'capacity', 'memory'),
    alloc: sum(clusters, 'allocatable', 'memory'),
    used: sum(clusters, 'allocated', 'memory'),
  };
  const problems = (probes ?? []).flatMap((p) => p.addons.map((a) => ({ ...a, cluster: p.cluster })));
  return (
    <div className="page">
      <h1 className="page-title">{t('overview.title')}</h1>
      {state?.error && (
        <p className="form-error" role="alert">
          {state.error.message}
        </p>
      )}
      <div className="cards">
        <section className="card" aria-labelledby="ov-clusters">
          <h2 id="ov-clusters">{t('overview.clusters')}</h2>
          <div className="big-number">{state?.loading ? '…' : clusters.length}</div>
          <ul className="phase-list">
            {byPhase.map(([phase, n]) => (
              <li key={phase}>
                <Phase phase={phase} /> <span className="phase-count">{n}</span>
              </li>
            ))}
          </ul>
          {ov && <HealthLine result={ov} />}
          <Link to="/tkestack/clusters">{t('overview.allClusters')}</Link>
        </section>
        <section className="card" aria-labelledby="ov-nodes">
          <h2 id="ov-nodes">{t('overview.nodes')}</h2>
          {ov ? (
            <>
              <div className="big-number">{ov.nodeCount}</div>
              <p>{t('overview.nodesReady', { ready: ov.nodeCount - ov.nodeAbnormal })}</p>
            </>
          ) : (
            <>
              <div className="big-number">{probes ? probes.reduce((n, p) => n + p.nodes, 0) : '…'}</div>
              <p>{probes ? t('overview.nodesReady', { ready: probes.reduce((n, p) => n + p.ready, 0) }) : t('common.loading')}</p>
              {running.length === MAX_PROBED && <p className="hint">{t('overview.probedFirst', { n: MAX_PROBED })}</p>}
            </>
          )}
        </section>
        {ov && <WorkloadsCard result={ov} />}
        {ov && <PodsCard result={ov} />}
        <section className="card" aria-labelledby="ov-cpu">
          <h2 id="ov-cpu">{t('overview.cpu')}</h2>
          {used && used.sampled > 0 && ov && (
            <>
              <div className="meter-caption">{t('dash.used')}</div>
              <Meter label={t('dash.cpuUsedAll')} used={used.cpu} total={ov.cpuAllocatable} fmt={cores} />
              <div className="meter-caption">{t('dash.requested')}</div>
            </>
          )}
          <Meter label={t('overview.cpu')} used={cpu.used} total={cpu.alloc} fmt={cores} />
          <p>{t('overview.capacity', { cap: cores(cpu.cap), alloc: cores(cpu.alloc) })}</p>
        </section>
        <section className="card" aria-labelledby="ov-mem">
          <h2 id="ov-mem">{t('overview.memory')}</h2>
          {used && used.sampled > 0 && ov && (
            <>
              <div className="meter-caption">{t('dash.used')}</div>
              <Meter label={t('dash.memUsedAll')} used={used.mem} total={ov.memAllocatable} fmt={formatBytes} />
              <div className="meter-caption">{t('dash.requested')}</div>
            </>
          )}
          <Meter label={t('overview.memory')} used={mem.used} total={mem.alloc} fmt={formatBytes} />
          <p>{t('overview.capacity', { cap: formatBytes(mem.cap), alloc: formatBytes(mem.alloc) })}</p>
        </section>
      </div>
      {measured.error && (
        <p className="form-error" role="alert">
          {t('dash.loadFailed', { message: measured.error })}
        </p>
      )}
      {ov && <TopClusters result={ov} at={measured.at} onRefresh={measured.reload} />}
      <section className="card" aria-labelledby="ov-addons">
        <h2 id="ov-addons">{t('overview.addonProblems')}</h2>
        {probes === null ? (
          <p>{t('common.loading')}</p>
        ) : problems.length === 0 ? (
          <p>{t('overview.noAddonProblems')}</p>
        ) : (
          <table className="simple-table">
            <thead>
              <tr>
                <th scope="col">{t('common.cluster')}</th>
                <th scope="col">{t('common.name')}</th>
                <th scope="col">{t('common.type')}</th>
                <th scope="col">{t('common.phase')}</th>
                <th scope="col">{t('common.reason')}</th>
              </tr>
            </thead>
            <tbody>
              {problems.map((a) => (
                <tr key={`${a.cluster}/${a.name}`}>
                  <td>
                    <Link to={`/tkestack/clusters/${encodeURIComponent(a.cluster)}/addons`}>{a.cluster}</Link>
                  </td>
                  <td>{a.name}</td>
                  <td>{a.type}</td>
                  <td>
                    <Phase phase={a.phase} />
                  </td>
                  <td>{a.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {(probes ?? [])
          .filter((p) => p.error)
          .map((p) => (
            <p key={p.cluster} className="form-error">
              {p.cluster}: {p.error}
            </p>
          ))}
      </section>
    </div>
  );
}
