// The web terminal: from a pod's page open a shell in its container (the simulated cluster's
// built-in shell, through the platform's proxy), type a command and read the answer; the
// terminal's size reaches the shell ($COLUMNS); leaving the page closes the connection.
import { check, env, login, scenario, shot } from './lib.mjs';

const deployment = process.env.E2E_DEPLOYMENT || 'e2e-web';

await scenario('terminal', async ({ page }) => {
  await login(page, `/tkestack/clusters/${env.cluster}/r/pods`);
  await page.getByLabel('Search by name').fill(deployment);
  await page.locator('.table-body [role="row"] a').first().click();
  await page.getByRole('heading', { name: 'Logs' }).waitFor();
  await page.getByRole('link', { name: 'Open a shell in app' }).click();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
  const screen = page.locator('.xterm-rows');
  await screen.waitFor();
  await page.locator('.terminal-host').click();
  await page.keyboard.type('echo hello-$HOSTNAME cols=$COLUMNS');
  await page.keyboard.press('Enter');
  await screen.getByText(/^hello-e2e-web-\S+ cols=\d+/).waitFor();
  const text = await screen.innerText();
  const cols = Number(/cols=(\d+)/.exec(text.split('\n').find((l) => l.startsWith('hello-')) ?? '')?.[1]);
  check(cols > 40, `the shell knows the terminal's width (COLUMNS=${cols})`);
  await shot(page, 'terminal');
  // Leaving closes the socket cleanly: the page goes on working.
  await page.getByRole('navigation', { name: 'Cluster menu' }).getByRole('link', { name: 'Nodes' }).click();
  await page.getByRole('heading', { name: 'Nodes' }).waitFor();
});
