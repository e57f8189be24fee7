// The pod page's log files against a fake platform speaking the LogAgent subresources' contract:
// the files listed, a large file opened at its last page, paged older and newer with the right
// start/length, and downloaded as a blob; and the words shown when the cluster has no agent.
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { I18nProvider } from '../i18n';
import { PAGE, PodLogFiles, formatSize } from './PodLogFiles';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const SIZE = 150_000;
/** The fake file: byte i is a digit of i, so a page's content says where it came from. */
const byteAt = (i: number) => String(i % 10);
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
const pod = { metadata: { name: 'web-1', namespace: 'shop' }, spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] } };

function platform(agents: unknown[]) {
  const calls: { url: string; method: string; body?: unknown }[] = [];
  const fetchMock = vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const method = (init?.method ?? 'GET').toUpperCase();
    const body = init?.body ? (JSON.parse(String(init.body)) as Record<string, unknown>) : undefined;
    calls.push({ url, method, body });
    if (url.startsWith('/apis/logagent.tkestack.io/v1/logagents?') && url.includes('watch=1')) {
      return new Response(new ReadableStream({ start() {} }), { status: 200 });
    }
    if (url.startsWith('/apis/logagent.tkestack.io/v1/logagents?')) {
      return json(200, { kind: 'LogAgentList', metadata: { resourceVersion: '5' }, items: agents });
    }
    if (url === '/apis/logagent.tkestack.io/v1/logagents/lc-1/filetree' && method === 'POST') {
      return json(200, {
        ...body,
        status: {
          files: [
            { path: '/var/log/pods/shop_web-1_u/app/0.log', size: SIZE, modTime: '2026-12-08T01:00:00Z', kind: 'stdout' },
            { path: '/data/logs/app.log', size: 12, modTime: '2026-12-08T01:00:00Z', kind: 'volume' },
          ],
        },
      });
    }
    if (url === '/apis/logagent.tkestack.io/v1/logagents/lc-1/filecontent' && method === 'POST') {
      const spec = (body?.spec ?? {}) as { start: number; length: number };
      const end = Math.min(SIZE, spec.start + spec.length);
      let content = '';
      for (let i = spec.start; i < end; i++) content += byteAt(i);
      return json(200, { ...body, status: { content, start: spec.start, length: end - spec.start, size: SIZE } });
    }
    if (url.startsWith('/apis/logagent.tkestack.io/v1/logagents/lc-1/filedownload?')) {
      return new Response('all the bytes', { status: 200 });
    }
    return json(404, { kind: 'Status', code: 404, message: `no fake for ${method} ${url}` });
  });
  vi.stubGlobal('fetch', fetchMock);
  return calls;
}

function show() {
  render(
    <I18nProvider>
      <MemoryRouter>
        <PodLogFiles cluster="cls-a" pod={pod} />
      </MemoryRouter>
    </I18nProvider>,
  );
}

const agent = { metadata: { name: 'lc-1' }, spec: { clusterName: 'cls-a' }, status: { phase: 'Running' } };

describe("a pod's log files", () => {
  it('lists the files, pages through one from its end, and downloads it', async () => {
    const calls = platform([{ metadata: { name: 'lc-0' }, spec: { clusterName: 'cls-other' } }, agent]);
    show();
    const table = await screen.findByRole('table', { name: 'Log files' });
    const tree = calls.find((c) => c.url.endsWith('/filetree'));
    expect(tree?.body).toEqual({
      kind: 'LogFileTree',
      apiVersion: 'logagent.tkestack.io/v1',
      spec: { clusterId: 'cls-a', namespace: 'shop', pod: 'web-1', container: 'app' },
    });
    expect(within(table).getByText('Standard output')).toBeTruthy();
    expect(within(table).getByText(formatSize(SIZE))).toBeTruthy();

    fireEvent.click(screen.getByRole('button', { name: 'Open /var/log/pods/shop_web-1_u/app/0.log' }));
    const starts = () => calls.filter((c) => c.url.endsWith('/filecontent')).map((c) => (c.body as { spec: { start: number; length: number } }).spec);
    await screen.findByText(`Bytes ${SIZE - PAGE}–${SIZE} of ${SIZE}`);
    expect(starts()).toEqual([{ clusterId: 'cls-a', namespace: 'shop', pod: 'web-1', container: 'app', filepath: '/var/log/pods/shop_web-1_u/app/0.log', start: SIZE - PAGE, length: PAGE }]);
    const view = screen.getByLabelText('Content of /var/log/pods/shop_web-1_u/app/0.log');
    expect(view.textContent?.slice(0, 3)).toBe(`${byteAt(SIZE - PAGE)}${byteAt(SIZE - PAGE + 1)}${byteAt(SIZE - PAGE + 2)}`);
    expect((screen.getByRole('button', { name: 'Newer' }) as HTMLButtonElement).disabled).toBe(true);

    // Older: the page before, then the first bytes (shorter, so it ends where the next begins).
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await screen.findByText(`Bytes ${SIZE - 2 * PAGE}–${SIZE - PAGE} of ${SIZE}`);
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await screen.findByText(`Bytes 0–${SIZE - 2 * PAGE} of ${SIZE}`);
    expect(starts().slice(-1)[0]).toMatchObject({ start: 0, length: SIZE - 2 * PAGE });
    expect((screen.getByRole('button', { name: 'Older' }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    await screen.findByText(`Bytes ${SIZE - 2 * PAGE}–${SIZE - PAGE} of ${SIZE}`);
    fireEvent.click(screen.getByRole('button', { name: 'Latest' }));
    await screen.findByText(`Bytes ${SIZE - PAGE}–${SIZE} of ${SIZE}`);

    const saved: Blob[] = [];
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: (b: Blob) => (saved.push(b), 'blob:x'), revokeObjectURL: () => {} }));
    fireEvent.click(screen.getByRole('button', { name: 'Download /data/logs/app.log' }));
    await waitFor(() => expect(saved.length).toBe(1));
    expect(await saved[0]?.text()).toBe('all the bytes');
    const dl = calls.find((c) => c.url.includes('/filedownload'));
    expect(dl?.url).toBe('/apis/logagent.tkestack.io/v1/logagents/lc-1/filedownload?namespace=shop&pod=web-1&container=app&filepath=%2Fdata%2Flogs%2Fapp.log');

    // Another container: its own tree.
    fireEvent.change(screen.getByLabelText('Container'), { target: { value: 'sidecar' } });
    await waitFor(() => expect(calls.filter((c) => c.url.endsWith('/filetree')).map((c) => (c.body as { spec: { container: string } }).spec.container)).toEqual(['app', 'sidecar']));
  });

  it('says so when no log agent runs in the cluster', async () => {
    platform([{ metadata: { name: 'lc-0' }, spec: { clusterName: 'cls-other' } }]);
    show();
    expect(await screen.findByText(/none runs here/)).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Log collection' }).getAttribute('href')).toBe('/tkestack/clusters/cls-a/logs');
  });
});
