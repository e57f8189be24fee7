// Log collection with a real node agent (run by crates/tke/tests/console_logs.rs, which starts
// `tke logagent` over a directory laid out as /var/log/pods and names the pod in E2E_LOG_POD):
// enable log collection from the page (a LogAgent; its add-on installs the LogCollector kind),
// write a rule through the LogAgent's `logcollector` subresource (an Elasticsearch connection
// test that fails in words, create, edit, delete), then on the pod's page list its log files,
// read the last page, an older one and the newest again, and download the file.
import { axeCheck, check, env, login, scenario, shot } from './lib.mjs';

const pod = process.env.E2E_LOG_POD;
const lines = Number(process.env.E2E_LOG_LINES);
const size = Number(process.env.E2E_LOG_SIZE);
if (!pod || !lines || !size) {
  console.error('E2E_LOG_POD, E2E_LOG_LINES and E2E_LOG_SIZE must be set (crates/tke/tests/console_logs.rs sets them)');
  process.exit(2);
}
const name = `e2e-host-${Date.now().toString(36)}`;

await scenario('logfiles', async ({ page }) => {
  await login(page, `/tkestack/clusters/${env.cluster}/logs`);
  const agentState = page.getByLabel('Log agent');
  await agentState.getByText('No log agent runs in this cluster').waitFor();
  await agentState.getByRole('button', { name: 'Enable log collection' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Enable log collection' }).click();
  await agentState.getByText(/Log agent lc-/).waitFor();
  await agentState.getByText('Running').waitFor({ timeout: 90000 });
  await page.getByRole('button', { name: 'New collection rule' }).waitFor({ timeout: 30000 });

  await page.getByRole('button', { name: 'New collection rule' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name', { exact: true }).fill(name);
  await dialog.getByLabel('Collect').selectOption('host-log');
  await dialog.getByLabel('Path on the node').fill('/var/log/e2e/*.log');
  await dialog.getByLabel('Labels added to each line').fill('role=edge');
  // The connection test runs from the platform through the agent's subresource: a port where
  // nothing listens is reported in words.
  await dialog.getByLabel('Send to').selectOption('elasticsearch');
  await dialog.getByLabel('Addresses').fill('http://127.0.0.1:9');
  await dialog.getByRole('button', { name: 'Test connection' }).click();
  await dialog.getByText(/^http:\/\/127\.0\.0\.1:9 could not be reached: Elasticsearch at http:\/\/127\.0\.0\.1:9\/ cannot be reached/).waitFor();
  await dialog.getByLabel('Send to').selectOption('kafka');
  await dialog.getByLabel('Broker host').fill('kafka.ops');
  await dialog.getByLabel('Topic').fill('edge-logs');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'hidden' });
  const row = page.getByRole('row').filter({ hasText: name });
  await row.getByText('host-log: /var/log/e2e/*.log').waitFor();
  await row.getByText('kafka: kafka.ops:9092 / edge-logs').waitFor();
  await row.getByRole('button', { name: `Edit ${name}` }).click();
  await dialog.getByLabel('Topic').fill('edge-logs-2');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await row.getByText('kafka: kafka.ops:9092 / edge-logs-2').waitFor();
  await shot(page, 'logfiles-rules');
  await row.getByRole('button', { name: `Delete ${name}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached' });

  // The pod's log files.
  await page.goto(`${env.url}/tkestack/clusters/${env.cluster}/r/pods/default/${pod}`);
  const files = page.getByRole('table', { name: 'Log files' });
  const file = files.getByRole('row').filter({ hasText: '0.log' });
  await file.waitFor();
  await file.getByText('Standard output').waitFor();
  // Shown by its name in the container's log directory (named once above the table).
  await file.getByText('0.log', { exact: true }).waitFor();
  await page.getByText(new RegExp(`^In .*/default_${pod}_[^/]+/app/$`)).waitFor();
  await file.getByRole('button', { name: /^Open .*0\.log$/ }).click();
  const viewer = page.getByRole('region', { name: /^File .*0\.log$/ });
  const content = viewer.getByLabel(/^Content of /);
  await viewer.getByText(new RegExp(`^Bytes ${size - 65536}–${size} of ${size}$`)).waitFor();
  await content.getByText(`line ${lines} of e2e-logs`, { exact: false }).waitFor();
  check(!(await content.textContent()).includes('line 1 of e2e-logs:'), 'the last page does not start at the beginning');
  await shot(page, 'logfiles-viewer');
  await axeCheck(page, 'pod with log files');
  await viewer.getByRole('button', { name: 'Older' }).click();
  await viewer.getByText(new RegExp(`^Bytes ${size - 2 * 65536}–${size - 65536} of ${size}$`)).waitFor();
  check(!(await content.textContent()).includes(`line ${lines} of`), 'an older page does not hold the last line');
  await viewer.getByRole('button', { name: 'Latest' }).click();
  await viewer.getByText(new RegExp(`^Bytes ${size - 65536}–${size} of ${size}$`)).waitFor();

  const [download] = await Promise.all([page.waitForEvent('download'), file.getByRole('button', { name: /^Download .*0\.log$/ }).click()]);
  check(download.suggestedFilename() === '0.log', `saved as ${download.suggestedFilename()}`);
  const saved = await download.path();
  const { statSync } = await import('node:fs');
  check(statSync(saved).size === size, `the whole file was downloaded (${statSync(saved).size} of ${size} bytes)`);
});
