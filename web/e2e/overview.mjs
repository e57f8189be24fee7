// Log in through the real login page and see the overview: the demo cluster counted as Running,
// its nodes, the menu; then the cluster list and the demo cluster's nodes.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { check, env, login, scenario, shot } from './lib.mjs';

await scenario('overview', async ({ page }) => {
  await login(page, '/tkestack');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.getByRole('navigation', { name: 'Main menu' }).getByRole('link', { name: 'Clusters' }).waitFor();
  const clusters = page.locator('section[aria-labelledby="ov-clusters"]');
  await clusters.getByText('Running').waitFor();
  await page.locator('section[aria-labelledby="ov-nodes"] .big-number').filter({ hasText: /^[1-9]\d*$/ }).waitFor();
  await shot(page, 'overview');

  await page.getByRole('navigation', { name: 'Main menu' }).getByRole('link', { name: 'Clusters' }).click();
  await page.getByRole('link', { name: env.cluster }).click();
  await page.getByRole('heading', { name: env.cluster }).waitFor();
  await page.getByText('HealthCheck').waitFor();
  await shot(page, 'cluster-detail');

  // The kubeconfig: the cluster proxy, with an API key issued to the user for it.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download kubeconfig' }).click()]);
  const text = await readFile(await download.path(), 'utf8');
  check(text.includes(`/apis/platform.tkestack.io/v1/clusters/${env.cluster}/proxy`), `the kubeconfig reaches the proxy: ${text}`);
  check(/token: \S{20,}/.test(text), 'the kubeconfig carries a token');
  check(text.includes('certificate-authority-data:'), 'the kubeconfig trusts the platform through its CA');
  // It works as it is with the real kubectl, which verifies the platform's certificate.
  const nodes = execFileSync('kubectl', ['--kubeconfig', await download.path(), 'get', 'nodes', '-o', 'name'], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: '' },
  });
  check(/^node\//m.test(nodes), `kubectl with the downloaded kubeconfig lists the nodes: ${nodes}`);

  await page.getByRole('navigation', { name: 'Cluster menu' }).getByRole('link', { name: 'Nodes' }).click();
  const rows = page.locator('.table-body [role="row"]');
  await rows.first().waitFor();
  check((await rows.count()) >= 1, 'the demo cluster has nodes');
  await page.getByText('Ready').first().waitFor();
  await shot(page, 'nodes');

  // The language switch is remembered.
  await page.getByLabel('Language').selectOption('zh');
  await page.getByRole('heading', { name: '节点' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: '节点' }).waitFor();
  await shot(page, 'nodes-zh');
  await page.getByLabel('语言').selectOption('en');
});
