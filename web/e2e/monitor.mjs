// Monitoring in the console: a Deployment whose simulated pod uses 250 millicores and 128 MiB
// (kubesim's usage annotations) is applied to the demo cluster; the overview dashboard shows the
// measured figures (workloads, pods, the demo cluster among the top clusters with its usage
// meters); the pod's page charts its CPU and memory with those values in the legend, across the
// 1 h, 6 h and 24 h ranges (the step growing with the range), and a custom range before the
// platform started says there are no samples. The platform samples every few seconds here
// (console_e2e.rs passes --monitor-sample-interval), so the scenario waits for the first samples
// with the API rather than for a minute.
import { applyInCluster, check, env, login, pollInPage, scenario, shot } from './lib.mjs';

const name = `e2e-metrics-${Date.now().toString(36)}`;
const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'default' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name }, annotations: { 'sim.tke.io/cpu-millicores': '250', 'sim.tke.io/memory-bytes': String(128 * 2 ** 20) } },
      spec: { containers: [{ name: 'app', image: 'nginx' }] },
    },
  },
};

await scenario('monitor', async ({ page }) => {
  await login(page, '/tkestack');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();

  await applyInCluster(page, env.cluster, deployment, 'Deployment');

  // The pod, then its first samples, as the console's own query asks them.
  const podName = await pollInPage(
    page,
    'the pod to run',
    async ([c, app]) => {
      const r = await fetch(`/apis/platform.tkestack.io/v1/clusters/${c}/proxy/api/v1/namespaces/default/pods?labelSelector=app%3D${app}`);
      const pods = (await r.json()).items ?? [];
      const running = pods.find((p) => p.status?.phase === 'Running');
      return running ? running.metadata.name : null;
    },
    [env.cluster, name],
  );
  await pollInPage(
    page,
    "the pod's first samples",
    async ([c, pod]) => {
      const csrf = document.cookie.split(';').map((x) => x.trim()).find((x) => x.startsWith('tke_csrf='))?.slice('tke_csrf='.length) ?? '';
      const now = Date.now();
      const r = await fetch('/apis/monitor.tkestack.io/v1/metrics', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': decodeURIComponent(csrf) },
        body: JSON.stringify({
          apiVersion: 'monitor.tkestack.io/v1',
          kind: 'Metric',
          query: {
            table: 'k8s_pod',
            startTime: now - 3600000,
            endTime: now,
            fields: ['k8s_pod_cpu_core_used'],
            conditions: [
              { key: 'cluster_id', expr: '=', value: c },
              { key: 'pod_name', expr: '=', value: pod },
            ],
            groupBy: ['timestamp(60s)'],
          },
        }),
      });
      if (r.status !== 201) return false;
      return JSON.parse((await r.json()).jsonResult).data.length > 0;
    },
    [env.cluster, podName],
  );

  // The dashboard: measured figures over the clusters, the demo cluster among the top ones.
  // The figures are those of the sampler's last round, which may predate the pod: the page's
  // Refresh button asks again until they include it.
  await page.reload();
  await page.getByRole('button', { name: 'Refresh' }).waitFor();
  await page.waitForFunction(
    () => {
      const count = (id) => Number(document.querySelector(`section[aria-labelledby="${id}"] .big-number`)?.textContent ?? '0');
      if (count('ov-workloads') >= 1 && count('ov-pods') >= 1) return true;
      [...document.querySelectorAll('button')].find((b) => b.textContent === 'Refresh')?.click();
      return false;
    },
    null,
    { polling: 1000, timeout: 30000 },
  );
  await page.getByRole('list', { name: 'Clusters by health' }).getByText(/^\d+ healthy$/).waitFor();
  const top = page.locator('section[aria-labelledby="ov-top"]');
  const row = top.locator('tbody tr').filter({ has: page.getByRole('link', { name: env.cluster, exact: true }) });
  await row.getByRole('meter', { name: `CPU of ${env.cluster}` }).waitFor();
  await row.getByRole('meter', { name: `Memory of ${env.cluster}` }).waitFor();
  check(/ago/.test(await row.locator('td').last().innerText()), 'the row says when the cluster was sampled');
  await page.getByRole('meter', { name: 'CPU used over all clusters' }).waitFor();
  const cpuCard = await page.locator('section[aria-labelledby="ov-cpu"]').innerText();
  check(/\d/.test(cpuCard) && !/NaN|undefined/.test(cpuCard), `the CPU card reads as figures: ${cpuCard}`);
  await shot(page, 'dashboard');

  // The demo cluster's own charts (a step's value is the mean of its samples: 0.5 pods when the
  // pod ran for half of the minute).
  await row.getByRole('link', { name: env.cluster, exact: true }).click();
  const clusterCharts = page.locator('section[aria-labelledby="metric-charts-title"]');
  await clusterCharts.locator('figure[data-chart="cpu"] canvas').waitFor();
  await clusterCharts.locator('figure[data-chart="pods"] .chart-value').first().filter({ hasText: /^(0\.[1-9]|[1-9]\d*(\.\d)?)$/ }).waitFor();
  await clusterCharts.locator('figure[data-chart="memory"] .chart-value').first().filter({ hasText: /[KMG]iB$/ }).waitFor();
  await shot(page, 'cluster-charts');

  // The pod's charts: the values the annotations set, in their units.
  await page.goto(`${env.url}/tkestack/clusters/${env.cluster}/r/pods/default/${podName}`);
  const charts = page.locator('section[aria-labelledby="metric-charts-title"]');
  await charts.getByRole('heading', { name: 'Monitoring' }).waitFor();
  const cpu = charts.locator('figure[data-chart="cpu"]');
  const memory = charts.locator('figure[data-chart="memory"]');
  await cpu.locator('.chart-value').filter({ hasText: /^250m$/ }).waitFor();
  await memory.locator('.chart-value').filter({ hasText: /^128 MiB$/ }).waitFor();
  await cpu.locator('canvas').first().waitFor();
  await charts.getByText('One point per 1 min').waitFor();
  const label = await cpu.getByRole('img').getAttribute('aria-label');
  check(label.includes('Used 250m'), `the chart says its latest value to screen readers: ${label}`);
  await shot(page, 'pod-charts');

  const range = charts.getByRole('group', { name: 'Time range' });
  await range.getByRole('button', { name: '24 hours' }).click();
  await charts.getByText('One point per 5 min').waitFor();
  check((await range.getByRole('button', { name: '24 hours' }).getAttribute('aria-pressed')) === 'true', '24 hours is the chosen range');
  await cpu.locator('.chart-value').filter({ hasText: /^250m$/ }).waitFor();
  await range.getByRole('button', { name: '6 hours' }).click();
  await charts.getByText('One point per 1 min').waitFor();
  await memory.locator('.chart-value').filter({ hasText: /^128 MiB$/ }).waitFor();

  // A custom range: first one that ends before it starts, then one from before the platform ran.
  await range.getByRole('button', { name: 'Custom' }).click();
  const pad = (n) => String(n).padStart(2, '0');
  const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const dayAgo = Date.now() - 24 * 3600000;
  await charts.getByLabel('From').fill(local(new Date(dayAgo)));
  await charts.getByLabel('To').fill(local(new Date(dayAgo - 3600000)));
  await charts.getByRole('button', { name: 'Show' }).click();
  await charts.getByRole('alert').filter({ hasText: 'The start must be before the end.' }).waitFor();
  await charts.getByLabel('To').fill(local(new Date(dayAgo + 3600000)));
  await charts.getByRole('button', { name: 'Show' }).click();
  await charts.getByText('No samples in this time range.').waitFor();
  await shot(page, 'pod-charts-empty');
  await range.getByRole('button', { name: '1 hour' }).click();
  await cpu.locator('.chart-value').filter({ hasText: /^250m$/ }).waitFor();

  // The page raised no error and showed none.
  const text = await page.locator('main').innerText();
  check(!/NaN|undefined|\[object/.test(text), 'no raw values on the page');

  // Clean up.
  await page.evaluate(
    async ([c, n]) => {
      const csrf = document.cookie.split(';').map((x) => x.trim()).find((x) => x.startsWith('tke_csrf='))?.slice('tke_csrf='.length) ?? '';
      await fetch(`/apis/platform.tkestack.io/v1/clusters/${c}/proxy/apis/apps/v1/namespaces/default/deployments/${n}`, {
        method: 'DELETE',
        headers: { 'X-CSRF-Token': decodeURIComponent(csrf) },
      });
    },
    [env.cluster, name],
  );
});
