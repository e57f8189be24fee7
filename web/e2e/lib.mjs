// Shared by the browser tests: start Debian's Chromium through playwright-core (never a
// downloaded browser), log in through the platform's real login page, save screenshots, and
// fail loudly. Each scenario script exports nothing and exits non-zero on failure.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const env = {
  url: required('TKE_URL').replace(/\/+$/, ''),
  username: required('TKE_USERNAME'),
  password: required('TKE_PASSWORD'),
  shots: process.env.SCREENSHOT_DIR || 'e2e/screenshots',
  cluster: process.env.TKE_CLUSTER || 'cls-demo',
};

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} must be set (TKE_URL, TKE_USERNAME, TKE_PASSWORD; SCREENSHOT_DIR optional)`);
    process.exit(2);
  }
  return v;
}

export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(20000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket|Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  return { browser, context, page, problems };
}

/** Opens `path`, is sent to the login page, logs in and comes back to `path`. */
export async function login(page, path = '/tkestack') {
  await page.goto(env.url + path);
  await page.waitForSelector('#username');
  await page.fill('#username', env.username);
  await page.fill('#password', env.password);
  await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/tkestack'), { timeout: 30000 }), page.press('#password', 'Enter')]);
}

export async function shot(page, name) {
  mkdirSync(env.shots, { recursive: true });
  await page.screenshot({ path: join(env.shots, `${name}.png`), fullPage: true });
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/**
 * Runs one scenario: launches, runs `body`, saves a screenshot of where it failed, prints
 * "1 passed, 0 failed" or the error, and sets the exit code.
 */
export async function scenario(name, body) {
  const s = await launch();
  try {
    await body(s);
    if (s.problems.length) throw new Error(s.problems.join('\n'));
    console.log(`ok: ${name}`);
  } catch (e) {
    console.error(`FAILED: ${name}: ${e && e.stack ? e.stack : e}`);
    await shot(s.page, `${name}-failure`).catch(() => {});
    process.exitCode = 1;
  } finally {
    await s.browser.close();
  }
}

/**
 * axe-core's WCAG 2 A/AA rules on the page as it is (evaluated through the DevTools protocol,
 * which the page's CSP does not govern): fails on any serious or critical violation.
 */
export async function axeCheck(page, what) {
  const { readFile } = await import('node:fs/promises');
  const { createRequire } = await import('node:module');
  const source = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return { passes: res.passes.length, violations: res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })) };
  });
  for (const v of r.violations) console.log(`a11y ${what}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.join('; ')})`);
  check(r.passes > 10, `${what}: axe ran its rules`);
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `${what}: ${bad.length} serious or critical accessibility violations`);
}

/**
 * Evaluates the async `fn` in the page until it answers something truthy, and returns that.
 * (`page.waitForFunction` does not await a promise: any async predicate passes at once.)
 */
export async function pollInPage(page, what, fn, arg, timeout = 60000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(500);
  }
}

/**
 * Applies `object` to the business cluster `cluster` through the platform's apply endpoint, as
 * the console does (with the session's CSRF token), and checks it was accepted.
 */
export async function applyInCluster(page, cluster, object, what) {
  const status = await page.evaluate(
    async ([c, body]) => {
      const csrf = document.cookie.split(';').map((x) => x.trim()).find((x) => x.startsWith('tke_csrf='))?.slice('tke_csrf='.length) ?? '';
      const r = await fetch(`/apis/platform.tkestack.io/v1/clusters/${c}/apply`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/yaml', 'X-CSRF-Token': decodeURIComponent(csrf) },
        body,
      });
      return r.status;
    },
    [cluster, JSON.stringify(object)],
  );
  check(status === 200 || status === 201, `the ${what} was applied (${status})`);
}
