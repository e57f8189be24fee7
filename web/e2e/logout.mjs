// Logging out in one tab ends the session everywhere: the other open tab hears it (the
// BroadcastChannel) and goes to the login page, and the old session no longer opens the API.
import { check, env, login, scenario, shot } from './lib.mjs';

await scenario('logout', async ({ context, page }) => {
  await login(page, '/tkestack/clusters');
  await page.getByRole('link', { name: env.cluster }).waitFor();
  const other = await context.newPage();
  await other.goto(`${env.url}/tkestack/clusters/${env.cluster}/nodes`);
  await other.getByRole('heading', { name: 'Nodes' }).waitFor();

  await page.getByRole('button', { name: env.username }).click();
  await page.getByRole('menuitem', { name: 'Log out' }).click();
  await page.waitForSelector('#username', { timeout: 20000 });
  // The other tab leaves for the login page by itself.
  await other.waitForSelector('#username', { timeout: 20000 });
  await shot(other, 'logged-out-other-tab');
  // The browser's cookies no longer open the API.
  const status = (await context.request.get(`${env.url}/apis/gateway.tkestack.io/v1/tokens/info`, { ignoreHTTPSErrors: true })).status();
  check(status === 401, `the session is gone (tokens/info answered ${status})`);
});
