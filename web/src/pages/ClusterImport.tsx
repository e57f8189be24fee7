// Import an existing cluster: from a kubeconfig (pasted or uploaded) or its address and
// credential typed in. Creates the ClusterCredential, then the Cluster referencing it (and
// removes the credential again if the cluster is refused), then opens the cluster's page, where
// its conditions show the import's progress live.
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { api } from '../api/client';
import { ApiError } from '../api/errors';
import { PLATFORM, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { KubeconfigError, fromKubeconfig, importObjects, type ImportFields } from '../importCluster';
import { Field, FormError, TextField, useApiForm } from '../ui/Form';
import { useToast } from '../ui/Toasts';
import { clusterName, required } from '../ui/validation';

type F = keyof ImportFields;
const empty: Record<F, string> = { name: '', displayName: '', server: '', caCert: '', token: '', clientCert: '', clientKey: '' };

/** Where the API's field paths land on this form (credential and cluster alike). */
const fieldMap: Record<string, F> = {
  'metadata.name': 'name',
  clusterName: 'name',
  'spec.displayName': 'displayName',
  'status.addresses': 'server',
  caCert: 'caCert',
  token: 'token',
  clientCert: 'clientCert',
  clientKey: 'clientKey',
};

export function ClusterImportPage() {
  const { t } = useI18n();
  const toast = useToast();
  const navigate = useNavigate();
  const [kubeconfigError, setKubeconfigError] = useState<string | null>(null);
  const form = useApiForm<F>(
    empty,
    { name: { validators: [clusterName], optional: true }, server: { validators: [required] } },
    fieldMap,
    async (v) => {
      if (!v.token.trim() && !(v.clientCert.trim() && v.clientKey.trim())) {
        throw new ApiError(422, 'Invalid', t('import.needCredential'), [{ field: 'token', message: t('import.needCredential') }]);
      }
      let objs;
      try {
        objs = importObjects(v);
      } catch (e) {
        if (e instanceof KubeconfigError) throw new ApiError(422, 'Invalid', e.message, [{ field: 'status.addresses', message: e.message }]);
        throw e;
      }
      const cred = await api.post<KubeObject>(`/apis/${PLATFORM}/v1/clustercredentials`, objs.credential);
      const credName = cred.metadata.name;
      (objs.cluster.spec as { clusterCredentialRef: { name: string } }).clusterCredentialRef.name = credName;
      try {
        const created = await api.post<KubeObject>(`/apis/${PLATFORM}/v1/clusters`, objs.cluster);
        toast.success(t('import.started', { name: created.metadata.name }));
        navigate(`/tkestack/clusters/${encodeURIComponent(created.metadata.name)}`);
      } catch (e) {
        await api.del(`/apis/${PLATFORM}/v1/clustercredentials/${encodeURIComponent(credName)}`).catch(() => undefined);
        throw e;
      }
    },
  );

  const useKubeconfig = (text: string) => {
    setKubeconfigError(null);
    if (!text.trim()) return;
    try {
      const got = fromKubeconfig(text);
      for (const [k, v] of Object.entries(got) as [F, string][]) form.set(k, v);
    } catch (e) {
      setKubeconfigError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <div className="page">
      <h1 className="page-title">{t('import.title')}</h1>
      <form
        className="card"
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit();
        }}
      >
        <TextField label={t('import.name')} value={form.values.name} onChange={(v) => form.set('name', v)} error={form.error('name')} hint={t('import.nameHint')} />
        <TextField label={t('clusters.displayName')} value={form.values.displayName} onChange={(v) => form.set('displayName', v)} error={form.error('displayName')} />
        <Field label={t('import.kubeconfig')} error={kubeconfigError ?? undefined} hint={t('import.kubeconfigHint')}>
          {({ id, describedBy, invalid }) => (
            <div className="kubeconfig-input">
              <textarea id={id} rows={5} aria-describedby={describedBy} aria-invalid={invalid} spellCheck={false} onChange={(e) => useKubeconfig(e.target.value)} />
              <input
                type="file"
                aria-label={t('import.kubeconfigFile')}
                onChange={(e) => {
                  const f = e.target.files?.[0];
                  if (f) void f.text().then(useKubeconfig);
                }}
              />
            </div>
          )}
        </Field>
        <TextField label={t('import.server')} value={form.values.server} onChange={(v) => form.set('server', v)} error={form.error('server')} placeholder="https://10.0.0.10:6443" required />
        <TextField label={t('import.caCert')} value={form.values.caCert} onChange={(v) => form.set('caCert', v)} error={form.error('caCert')} multiline rows={3} hint={t('import.pemHint')} />
        <TextField label={t('import.token')} type="password" autoComplete="off" value={form.values.token} onChange={(v) => form.set('token', v)} error={form.error('token')} />
        <TextField label={t('import.clientCert')} value={form.values.clientCert} onChange={(v) => form.set('clientCert', v)} error={form.error('clientCert')} multiline rows={3} />
        <TextField label={t('import.clientKey')} value={form.values.clientKey} onChange={(v) => form.set('clientKey', v)} error={form.error('clientKey')} multiline rows={3} />
        <FormError message={form.error('')} />
        <div className="page-actions">
          <button type="submit" className="btn btn-primary" disabled={form.busy}>
            {form.busy ? t('common.working') : t('import.submit')}
          </button>
          <button type="button" className="btn" onClick={() => navigate('/tkestack/clusters')}>
            {t('common.cancel')}
          </button>
        </div>
      </form>
    </div>
  );
}
