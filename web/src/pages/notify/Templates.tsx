// Notification templates (notify.tkestack.io Template, in the namespace named after their
// channel): pick a channel, then its templates live; create and edit what fits the channel's
// kind (subject and body for e-mail and webhooks; the provider's template ID, signature and
// ordered variables for SMS and WeChat); bodies are Go templates the server checks; delete.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import type { KubeObject } from '../../api/kube';
import { useI18n } from '../../i18n';
import { ageColumn } from '../../list/columns';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useLiveList, useNow } from '../../list/useLiveList';
import { API_VERSION, channelKind, nameList, NOTIFY, NOTIFY_V1, type ChannelKind } from '../../notify/objects';
import { arr, str } from '../../resources';
import { DeleteDialog } from '../../ui/DeleteDialog';
import { FormDialog } from '../../ui/Dialog';
import { FormError, SelectField, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { required } from '../../ui/validation';

const R = 'templates';
const checks: Record<'create' | 'update' | 'delete', Check> = {
  create: { verb: 'create', group: NOTIFY, resource: R },
  update: { verb: 'update', group: NOTIFY, resource: R },
  delete: { verb: 'delete', group: NOTIFY, resource: R },
};

export function TemplatesPage() {
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const live = useLiveList(`${NOTIFY_V1}/channels`);
  const channels = useMemo(() => [...(live.state?.items.values() ?? [])].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)), [live.state, live.version]); // eslint-disable-line react-hooks/exhaustive-deps
  const [picked, setPicked] = useState('');
  const channel = channels.find((c) => c.metadata.name === picked) ?? channels[0];
  const [form, setForm] = useState<{ template?: KubeObject } | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canUpdate = perms.can(checks.update);
  const canDelete = perms.can(checks.delete);
  const ns = channel?.metadata.name ?? '';
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.3fr' },
      { id: 'name', header: t('pages.id'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'header', header: t('notify.header'), value: (o) => str(o, 'spec', 'text', 'header') || str(o, 'spec', 'tencentCloudSMS', 'templateID') || str(o, 'spec', 'wechat', 'templateID'), width: '1.5fr' },
      ageColumn(t('common.age'), now),
      {
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.2fr',
        render: (o) => (
          <span className="row-actions">
            {canUpdate && (
              <button type="button" className="btn btn-small" onClick={() => setForm({ template: o })}>
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
    [t, now, canUpdate, canDelete],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('notify.templates')}</h1>
      {channels.length === 0 ? (
        <p>{t('notify.noChannel')}</p>
      ) : (
        <>
          <SelectField
            label={t('notify.channel')}
            value={ns}
            onChange={setPicked}
            options={channels.map((c) => ({ value: c.metadata.name, label: `${str(c, 'spec', 'displayName')} (${c.metadata.name})` }))}
          />
          <LiveTable
            url={ns ? `${NOTIFY_V1}/namespaces/${encodeURIComponent(ns)}/${R}` : null}
            columns={columns}
            label={t('notify.templates')}
            searchText={(o) => str(o, 'spec', 'displayName')}
            toolbar={
              perms.can(checks.create) && (
                <button type="button" className="btn btn-primary" onClick={() => setForm({})}>
                  {t('notify.newTemplate')}
                </button>
              )
            }
          />
        </>
      )}
      {form && channel && <TemplateForm channel={channel} template={form.template} onClose={() => setForm(null)} />}
      <DeleteDialog
        target={deleting}
        url={(o) => `${NOTIFY_V1}/namespaces/${encodeURIComponent(ns)}/${R}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'displayName')}
        title={t('notify.deleteTemplate')}
        message={(name) => t('notify.deleteTemplateMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

type Field = 'displayName' | 'header' | 'body' | 'keys' | 'templateID' | 'sign' | 'url';

/** Where the provider's template lives in the spec for each kind of channel. */
function flavour(kind: ChannelKind | ''): 'text' | 'tencentCloudSMS' | 'wechat' {
  return kind === 'tencentCloudSMS' ? 'tencentCloudSMS' : kind === 'wechat' ? 'wechat' : 'text';
}

function TemplateForm({ channel, template, onClose }: { channel: KubeObject; template?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const f = flavour(channelKind(channel));
  const ns = channel.metadata.name;
  const form = useApiForm<Field>(
    {
      displayName: str(template, 'spec', 'displayName'),
      header: str(template, 'spec', 'text', 'header'),
      body: str(template, 'spec', f, 'body'),
      keys: arr(template, 'spec', 'keys').map(String).join(', '),
      templateID: str(template, 'spec', f, 'templateID'),
      sign: str(template, 'spec', 'tencentCloudSMS', 'sign'),
      url: str(template, 'spec', 'wechat', 'url'),
    },
    { displayName: { validators: [required] } },
    {
      'spec.displayName': 'displayName',
      'spec.text.header': 'header',
      'spec.text.body': 'body',
      [`spec.${f}.body`]: 'body',
      [`spec.${f}.templateID`]: 'templateID',
    },
    async (v) => {
      const spec: Record<string, unknown> = { ...((template?.spec as Record<string, unknown>) ?? {}), displayName: v.displayName.trim() };
      if (f === 'text') spec.text = { header: v.header, body: v.body };
      else {
        spec.keys = nameList(v.keys);
        spec[f] = f === 'tencentCloudSMS' ? { templateID: v.templateID.trim(), sign: v.sign.trim(), body: v.body } : { templateID: v.templateID.trim(), url: v.url.trim(), body: v.body };
      }
      const base = `${NOTIFY_V1}/namespaces/${encodeURIComponent(ns)}/${R}`;
      if (template) await api.put(`${base}/${encodeURIComponent(template.metadata.name)}`, { ...template, spec });
      else await api.post(base, { apiVersion: API_VERSION, kind: 'Template', metadata: { generateName: 'tpl-', namespace: ns }, spec });
      toast.success(t(template ? 'pages.saved' : 'pages.createdNamed', { name: v.displayName }));
      onClose();
    },
  );
  const v = form.values;
  return (
    <FormDialog
      id="template-form"
      title={template ? t('notify.editTemplate') : t('notify.newTemplate')}
      onClose={onClose}
      busy={form.busy}
      submitLabel={template ? t('common.save') : t('common.create')}
      onSubmit={() => void form.submit()}
    >
      <TextField label={t('pages.displayName')} value={v.displayName} onChange={(x) => form.set('displayName', x)} error={form.error('displayName')} required />
      {f === 'text' && <TextField label={t('notify.header')} value={v.header} onChange={(x) => form.set('header', x)} error={form.error('header')} />}
      {f !== 'text' && (
        <>
          <TextField label={t('notify.templateID')} value={v.templateID} onChange={(x) => form.set('templateID', x)} error={form.error('templateID')} />
          {f === 'tencentCloudSMS' && <TextField label={t('notify.sign')} value={v.sign} onChange={(x) => form.set('sign', x)} />}
          {f === 'wechat' && <TextField label={t('notify.url')} value={v.url} onChange={(x) => form.set('url', x)} />}
          <TextField label={t('notify.keys')} value={v.keys} onChange={(x) => form.set('keys', x)} />
        </>
      )}
      <TextField label={t('notify.body')} multiline rows={6} value={v.body} onChange={(x) => form.set('body', x)} error={form.error('body')} />
      <FormError message={form.error('')} />
    </FormDialog>
  );
}
