// The dashboard's numbers: a ClusterOverview (monitor.tkestack.io/v1, reference 7.3) posted and
// its answer read, polled since nothing about it can be watched; the clusters grouped by health
// and the busiest clusters picked for the "top clusters" table.
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import { MONITOR, OVERVIEWS_PATH } from './metrics';

/** One cluster's line (CPU in cores, memory in bytes). */
export interface ClusterStatistic {
  clusterID: string;
  displayName: string;
  tenantID: string;
  clusterPhase: string;
  nodeCount: number;
  nodeAbnormal: number;
  workloadCount: number;
  workloadAbnormal: number;
  podCount: number;
  cpuUsed: number;
  cpuRequest: number;
  cpuCapacity: number;
  cpuAllocatable: number;
  memUsed: number;
  memRequest: number;
  memCapacity: number;
  memAllocatable: number;
  hasMetricServer: boolean;
  /** RFC 3339; empty when the cluster was never sampled. */
  sampledAt: string;
}

export interface OverviewResult {
  clusterCount: number;
  clusterAbnormal: number;
  projectCount: number;
  projectAbnormal: number;
  nodeCount: number;
  nodeAbnormal: number;
  workloadCount: number;
  workloadAbnormal: number;
  cpuCapacity: number;
  cpuAllocatable: number;
  memCapacity: number;
  memAllocatable: number;
  podCount: number;
  clusters: ClusterStatistic[];
}

/** How often the dashboard asks again (the sampler's numbers move once a minute). */
export const REFRESH_MS = 30_000;

export async function fetchOverview(): Promise<OverviewResult> {
  const o = await api.post<{ result?: Partial<OverviewResult> }>(OVERVIEWS_PATH, {
    apiVersion: `${MONITOR}/v1`,
    kind: 'ClusterOverview',
    spec: {},
  });
  return normalize(o?.result);
}

/** Fills what an older server leaves out, so the page never reads undefined as a number. */
export function normalize(r: Partial<OverviewResult> | undefined): OverviewResult {
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    clusterCount: n(r?.clusterCount),
    clusterAbnormal: n(r?.clusterAbnormal),
    projectCount: n(r?.projectCount),
    projectAbnormal: n(r?.projectAbnormal),
    nodeCount: n(r?.nodeCount),
    nodeAbnormal: n(r?.nodeAbnormal),
    workloadCount: n(r?.workloadCount),
    workloadAbnormal: n(r?.workloadAbnormal),
    cpuCapacity: n(r?.cpuCapacity),
    cpuAllocatable: n(r?.cpuAllocatable),
    memCapacity: n(r?.memCapacity),
    memAllocatable: n(r?.memAllocatable),
    podCount: n(r?.podCount),
    clusters: (r?.clusters ?? []).map((c) => ({
      clusterID: c.clusterID ?? '',
      displayName: c.displayName || c.clusterID || '',
      tenantID: c.tenantID ?? '',
      clusterPhase: c.clusterPhase ?? '',
      nodeCount: n(c.nodeCount),
      nodeAbnormal: n(c.nodeAbnormal),
      workloadCount: n(c.workloadCount),
      workloadAbnormal: n(c.workloadAbnormal),
      podCount: n(c.podCount),
      cpuUsed: n(c.cpuUsed),
      cpuRequest: n(c.cpuRequest),
      cpuCapacity: n(c.cpuCapacity),
      cpuAllocatable: n(c.cpuAllocatable),
      memUsed: n(c.memUsed),
      memRequest: n(c.memRequest),
      memCapacity: n(c.memCapacity),
      memAllocatable: n(c.memAllocatable),
      hasMetricServer: c.hasMetricServer === true,
      sampledAt: c.sampledAt ?? '',
    })),
  };
}

/** Used over allocatable as a percent in [0, 100+]; null when nothing is allocatable. */
export function usagePercent(used: number, allocatable: number): number | null {
  if (!(allocatable > 0)) return null;
  return (used / allocatable) * 100;
}

/** Sums of what was measured (used) over every sampled cluster. */
export function usedTotals(r: OverviewResult): { cpu: number; mem: number; sampled: number } {
  let cpu = 0;
  let mem = 0;
  let sampled = 0;
  for (const c of r.clusters) {
    if (!c.sampledAt) continue;
    sampled++;
    cpu += c.cpuUsed;
    mem += c.memUsed;
  }
  return { cpu, mem, sampled };
}

/** Clusters by health: Running with every node ready, Running with nodes not ready, not Running. */
export function byHealth(r: OverviewResult): { healthy: number; degraded: number; abnormal: number } {
  let healthy = 0;
  let degraded = 0;
  let abnormal = 0;
  for (const c of r.clusters) {
    if (c.clusterPhase !== 'Running') abnormal++;
    else if (c.nodeAbnormal > 0 || c.workloadAbnormal > 0) degraded++;
    else healthy++;
  }
  return { healthy, degraded, abnormal };
}

export type TopBy = 'cpu' | 'memory' | 'pods';

/** The `n` busiest clusters by CPU or memory usage (percent of allocatable) or pod count; never-sampled clusters last. */
export function topClusters(clusters: ClusterStatistic[], by: TopBy, n: number): ClusterStatistic[] {
  const score = (c: ClusterStatistic): number => {
    if (!c.sampledAt) return -1;
    if (by === 'pods') return c.podCount;
    const p = by === 'cpu' ? usagePercent(c.cpuUsed, c.cpuAllocatable) : usagePercent(c.memUsed, c.memAllocatable);
    return p ?? 0;
  };
  return [...clusters].sort((a, b) => score(b) - score(a) || a.clusterID.localeCompare(b.clusterID)).slice(0, n);
}

export interface OverviewState {
  result: OverviewResult | null;
  error: string | null;
  /** When the last answer arrived (ms). */
  at: number | null;
  loading: boolean;
}

/** The overview, asked now and every REFRESH_MS while `enabled`; `reload` asks at once. */
export function useClusterOverview(enabled: boolean): OverviewState & { reload: () => void } {
  const [state, setState] = useState<OverviewState>({ result: null, error: null, at: null, loading: enabled });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    const load = () => {
      setState((s) => ({ ...s, loading: true }));
      fetchOverview()
        .then((result) => live && setState({ result, error: null, at: Date.now(), loading: false }))
        .catch((e: unknown) => live && setState((s) => ({ ...s, error: messageOf(e), loading: false })));
    };
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [enabled, tick]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}
