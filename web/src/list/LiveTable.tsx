// The table of every list page: a live list (list + watch), a name search box, sortable column
// headers and a virtualized body, so 10,000 rows cost only the ~30 rows on screen. Sorting and
// search run client-side over the rows loaded so far (see store.ts).
import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useMemo, useRef, useState, type ReactNode } from 'react';
import type { KubeObject } from '../api/kube';
import { keyOfObject } from '../api/kube';
import { useI18n } from '../i18n';
import type { SortSpec, SortValue } from './store';
import { useLiveList, useSortedView } from './useLiveList';

export interface Column<T> {
  id: string;
  header: string;
  /** Sort key and the default cell text. */
  value: (o: T) => SortValue;
  render?: (o: T) => ReactNode;
  /** CSS grid track, e.g. '2fr' or '120px'. */
  width?: string;
  sortable?: boolean;
}

interface Props<T extends KubeObject> {
  url: string | null;
  query?: Record<string, string>;
  columns: Column<T>[];
  /** Shown at the right of the search box (create buttons...). */
  toolbar?: ReactNode;
  filter?: (o: T) => boolean;
  label: string;
  rowHeight?: number;
  height?: number;
  emptyText?: string;
  /** For resources that cannot be watched: list again every pollMs. */
  pollMs?: number;
  /** The sort to start with (default: the first column, ascending). */
  defaultSort?: { id: string; desc: boolean };
  /** Sent with every list and watch (a project's context header). */
  headers?: Record<string, string>;
  /** More text the search box matches besides the name (display names of generated names). */
  searchText?: (o: T) => string;
}

export function LiveTable<T extends KubeObject>({ url, query, columns, toolbar, filter, label, rowHeight = 38, height, emptyText, pollMs, defaultSort, headers, searchText }: Props<T>) {
  const { t } = useI18n();
  const { list, state } = useLiveList<T>(url, query, pollMs, headers);
  const [search, setSearch] = useState('');
  const [sortId, setSortId] = useState<string>(defaultSort?.id ?? columns[0]?.id ?? '');
  const [desc, setDesc] = useState(defaultSort?.desc ?? false);
  const sort = useMemo<SortSpec<T> | null>(() => {
    const col = columns.find((c) => c.id === sortId);
    return col ? { value: col.value, desc } : null;
  }, [columns, sortId, desc]);
  const withText = useMemo(() => {
    const q = search.trim().toLowerCase();
    if (!searchText || !q) return filter;
    return (o: T) => (!filter || filter(o)) && `${keyOfObject(o)} ${searchText(o)}`.toLowerCase().includes(q);
  }, [filter, searchText, search]);
  const rows = useSortedView(list, sort, searchText ? '' : search, withText);
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 10,
  });
  const template = columns.map((c) => c.width ?? '1fr').join(' ');
  const onSort = useCallback(
    (id: string) => {
      if (id === sortId) setDesc((d) => !d);
      else {
        setSortId(id);
        setDesc(false);
      }
    },
    [sortId],
  );
  const total = state?.items.size ?? 0;
  return (
    <section className="live-table" aria-label={label}>
      <div className="table-toolbar">
        <input
          type="search"
          className="search"
          placeholder={t('list.searchPlaceholder')}
          aria-label={t('list.search')}
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <span className="table-count" aria-live="polite">
          {state?.loading
            ? t('common.loading')
            : search
              ? t('list.countFiltered', { shown: rows.length, total })
              : total === 1
                ? t('list.countOne')
                : t('list.count', { total })}
          {state && !state.complete && !state.loading && !state.error ? ` · ${t('list.loadingMore')}` : ''}
        </span>
        <div className="toolbar-actions">{toolbar}</div>
      </div>
      {state?.error && (
        <p className="form-error" role="alert">
          {state.error.message}
        </p>
      )}
      <div className="table" role="table" aria-label={label} aria-rowcount={rows.length + 1}>
        <div className="table-head" role="rowgroup">
          <div className="table-row" role="row" style={{ gridTemplateColumns: template }}>
            {columns.map((c) => (
              <div
                key={c.id}
                role="columnheader"
                className="table-cell"
                aria-sort={c.id === sortId ? (desc ? 'descending' : 'ascending') : 'none'}
              >
                {c.sortable === false ? (
                  c.header
                ) : (
                  <button type="button" className="sort-button" onClick={() => onSort(c.id)}>
                    {c.header}
                    <span aria-hidden="true">{c.id === sortId ? (desc ? ' ▼' : ' ▲') : ''}</span>
                  </button>
                )}
              </div>
            ))}
          </div>
        </div>
        <div
          ref={scrollRef}
          className="table-body"
          role="rowgroup"
          style={{ height: height ?? `min(${Math.max(rows.length, 1) * rowHeight + 2}px, calc(100vh - 260px))` }}
        >
          {rows.length === 0 && !state?.loading && !state?.error ? (
            <div role="row">
              <div role="cell" className="table-empty">
                {search ? t('list.noMatch') : (emptyText ?? t('list.empty'))}
              </div>
            </div>
          ) : (
            // Only positions the rows: not a level of the table for assistive technology.
            <div role="presentation" style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
              {virtualizer.getVirtualItems().map((vi) => {
                const o = rows[vi.index];
                if (!o) return null;
                return (
                  <div
                    key={keyOfObject(o)}
                    role="row"
                    aria-rowindex={vi.index + 2}
                    className="table-row"
                    style={{ gridTemplateColumns: template, height: rowHeight, transform: `translateY(${vi.start}px)` }}
                  >
                    {columns.map((c) => (
                      <div key={c.id} role="cell" className="table-cell">
                        {c.render ? c.render(o) : String(c.value(o))}
                      </div>
                    ))}
                  </div>
                );
              })}
            </div>
          )}
        </div>
      </div>
    </section>
  );
}
