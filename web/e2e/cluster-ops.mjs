// A cluster's operations from its pages: cordon a node and uncordon it (the node's state follows
// live), install an add-on from the catalogue, see it reach Running, and remove it.
import { env, login, scenario, shot } from './lib.mjs';

await scenario('cluster-ops', async ({ page }) => {
  await login(page, `/tkestack/clusters/${env.cluster}/nodes`);
  const row = page.locator('.table-body [role="row"]').first();
  await row.getByRole('button', { name: 'Cordon' }).click();
  await row.getByText('Unschedulable').waitFor();
  await shot(page, 'node-cordoned');
  await row.getByRole('button', { name: 'Uncordon' }).click();
  await row.getByRole('button', { name: 'Cordon' }).waitFor();

  await page.getByRole('navigation', { name: 'Cluster menu' }).getByRole('link', { name: 'Add-ons' }).click();
  await page.getByRole('heading', { name: 'Add-ons' }).waitFor();
  await page.getByRole('button', { name: 'Install an add-on' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Type').selectOption('CronHPA');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  const addon = page.locator('tbody tr').filter({ hasText: 'CronHPA' });
  await addon.getByText('Running').waitFor({ timeout: 60000 });
  await shot(page, 'addon-running');
  await addon.getByRole('button', { name: 'Remove' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await addon.waitFor({ state: 'detached', timeout: 60000 });
});
