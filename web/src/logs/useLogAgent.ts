// The cluster's log agent, live: the LogAgent whose spec.clusterName is the cluster (shared by the
// log collection page and the pod page's log files).
import { useMemo } from 'react';
import { useLiveList } from '../list/useLiveList';
import { agentOf, logAgentsPath, type LogAgent } from './collector';

/** The cluster's log agent as the platform knows it; `served` false when the API is not there. */
export function useLogAgent(cluster: string): { agent: LogAgent | undefined; loading: boolean; served: boolean } {
  const { state, version } = useLiveList<LogAgent>(logAgentsPath);
  return useMemo(() => {
    const served = !(state?.error && (state.error.code === 404 || state.error.code === 0));
    return { agent: agentOf([...(state?.items.values() ?? [])], cluster), loading: !!state?.loading, served };
  }, [state, version, cluster]); // eslint-disable-line react-hooks/exhaustive-deps
}
