// The log collection page against a fake platform where the cluster has a log agent: a rule is
// refused in words before anything is sent, then created through the LogAgent's `logcollector`
// subresource; the Elasticsearch connection test asks the agent's `esdetection` and shows its
// answer; without an agent the page offers to enable one and creates the LogAgent.
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { I18nProvider } from '../i18n';
import { LogRulesPage } from './LogRules';
import { MESSAGES } from './collector';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
const hanging = () => new Response(new ReadableStream({ start() {} }), { status: 200 });
const PROXY = '/apis/platform.tkestack.io/v1/clusters/cls-a/proxy';

function platform(agents: unknown[], esAnswer: () => Response = () => json(200, { kind: 'LogEsDetection', result: 'ok' })) {
  const calls: { url: string; method: string; body?: unknown }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      const method = (init?.method ?? 'GET').toUpperCase();
      const body = init?.body ? (JSON.parse(String(init.body)) as Record<string, unknown>) : undefined;
      calls.push({ url, method, body });
      if (url.includes('watch=1')) return hanging();
      const list = (items: unknown[]) => json(200, { kind: 'List', metadata: { resourceVersion: '7' }, items });
      if (url.startsWith('/apis/logagent.tkestack.io/v1/logagents?')) return list(agents);
      if (url.startsWith(`${PROXY}/apis/tke.cloud.tencent.com/v1/logcollectors?`)) return list([]);
      if (url.startsWith(`${PROXY}/api/v1/namespaces?`)) return list([{ metadata: { name: 'default' } }, { metadata: { name: 'shop' } }]);
      if (url.startsWith('/auth/batchauthz')) {
        const n = ((body?.spec as { resourceAttributesList: unknown[] }).resourceAttributesList ?? []).length;
        return json(200, { status: { allowedList: Array.from({ length: n }, () => ({ allowed: true })) } });
      }
      if (url === '/apis/platform.tkestack.io/v1/clusters/cls-a') return json(200, { metadata: { name: 'cls-a' }, spec: { tenantID: 'default' } });
      if (url === '/apis/logagent.tkestack.io/v1/logagents' && method === 'POST') return json(201, { ...body, metadata: { name: 'lc-new' } });
      if (url.startsWith('/apis/logagent.tkestack.io/v1/logagents/lc-1/logcollector?') && method === 'POST') return json(201, body);
      if (url === '/apis/logagent.tkestack.io/v1/logagents/lc-1/esdetection') return esAnswer();
      return json(404, { kind: 'Status', code: 404, message: `no fake for ${method} ${url}` });
    }),
  );
  return calls;
}

function show() {
  render(
    <I18nProvider>
      <MemoryRouter initialEntries={['/tkestack/clusters/cls-a/logs']}>
        <Routes>
          <Route path="/tkestack/clusters/:cluster/logs" element={<LogRulesPage />} />
        </Routes>
      </MemoryRouter>
    </I18nProvider>,
  );
}

const agent = { metadata: { name: 'lc-1' }, spec: { clusterName: 'cls-a' }, status: { phase: 'Running' } };
const button = (name: string) => screen.getByRole('button', { name, hidden: true });

describe('the log collection page', () => {
  it('refuses a bad rule in words, then creates it through the log agent', async () => {
    const calls = platform([agent]);
    show();
    expect(await screen.findByText('Log agent lc-1:')).toBeTruthy();
    fireEvent.click(await screen.findByRole('button', { name: 'New collection rule' }));
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'host-files' } });
    fireEvent.change(screen.getByLabelText('Collect'), { target: { value: 'host-log' } });
    fireEvent.change(screen.getByLabelText('Path on the node'), { target: { value: 'var/log/*.log' } });
    fireEvent.change(screen.getByLabelText('Broker host'), { target: { value: 'kafka.ops' } });
    fireEvent.change(screen.getByLabelText('Topic'), { target: { value: 'host' } });
    fireEvent.click(button('Confirm'));
    expect(await screen.findByText(`Fix: ${MESSAGES.hostPath}`)).toBeTruthy();
    expect(calls.some((c) => c.url.includes('/logcollector?'))).toBe(false);

    fireEvent.change(screen.getByLabelText('Path on the node'), { target: { value: '/var/log/*.log' } });
    fireEvent.change(screen.getByLabelText('Labels added to each line'), { target: { value: 'role=edge' } });
    fireEvent.click(button('Confirm'));
    await waitFor(() => expect(calls.some((c) => c.url.includes('/logcollector?'))).toBe(true));
    const post = calls.find((c) => c.url.includes('/logcollector?'));
    expect(post?.url).toBe('/apis/logagent.tkestack.io/v1/logagents/lc-1/logcollector?namespace=default');
    expect(post?.body).toEqual({
      apiVersion: 'tke.cloud.tencent.com/v1',
      kind: 'LogCollector',
      metadata: { name: 'host-files', namespace: 'default' },
      spec: {
        input: { type: 'host-log', host_log_input: { path: '/var/log/*.log', labels: { role: 'edge' } } },
        output: { type: 'kafka', kafka_output: { host: 'kafka.ops', port: 9092, topic: 'host' } },
      },
    });
  });

  it("tests an Elasticsearch output from the cluster's agent and shows the answer", async () => {
    let answer = () => json(200, { kind: 'LogEsDetection', result: 'ok' });
    const calls = platform([agent], () => answer());
    show();
    fireEvent.click(await screen.findByRole('button', { name: 'New collection rule' }));
    fireEvent.change(screen.getByLabelText('Send to'), { target: { value: 'elasticsearch' } });
    fireEvent.change(screen.getByLabelText('Addresses'), { target: { value: 'https://es.ops:9243' } });
    fireEvent.change(screen.getByLabelText('User'), { target: { value: 'elastic' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'pw' } });
    fireEvent.click(button('Test connection'));
    expect(await screen.findByText('https://es.ops:9243 answered: the connection works.')).toBeTruthy();
    expect(calls.find((c) => c.url.endsWith('/esdetection'))?.body).toEqual({
      kind: 'LogEsDetection',
      apiVersion: 'logagent.tkestack.io/v1',
      scheme: 'https',
      ip: 'es.ops',
      port: 9243,
      user: 'elastic',
      password: 'pw',
    });
    answer = () => json(503, { kind: 'Status', code: 503, message: 'Elasticsearch at https://es.ops:9243 refused the user "elastic" (401): check the user and password' });
    fireEvent.click(button('Test connection'));
    expect(await screen.findByText(/could not be reached: Elasticsearch at https:\/\/es.ops:9243 refused the user "elastic" \(401\)/)).toBeTruthy();
  });

  it('offers to enable log collection where no agent runs', async () => {
    const calls = platform([{ metadata: { name: 'lc-0' }, spec: { clusterName: 'cls-b' } }]);
    show();
    expect(await screen.findByText(/No log agent runs in this cluster/)).toBeTruthy();
    fireEvent.click(await screen.findByRole('button', { name: 'Enable log collection' }));
    const dialogs = screen.getAllByRole('button', { name: 'Enable log collection', hidden: true });
    fireEvent.click(dialogs[dialogs.length - 1] as HTMLElement);
    await waitFor(() => expect(calls.some((c) => c.url === '/apis/logagent.tkestack.io/v1/logagents' && c.method === 'POST')).toBe(true));
    expect(calls.find((c) => c.method === 'POST' && c.url === '/apis/logagent.tkestack.io/v1/logagents')?.body).toEqual({
      apiVersion: 'logagent.tkestack.io/v1',
      kind: 'LogAgent',
      metadata: { name: '', generateName: 'lc-' },
      spec: { clusterName: 'cls-a', tenantID: 'default' },
    });
  });
});
