// Scale a Deployment from its page: the scale dialog's number goes to the scale subresource,
// and the page follows the change live (spec.replicas through the watch).
import { check, env, login, scenario, shot } from './lib.mjs';

const ns = 'default';
const name = process.env.E2E_DEPLOYMENT || 'e2e-web';

await scenario('scale', async ({ page }) => {
  await login(page, `/tkestack/clusters/${env.cluster}/r/deployments`);
  await page.getByRole('link', { name }).click();
  await page.getByRole('heading', { name }).waitFor();
  await page.getByRole('button', { name: /^Scale/ }).click();
  const dialog = page.getByRole('dialog');
  // A wrong value is refused at the field, as the API would.
  await dialog.getByLabel('Replicas').fill('-1');
  await dialog.getByRole('button', { name: 'Scale' }).click();
  await dialog.getByText('must be a whole number').waitFor();
  await dialog.getByLabel('Replicas').fill('4');
  await shot(page, 'scale-dialog');
  await dialog.getByRole('button', { name: 'Scale' }).click();
  await page.getByRole('button', { name: 'Scale (4)' }).waitFor();
  await page.getByText(`${name} scaled to 4 replicas.`).waitFor();
  await shot(page, 'scaled');
  const res = await page.evaluate(
    async ([c, n, d]) => (await fetch(`/apis/platform.tkestack.io/v1/clusters/${c}/proxy/apis/apps/v1/namespaces/${n}/deployments/${d}`)).json(),
    [env.cluster, ns, name],
  );
  check(res.spec && res.spec.replicas === 4, `spec.replicas is 4, got ${JSON.stringify(res.spec)}`);
});
