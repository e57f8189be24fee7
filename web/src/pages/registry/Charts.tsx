// Helm charts: chart groups (registry.tkestack.io ChartGroup; create, delete), a group's
// charts with their versions, and uploading a chart archive (.tgz) to a group.
import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import { type KubeObject } from '../../api/kube';
import { REGISTRY_V1 } from '../../access/shared';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useLiveList, useNow } from '../../list/useLiveList';
import { formatBytes } from '../../quantity';
import { registryName } from '../../registry/names';
import { checkChartFile, uploadChart } from '../../registry/upload';
import { arr, num, str } from '../../resources';
import { useSession } from '../../session';
import { Phase } from '../../ui/bits';
import { FormDialog } from '../../ui/Dialog';
import { Field, FormError, SelectField, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { ageColumn } from '../../list/columns';
import { DeleteDialog } from '../../ui/DeleteDialog';

/** What the search box matches besides the object's name. */
const chartText = (o: KubeObject) => str(o, 'spec', 'name');
const searchText = (o: KubeObject) => `${str(o, 'spec', 'name')} ${str(o, 'spec', 'displayName')}`;

const G = 'registry.tkestack.io';
const checks: Record<'create' | 'delete' | 'upload', Check> = {
  create: { verb: 'create', group: G, resource: 'chartgroups' },
  delete: { verb: 'delete', group: G, resource: 'chartgroups' },
  upload: { verb: 'create', group: 'auth.tkestack.io', resource: 'apikeys', name: 'default', subresource: 'token' },
};

export function ChartGroupsPage() {
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canDelete = perms.can(checks.delete);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      {
        id: 'name',
        header: t('common.name'),
        value: (o) => str(o, 'spec', 'name'),
        render: (o) => <Link to={`/tkestack/charts/${encodeURIComponent(o.metadata.name)}`}>{str(o, 'spec', 'name')}</Link>,
        width: '1.2fr',
      },
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.2fr' },
      { id: 'type', header: t('common.type'), value: (o) => str(o, 'spec', 'type'), width: '0.7fr' },
      { id: 'visibility', header: t('registry.visibility'), value: (o) => str(o, 'spec', 'visibility'), width: '0.7fr' },
      { id: 'charts', header: t('charts.count'), value: (o) => num(o, 'status', 'chartCount'), width: '0.5fr' },
      { id: 'phase', header: t('common.phase'), value: (o) => str(o, 'status', 'phase'), render: (o) => <Phase phase={str(o, 'status', 'phase')} />, width: '0.7fr' },
      ageColumn(t('common.age'), now),
      ...(canDelete
        ? [
            {
              id: 'ops',
              header: t('common.actions'),
              sortable: false,
              value: () => '',
              width: '0.7fr',
              render: (o: KubeObject) =>
                str(o, 'spec', 'type') === 'System' ? null : (
                  <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDeleting(o)}>
                    {t('common.delete')}
                  </button>
                ),
            },
          ]
        : []),
    ],
    [t, now, canDelete],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('charts.title')}</h1>
      <LiveTable
        url={`${REGISTRY_V1}/chartgroups`}
        columns={columns}
        label={t('charts.title')}
        searchText={searchText}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
              {t('charts.createGroup')}
            </button>
          )
        }
      />
      {creating && <ChartGroupForm onClose={() => setCreating(false)} />}
      <DeleteDialog
        target={deleting}
        url={(o) => `${REGISTRY_V1}/chartgroups/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'name')}
        title={t('charts.deleteTitle')}
        message={(name) => t('charts.deleteMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

function ChartGroupForm({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const form = useApiForm<'name' | 'displayName' | 'visibility' | 'description'>(
    { name: '', displayName: '', visibility: 'Private', description: '' },
    { name: { validators: [registryName] } },
    { 'spec.name': 'name', 'spec.displayName': 'displayName', 'spec.visibility': 'visibility', 'spec.description': 'description' },
    async (v) => {
      await api.post(`${REGISTRY_V1}/chartgroups`, {
        apiVersion: `${G}/v1`,
        kind: 'ChartGroup',
        metadata: { generateName: 'cg-' },
        spec: { name: v.name, displayName: v.displayName || undefined, visibility: v.visibility, type: 'SelfBuilt', description: v.description || undefined },
      });
      toast.success(t('pages.createdNamed', { name: v.name }));
      onClose();
    },
  );
  return (
    <FormDialog
      id="cg-form"
      title={t('charts.createGroup')}
      onClose={onClose}
      busy={form.busy}
      submitLabel={t('common.create')}
      onSubmit={() => void form.submit()}
    >
      <TextField label={t('common.name')} value={form.values.name} onChange={(v) => form.set('name', v)} error={form.error('name')} required />
      <TextField label={t('pages.displayName')} value={form.values.displayName} onChange={(v) => form.set('displayName', v)} error={form.error('displayName')} />
      <SelectField
        label={t('registry.visibility')}
        value={form.values.visibility}
        onChange={(v) => form.set('visibility', v)}
        error={form.error('visibility')}
        options={[
          { value: 'Private', label: t('registry.private') },
          { value: 'Public', label: t('registry.public') },
          { value: 'User', label: t('charts.visibilityUser') },
          { value: 'Project', label: t('charts.visibilityProject') },
        ]}
      />
      <TextField label={t('common.description')} value={form.values.description} onChange={(v) => form.set('description', v)} error={form.error('description')} />
      <FormError message={form.error('')} />
    </FormDialog>
  );
}

/** One chart group: its charts and versions, and the upload. */
export function ChartGroupPage() {
  const { group = '' } = useParams();
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => [checks.upload], []));
  const query = useMemo(() => ({ fieldSelector: `metadata.name=${group}` }), [group]);
  const groups = useLiveList(`${REGISTRY_V1}/chartgroups`, query);
  const groupObj = groups.state ? [...groups.state.items.values()][0] : undefined;
  const groupName = str(groupObj, 'spec', 'name');
  const [uploading, setUploading] = useState(false);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'name', header: t('common.name'), value: (o) => str(o, 'spec', 'name'), width: '1.2fr' },
      {
        id: 'versions',
        header: t('charts.versions'),
        value: (o) => arr(o, 'status', 'versions').map((v) => str(v, 'version')).join(', '),
        render: (o) => (
          <span title={arr(o, 'status', 'versions').map((v) => `${str(v, 'version')} (${formatBytes(num(v, 'chartSize'))})`).join(', ')}>
            {arr(o, 'status', 'versions')
              .map((v) => str(v, 'version'))
              .join(', ')}
          </span>
        ),
        width: '1.6fr',
      },
      { id: 'app', header: t('charts.appVersion'), value: (o) => str(arr(o, 'status', 'versions')[0], 'appVersion'), width: '0.8fr' },
      { id: 'size', header: t('registry.size'), value: (o) => num(arr(o, 'status', 'versions')[0], 'chartSize'), render: (o) => formatBytes(num(arr(o, 'status', 'versions')[0], 'chartSize')), width: '0.6fr' },
      { id: 'pulls', header: t('registry.pulls'), value: (o) => num(o, 'status', 'pullCount'), width: '0.5fr' },
      ageColumn(t('common.age'), now),
    ],
    [t, now],
  );
  return (
    <div className="page">
      <div className="page-kind">
        <Link to="/tkestack/charts">{t('charts.title')}</Link>
      </div>
      <h1 className="page-title">{groupName || group}</h1>
      <LiveTable
        url={`${REGISTRY_V1}/namespaces/${encodeURIComponent(group)}/charts`}
        searchText={chartText}
        columns={columns}
        label={t('charts.charts')}
        toolbar={
          perms.can(checks.upload) &&
          groupName && (
            <button type="button" className="btn btn-primary" onClick={() => setUploading(true)}>
              {t('charts.upload')}
            </button>
          )
        }
      />
      {uploading && <UploadChart group={groupName} onClose={() => setUploading(false)} />}
    </div>
  );
}

function UploadChart({ group, onClose }: { group: string; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const { user } = useSession();
  const [file, setFile] = useState<File | null>(null);
  const [force, setForce] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const send = async () => {
    if (!file) {
      setError(t('charts.chooseFile'));
      return;
    }
    const bad = checkChartFile(file);
    if (bad) {
      setError(bad);
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await uploadChart(group, user.name, file, force);
      toast.success(t('charts.uploaded', { name: file.name }));
      onClose();
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <FormDialog
      id="chart-upload"
      title={t('charts.uploadTo', { name: group })}
      onClose={onClose}
      busy={busy}
      submitLabel={t('charts.upload')}
      onSubmit={() => void send()}
    >
      <Field label={t('charts.file')} error={error} hint={t('charts.fileHint')}>
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            type="file"
            accept=".tgz,application/gzip,application/x-gzip"
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onChange={(e) => {
              setFile(e.target.files?.[0] ?? null);
              setError(undefined);
            }}
          />
        )}
      </Field>
      <label className="check">
        <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
        {t('charts.force')}
      </label>
    </FormDialog>
  );
}
