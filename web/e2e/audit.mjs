// Audit as a person searches it: an object created through the platform shows up in the audit
// page when searched by user, resource and verb; its request and response bodies open in the
// side panel; the CSV export of the search downloads with its header and the event.
import { readFileSync } from 'node:fs';
import { check, env, login, scenario, shot } from './lib.mjs';

const name = `e2e-audit-${Date.now().toString(36)}`;

await scenario('audit', async ({ page }) => {
  await login(page, '/tkestack/audit');
  await page.getByRole('heading', { name: 'Audit' }).waitFor();
  // A change by the logged-in user, as any page of the console would make it.
  const status = await page.evaluate(async (cm) => {
    const csrf = decodeURIComponent((document.cookie.split('; ').find((c) => c.startsWith('tke_csrf=')) || '').slice(9));
    const r = await fetch('/apis/platform.tkestack.io/v1/configmaps', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ apiVersion: 'platform.tkestack.io/v1', kind: 'ConfigMap', metadata: { name: cm }, data: { note: 'audited' } }),
    });
    return r.status;
  }, name);
  check(status === 201, `creating the ConfigMap answered ${status}`);

  const filters = page.getByRole('form', { name: 'Search audit events' });
  await filters.getByLabel('User').fill(env.username);
  await filters.getByLabel('Resource').fill('configmaps');
  await filters.getByLabel('Verb').selectOption('create');
  const events = page.getByRole('region', { name: 'Audit events' });
  const row = events.getByRole('row').filter({ hasText: name });
  // The platform's writer commits within moments; search again until the event is there.
  for (let i = 0; i < 50 && !(await row.count()); i++) {
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/events/list?')),
      filters.getByRole('button', { name: 'Search' }).click(),
    ]);
  }
  await row.first().waitFor();
  check((await row.first().textContent()).includes('201'), 'the row shows the code');

  await row.first().getByRole('button').click();
  const panel = page.getByRole('complementary', { name: 'Event details' });
  await panel.getByText(env.username, { exact: true }).first().waitFor();
  const request = await panel.getByLabel('Request body').textContent();
  check(request.includes('"note": "audited"'), `the request body is shown: ${request}`);
  const response = await panel.getByLabel('Response body').textContent();
  check(response.includes('"uid"'), `the response body is shown: ${response}`);
  await shot(page, 'audit');
  await panel.getByRole('button', { name: 'Close' }).click();
  await panel.waitFor({ state: 'detached' });

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV' }).click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  check(csv.startsWith('time,cluster,tenant,user,verb'), `the CSV has its header: ${csv.slice(0, 80)}`);
  check(csv.includes(name) && csv.includes(',control-plane,'), 'the CSV holds the event');
});
