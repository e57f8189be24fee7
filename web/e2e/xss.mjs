// An object carrying markup (`<img src=x onerror=alert(1)>` in a ConfigMap's data and an
// annotation) is shown as text: the string is visible, no <img> is made from it, no dialog fires.
import { check, env, login, scenario, shot } from './lib.mjs';

const payload = '<img src=x onerror=alert(1)>';
const name = process.env.E2E_XSS_CONFIGMAP || 'e2e-xss';

await scenario('xss', async ({ page }) => {
  let dialogs = 0;
  page.on('dialog', async (d) => {
    dialogs++;
    await d.dismiss();
  });
  await login(page, `/tkestack/clusters/${env.cluster}/r/configmaps/default/${name}`);
  await page.getByRole('heading', { name }).waitFor();
  await page.getByText(payload).first().waitFor();
  check((await page.locator('img[src="x"]').count()) === 0, 'no <img> element was made from the payload');
  await page.getByRole('tab', { name: 'YAML' }).click();
  await page.locator('.cm-content').getByText('onerror').first().waitFor();
  await page.getByRole('tab', { name: 'Summary' }).click();
  // The list shows the object's name as text too.
  await page.goto(`${env.url}/tkestack/clusters/${env.cluster}/r/configmaps`);
  await page.getByRole('link', { name }).waitFor();
  await shot(page, 'xss');
  check((await page.locator('img[src="x"]').count()) === 0, 'no <img> on the list');
  check(dialogs === 0, `no dialog fired (got ${dialogs})`);
});
