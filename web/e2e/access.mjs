// Identity and access as a person uses them: create a user (an invalid e-mail refused at its
// field first) and a policy (an action with a space refused at its line first) allowing only
// the listing of clusters, bind the user to it, log in as that user in a second browser
// context, and see only what the policy allows: the clusters list without its import button,
// no access menu, and the users page refused with the API's words.
import { check, env, login, scenario, shot } from './lib.mjs';

const suffix = Date.now().toString(36);
const username = `e2e-${suffix}`;
const password = `Pw-${suffix}-x9`;
const policy = `Clusters read-only ${suffix}`;
// The console itself needs the caller's token info and the platform's components (the gateway
// authorizes both), and the portal; the rest is what the test is about.
const actions = ['listClusters', 'getCluster', 'watchCluster', 'getToken', 'listSysinfo', 'listPortal'];

await scenario('access', async ({ browser, page }) => {
  await login(page, '/tkestack/access/users');
  await page.getByRole('button', { name: 'New user' }).click();
  const userDialog = page.getByRole('dialog');
  await userDialog.getByLabel('Username').fill(username);
  await userDialog.getByLabel('E-mail').fill('not-an-address');
  await userDialog.getByLabel('Password', { exact: true }).fill(password);
  await userDialog.getByLabel('Repeat the password').fill(password);
  await userDialog.getByRole('button', { name: 'Create' }).click();
  await userDialog.getByText('must be an e-mail address such as alice@example.org').waitFor();
  check((await userDialog.getByLabel('E-mail').getAttribute('aria-invalid')) === 'true', 'the e-mail field is marked invalid');
  await userDialog.getByLabel('E-mail').fill(`${username}@example.org`);
  await userDialog.getByRole('button', { name: 'Create' }).click();
  await page.getByText(`${username} created.`).waitFor();
  await page.getByPlaceholder('Search by name').fill(username);
  await page.getByRole('cell', { name: username, exact: true }).waitFor();
  await shot(page, 'access-user');

  await page.goto(`${env.url}/tkestack/access/policies`);
  await page.getByRole('button', { name: 'New policy' }).click();
  const editor = page.getByRole('dialog');
  await editor.getByLabel('Display name').fill(policy);
  await editor.getByLabel('Actions', { exact: true }).fill('listClusters\nget Cluster');
  await editor.getByRole('button', { name: 'Create' }).click();
  await editor.getByText('line 2: Invalid value: "get Cluster": a action must not contain whitespace').waitFor();
  await shot(page, 'access-policy-error');
  await editor.getByLabel('Actions', { exact: true }).fill(actions.join('\n'));
  await editor.getByRole('button', { name: 'Create' }).click();
  await page.getByText(`${policy} created.`).waitFor();
  await page.getByPlaceholder('Search by name').fill(policy);
  await page.getByRole('row').filter({ hasText: policy }).getByRole('button', { name: 'Bindings' }).click();
  const bind = page.getByRole('dialog');
  await bind.getByLabel('Add users').fill(`${username}, nobody-${suffix}`);
  await bind.getByRole('button', { name: 'Add', exact: true }).click();
  await bind.getByText(`nobody-${suffix}: Invalid value`).waitFor();
  await bind.getByLabel('Add users').fill(username);
  await bind.getByRole('button', { name: 'Add', exact: true }).click();
  await bind.getByRole('button', { name: `Remove ${username}` }).waitFor();
  await shot(page, 'access-bound');

  // The user, in a browser context of their own.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(20000);
  const user = await context.newPage();
  await user.goto(`${env.url}/tkestack/clusters`);
  await user.waitForSelector('#username');
  await user.fill('#username', username);
  await user.fill('#password', password);
  await Promise.all([user.waitForURL((u) => u.pathname.startsWith('/tkestack'), { timeout: 30000 }), user.press('#password', 'Enter')]);
  await user.getByRole('link', { name: env.cluster }).waitFor();
  const menu = user.getByRole('navigation', { name: 'Main menu' });
  await menu.getByRole('link', { name: 'Clusters' }).waitFor();
  check((await menu.getByRole('link', { name: 'Users' }).count()) === 0, 'no Users entry in the menu');
  check((await menu.getByRole('link', { name: 'Policies' }).count()) === 0, 'no Policies entry in the menu');
  check((await user.getByRole('link', { name: 'Import' }).count()) === 0, 'no import button on the clusters list');
  await shot(user, 'access-user-clusters');
  await user.goto(`${env.url}/tkestack/access/users`);
  await user.getByText(`User "${username}" cannot list resource "localidentities"`).waitFor();
  check((await user.getByRole('button', { name: 'New user' }).count()) === 0, 'no create button on the refused users page');
  await shot(user, 'access-user-refused');
  await context.close();
});
