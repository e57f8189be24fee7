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

/**
 * A string that orders under plain `<` as a numeric, case-insensitive collator orders printable
 * ASCII (what names, phases and most cells are): case folded, digit runs padded so `pod-2`
 * sorts before `pod-10`. Computed once per row, so sorting compares plain strings instead of
 * calling a collator n·log n times. `null` for text outside printable ASCII.
 */
export function naturalKey(s: string): string | null {
  if (!/^[\x20-\x7e]*$/.test(s)) return null;
  return s.toLowerCase().replace(/\d+/g, (d) => (d.length >= 16 ? d : d.padStart(16, '0')));
}

/**
 * The sort key of a text: its natural key, or for text outside printable ASCII the text itself
 * after a marker that places it after every ASCII key (still one fixed string per row, so the
 * order stays total and stable).
 */
function textKey(s: string): string {
  return naturalKey(s) ?? `\u{10FFFF}${s}`;
}

interface Entry<T> {
  sk: SortValue;
  key: string;
  o: T;
}

function entryOf<T extends KubeObject>(o: T, value: ((o: T) => SortValue) | undefined): Entry<T> {
  const key = keyOfObject(o);
  const v = value ? value(o) : '';
  return { sk: typeof v === 'number' ? v : textKey(v), key: textKey(key) + '\u0000' + key, o };
}

function comparer<T>(desc: boolean): (a: Entry<T>, b: Entry<T>) => number {
  const dir = desc ? -1 : 1;
  return (a, b) => {
    if (a.sk !== b.sk) {
      if (typeof a.sk === 'number' && typeof b.sk === 'number') return (a.sk - b.sk) * dir;
      return (String(a.sk) < String(b.sk) ? -1 : 1) * dir;
    }
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  };
}

/** Sorts a copy; ties are broken by name so the order is stable between frames. */
export function sortRows<T extends KubeObject>(rows: T[], sort: SortSpec<T> | null): T[] {
  const entries = rows.map((o) => entryOf(o, sort?.value));
  entries.sort(comparer(sort?.desc ?? false));
  return entries.map((e) => e.o);
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
  /**
   * What the last notification changed: the objects by key (null = deleted), or null when the
   * whole map was replaced (a list or relist). Views read it inside their listener.
   */
  lastChanges: Map<string, T | null> | null = null;
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

  /** Each start begins a new generation; a loop of an older one ends at its next step. */
  private generation = 0;

  start(): void {
    this.stopped = false;
    this.generation++;
    void this.run(this.generation);
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.abort?.abort();
  }

  private async run(gen: number): Promise<void> {
    while (!this.stopped && gen === this.generation) {
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
        if (this.stopped || gen !== this.generation) return;
        if (e instanceof ApiError && e.code === 410) {
          this.state.complete = false; // relist at once
          continue;
        }
        this.state.error = e instanceof ApiError ? e : new ApiError(0, '', String(e));
        this.state.loading = false;
        this.state.version++;
        this.lastChanges = new Map();
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
        this.lastChanges = null;
        this.emit();
      }
    } while (cont && !this.stopped);
    this.state.items = fresh;
    this.state.resourceVersion = rv;
    this.state.complete = true;
    this.state.loading = false;
    this.state.error = null;
    this.state.version++;
    this.lastChanges = null;
    this.emit();
  }

  private async watch(): Promise<void> {
    const res = await this.get(
      this.url({ watch: '1', resourceVersion: this.state.resourceVersion, allowWatchBookmarks: 'true' }),
    );
    if (this.state.error) {
      this.state.error = null;
      this.state.version++;
      this.lastChanges = new Map();
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
    const changes = new Map<string, T | null>();
    for (const ev of batch) {
      if (applyEvent(this.state.items, ev)) {
        const key = keyOfObject(ev.object);
        changes.set(key, this.state.items.get(key) ?? null);
      }
    }
    if (changes.size > 0) {
      this.state.version++;
      this.lastChanges = changes;
      this.emit();
    }
  }
}

/**
 * The rows a table shows: the live list filtered by the search (and an optional predicate) and
 * sorted, kept up to date incrementally. A batch of watch events moves only the changed rows
 * (binary search, splice), so 100 events/s over 10,000 rows cost microseconds per frame; the
 * full sort runs only when the list is read again or the sort or search changes.
 */
export class SortedView<T extends KubeObject> {
  /** A new array after every change (React compares by identity). */
  rows: T[] = [];
  private entries: Entry<T>[] = [];
  private index = new Map<string, Entry<T>>();
  private cmp: (a: Entry<T>, b: Entry<T>) => number;
  private listeners = new Set<() => void>();
  private unsubscribe: (() => void) | null = null;
  /** The list version the rows reflect. */
  private seen = -1;

  constructor(
    private readonly list: LiveList<T>,
    private sort: SortSpec<T> | null = null,
    private search = '',
    private predicate: ((o: T) => boolean) | undefined = undefined,
  ) {
    this.cmp = comparer(sort?.desc ?? false);
    this.rebuild();
  }

  /** Follows the list while someone listens (and catches up on what it missed meanwhile). */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    if (!this.unsubscribe) {
      this.unsubscribe = this.list.subscribe(() => this.onList());
      if (this.seen !== this.list.state.version) {
        this.rebuild();
        queueMicrotask(() => this.emit());
      }
    }
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0) {
        this.unsubscribe?.();
        this.unsubscribe = null;
      }
    };
  }

  /**
   * Sorts and searches anew. `notify: false` is for a caller that reads `rows` right after (a
   * component applying its query while it renders): telling listeners then would update a
   * component in the middle of rendering.
   */
  setQuery(
    sort: SortSpec<T> | null,
    search: string,
    predicate?: (o: T) => boolean,
    { notify = true }: { notify?: boolean } = {},
  ): void {
    if (sort === this.sort && search === this.search && predicate === this.predicate) return;
    this.sort = sort;
    this.search = search;
    this.predicate = predicate;
    this.cmp = comparer(sort?.desc ?? false);
    this.rebuild();
    if (notify) this.emit();
  }

  private emit() {
    for (const fn of this.listeners) fn();
  }

  private passes(o: T): boolean {
    const q = this.search.trim().toLowerCase();
    if (q && !keyOfObject(o).toLowerCase().includes(q)) return false;
    return this.predicate ? this.predicate(o) : true;
  }

  private rebuild() {
    const entries: Entry<T>[] = [];
    this.index = new Map();
    for (const o of this.list.state.items.values()) {
      if (!this.passes(o)) continue;
      const e = entryOf(o, this.sort?.value);
      entries.push(e);
      this.index.set(keyOfObject(o), e);
    }
    entries.sort(this.cmp);
    this.entries = entries;
    this.rows = entries.map((e) => e.o);
    this.seen = this.list.state.version;
  }

  /** Where `e` is, or would be inserted, in the sorted entries. */
  private position(e: Entry<T>): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(this.entries[mid] as Entry<T>, e) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private onList() {
    const changes = this.list.lastChanges;
    if (this.seen !== this.list.state.version - 1) {
      // A notification was missed: start again from the whole list.
      this.rebuild();
      this.emit();
      return;
    }
    this.seen = this.list.state.version;
    if (changes === null) {
      this.rebuild();
      this.emit();
      return;
    }
    if (changes.size === 0) {
      this.emit();
      return;
    }
    for (const [key, o] of changes) {
      const old = this.index.get(key);
      if (old) {
        const at = this.position(old);
        if (this.entries[at] === old) this.entries.splice(at, 1);
        else this.entries.splice(this.entries.indexOf(old), 1);
        this.index.delete(key);
      }
      if (o && this.passes(o)) {
        const e = entryOf(o, this.sort?.value);
        this.entries.splice(this.position(e), 0, e);
        this.index.set(key, e);
      }
    }
    this.rows = this.entries.map((e) => e.o);
    this.emit();
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
