// A cluster's alarm policies: with the PrometheusRule CRD in the cluster (as the Prometheus
// add-on installs it), create a pod policy in the editor, see it listed, change its threshold,
// find it as a rule group of the cluster's PrometheusRule, and delete it.
import { applyInCluster, check, env, login, pollInPage, scenario, shot } from './lib.mjs';

const name = `e2e-cpu-${Date.now().toString(36)}`;
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'prometheusrules.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: { plural: 'prometheusrules', singular: 'prometheusrule', kind: 'PrometheusRule', listKind: 'PrometheusRuleList' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
};

await scenario('alarm', async ({ page }) => {
  await login(page, `/tkestack/clusters/${env.cluster}/alarms`);
  await page.getByRole('heading', { name: 'Alarm policies' }).waitFor();
  // The CRD, applied through the cluster's apply action as the console's YAML import does.
  await applyInCluster(page, env.cluster, crd, 'CRD');
  await pollInPage(
    page,
    'the alarm policy API to answer',
    async (c) => (await fetch(`/apis/v1/monitor/clusters/${c}/alarmpolicies`)).status === 200,
    env.cluster,
    30000,
  );
  await page.reload();

  await page.getByRole('button', { name: 'New alarm policy' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name', { exact: true }).fill(name);
  await dialog.getByLabel('Namespace', { exact: true }).fill('default');
  const metric = dialog.getByRole('group', { name: 'Metric 1' });
  await metric.getByLabel('Threshold').fill('0.8');
  await dialog.getByLabel('Receivers', { exact: true }).fill('alice');
  await dialog.getByLabel('Channels and templates').fill('email:alert-mail');
  await shot(page, 'alarm-editor');
  await dialog.getByRole('button', { name: 'Create' }).click();
  const row = page.locator('tbody tr').filter({ hasText: name });
  await row.getByText('k8s_pod_cpu_core_used > 0.8 core (3 × 60s)').waitFor();
  await row.getByText('alice').waitFor();
  await shot(page, 'alarm-policies');

  await row.getByRole('button', { name: `Edit ${name}` }).click();
  await page.getByRole('dialog').getByRole('group', { name: 'Metric 1' }).getByLabel('Threshold').fill('0.9');
  await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
  await row.getByText('k8s_pod_cpu_core_used > 0.9 core (3 × 60s)').waitFor();

  const rule = await page.evaluate(
    async (c) =>
      (await fetch(`/apis/platform.tkestack.io/v1/clusters/${c}/proxy/apis/monitoring.coreos.com/v1/namespaces/kube-system/prometheusrules/prometheus-alerts`)).json(),
    env.cluster,
  );
  const group = (rule.spec?.groups ?? []).find((g) => g.name === name);
  check(group && group.rules[0].expr === 'k8s_pod_cpu_core_used{namespace="default",workload_kind="Deployment"} > 0.9', `the rule group: ${JSON.stringify(group)}`);

  await row.getByRole('button', { name: `Delete ${name}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached' });
});
