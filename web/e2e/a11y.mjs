// Accessibility of the main pages, checked by axe-core in the real browser (its rules for
// WCAG 2 A and AA): no serious or critical violation on the overview, the cluster list, a
// cluster's page, the pod list and a pod's page, the users, policies, projects, image and chart
// lists and the policy editor.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { check, env, login, scenario } from './lib.mjs';

const require = createRequire(import.meta.url);
const axeSource = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');

async function audit(page, what) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return {
      passes: r.passes.length,
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })),
    };
  });
  console.log(`a11y ${what}: ${result.passes} rules passed, ${result.violations.length} violated`);
  check(result.passes > 10, `${what}: axe ran its rules`);
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of result.violations) console.log(`a11y ${what}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.join('; ')})`);
  check(bad.length === 0, `${what}: ${bad.length} serious or critical accessibility violations`);
}

await scenario('a11y', async ({ page }) => {
  await login(page, '/tkestack');
  await page.locator('section[aria-labelledby="ov-clusters"]').getByText('Running').waitFor();
  await audit(page, 'overview');
  await page.goto(`${env.url}/tkestack/clusters`);
  await page.getByRole('link', { name: env.cluster }).waitFor();
  await audit(page, 'clusters');
  await page.goto(`${env.url}/tkestack/clusters/${env.cluster}`);
  await page.getByText('HealthCheck').waitFor();
  await audit(page, 'cluster');
  await page.goto(`${env.url}/tkestack/clusters/${env.cluster}/r/pods`);
  const first = page.locator('.table-body [role="row"] a').first();
  await first.waitFor();
  await audit(page, 'pods');
  await first.click();
  await page.getByRole('heading', { name: 'Logs' }).waitFor();
  await audit(page, 'pod');
  // Identity & access, projects and the registry: their lists and the policy editor.
  for (const [path, heading] of [
    ['/tkestack/access/users', 'Users'],
    ['/tkestack/access/policies', 'Policies'],
    ['/tkestack/projects', 'Projects'],
    ['/tkestack/registry', 'Image namespaces'],
    ['/tkestack/charts', 'Chart groups'],
  ]) {
    await page.goto(`${env.url}${path}`);
    await page.getByRole('heading', { name: heading, exact: true }).waitFor();
    await page.locator('.table-count').getByText(/\bitems?\b/).waitFor();
    await audit(page, path);
  }
  await page.goto(`${env.url}/tkestack/access/policies`);
  await page.getByRole('button', { name: 'New policy' }).click();
  await page.getByRole('dialog').getByLabel('Actions', { exact: true }).waitFor();
  await audit(page, 'policy editor');
});
