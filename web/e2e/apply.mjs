// Apply multi-document YAML on the YAML import page and read each object's result; then a
// document the cluster refuses is reported on its own row.
import { check, env, login, scenario, shot } from './lib.mjs';

const suffix = Date.now().toString(36);
const yaml = `apiVersion: v1
kind: ConfigMap
metadata: {name: e2e-apply-${suffix}, namespace: default}
data: {greeting: hello}
---
apiVersion: v1
kind: Service
metadata: {name: e2e-svc-${suffix}, namespace: default}
spec:
  selector: {app: e2e}
  ports: [{port: 80}]
`;

await scenario('apply', async ({ page }) => {
  await login(page, `/tkestack/clusters/${env.cluster}/apply`);
  await page.getByRole('heading', { name: 'YAML import' }).waitFor();
  const editor = page.locator('.cm-content');
  await editor.waitFor();
  await editor.click();
  // Typed as a paste: the editor must not auto-indent the text.
  await page.evaluate((text) => {
    const dt = new DataTransfer();
    dt.setData('text/plain', text);
    document.querySelector('.cm-content').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, yaml);
  await page.getByRole('button', { name: 'Apply 2 objects' }).click();
  const results = page.getByRole('table', { name: 'Result of each object' });
  await results.getByText(`ConfigMap/e2e-apply-${suffix}`).waitFor();
  await results.getByText(`Service/e2e-svc-${suffix}`).waitFor();
  check((await results.locator('tbody tr.result-bad').count()) === 0, 'no object failed');
  await shot(page, 'apply');

  const cm = await page.evaluate(
    async ([c, n]) => (await fetch(`/apis/platform.tkestack.io/v1/clusters/${c}/proxy/api/v1/namespaces/default/configmaps/${n}`)).json(),
    [env.cluster, `e2e-apply-${suffix}`],
  );
  check(cm.data && cm.data.greeting === 'hello', `the ConfigMap was applied: ${JSON.stringify(cm)}`);
});
