// TKEStack's own kinds in a cluster: the CronHPA page says which add-on provides the kind while
// the cluster does not serve it, and follows by itself once the add-on is installed; then a
// CronHPA made with the form (a bad schedule refused at its field), shown in the live list and
// on its page with its crons, deleted; the add-on removed again.
import { env, login, scenario, shot } from './lib.mjs';

await scenario('tke-kinds', async ({ page }) => {
  const base = `/tkestack/clusters/${env.cluster}`;
  await login(page, `${base}/x/cronhpas`);
  await page.getByText('The CronHPA add-on provides it').waitFor();
  await shot(page, 'cronhpa-not-served');

  await page.getByRole('link', { name: 'Install it from the add-ons' }).click();
  await page.getByRole('heading', { name: 'Add-ons' }).waitFor();
  await page.getByRole('button', { name: 'Install an add-on' }).click();
  await page.getByRole('dialog').getByLabel('Type').selectOption('CronHPA');
  await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  const addon = page.locator('tbody tr').filter({ hasText: 'CronHPA' });
  await addon.getByText('Running').waitFor({ timeout: 60000 });

  await page.getByRole('navigation', { name: 'Cluster menu' }).getByRole('link', { name: 'CronHPAs' }).click();
  await page.getByRole('button', { name: 'Create', exact: true }).click({ timeout: 30000 });
  const form = page.getByRole('dialog');
  await form.getByLabel('Name', { exact: true }).fill('e2e-nightly');
  await form.getByLabel('Target name').fill('e2e-web');
  await form.getByLabel('Schedule').fill('0 22 *');
  await form.getByRole('button', { name: 'Create' }).click();
  await form.getByText('expected 5 fields').waitFor();
  await form.getByLabel('Schedule').fill('0 22 * * *');
  await form.getByLabel('Replicas').fill('2');
  await form.getByRole('button', { name: 'Create' }).click();
  await form.waitFor({ state: 'detached' });

  const row = page.locator('.table-body [role="row"]').filter({ hasText: 'e2e-nightly' });
  await row.getByText('Deployment/e2e-web').waitFor();
  await row.getByRole('link', { name: 'e2e-nightly' }).click();
  await page.getByRole('heading', { name: 'e2e-nightly' }).waitFor();
  await page.getByRole('table').getByText('0 22 * * *').waitFor();
  await shot(page, 'cronhpa-detail');
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL((u) => u.pathname.endsWith('/x/cronhpas'));
  await page.getByRole('heading', { name: 'CronHPAs' }).waitFor();
  await row.waitFor({ state: 'detached' });

  await page.getByRole('navigation', { name: 'Cluster menu' }).getByRole('link', { name: 'Add-ons' }).click();
  await addon.getByRole('button', { name: 'Remove' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await addon.waitFor({ state: 'detached', timeout: 60000 });
});
