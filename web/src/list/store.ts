// The live list behind every list page: pages of a LIST, then a WATCH from the list's
// resourceVersion, kept in one map. Where the work runs:
//
// - Pagination: the list is read page by page (`limit` + `continue`) until it is whole, so a
//   page shows its first rows while the rest arrive; every page belongs to the same snapshot.
// - Sorting and name search run HERE, in the browser, over every row loaded so far (the API
//   offers neither a sort order nor a name search we could use: tke-rs does not serve TKEStack's
//   `X-TKE-FuzzyResourceName`, so the search is a client-side, case-insensitive substring match).
// - Watch events are queued and applied together at most once per animation frame (the
//   scheduler), so 100 events/s cause ~60 small updates/s, not 100 re-renders, and the sorted
//   view is recomputed once per frame only when something changed.
// - The watch reconnects from the last resourceVersion it saw; a 410 Gone (HTTP status or an
//   ERROR event) means that version is too old, and the list is read again.
import { ApiError } from '../api/errors';
import type { KubeList, KubeObject, WatchEvent } from '../api/kube';
import { keyOfObject } from '../api/kube';

export type SortValue = string | number;
export interface SortSpec<T> {
  value: (o: T) => SortValue;
  desc: boolean;
}

/** Applies one watch event to the map; returns whether anything changed. */
export function applyEvent<T extends KubeObject>(items: Map<string, T>, ev: WatchEvent<T>): boolean {
  const o = ev.object;
  if (!o || !o.metadata) return false;
  const key = keyOfObject(o);
  switch (ev.type) {
    case 'ADDED':
    case 'MODIFIED': {
      const prev = items.get(key);
      // An event older than what we hold (a relist raced a watch) is dropped.
      if (prev && olderThan(o.metadata.resourceVersion, prev.metadata.resourceVersion)) return false;
      items.set(key, o);
      return true;
    }
    case 'DELETED':
      return items.delete(key);
    default:
      return false;
  }
}

function olderThan(a?: string, b?: string): boolean {
  if (!a || !b) return false;
  // resourceVersions are opaque in general; tke-rs' (like etcd's) are decimal revisions.
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return a.length === b.length ? a < b : a.length < b.length;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/**
 * A string that orders under plain `<` as `collator` orders printable ASCII (what names, phases
 * and most cells are): case folded, digit runs padded so `pod-2` sorts before `pod-10`. Sorting
 * 10,000 rows with these keys costs a few milliseconds instead of the collator's hundreds, so a
 * re-sort per frame while watch events stream stays well under a 50 ms task. `null` for text
 * outside printable ASCII, which the collator sorts.
 */
export function naturalKey(s: string): string | null {
  if (!/^[\x20-\x7e]*$/.test(s)) return null;
  return s.toLowerCase().replace(/\d+/g, (d) => (d.length >= 16 ? d : d.padStart(16, '0')));
}

interface Decorated<T> {
  o: T;
  num: number;
  text: string;
  key: string;
}

const plainCompare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Sorts a copy; ties are broken by key so the order is stable between frames. */
export function sortRows<T extends KubeObject>(rows: T[], sort: SortSpec<T> | null): T[] {
  const dir = sort?.desc ? -1 : 1;
  const val = sort?.value;
  // Each row's sort value and key are computed once, not once per comparison.
  let ascii = true;
  const decorated: Decorated<T>[] = rows.map((o) => {
    const v = val ? val(o) : '';
    const rawKey = keyOfObject(o);
    const key = naturalKey(rawKey);
    const text = typeof v === 'number' ? '' : naturalKey(String(v));
    if (key === null || text === null) ascii = false;
    return { o, num: typeof v === 'number' ? v : NaN, text: text ?? String(v), key: key ?? rawKey };
  });
  if (!ascii) {
    // Some text outside ASCII: the collator over the raw values (still computed once).
    for (const d of decorated) {
      const v = val ? val(d.o) : '';
      if (typeof v !== 'number') d.text = String(v);
      d.key = keyOfObject(d.o);
    }
  }
  const textCompare = ascii ? plainCompare : collator.compare;
  decorated.sort((a, b) => {
    if (val) {
      const c = !Number.isNaN(a.num) && !Number.isNaN(b.num) ? a.num - b.num : textCompare(a.text, b.text);
      if (c !== 0) return c * dir;
    }
    return textCompare(a.key, b.key) * (val ? 1 : dir);
  });
  return decorated.map((d) => d.o);
}

/** Name search: a case-insensitive substring of the name (or namespace/name). */
export function filterRows<T extends KubeObject>(rows: T[], query: string): T[] {
  const q = query.trim().toLowerCase();
  if (!q) return rows;
  return rows.filter((o) => keyOfObject(o).toLowerCase().includes(q));
}

/** Runs a callback soon, once however often it is asked: requestAnimationFrame in a browser. */
export type Scheduler = (cb: () => void) => void;
export const frameScheduler: Scheduler = (cb) => {
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => cb());
  else setTimeout(cb, 16);
};

export type Fetcher = (url: string, signal: AbortSignal) => Promise<Response>;

export interface ListState<T> {
  items: Map<string, T>;
  /** Bumped on every applied change; views recompute when it moves. */
  version: number;
  loading: boolean;
  /** The list has been read whole (every page). */
  complete: boolean;
  error: ApiError | null;
  resourceVersion: string;
}

export interface LiveListOptions {
  /** Collection URL without query. */
  url: string;
  /** Extra query (labelSelector=..., fieldSelector=...). */
  query?: Record<string, string>;
  pageSize?: number;
  fetcher: Fetcher;
  scheduler?: Scheduler;
  /** Delay before reconnecting a watch that ended with an error (ms). */
  retryMs?: number;
  /**
   * For resources that cannot be watched (list and get only): read the list again every
   * `pollMs` instead of watching.
   */
  pollMs?: number;
}

/**
 * A list kept current by a watch. Subscribers are called after each batch of changes (at most
 * once per scheduler tick). `start` reads and watches until `stop`.
 */
export class LiveList<T extends KubeObject = KubeObject> {
  readonly state: ListState<T> = {
    items: new Map(),
    version: 0,
    loading: true,
    complete: false,
    error: null,
    resourceVersion: '',
  };
  private listeners = new Set<() => void>();
  private queue: WatchEvent<T>[] = [];
  private flushScheduled = false;
  private abort: AbortController | null = null;
  private stopped = false;
  private readonly opts: Required<Omit<LiveListOptions, 'query'>> & { query: Record<string, string> };
  /** How many times the list was read (first read and every relist); tests read it. */
  lists = 0;

  constructor(opts: LiveListOptions) {
    this.opts = {
      pageSize: 500,
      scheduler: frameScheduler,
      retryMs: 2000,
      pollMs: 0,
      query: {},
      ...opts,
    };
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit() {
    for (const fn of this.listeners) fn();
  }

  private url(extra: Record<string, string>): string {
    const q = new URLSearchParams({ ...this.opts.query, ...extra });
    return `${this.opts.url}?${q.toString()}`;
  }

  start(): void {
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.state.complete) await this.list();
        if (this.opts.pollMs > 0) {
          await new Promise((r) => setTimeout(r, this.opts.pollMs));
          this.state.complete = false;
          continue;
        }
        await this.watch();
        // The server closed the watch normally (its timeout): go on from the last version.
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof ApiError && e.code === 410) {
          this.state.complete = false; // relist at once
          continue;
        }
        this.state.error = e instanceof ApiError ? e : new ApiError(0, '', String(e));
        this.state.loading = false;
        this.state.version++;
        this.emit();
        if (e instanceof ApiError && (e.code === 401 || e.code === 403 || e.code === 404)) return;
        await new Promise((r) => setTimeout(r, this.opts.retryMs));
      }
    }
  }

  private async get(url: string): Promise<Response> {
    this.abort = new AbortController();
    const res = await this.opts.fetcher(url, this.abort.signal);
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw ApiError.fromBody(res.status, res.statusText, text);
    }
    return res;
  }

  /** Reads every page; the map is replaced only when the list is whole, so a relist never blinks. */
  private async list(): Promise<void> {
    this.lists++;
    this.queue = [];
    const fresh = new Map<string, T>();
    const first = this.state.items.size === 0;
    let cont = '';
    let rv = '';
    do {
      const extra: Record<string, string> = { limit: String(this.opts.pageSize) };
      if (cont) extra.continue = cont;
      const res = await this.get(this.url(extra));
      const page = (await res.json()) as KubeList<T>;
      for (const o of page.items ?? []) fresh.set(keyOfObject(o), o);
      if (!rv) rv = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?.continue ?? '';
      if (first && cont) {
        // Show the first pages while the rest load.
        this.state.items = new Map(fresh);
        this.state.version++;
        this.emit();
      }
    } while (cont && !this.stopped);
    this.state.items = fresh;
    this.state.resourceVersion = rv;
    this.state.complete = true;
    this.state.loading = false;
    this.state.error = null;
    this.state.version++;
    this.emit();
  }

  private async watch(): Promise<void> {
    const res = await this.get(
      this.url({ watch: '1', resourceVersion: this.state.resourceVersion, allowWatchBookmarks: 'true' }),
    );
    if (this.state.error) {
      this.state.error = null;
      this.state.version++;
      this.emit();
    }
    for await (const ev of readEvents<T>(res)) {
      if (this.stopped) return;
      if (ev.type === 'ERROR') {
        const st = ev.object as unknown as { code?: number; message?: string; reason?: string };
        throw new ApiError(st.code ?? 500, st.reason ?? '', st.message ?? 'watch error');
      }
      const rv = ev.object?.metadata?.resourceVersion;
      if (rv) this.state.resourceVersion = rv;
      if (ev.type === 'BOOKMARK') continue;
      this.enqueue(ev);
    }
  }

  /** Queues an event and schedules one flush for everything queued until then. */
  enqueue(ev: WatchEvent<T>): void {
    this.queue.push(ev);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.opts.scheduler(() => this.flush());
  }

  flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    let changed = false;
    for (const ev of batch) changed = applyEvent(this.state.items, ev) || changed;
    if (changed) {
      this.state.version++;
      this.emit();
    }
  }
}

/** Splits a streamed body into lines and parses each as JSON (newline-delimited JSON). */
export async function* readLines(res: Response): AsyncGenerator<string> {
  const body = res.body;
  if (!body) {
    const text = await res.text();
    for (const line of text.split('\n')) if (line.trim()) yield line;
    return;
  }
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield line;
    }
  }
  buf += decoder.decode();
  if (buf.trim()) yield buf;
}

export async function* readEvents<T>(res: Response): AsyncGenerator<WatchEvent<T>> {
  for await (const line of readLines(res)) {
    let ev: WatchEvent<T>;
    try {
      ev = JSON.parse(line) as WatchEvent<T>;
    } catch {
      continue;
    }
    yield ev;
  }
}
