// Notifications as a person sets them up: a receiver (the logged-in user, with a webhook
// address), a channel whose credential is write-only (its edit form comes back with the
// password empty), a webhook channel nobody answers, and "send test message" on it, whose
// result the dialog shows with the reason; then one that answers (a local HTTP server of the
// scenario), whose test message lands in the user's inbox: the menu's unread badge counts it,
// and opening it marks it read.
import { createServer } from 'node:http';
import { check, env, login, scenario, shot } from './lib.mjs';

const suffix = Date.now().toString(36);
const receiver = `E2E receiver ${suffix}`;
const mail = `E2E mail ${suffix}`;
const hook = `E2E hook ${suffix}`;
const answering = `E2E answering hook ${suffix}`;

// The webhook receiver the platform posts to.
const received = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    received.push(JSON.parse(body || 'null'));
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  });
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const hookUrl = `http://127.0.0.1:${server.address().port}/hook`;

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

  // A webhook that answers: Sent, and the message is in the user's inbox.
  await page.getByRole('button', { name: 'New channel' }).click();
  const a = page.getByRole('dialog');
  await a.getByLabel('Display name').fill(answering);
  await a.getByLabel('Kind').selectOption('webhook');
  await a.getByLabel('URL').fill(hookUrl);
  await a.getByRole('button', { name: 'Create' }).click();
  await page.getByText(`${answering} created.`).waitFor();
  await page.getByRole('row').filter({ hasText: answering }).getByRole('button', { name: 'Send test message' }).click();
  const sent = page.getByRole('dialog');
  await sent.getByLabel('Receivers (names, comma separated)').fill(id);
  await sent.getByRole('button', { name: 'Send test message' }).click();
  await sent.getByText('Result: Sent').waitFor({ timeout: 30000 });
  check(received.length === 1 && String(received[0].content).includes('If you can read it'), `the webhook got the test message (${JSON.stringify(received)})`);
  await sent.getByRole('button', { name: 'Close' }).click();

  // The menu's badge counts it; opening it in the inbox marks it read.
  const menu = page.getByRole('navigation', { name: 'Main menu' });
  for (const entry of ['Inbox', 'Channels', 'Templates', 'Receivers']) await menu.getByRole('link', { name: new RegExp(`^${entry}`) }).waitFor();
  await menu.getByTestId('menu-unread').getByText('1', { exact: true }).waitFor();
  await menu.getByRole('link', { name: /^Inbox/ }).click();
  await page.getByTestId('unread-count').getByText('1 unread').waitFor();
  await shot(page, 'notify-inbox');
  await page.getByRole('row').filter({ hasText: 'Unread' }).getByRole('button', { name: 'Open' }).click();
  await page.getByRole('dialog').getByText('If you can read it, the channel works.').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
  await page.getByTestId('unread-count').getByText('0 unread').waitFor();
  check((await menu.getByTestId('menu-unread').count()) === 0, 'no badge once read');
  server.close();
});
