// The platform overview's monitoring parts, from a ClusterOverview: clusters by health, the
// workloads and pods cards, usage meters, and the busiest clusters with their CPU and memory
// used against what is allocatable (ordered by CPU, memory or pods). The overview page polls
// the numbers (useClusterOverview) and places these pieces.
import { useState } from 'react';
import { Link } from 'react-router';
import { age } from '../api/kube';
import { useI18n } from '../i18n';
import { formatBytes } from '../quantity';
import { Phase } from '../ui/bits';
import { formatCores } from './metrics';
import { byHealth, topClusters, usagePercent, type OverviewResult, type TopBy } from './overview';
import '../styles/monitor.css';

/** How many clusters the "top clusters" table lists. */
export const TOP_N = 10;

/** A bar of `used` over `total`, with the figures in words. */
export function Meter({ label, used, total, fmt }: { label: string; used: number; total: number; fmt: (n: number) => string }) {
  const pct = total > 0 ? Math.round((used / total) * 100) : 0;
  return (
    <div className="meter-wrap">
      <div className="meter" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.min(100, pct)}>
        <div className={pct >= 90 ? 'meter-fill meter-hot' : 'meter-fill'} style={{ width: `${Math.min(100, pct)}%` }} />
      </div>
      <span>
        {fmt(used)} / {fmt(total)} ({pct}%)
      </span>
    </div>
  );
}

export function useCoreFormat(): (n: number) => string {
  const { t } = useI18n();
  return (n: number) => formatCores(n, { core: t('monitor.core'), cores: t('monitor.cores') });
}

/** "3 healthy · 1 with problems · 1 not running". */
export function HealthLine({ result }: { result: OverviewResult }) {
  const { t } = useI18n();
  const h = byHealth(result);
  return (
    <ul className="health-list" aria-label={t('dash.byHealth')}>
      <li>
        <span className="dot dot-ok" aria-hidden="true" />
        {t('dash.healthy', { n: h.healthy })}
      </li>
      <li>
        <span className="dot dot-wait" aria-hidden="true" />
        {t('dash.degraded', { n: h.degraded })}
      </li>
      <li>
        <span className="dot dot-bad" aria-hidden="true" />
        {t('dash.abnormal', { n: h.abnormal })}
      </li>
    </ul>
  );
}

export function WorkloadsCard({ result }: { result: OverviewResult }) {
  const { t } = useI18n();
  return (
    <section className="card" aria-labelledby="ov-workloads">
      <h2 id="ov-workloads">{t('dash.workloads')}</h2>
      <div className="big-number">{result.workloadCount}</div>
      <p className={result.workloadAbnormal > 0 ? 'text-bad' : undefined}>{t('dash.workloadsUnavailable', { n: result.workloadAbnormal })}</p>
    </section>
  );
}

export function PodsCard({ result }: { result: OverviewResult }) {
  const { t } = useI18n();
  return (
    <section className="card" aria-labelledby="ov-pods">
      <h2 id="ov-pods">{t('dash.pods')}</h2>
      <div className="big-number">{result.podCount}</div>
      <p>{t('dash.projects', { n: result.projectCount })}</p>
    </section>
  );
}

/** The busiest clusters, each with its usage meters; links to the cluster's own overview and charts. */
export function TopClusters({ result, at, onRefresh }: { result: OverviewResult; at: number | null; onRefresh: () => void }) {
  const { t } = useI18n();
  const cores = useCoreFormat();
  const [by, setBy] = useState<TopBy>('cpu');
  const top = topClusters(result.clusters, by, TOP_N);
  return (
    <section className="card top-clusters" aria-labelledby="ov-top">
      <div className="charts-head">
        <h2 id="ov-top">{t('dash.topClusters')}</h2>
        <div className="toolbar-actions">
          <label>
            {t('dash.orderBy')}{' '}
            <select value={by} onChange={(e) => setBy(e.target.value as TopBy)}>
              <option value="cpu">{t('dash.byCpu')}</option>
              <option value="memory">{t('dash.byMemory')}</option>
              <option value="pods">{t('dash.byPods')}</option>
            </select>
          </label>
          <button type="button" className="btn btn-small" onClick={onRefresh}>
            {t('dash.refresh')}
          </button>
        </div>
      </div>
      {at && <p className="hint">{t('monitor.updated', { time: new Date(at).toLocaleTimeString() })}</p>}
      {top.length === 0 ? (
        <p>{t('dash.noClusters')}</p>
      ) : (
        <table className="simple-table">
          <thead>
            <tr>
              <th scope="col">{t('common.cluster')}</th>
              <th scope="col">{t('common.phase')}</th>
              <th scope="col">{t('dash.nodes')}</th>
              <th scope="col">{t('dash.pods')}</th>
              <th scope="col">{t('dash.cpuUsed')}</th>
              <th scope="col">{t('dash.memUsed')}</th>
              <th scope="col">{t('dash.sampled')}</th>
            </tr>
          </thead>
          <tbody>
            {top.map((c) => {
              const cpuPct = usagePercent(c.cpuUsed, c.cpuAllocatable);
              const memPct = usagePercent(c.memUsed, c.memAllocatable);
              return (
                <tr key={c.clusterID}>
                  <td>
                    <Link to={`/tkestack/clusters/${encodeURIComponent(c.clusterID)}`}>{c.clusterID}</Link>
                    {c.displayName && c.displayName !== c.clusterID && <div className="hint">{c.displayName}</div>}
                  </td>
                  <td>
                    <Phase phase={c.clusterPhase} />
                  </td>
                  <td>{t('dash.nodesReady', { ready: c.nodeCount - c.nodeAbnormal, total: c.nodeCount })}</td>
                  <td>{c.podCount}</td>
                  {c.sampledAt && cpuPct !== null ? (
                    <td>
                      <Meter label={t('dash.cpuOf', { cluster: c.clusterID })} used={c.cpuUsed} total={c.cpuAllocatable} fmt={cores} />
                    </td>
                  ) : (
                    <td className="hint">{t('dash.notSampled')}</td>
                  )}
                  {c.sampledAt && memPct !== null ? (
                    <td>
                      <Meter label={t('dash.memOf', { cluster: c.clusterID })} used={c.memUsed} total={c.memAllocatable} fmt={formatBytes} />
                    </td>
                  ) : (
                    <td className="hint">{t('dash.notSampled')}</td>
                  )}
                  <td>{c.sampledAt ? t('dash.ago', { age: age(c.sampledAt) }) : '-'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
