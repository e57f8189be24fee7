// Lighthouse (12.x, desktop preset, Debian's Chromium) on the console's main pages, logged in:
// the overview, the cluster list and the pod list of the demo cluster. Starts its own
// `tke up --demo` (TKE_BIN, default the release build); prints each page's performance and
// accessibility scores.
//
//   npm ci --prefix web/bench/lighthouse && node web/bench/lighthouse.mjs
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const bin = process.env.TKE_BIN ?? [path.join(root, 'target/release/tke'), path.join(root, 'target/debug/tke')].find((p) => fs.existsSync(p));
const lighthouse = path.join(here, 'lighthouse/node_modules/.bin/lighthouse');
const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tke-lighthouse-'));
const port = 20000 + Math.floor(Math.random() * 20000);
const url = `https://127.0.0.1:${port}`;
const tke = spawn(bin, ['up', '--demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'ignore'] });
process.on('exit', () => { try { tke.kill('SIGTERM'); } catch { /* gone */ } });
await new Promise((resolve, reject) => {
  tke.stdout.on('data', (d) => { if (String(d).includes('is up at')) resolve(); });
  tke.on('exit', (c) => reject(new Error(`tke exited with ${c}`)));
});

// Log in once in a browser to get the session's cookie, which Lighthouse then sends.
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: flags });
const context = await browser.newContext({ ignoreHTTPSErrors: true });
const page = await context.newPage();
await page.goto(`${url}/tkestack`);
await page.fill('input[name=username]', 'admin');
await page.fill('input[name=password]', fs.readFileSync(path.join(dataDir, 'admin-password'), 'utf8').trim());
await page.click('button[type=submit]');
await page.waitForURL(/\/tkestack/);
const cookies = await context.cookies();
await browser.close();
const cookie = cookies.filter((c) => c.name.startsWith('tke')).map((c) => `${c.name}=${c.value}`).join('; ');

const pages = [
  ['overview', '/tkestack'],
  ['cluster list', '/tkestack/clusters'],
  ['pod list', '/tkestack/clusters/cls-demo/r/pods'],
];
for (const [name, route] of pages) {
  const out = execFileSync(lighthouse, [
    `${url}${route}`,
    '--preset=desktop',
    '--only-categories=performance,accessibility',
    '--output=json',
    '--quiet',
    `--chrome-flags=${flags.join(' ')} --ignore-certificate-errors`,
    `--extra-headers=${JSON.stringify({ Cookie: cookie })}`,
  ], { env: { ...process.env, CHROME_PATH: '/usr/bin/chromium' }, maxBuffer: 256 << 20 });
  const report = JSON.parse(out.toString());
  if (report.runtimeError) throw new Error(`${name}: ${report.runtimeError.message}`);
  const score = (c) => Math.round((report.categories[c]?.score ?? 0) * 100);
  const fcp = report.audits['first-contentful-paint']?.displayValue;
  const tti = report.audits.interactive?.displayValue;
  const failed = Object.values(report.audits).filter((a) => a.score !== null && a.score < 1 && report.categories.accessibility.auditRefs.some((r) => r.id === a.id)).map((a) => a.id);
  console.log(`${name}: performance ${score('performance')}, accessibility ${score('accessibility')} (first paint ${fcp}, interactive ${tti})${failed.length ? `; accessibility findings: ${failed.join(', ')}` : ''}`);
}
fs.rmSync(dataDir, { recursive: true, force: true });
