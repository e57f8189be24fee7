// Permissions that shape a page: ONE POST /auth/batchauthz per page with every (verb, group,
// resource, namespace, name) the page may offer; until the answer arrives nothing is shown as
// allowed (never guessed).
import { useEffect, useMemo, useState } from 'react';
import { requestJson } from './client';

export interface Check {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

interface BatchReview {
  status?: { allowedList?: { allowed?: boolean }[] };
}

export function keyOf(c: Check): string {
  return [c.verb, c.group ?? '', c.resource, c.subresource ?? '', c.namespace ?? '', c.name ?? ''].join('|');
}

/**
 * Asks the platform about every check at once; `cluster` for a business cluster's resources,
 * `project` for what the caller may do inside a project (sent as `X-TKE-ProjectName`).
 */
export async function batchAuthz(checks: Check[], cluster?: string, project?: string): Promise<boolean[]> {
  if (checks.length === 0) return [];
  const q = cluster ? `?cluster=${encodeURIComponent(cluster)}` : '';
  const review = await requestJson<BatchReview>(`/auth/batchauthz${q}`, {
    method: 'POST',
    headers: project ? { 'X-TKE-ProjectName': project } : {},
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        resourceAttributesList: checks.map((c) => ({
          verb: c.verb,
          group: c.group ?? '',
          resource: c.resource,
          subresource: c.subresource ?? '',
          namespace: c.namespace ?? '',
          name: c.name ?? '',
        })),
      },
    },
  });
  const list = review.status?.allowedList ?? [];
  return checks.map((_, i) => list[i]?.allowed === true);
}

export interface Permissions {
  /** True only when the platform said so. */
  can: (c: Check) => boolean;
  loading: boolean;
  error: string | null;
}

/** The permissions of one page; `checks` should be stable (memoized) between renders. */
export function usePermissions(checks: Check[], cluster?: string, project?: string): Permissions {
  const key = useMemo(() => checks.map(keyOf).join(';') + '@' + (cluster ?? '') + '#' + (project ?? ''), [checks, cluster, project]);
  const [state, setState] = useState<{ key: string; allowed: Set<string>; error: string | null }>({
    key: '',
    allowed: new Set(),
    error: null,
  });
  useEffect(() => {
    let live = true;
    batchAuthz(checks, cluster, project)
      .then((answers) => {
        if (!live) return;
        const allowed = new Set<string>();
        answers.forEach((ok, i) => {
          const c = checks[i];
          if (ok && c) allowed.add(keyOf(c));
        });
        setState({ key, allowed, error: null });
      })
      .catch((e: unknown) => {
        if (live) setState({ key, allowed: new Set(), error: String(e instanceof Error ? e.message : e) });
      });
    return () => {
      live = false;
    };
    // `key` captures checks and cluster.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const ready = state.key === key;
  return {
    can: (c) => ready && state.allowed.has(keyOf(c)),
    loading: !ready,
    error: ready ? state.error : null,
  };
}
