import { describe, expect, it } from 'vitest';
import { byHealth, normalize, topClusters, usagePercent, usedTotals, type ClusterStatistic } from './overview';

const GiB = 2 ** 30;

function cluster(id: string, over: Partial<ClusterStatistic>): Partial<ClusterStatistic> {
  return { clusterID: id, clusterPhase: 'Running', sampledAt: '2026-12-08T01:00:00Z', cpuAllocatable: 4, memAllocatable: 8 * GiB, ...over };
}

const result = normalize({
  clusterCount: 4,
  clusters: [
    cluster('cls-a', { cpuUsed: 1, memUsed: 6 * GiB, podCount: 10 }) as ClusterStatistic,
    cluster('cls-b', { cpuUsed: 3, memUsed: 1 * GiB, podCount: 2, nodeAbnormal: 1 }) as ClusterStatistic,
    cluster('cls-c', { clusterPhase: 'Failed', sampledAt: '' }) as ClusterStatistic,
    cluster('cls-d', { cpuUsed: 0.5, memUsed: 2 * GiB, podCount: 30, workloadAbnormal: 2 }) as ClusterStatistic,
  ],
});

describe('the cluster overview', () => {
  it('fills what the answer leaves out', () => {
    const r = normalize({ clusters: [{ clusterID: 'x' } as ClusterStatistic] });
    expect(r.nodeCount).toBe(0);
    expect(r.clusters[0]).toMatchObject({ clusterID: 'x', displayName: 'x', cpuUsed: 0, sampledAt: '', hasMetricServer: false });
    expect(normalize(undefined).clusters).toEqual([]);
  });

  it('groups clusters by health', () => {
    expect(byHealth(result)).toEqual({ healthy: 1, degraded: 2, abnormal: 1 });
  });

  it('sums what was measured over sampled clusters only', () => {
    expect(usedTotals(result)).toEqual({ cpu: 4.5, mem: 9 * GiB, sampled: 3 });
  });

  it('orders the top clusters by CPU, memory or pods, never-sampled last', () => {
    const ids = (by: 'cpu' | 'memory' | 'pods', n = 4) => topClusters(result.clusters, by, n).map((c) => c.clusterID);
    expect(ids('cpu')).toEqual(['cls-b', 'cls-a', 'cls-d', 'cls-c']);
    expect(ids('memory')).toEqual(['cls-a', 'cls-d', 'cls-b', 'cls-c']);
    expect(ids('pods', 2)).toEqual(['cls-d', 'cls-a']);
  });

  it('gives usage as a percent of allocatable, none when nothing is allocatable', () => {
    expect(usagePercent(1, 4)).toBe(25);
    expect(usagePercent(1, 0)).toBeNull();
  });
});
