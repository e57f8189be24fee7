// Import a cluster from its kubeconfig on the import page (the demo cluster's own kubeconfig,
// imported a second time under another name): the fields fill from the file, a bad name is
// refused at its field, then the cluster's page shows its steps live: the mark step fails,
// saying the cluster is already managed (as cls-demo) and what to do; done from the console
// (deleting kube-system/tke on its ConfigMap page), the import resumes and reaches Running.
// Run last: it takes the demo cluster's mark.
import { env, login, scenario, shot } from './lib.mjs';

const kubeconfig = process.env.E2E_IMPORT_KUBECONFIG;
const name = `cls-e2e${Date.now().toString(36)}`;

await scenario('import', async ({ page }) => {
  if (!kubeconfig) throw new Error('E2E_IMPORT_KUBECONFIG must name a kubeconfig to import');
  await login(page, '/tkestack/clusters');
  await page.getByRole('link', { name: 'Import a cluster' }).click();
  await page.getByRole('heading', { name: 'Import a cluster' }).waitFor();
  await page.getByLabel('Kubeconfig file').setInputFiles(kubeconfig);
  await page.getByLabel('API server address').and(page.locator('[value^="https://"]')).waitFor();
  await page.getByLabel('Cluster name').fill('prod');
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.getByText('must be "global" or "cls-" followed by lowercase letters and digits').waitFor();
  await page.getByLabel('Cluster name').fill(name);
  await page.getByLabel('Display name').fill('Imported by the browser test');
  await shot(page, 'import-form');
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.getByRole('heading', { name }).waitFor();
  const failed = page.locator('.step-failed').filter({ hasText: 'EnsureCreateClusterMark' });
  await failed.getByText('already managed by a TKE platform (as cluster cls-demo)').waitFor({ timeout: 30000 });
  await shot(page, 'import-refused');

  await page.goto(`${env.url}/tkestack/clusters/${env.cluster}/r/configmaps/kube-system/tke`);
  await page.getByRole('heading', { name: 'tke' }).waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('heading', { name: 'ConfigMaps' }).waitFor();

  await page.goto(`${env.url}/tkestack/clusters/${name}`);
  await page.locator('.step-done').filter({ hasText: 'EnsureCreateClusterMark' }).waitFor({ timeout: 120000 });
  await page.locator('.subnav-head').getByText('Running').waitFor({ timeout: 120000 });
  await shot(page, 'imported');
});
