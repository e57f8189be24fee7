// Create a Deployment from the form: a name the API would refuse is refused at its field with
// the API's words, then the Deployment is created and its pods appear on its page.
import { check, env, login, scenario, shot } from './lib.mjs';

const name = `e2e-form-${Date.now().toString(36)}`;

await scenario('form', async ({ page }) => {
  await login(page, `/tkestack/clusters/${env.cluster}/r/deployments`);
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name', { exact: true }).fill('My_App');
  await dialog.getByLabel('Image').fill('nginx:1.27');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await dialog.getByText('a lowercase RFC 1123 label must consist of').waitFor();
  check((await dialog.getByLabel('Name', { exact: true }).getAttribute('aria-invalid')) === 'true', 'the name field is marked invalid');
  await shot(page, 'form-error');
  await dialog.getByLabel('Name', { exact: true }).fill(name);
  await dialog.getByLabel('Replicas').fill('2');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await page.getByText(`Deployment ${name} created.`).waitFor();
  await page.getByRole('link', { name }).click();
  await page.getByRole('heading', { name }).waitFor();
  const pods = page.getByRole('table', { name: 'Pods' });
  await pods.locator('.table-body [role="row"]').nth(1).waitFor({ timeout: 30000 });
  await shot(page, 'form-created');
});
