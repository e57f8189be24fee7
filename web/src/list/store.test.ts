import { describe, expect, it, vi } from 'vitest';
import type { KubeObject, WatchEvent } from '../api/kube';
import { LiveList, SortedView, applyEvent, filterRows, naturalKey, sortRows } from './store';

const obj = (name: string, rv: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  metadata: { name, resourceVersion: rv, ...extra },
});

describe('applyEvent', () => {
  it('adds, modifies and deletes by namespace/name', () => {
    const m = new Map<string, KubeObject>();
    expect(applyEvent(m, { type: 'ADDED', object: obj('a', '1', { namespace: 'x' }) })).toBe(true);
    expect(applyEvent(m, { type: 'ADDED', object: obj('a', '2', { namespace: 'y' }) })).toBe(true);
    expect(m.size).toBe(2);
    expect(applyEvent(m, { type: 'MODIFIED', object: obj('a', '3', { namespace: 'x', labels: { k: 'v' } }) })).toBe(true);
    expect(m.get('x/a')?.metadata.labels).toEqual({ k: 'v' });
    expect(applyEvent(m, { type: 'DELETED', object: obj('a', '4', { namespace: 'y' }) })).toBe(true);
    expect([...m.keys()]).toEqual(['x/a']);
    expect(applyEvent(m, { type: 'DELETED', object: obj('zz', '5') })).toBe(false);
  });

  it('drops an event older than the object it holds', () => {
    const m = new Map<string, KubeObject>();
    applyEvent(m, { type: 'ADDED', object: obj('a', '10') });
    expect(applyEvent(m, { type: 'MODIFIED', object: obj('a', '9') })).toBe(false);
    expect(m.get('a')?.metadata.resourceVersion).toBe('10');
    expect(applyEvent(m, { type: 'MODIFIED', object: obj('a', '11') })).toBe(true);
  });

  it('ignores bookmarks and malformed events', () => {
    const m = new Map<string, KubeObject>();
    expect(applyEvent(m, { type: 'BOOKMARK', object: obj('a', '1') })).toBe(false);
    expect(applyEvent(m, { type: 'ADDED', object: {} as KubeObject })).toBe(false);
    expect(m.size).toBe(0);
  });
});

describe('sortRows and filterRows', () => {
  const rows = [obj('node-10', '1'), obj('node-2', '2'), obj('Alpha', '3'), obj('beta', '4')];
  it('sorts by name naturally (numbers as numbers), case-insensitively', () => {
    expect(sortRows(rows, null).map((o) => o.metadata.name)).toEqual(['Alpha', 'beta', 'node-2', 'node-10']);
  });
  it('sorts by a column, descending, with ties broken by name', () => {
    const byRv = sortRows(rows, { value: (o) => Number(o.metadata.resourceVersion), desc: true });
    expect(byRv.map((o) => o.metadata.name)).toEqual(['beta', 'Alpha', 'node-2', 'node-10']);
    const tie = sortRows(rows, { value: () => 1, desc: true });
    expect(tie.map((o) => o.metadata.name)).toEqual(['Alpha', 'beta', 'node-2', 'node-10']);
  });
  it('does not change its input', () => {
    const copy = rows.slice();
    sortRows(rows, { value: (o) => o.metadata.name, desc: true });
    expect(rows).toEqual(copy);
  });
  it('filters by a substring of the name, ignoring case', () => {
    expect(filterRows(rows, ' NODE ').map((o) => o.metadata.name)).toEqual(['node-10', 'node-2']);
    expect(filterRows(rows, '')).toBe(rows);
  });
});

/** A fake API: lists answer from `pages`, watches stream the lines the test pushes. */
class FakeServer {
  requests: string[] = [];
  listPages: { items: KubeObject[]; rv: string; cont?: string }[][] = [];
  watchResponses: (() => Response)[] = [];
  fetcher = async (url: string): Promise<Response> => {
    this.requests.push(url);
    const u = new URL(url, 'http://x');
    if (u.searchParams.get('watch') === '1') {
      const next = this.watchResponses.shift();
      if (!next) return new Promise<Response>(() => {}); // hangs: no more watches in this test
      return next();
    }
    const pages = this.listPages[0];
    if (!pages) throw new Error('no list prepared');
    const idx = u.searchParams.get('continue') ? Number(u.searchParams.get('continue')) : 0;
    const page = pages[idx];
    if (!page) throw new Error('bad page');
    if (idx === pages.length - 1) this.listPages.shift();
    return json({ metadata: { resourceVersion: page.rv, continue: page.cont ?? '' }, items: page.items });
  };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function stream(events: WatchEvent[]): Response {
  return new Response(events.map((e) => JSON.stringify(e)).join('\n') + '\n', { status: 200 });
}

/** Polls a condition until it holds (Vitest's waitFor, 1 s deadline). */
function until(cond: () => boolean, what: string): Promise<void> {
  return vi.waitFor(() => {
    if (!cond()) throw new Error(`still waiting for ${what}`);
  });
}

describe('LiveList', () => {
  it('reads every page, then watches from the list resourceVersion and applies events in one batch', async () => {
    const srv = new FakeServer();
    srv.listPages.push([
      { items: [obj('a', '5')], rv: '7', cont: '1' },
      { items: [obj('b', '6')], rv: '7' },
    ]);
    srv.watchResponses.push(() =>
      stream([
        { type: 'ADDED', object: obj('c', '8') },
        { type: 'MODIFIED', object: obj('a', '9', { labels: { x: 'y' } }) },
        { type: 'DELETED', object: obj('b', '10') },
      ]),
    );
    const pending: (() => void)[] = [];
    const list = new LiveList({ url: '/api/v1/pods', fetcher: srv.fetcher, scheduler: (cb) => pending.push(cb), pageSize: 1 });
    let notified = 0;
    list.subscribe(() => notified++);
    list.start();
    await until(() => pending.length === 1, 'a flush to be scheduled');
    expect(srv.requests[0]).toBe('/api/v1/pods?limit=1');
    expect(srv.requests[1]).toBe('/api/v1/pods?limit=1&continue=1');
    expect(srv.requests[2]).toContain('watch=1&resourceVersion=7');
    expect([...list.state.items.keys()].sort()).toEqual(['a', 'b']);
    const before = notified;
    // Three events, one scheduled flush: one notification.
    await until(() => list.state.resourceVersion === '10', 'every event to be read');
    pending.shift()?.();
    expect(notified).toBe(before + 1);
    expect([...list.state.items.keys()].sort()).toEqual(['a', 'c']);
    expect(list.state.items.get('a')?.metadata.labels).toEqual({ x: 'y' });
    list.stop();
  });

  it('relists on 410 Gone (as an HTTP status or an ERROR event) and resumes the watch from the new version', async () => {
    const srv = new FakeServer();
    srv.listPages.push([{ items: [obj('a', '1'), obj('old', '1')], rv: '3' }]);
    srv.listPages.push([{ items: [obj('a', '20'), obj('new', '21')], rv: '22' }]);
    srv.listPages.push([{ items: [obj('z', '40')], rv: '41' }]);
    srv.watchResponses.push(() =>
      stream([{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } as unknown as KubeObject }]),
    );
    srv.watchResponses.push(() =>
      new Response(JSON.stringify({ kind: 'Status', code: 410, reason: 'Gone', message: 'too old' }), { status: 410 }),
    );
    const list = new LiveList({ url: '/apis/x/v1/things', fetcher: srv.fetcher, scheduler: (cb) => cb() });
    list.start();
    await until(() => list.lists === 3 && list.state.resourceVersion === '41', 'two relists');
    expect([...list.state.items.keys()]).toEqual(['z']);
    const watches = srv.requests.filter((r) => r.includes('watch=1'));
    expect(watches[0]).toContain('resourceVersion=3');
    expect(watches[1]).toContain('resourceVersion=22');
    expect(watches[2]).toContain('resourceVersion=41');
    expect(list.state.error).toBeNull();
    list.stop();
  });

  it('reconnects a watch that ended from the last resourceVersion it saw, without relisting', async () => {
    const srv = new FakeServer();
    srv.listPages.push([{ items: [], rv: '100' }]);
    srv.watchResponses.push(() =>
      stream([
        { type: 'ADDED', object: obj('a', '101') },
        { type: 'BOOKMARK', object: obj('', '150') },
      ]),
    );
    const list = new LiveList({ url: '/u', fetcher: srv.fetcher, scheduler: (cb) => cb() });
    list.start();
    await until(() => srv.requests.filter((r) => r.includes('watch=1')).length === 2, 'the second watch');
    expect(srv.requests.filter((r) => r.includes('watch=1'))[1]).toContain('resourceVersion=150');
    expect(list.lists).toBe(1);
    expect(list.state.items.has('a')).toBe(true);
    list.stop();
  });

  it('shows a Status error and stops on 403', async () => {
    const srv = new FakeServer();
    const list = new LiveList({
      url: '/u',
      fetcher: async () => json({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'user "bob" cannot list' }, 403),
      scheduler: (cb) => cb(),
    });
    void srv;
    list.start();
    await until(() => list.state.error !== null, 'the error');
    expect(list.state.error?.message).toBe('user "bob" cannot list');
    expect(list.state.loading).toBe(false);
    list.stop();
  });
});

describe('LiveList without watch', () => {
  it('lists again every pollMs and never asks for a watch', async () => {
    const srv = new FakeServer();
    srv.listPages.push([{ items: [obj('a', '1')], rv: '1' }]);
    srv.listPages.push([{ items: [obj('b', '2')], rv: '2' }]);
    srv.listPages.push([{ items: [obj('b', '2')], rv: '2' }]);
    srv.listPages.push([{ items: [obj('b', '2')], rv: '2' }]);
    const list = new LiveList({ url: '/u', fetcher: srv.fetcher, scheduler: (cb) => cb(), pollMs: 1 });
    list.start();
    await until(() => list.state.items.has('b'), 'the second list');
    list.stop();
    expect(list.state.items.has('a')).toBe(false);
    expect(srv.requests.some((r) => r.includes('watch=1'))).toBe(false);
  });
});

describe('SortedView', () => {
  /** A LiveList fed by hand: its map and notifications, as list() and flush() make them. */
  function manual() {
    const list = new LiveList({ url: '/u', fetcher: async () => new Response('{}'), scheduler: (cb) => cb() });
    const relist = (objs: KubeObject[]) => {
      list.state.items = new Map(objs.map((o) => [o.metadata.name, o]));
      list.state.version++;
      list.lastChanges = null;
      (list as unknown as { emit: () => void }).emit();
    };
    return { list, relist };
  }

  it('stays equal to a full sort and search while random events arrive', () => {
    const { list, relist } = manual();
    let rv = 1;
    const mk = (i: number, prio: number) => ({ metadata: { name: `pod-${i}`, resourceVersion: String(++rv) }, spec: { prio } }) as KubeObject;
    relist(Array.from({ length: 300 }, (_, i) => mk(i, i % 7)));
    const value = (o: KubeObject) => (o.spec as { prio: number }).prio;
    const sort = { value, desc: true };
    const view = new SortedView(list, sort, '1');
    let notified = 0;
    const off = view.subscribe(() => notified++);
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let batch = 0; batch < 200; batch++) {
      for (let k = 0; k < 1 + rand(4); k++) {
        const i = rand(400);
        const type = rand(5) === 0 ? 'DELETED' : rand(2) ? 'MODIFIED' : 'ADDED';
        list.enqueue({ type, object: mk(i, rand(7)) } as WatchEvent);
      }
      const expected = sortRows(filterRows([...list.state.items.values()], '1'), sort).map((o) => o.metadata.name);
      expect(view.rows.map((o) => o.metadata.name)).toEqual(expected);
    }
    expect(notified).toBeGreaterThan(100);
    view.setQuery({ value, desc: false }, 'pod-2');
    expect(view.rows.map((o) => o.metadata.name)).toEqual(
      sortRows(filterRows([...list.state.items.values()], 'pod-2'), { value, desc: false }).map((o) => o.metadata.name),
    );
    off();
  });

  it('catches up on changes made while nobody listened', () => {
    const { list, relist } = manual();
    relist([obj('a', '1')]);
    const view = new SortedView(list);
    relist([obj('b', '2'), obj('c', '3')]);
    const off = view.subscribe(() => {});
    expect(view.rows.map((o) => o.metadata.name)).toEqual(['b', 'c']);
    list.enqueue({ type: 'ADDED', object: obj('a', '4') });
    expect(view.rows.map((o) => o.metadata.name)).toEqual(['a', 'b', 'c']);
    off();
  });

  it('orders names naturally, text outside ASCII after it', () => {
    expect(naturalKey('Node-10')! > naturalKey('node-9')!).toBe(true);
    const rows = sortRows([obj('名前', '1'), obj('b', '2'), obj('A-10', '3'), obj('a-9', '4')], null);
    expect(rows.map((o) => o.metadata.name)).toEqual(['a-9', 'A-10', 'b', '名前']);
  });
});

describe('naturalKey', () => {
  it('orders printable ASCII as the collator does', async () => {
    const { naturalKey } = await import('./store');
    const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
    const words = ['pod-10', 'pod-2', 'Pod-3', 'a', 'B', 'node-001', 'node-1a', 'node-1b', 'x9y10', 'x9y9', 'Running', 'pending', '1.32.0', '1.4.10', '1.4.9', ''];
    const sign = (n: number) => Math.sign(n);
    for (const a of words) {
      for (const b of words) {
        const ka = naturalKey(a)!;
        const kb = naturalKey(b)!;
        const plain = ka < kb ? -1 : ka > kb ? 1 : 0;
        if (collator.compare(a, b) !== 0 || plain !== 0) expect([a, b, sign(plain)]).toEqual([a, b, sign(collator.compare(a, b))]);
      }
    }
    expect(naturalKey('名前')).toBeNull();
  });
});
