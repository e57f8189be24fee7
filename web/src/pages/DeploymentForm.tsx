// Create a Deployment from a form (most users never need its YAML): name, namespace, image,
// replicas, an optional container port and a Service for it. Checked as the API checks; the
// API's own field errors land at the fields.
import { useMemo } from 'react';
import { api } from '../api/client';
import { collectionPath, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { useLiveList } from '../list/useLiveList';
import { Dialog } from '../ui/Dialog';
import { FormError, SelectField, TextField, useApiForm } from '../ui/Form';
import { useToast } from '../ui/Toasts';
import { dnsLabel, intRange, port, required } from '../ui/validation';

type F = 'name' | 'namespace' | 'image' | 'replicas' | 'port' | 'service';

/** The Deployment (and Service, when asked and a port is given) the form describes. */
export function deploymentObjects(v: Record<F, string>): { deployment: KubeObject; service: KubeObject | null } {
  const labels = { app: v.name };
  const container: Record<string, unknown> = { name: v.name, image: v.image.trim() };
  if (v.port) container.ports = [{ containerPort: Number(v.port) }];
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: v.name, namespace: v.namespace, labels },
    spec: { replicas: Number(v.replicas), selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [container] } } },
  };
  const service: KubeObject | null =
    v.service === 'yes' && v.port
      ? {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: v.name, namespace: v.namespace, labels },
          spec: { selector: labels, ports: [{ port: Number(v.port), targetPort: Number(v.port) }] },
        }
      : null;
  return { deployment, service };
}

export function DeploymentForm({ cluster, namespace, onClose }: { cluster: string; namespace: string; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const nsRef = { group: '', version: 'v1', resource: 'namespaces', namespaced: false, cluster };
  const { state, version } = useLiveList(collectionPath(nsRef));
  const namespaces = useMemo(() => [...(state?.items.keys() ?? [])].sort(), [state, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const form = useApiForm<F>(
    { name: '', namespace: namespace || 'default', image: '', replicas: '1', port: '', service: 'no' },
    {
      name: { validators: [required, dnsLabel] },
      namespace: { validators: [required] },
      image: { validators: [required] },
      replicas: { validators: [required, intRange(0, 10000)] },
      port: { validators: [port], optional: true },
    },
    {
      'metadata.name': 'name',
      'metadata.namespace': 'namespace',
      'spec.replicas': 'replicas',
      'spec.template.spec.containers[0].image': 'image',
      'spec.template.spec.containers[0].ports': 'port',
      'spec.ports': 'port',
    },
    async (v) => {
      const { deployment, service } = deploymentObjects(v);
      await api.post(collectionPath({ group: 'apps', version: 'v1', resource: 'deployments', namespaced: true, cluster }, v.namespace), deployment);
      if (service) {
        await api.post(collectionPath({ group: '', version: 'v1', resource: 'services', namespaced: true, cluster }, v.namespace), service);
      }
      toast.success(t('list.created', { kind: 'Deployment', name: v.name }));
      onClose();
    },
  );
  return (
    <Dialog
      open
      title={t('list.createTitle', { kind: 'Deployment' })}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" form="deployment-form" className="btn btn-primary" disabled={form.busy}>
            {form.busy ? t('common.working') : t('common.create')}
          </button>
        </>
      }
    >
      <form
        id="deployment-form"
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit();
        }}
      >
        <TextField label={t('common.name')} value={form.values.name} onChange={(v) => form.set('name', v)} error={form.error('name')} required />
        <SelectField
          label={t('common.namespace')}
          value={form.values.namespace}
          onChange={(v) => form.set('namespace', v)}
          options={(namespaces.length ? namespaces : [form.values.namespace]).map((n) => ({ value: n, label: n }))}
          error={form.error('namespace')}
        />
        <TextField label={t('deploy.image')} value={form.values.image} onChange={(v) => form.set('image', v)} error={form.error('image')} placeholder="nginx:1.27" required />
        <TextField label={t('workload.replicas')} type="number" value={form.values.replicas} onChange={(v) => form.set('replicas', v)} error={form.error('replicas')} />
        <TextField label={t('deploy.port')} type="number" value={form.values.port} onChange={(v) => form.set('port', v)} error={form.error('port')} hint={t('deploy.portHint')} />
        <SelectField
          label={t('deploy.service')}
          value={form.values.service}
          onChange={(v) => form.set('service', v)}
          options={[
            { value: 'no', label: t('deploy.serviceNo') },
            { value: 'yes', label: t('deploy.serviceYes') },
          ]}
        />
        <FormError message={form.error('')} />
      </form>
    </Dialog>
  );
}
