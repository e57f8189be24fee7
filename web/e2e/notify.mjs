// Notifications as a person sets them up: a receiver (the logged-in user, with a webhook
// address), a channel whose credential is write-only (its edit form comes back with the
// password empty), a webhook channel nobody answers, and "send test message" on it, whose
// result the dialog shows with the reason; then the inbox with its unread count.
import { check, env, login, scenario, shot } from './lib.mjs';

const suffix = Date.now().toString(36);
const receiver = `E2E receiver ${suffix}`;
const mail = `E2E mail ${suffix}`;
const hook = `E2E hook ${suffix}`;

await scenario('notify', async ({ page }) => {
  await login(page, '/tkestack/notify/receivers');
  await page.getByRole('button', { name: 'New receiver', exact: true }).click();
  const r = page.getByRole('dialog');
  await r.getByLabel('Display name').fill(receiver);
  await r.getByLabel('Platform user (inbox)').fill(env.username);
  await r.getByLabel('E-mail').fill('not-an-address');
  await r.getByRole('button', { name: 'Create' }).click();
  await r.locator('.field-error').getByText('must be an e-mail address such as alice@example.org').waitFor();
  await r.getByLabel('E-mail').fill('e2e@example.org');
  await r.getByRole('button', { name: 'Create' }).click();
  await page.getByText(`${receiver} created.`).waitFor();
  const row = page.getByRole('row').filter({ hasText: receiver });
  await row.waitFor();
  const id = ((await row.getByRole('cell').nth(1).textContent()) ?? '').trim();
  check(id.startsWith('rcv-'), `the receiver's name (${id})`);

  // A mail channel with a password: saved, never shown again.
  await page.goto(`${env.url}/tkestack/notify/channels`);
  await page.getByRole('button', { name: 'New channel' }).click();
  const c = page.getByRole('dialog');
  await c.getByLabel('Display name').fill(mail);
  await c.getByLabel('SMTP server').fill('smtp.example.org');
  await c.getByLabel('Port').fill('465');
  await c.getByLabel('Sender address (also the login)').fill('alerts@example.org');
  await c.getByLabel('Password').fill('e2e-secret-password');
  await c.getByRole('button', { name: 'Create' }).click();
  await page.getByText(`${mail} created.`).waitFor();
  await page.getByRole('row').filter({ hasText: mail }).getByRole('button', { name: 'Edit' }).click();
  const edit = page.getByRole('dialog');
  check((await edit.getByLabel('Password').inputValue()) === '', 'the password is not shown');
  check((await edit.getByLabel('SMTP server').inputValue()) === 'smtp.example.org', 'the host is');
  await edit.getByRole('button', { name: 'Cancel' }).click();

  // A webhook nobody answers: the test message fails, and says why.
  await page.getByRole('button', { name: 'New channel' }).click();
  const h = page.getByRole('dialog');
  await h.getByLabel('Display name').fill(hook);
  await h.getByLabel('Kind').selectOption('webhook');
  await h.getByLabel('URL').fill('http://127.0.0.1:9/hook');
  await h.getByRole('button', { name: 'Create' }).click();
  await page.getByText(`${hook} created.`).waitFor();
  await page.getByRole('row').filter({ hasText: hook }).getByRole('button', { name: 'Send test message' }).click();
  const test = page.getByRole('dialog');
  await test.getByLabel('Receivers (names, comma separated)').fill(id);
  await test.getByRole('button', { name: 'Send test message' }).click();
  await test.getByText('Result: Failed').waitFor({ timeout: 30000 });
  await test.getByText(`${id}: the webhook could not be reached`).waitFor();
  await shot(page, 'notify-test-message');
  await test.getByRole('button', { name: 'Close' }).click();

  // The inbox and its count.
  await page.goto(`${env.url}/tkestack/notify/inbox`);
  await page.getByTestId('unread-count').waitFor();
  check(/\d+ unread/.test((await page.getByTestId('unread-count').textContent()) ?? ''), 'the unread count is shown');
  const menu = page.getByRole('navigation', { name: 'Main menu' });
  for (const entry of ['Inbox', 'Channels', 'Templates', 'Receivers']) await menu.getByRole('link', { name: entry }).waitFor();
  await shot(page, 'notify-inbox');
});
