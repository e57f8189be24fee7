// A cluster's log collection: with the LogCollector CRD in the cluster (as the log add-on
// installs it), the page says whether a log agent runs; a pod-log rule is refused with a clear
// message for a directory that does not end with "/", then created and listed; it is edited into
// a container-log rule of chosen workloads sent to Elasticsearch (the object checked in the
// cluster: the agent's shapes, the password as base64) and deleted.
import { isDeepStrictEqual } from 'node:util';
import { applyInCluster, axeCheck, check, env, login, pollInPage, scenario, shot } from './lib.mjs';

const name = `e2e-logs-${Date.now().toString(36)}`;
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'logcollectors.tke.cloud.tencent.com' },
  spec: {
    group: 'tke.cloud.tencent.com',
    scope: 'Namespaced',
    names: { plural: 'logcollectors', singular: 'logcollector', kind: 'LogCollector', listKind: 'LogCollectorList' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
};
const rulesUrl = `/apis/platform.tkestack.io/v1/clusters/${env.cluster}/proxy/apis/tke.cloud.tencent.com/v1`;

await scenario('logs', async ({ page }) => {
  await login(page, `/tkestack/clusters/${env.cluster}/logs`);
  await page.getByRole('heading', { name: 'Log collection' }).waitFor();
  await applyInCluster(page, env.cluster, crd, 'CRD');
  await pollInPage(page, 'the LogCollector kind to be served', async (u) => (await fetch(`${u}/logcollectors`)).status === 200, rulesUrl, 30000);
  await page.reload();
  // The agent's state is said in words: none yet, or the platform's LogAgent and its phase.
  await page.getByLabel('Log agent').getByText(/No log agent runs in this cluster|Log agent lc-|does not serve log agents/).waitFor();

  await page.getByRole('button', { name: 'New collection rule' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name', { exact: true }).fill(name);
  await dialog.getByLabel('Collect').selectOption('pod-log');
  await dialog.getByLabel('Workload name').fill('e2e-web');
  const c1 = dialog.getByRole('group', { name: 'Container 1' });
  await c1.getByLabel('Container').fill('app');
  await c1.getByLabel('Log directories').fill('/data/logs');
  await dialog.getByLabel('Broker host').fill('kafka.ops');
  await dialog.getByLabel('Topic').fill('app-logs');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await c1.getByText('Fix: each directory must start and end with "/"').waitFor();
  await shot(page, 'logs-rule-invalid');
  await c1.getByLabel('Log directories').fill('/data/logs/, /var/app-*/');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'hidden' });

  const row = page.getByRole('row').filter({ hasText: name });
  await row.getByText('pod-log: deployment/e2e-web app:/data/logs/,/var/app-*/').waitFor();
  await row.getByText('kafka: kafka.ops:9092 / app-logs').waitFor();
  let obj = await page.evaluate(async (u) => (await fetch(u)).json(), `${rulesUrl}/namespaces/default/logcollectors/${name}`);
  check(obj.metadata?.labels?.['log.tke.cloud.tencent.com/pod-log'] === 'true', `pod-log label: ${JSON.stringify(obj.metadata)}`);
  check(
    isDeepStrictEqual(obj.spec?.input?.pod_log_input, {
      container_log_files: { app: [{ path: '/data/logs/' }, { path: '/var/app-*/' }] },
      metadata: true,
      workload: { name: 'e2e-web', type: 'deployment' },
    }),
    `pod_log_input: ${JSON.stringify(obj.spec?.input)}`,
  );

  await row.getByRole('button', { name: `Edit ${name}` }).click();
  await dialog.getByLabel('Collect').selectOption('container-log');
  await dialog.getByLabel('All namespaces').uncheck();
  const ns1 = dialog.getByRole('group', { name: 'Namespace 1' });
  await ns1.getByLabel('Namespace').fill('default');
  await ns1.getByLabel('All containers').uncheck();
  await ns1.getByLabel('Workloads').fill('deployment/e2e-web');
  await dialog.getByLabel('Send to').selectOption('elasticsearch');
  await dialog.getByLabel('Addresses').fill('http://10.0.0.5:9200');
  await dialog.getByLabel('Index').fill('app-logs');
  await dialog.getByLabel('User').fill('elastic');
  await dialog.getByLabel('Password').fill('s3cret');
  await shot(page, 'logs-rule-editor');
  await axeCheck(page, 'log rule editor');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await row.getByText('container-log: default (deployment/e2e-web)').waitFor();
  await row.getByText('elasticsearch: http://10.0.0.5:9200 / app-logs').waitFor();
  await shot(page, 'logs-rules');
  await axeCheck(page, 'log collection');
  obj = await page.evaluate(async (u) => (await fetch(u)).json(), `${rulesUrl}/namespaces/default/logcollectors/${name}`);
  check(!obj.metadata?.labels?.['log.tke.cloud.tencent.com/pod-log'], `pod-log label dropped: ${JSON.stringify(obj.metadata)}`);
  check(
    isDeepStrictEqual(obj.spec, {
        input: { type: 'container-log', container_log_input: { all_namespaces: false, namespaces: [{ namespace: 'default', all_containers: false, workloads: [{ type: 'deployment', name: 'e2e-web' }] }] } },
        output: { type: 'elasticsearch', elasticsearch_output: { hosts: ['http://10.0.0.5:9200'], index: 'app-logs', user: 'elastic', password: 'czNjcmV0' } },
    }),
    `the edited spec: ${JSON.stringify(obj.spec)}`,
  );

  await row.getByRole('button', { name: `Delete ${name}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached' });
});
