// Notification channels (notify.tkestack.io Channel): live list; create and edit by kind (SMTP,
// webhook, Tencent Cloud SMS, WeChat) with write-only credentials (never shown; left empty, the
// stored one stays); delete; "send test message" (channels/{name}/test), whose request the
// dialog follows until it is Sent, Failed or PartialFailure with the reasons.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import type { KubeObject } from '../../api/kube';
import { useI18n } from '../../i18n';
import { ageColumn } from '../../list/columns';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useNow } from '../../list/useLiveList';
import { API_VERSION, CHANNEL_KINDS, channelForm, channelKind, channelSpec, nameList, NOTIFY, NOTIFY_V1, parseHeaders, type ChannelField, type ChannelKind } from '../../notify/objects';
import { str } from '../../resources';
import { DeleteDialog } from '../../ui/DeleteDialog';
import { Dialog, FormDialog } from '../../ui/Dialog';
import { FormError, SelectField, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { required } from '../../ui/validation';

const R = 'channels';
const checks: Record<'create' | 'update' | 'delete' | 'test', Check> = {
  create: { verb: 'create', group: NOTIFY, resource: R },
  update: { verb: 'update', group: NOTIFY, resource: R },
  delete: { verb: 'delete', group: NOTIFY, resource: R },
  test: { verb: 'create', group: NOTIFY, resource: R, subresource: 'test' },
};

const searchText = (o: KubeObject) => `${str(o, 'spec', 'displayName')} ${channelKind(o)}`;

export function ChannelsPage() {
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const [form, setForm] = useState<{ channel?: KubeObject } | null>(null);
  const [testing, setTesting] = useState<KubeObject | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canUpdate = perms.can(checks.update);
  const canDelete = perms.can(checks.delete);
  const canTest = perms.can(checks.test);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.3fr' },
      { id: 'name', header: t('pages.id'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'kind', header: t('notify.kind'), value: (o) => { const k = channelKind(o); return k ? t(`notify.kind.${k}`) : ''; }, width: '1fr' },
      { id: 'status', header: t('common.status'), value: (o) => str(o, 'status', 'phase'), width: '0.7fr' },
      ageColumn(t('common.age'), now),
      {
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.8fr',
        render: (o) => (
          <span className="row-actions">
            {canTest && (
              <button type="button" className="btn btn-small" onClick={() => setTesting(o)}>
                {t('notify.test')}
              </button>
            )}
            {canUpdate && (
              <button type="button" className="btn btn-small" onClick={() => setForm({ channel: o })}>
                {t('common.edit')}
              </button>
            )}
            {canDelete && (
              <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDeleting(o)}>
                {t('common.delete')}
              </button>
            )}
          </span>
        ),
      },
    ],
    [t, now, canUpdate, canDelete, canTest],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('notify.channels')}</h1>
      <LiveTable
        url={`${NOTIFY_V1}/${R}`}
        columns={columns}
        label={t('notify.channels')}
        searchText={searchText}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setForm({})}>
              {t('notify.newChannel')}
            </button>
          )
        }
      />
      {form && <ChannelForm channel={form.channel} onClose={() => setForm(null)} />}
      {testing && <TestDialog channel={testing} onClose={() => setTesting(null)} />}
      <DeleteDialog
        target={deleting}
        url={(o) => `${NOTIFY_V1}/${R}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'displayName')}
        title={t('notify.deleteChannel')}
        message={(name) => t('notify.deleteChannelMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

const headersRule = (v: string) => {
  const parsed = parseHeaders(v);
  return 'error' in parsed ? parsed.error : null;
};

function ChannelForm({ channel, onClose }: { channel?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const form = useApiForm<ChannelField>(
    channelForm(channel),
    { displayName: { validators: [required] }, headers: { validators: [headersRule] } },
    {
      'spec.displayName': 'displayName',
      'spec.smtp.smtpHost': 'smtpHost',
      'spec.smtp.smtpPort': 'smtpPort',
      'spec.smtp.email': 'email',
      'spec.webhook.url': 'url',
      'spec.tencentCloudSMS.sdkAppID': 'sdkAppID',
      'spec.wechat.appID': 'appID',
    },
    async (v) => {
      const spec = channelSpec(v, channel);
      if (channel) await api.put(`${NOTIFY_V1}/${R}/${encodeURIComponent(channel.metadata.name)}`, { ...channel, spec });
      else await api.post(`${NOTIFY_V1}/${R}`, { apiVersion: API_VERSION, kind: 'Channel', metadata: { generateName: 'chn-' }, spec });
      toast.success(t(channel ? 'pages.saved' : 'pages.createdNamed', { name: v.displayName }));
      onClose();
    },
  );
  const v = form.values;
  const kind = v.kind as ChannelKind;
  const text = (f: ChannelField, label: string, extra: { type?: string; hint?: string; multiline?: boolean } = {}) => (
    <TextField label={label} value={v[f]} onChange={(x) => form.set(f, x)} error={form.error(f)} type={extra.type} hint={extra.hint} multiline={extra.multiline} />
  );
  const secretHint = t('notify.secretHint');
  return (
    <FormDialog
      id="channel-form"
      title={channel ? t('notify.editChannel') : t('notify.newChannel')}
      onClose={onClose}
      busy={form.busy}
      submitLabel={channel ? t('common.save') : t('common.create')}
      onSubmit={() => void form.submit()}
    >
      <TextField label={t('pages.displayName')} value={v.displayName} onChange={(x) => form.set('displayName', x)} error={form.error('displayName')} required />
      <SelectField label={t('notify.kind')} value={v.kind} onChange={(x) => form.set('kind', x)} options={CHANNEL_KINDS.map((k) => ({ value: k, label: t(`notify.kind.${k}`) }))} />
      {kind === 'smtp' && (
        <>
          {text('smtpHost', t('notify.smtpHost'))}
          {text('smtpPort', t('notify.smtpPort'), { type: 'number' })}
          <SelectField label={t('notify.tls')} value={v.tls} onChange={(x) => form.set('tls', x)} options={[{ value: 'true', label: t('notify.tls.true') }, { value: 'false', label: t('notify.tls.false') }]} />
          {text('email', t('notify.sender'))}
          {text('password', t('notify.password'), { type: 'password', hint: secretHint })}
        </>
      )}
      {kind === 'webhook' && (
        <>
          {text('url', t('notify.url'))}
          {text('headers', t('notify.headers'), { multiline: true })}
        </>
      )}
      {kind === 'tencentCloudSMS' && (
        <>
          {text('sdkAppID', t('notify.sdkAppID'))}
          {text('secretID', t('notify.secretID'))}
          {text('appKey', t('notify.appKey'), { type: 'password', hint: secretHint })}
          {text('extend', t('notify.extend'))}
        </>
      )}
      {kind === 'wechat' && (
        <>
          {text('appID', t('notify.appID'))}
          {text('appSecret', t('notify.appSecret'), { type: 'password', hint: secretHint })}
        </>
      )}
      <FormError message={form.error('')} />
    </FormDialog>
  );
}

function TestDialog({ channel, onClose }: { channel: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const [receivers, setReceivers] = useState('');
  const [template, setTemplate] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [result, setResult] = useState<KubeObject | null>(null);
  const name = channel.metadata.name;
  const send = async () => {
    setBusy(true);
    setError(undefined);
    setResult(null);
    try {
      const created = await api.post<KubeObject>(`${NOTIFY_V1}/${R}/${encodeURIComponent(name)}/test`, { receivers: nameList(receivers), templateName: template.trim() });
      // Followed until the controller has sent it (or given up), a few seconds at most.
      const path = `${NOTIFY_V1}/namespaces/${encodeURIComponent(name)}/messagerequests/${encodeURIComponent(created.metadata.name)}`;
      for (let i = 0; i < 60; i++) {
        const r = await api.get<KubeObject>(path);
        const phase = str(r, 'status', 'phase');
        if (phase === 'Sent' || phase === 'Failed' || phase === 'PartialFailure') {
          setResult(r);
          return;
        }
        await new Promise((ok) => setTimeout(ok, 500));
      }
      setError(t('notify.testSending'));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  const errors = (result?.status as { errors?: Record<string, string> } | undefined)?.errors ?? {};
  return (
    <Dialog
      open
      title={t('notify.testTitle', { name: str(channel, 'spec', 'displayName') || name })}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('pages.close')}
          </button>
          <button type="button" className="btn btn-primary" disabled={busy || nameList(receivers).length === 0} onClick={() => void send()}>
            {busy ? t('notify.testSending') : t('notify.test')}
          </button>
        </>
      }
    >
      <TextField label={t('notify.testReceivers')} value={receivers} onChange={setReceivers} required />
      <TextField label={t('notify.testTemplate')} value={template} onChange={setTemplate} />
      <FormError message={error} />
      {result && (
        <div role="status" className="test-result">
          <p>
            <strong>{t('notify.testResult', { phase: str(result, 'status', 'phase') })}</strong>
          </p>
          {Object.keys(errors).length > 0 && (
            <ul>
              {Object.entries(errors).map(([who, why]) => (
                <li key={who}>
                  {who}: {why}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </Dialog>
  );
}
