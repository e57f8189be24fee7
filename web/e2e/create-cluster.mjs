// Creating a cluster on machines: the wizard refuses a service CIDR overlapping the pod CIDR at
// the field, never shows the password back, creates a Baremetal cluster on a machine nobody
// answers on, and the cluster's progress page shows its failed environment check (SSH) live.
// Then the cluster is deleted: its unreachable machine cannot be cleaned, the page offers to
// skip that step, and the cluster goes away.
import { check, login, scenario, shot } from './lib.mjs';

await scenario('create-cluster', async ({ page }) => {
  await login(page, '/tkestack/clusters');
  await page.getByRole('link', { name: 'Create a cluster' }).click();
  await page.getByRole('heading', { name: 'Create a cluster on your machines' }).waitFor();

  const service = page.getByLabel('Service CIDR');
  await service.fill('10.244.128.0/17');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('overlaps spec.clusterCIDR 10.244.0.0/16').waitFor();
  check((await service.getAttribute('aria-invalid')) === 'true', 'the overlapping service CIDR is marked invalid');
  await shot(page, 'create-cidr-overlap');
  await service.fill('10.96.0.0/16');
  await page.getByRole('button', { name: 'Next' }).click();

  const machine = page.getByRole('group', { name: 'Machine 1' });
  await machine.getByLabel('IP').fill('10.0.0.300');
  await page.getByRole('button', { name: 'Next' }).click();
  await machine.getByText('must be a valid IP address').waitFor();
  // Port 1 on this host: nothing listens, so the SSH check fails at once.
  await machine.getByLabel('IP').fill('127.0.0.1');
  await machine.getByLabel('Port').fill('1');
  await machine.getByLabel('Password', { exact: true }).fill('e2e-secret-pw');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('password (set, not shown)').waitFor();
  check(!(await page.content()).includes('e2e-secret-pw'), 'the review does not show the password');
  await page.getByRole('button', { name: 'Create the cluster' }).click();

  await page.waitForURL(/\/tkestack\/clusters\/cls-[a-z0-9]+\/lifecycle$/);
  const name = decodeURIComponent(new URL(page.url()).pathname.split('/')[3] ?? '');
  const checks = page.getByRole('alert').filter({ hasText: 'Environment checks failed' });
  await checks.waitFor({ timeout: 60000 });
  await checks.getByText('SSH', { exact: true }).waitFor();
  await checks.getByText(/127\.0\.0\.1:1/).first().waitFor();
  await shot(page, 'create-preflight-failed');

  await page.getByRole('navigation', { name: 'Cluster menu' }).getByRole('link', { name: 'Basic information' }).click();
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL((u) => u.pathname === '/tkestack/clusters');
  await page.goto(new URL(`/tkestack/clusters/${name}/lifecycle`, page.url()).href);
  await page.getByRole('button', { name: /Delete without cleaning them/ }).click({ timeout: 60000 });
  await page.getByText(`Cluster ${name} does not exist (any more).`).waitFor({ timeout: 60000 });
});
