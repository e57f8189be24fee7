// The cluster's log agent, live: the LogAgent whose spec.clusterName is the cluster (shared by the
// log collection page and the pod page's log files).
import { useMemo } from 'react';
import { useLiveList } from '../list/useLiveList';
import { agentOf, logAgentsPath, type LogAgent } from './collector';

/**
 * The cluster's log agent as the platform knows it. `served` is false when the platform does not
 * serve LogAgents (404) or cannot be reached; `forbidden` when the caller may not list them (the
 * page then says nothing about the agent rather than something untrue).
 */
export function useLogAgent(cluster: string): { agent: LogAgent | undefined; loading: boolean; served: boolean; forbidden: boolean } {
  const { state, version } = useLiveList<LogAgent>(logAgentsPath);
  return useMemo(() => {
    const code = state?.error?.code;
    return {
      agent: agentOf([...(state?.items.values() ?? [])], cluster),
      loading: !!state?.loading,
      served: !(code === 404 || code === 0),
      forbidden: code === 401 || code === 403,
    };
  }, [state, version, cluster]); // eslint-disable-line react-hooks/exhaustive-deps
}
