// React glue for LiveList: one live list per (url, query) while the component is mounted, with
// the sorted and searched view recomputed only when the data, the sort or the search changed
// (so at most once per animation frame while watch events stream).
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { goToLogin } from '../api/client';
import type { KubeObject } from '../api/kube';
import { LiveList, SortedView, type Fetcher, type SortSpec } from './store';

export const browserFetcher: Fetcher = async (url, signal) => {
  const res = await fetch(url, { credentials: 'same-origin', signal, headers: { Accept: 'application/json' } });
  if (res.status === 401) goToLogin();
  return res;
};

/** The browser fetcher with extra request headers (a project's `X-TKE-ProjectName`). */
export function fetcherWith(headers: Record<string, string>): Fetcher {
  return async (url, signal) => {
    const res = await fetch(url, { credentials: 'same-origin', signal, headers: { Accept: 'application/json', ...headers } });
    if (res.status === 401) goToLogin();
    return res;
  };
}

/**
 * `pollMs` > 0 for resources that cannot be watched (they are listed again every pollMs);
 * `headers` are sent with every list and watch (a project's context header).
 */
export function useLiveList<T extends KubeObject = KubeObject>(url: string | null, query?: Record<string, string>, pollMs = 0, headers?: Record<string, string>) {
  const qkey = JSON.stringify(query ?? {});
  const hkey = JSON.stringify(headers ?? {});
  const list = useMemo(
    () =>
      url
        ? new LiveList<T>({
            url,
            query: JSON.parse(qkey) as Record<string, string>,
            fetcher: hkey === '{}' ? browserFetcher : fetcherWith(JSON.parse(hkey) as Record<string, string>),
            pollMs,
          })
        : null,
    [url, qkey, pollMs, hkey],
  );
  useEffect(() => {
    if (!list) return;
    list.start();
    return () => list.stop();
  }, [list]);
  const version = useSyncExternalStore(
    (cb) => (list ? list.subscribe(cb) : () => {}),
    () => list?.state.version ?? -1,
  );
  return { list, version, state: list?.state ?? null };
}

/**
 * Rows sorted and searched, kept by a SortedView: rebuilt when the sort or the search changes,
 * updated incrementally by each batch of watch events.
 */
export function useSortedView<T extends KubeObject>(
  list: LiveList<T> | null,
  sort: SortSpec<T> | null,
  search: string,
  predicate?: (o: T) => boolean,
): T[] {
  const view = useMemo(() => (list ? new SortedView<T>(list) : null), [list]);
  // Applied during render so the rows below match the query at once (read just below, so
  // nobody needs telling).
  view?.setQuery(sort, search, predicate, { notify: false });
  return useSyncExternalStore(
    (cb) => (view ? view.subscribe(cb) : () => {}),
    () => view?.rows ?? EMPTY,
  ) as T[];
}

const EMPTY: never[] = [];

/** Current time, ticking every `ms`, for "age" columns. */
export function useNow(ms = 30000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}
