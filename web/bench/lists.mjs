// The console's list bench: how long the cluster list (1,000 clusters) and the pod list
// (10,000 pods in the demo cluster) take to render after their data arrives, and the longest
// main-thread task while watch events stream in at 100 a second. It starts its own
// `tke up --demo` (TKE_BIN, default the release build), fills it through the API with the
// administrator's certificate, and drives Debian's Chromium with playwright-core.
//
//   node web/bench/lists.mjs            (CLUSTERS=1000 PODS=10000 EVENTS_PER_SECOND=100 SECONDS=10)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const bin = process.env.TKE_BIN ?? [path.join(root, 'target/release/tke'), path.join(root, 'target/debug/tke')].find((p) => fs.existsSync(p));
const CLUSTERS = Number(process.env.CLUSTERS ?? 1000);
const PODS = Number(process.env.PODS ?? 10000);
const RATE = Number(process.env.EVENTS_PER_SECOND ?? 100);
const SECONDS = Number(process.env.SECONDS ?? 10);
const CONCURRENCY = 16;

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tke-console-bench-'));
const port = 20000 + Math.floor(Math.random() * 20000);
const url = `https://127.0.0.1:${port}`;
const tke = spawn(bin, ['up', '--demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'ignore'] });
const stop = () => { try { tke.kill('SIGTERM'); } catch { /* gone */ } };
process.on('exit', stop);
await new Promise((resolve, reject) => {
  tke.stdout.on('data', (d) => { if (String(d).includes('is up at')) resolve(); });
  tke.on('exit', (c) => reject(new Error(`tke exited with ${c}`)));
});

const pki = path.join(dataDir, 'pki');
const agent = new https.Agent({
  ca: fs.readFileSync(path.join(pki, 'ca.crt')),
  cert: fs.readFileSync(path.join(pki, 'admin.crt')),
  key: fs.readFileSync(path.join(pki, 'admin.key')),
  keepAlive: true,
  maxSockets: CONCURRENCY,
});

function request(method, p, body, contentType = 'application/json') {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(`${url}${p}`, { method, agent, headers: data ? { 'content-type': contentType, 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => (res.statusCode < 300 ? resolve(text) : reject(new Error(`${method} ${p}: ${res.statusCode} ${text.slice(0, 300)}`))));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function pool(n, make) {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await make(next++);
  }));
}

async function until(what, check, ms = 120000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const proxy = '/apis/platform.tkestack.io/v1/clusters/cls-demo/proxy';
await until('the demo cluster', async () => {
  try { return JSON.parse(await request('GET', '/apis/platform.tkestack.io/v1/clusters/cls-demo')).status?.phase === 'Running'; } catch { return false; }
});

let t = Date.now();
await pool(CLUSTERS, (i) => request('POST', '/apis/platform.tkestack.io/v1/clusters', {
  apiVersion: 'platform.tkestack.io/v1', kind: 'Cluster', metadata: { name: `cls-bench${i}` },
  spec: { type: 'Imported', version: '1.32.0', clusterCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' },
  status: { addresses: [{ type: 'Advertise', host: '127.0.0.1', port: 1 }] },
}));
console.log(`created ${CLUSTERS} clusters in ${((Date.now() - t) / 1000).toFixed(1)} s`);
t = Date.now();
await pool(PODS, (i) => request('POST', `${proxy}/api/v1/namespaces/default/pods`, {
  apiVersion: 'v1', kind: 'Pod', metadata: { name: `bench-${i}`, labels: { app: 'bench' } },
  spec: { containers: [{ name: 'c', image: 'nginx' }] },
}));
console.log(`created ${PODS} pods in ${((Date.now() - t) / 1000).toFixed(1)} s`);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 900 } });
// Every main-thread task over 50 ms, recorded by the page itself.
await context.addInitScript(() => {
  window.__longTasks = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push(e.duration); }).observe({ type: 'longtask', buffered: true });
});
const page = await context.newPage();
await page.goto(`${url}/tkestack`);
await page.fill('input[name=username]', 'admin');
await page.fill('input[name=password]', fs.readFileSync(path.join(dataDir, 'admin-password'), 'utf8').trim());
await page.click('button[type=submit]');
await page.waitForURL(/\/tkestack/);

/** Opens `route` and measures from the last byte of its list's last page to the full count on screen. */
async function renderAfterData(route, listPath, total) {
  let lastListByte = 0;
  const onFinished = (req) => {
    const u = new URL(req.url());
    if (u.pathname.endsWith(listPath) && !u.searchParams.has('watch')) lastListByte = Date.now();
  };
  page.on('requestfinished', onFinished);
  const start = Date.now();
  await page.goto(`${url}${route}`);
  await page.waitForFunction((n) => {
    const text = document.querySelector('.table-count')?.textContent ?? '';
    return Number(text.replace(/[^0-9]/g, '')) >= n && document.querySelectorAll('[role=row]').length > 1;
  }, total, { polling: 'raf', timeout: 120000 });
  const shown = Date.now();
  page.off('requestfinished', onFinished);
  return { afterData: shown - lastListByte, fromNavigation: shown - start };
}

const clusters = await renderAfterData('/tkestack/clusters', '/apis/platform.tkestack.io/v1/clusters', CLUSTERS + 1);
console.log(`cluster list, ${CLUSTERS + 1} clusters: shown ${clusters.afterData} ms after the data arrived (${clusters.fromNavigation} ms from navigation)`);
const pods = await renderAfterData('/tkestack/clusters/cls-demo/r/pods', '/api/v1/pods', PODS);
console.log(`pod list, ${PODS}+ pods: shown ${pods.afterData} ms after the data arrived (${pods.fromNavigation} ms from navigation)`);

// Watch events at RATE per second for SECONDS: label changes on the pods on the open page.
await page.evaluate(() => { window.__longTasks = []; });
let sent = 0;
let inFlight = 0;
let failed = 0;
const started = Date.now();
while (Date.now() - started < SECONDS * 1000) {
  const due = Math.floor(((Date.now() - started) / 1000) * RATE);
  // Sent on time, not one after another: a slow answer does not slow the stream.
  for (; sent < due && inFlight < 64; sent++) {
    inFlight++;
    request('PATCH', `${proxy}/api/v1/namespaces/default/pods/bench-${sent % PODS}`, { metadata: { labels: { tick: String(sent) } } }, 'application/merge-patch+json')
      .catch(() => { failed++; })
      .finally(() => { inFlight--; });
  }
  await new Promise((r) => setTimeout(r, 5));
}
await until('the last changes', async () => inFlight === 0, 30000);
if (failed) console.log(`${failed} changes failed`);
const longTasks = await page.evaluate(() => window.__longTasks);
console.log(`${sent} watch events in ${SECONDS} s on the pod list: ${longTasks.length} main-thread tasks over 50 ms, longest ${longTasks.length ? Math.round(Math.max(...longTasks)) : 0} ms`);

await browser.close();
stop();
fs.rmSync(dataDir, { recursive: true, force: true });
