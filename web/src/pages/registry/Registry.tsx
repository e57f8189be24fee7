// The image registry: namespaces (registry.tkestack.io Namespace; create public or private,
// delete), a namespace's repositories, and a repository's tags with their digests, sizes, push
// times and the pull command to copy.
import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import { age, type KubeObject } from '../../api/kube';
import { CopyButton, REGISTRY_V1 } from '../../access/shared';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useLiveList, useNow } from '../../list/useLiveList';
import { formatBytes } from '../../quantity';
import { pullCommand, registryHost, registryName, shortDigest } from '../../registry/names';
import { arr, num, str } from '../../resources';
import { useSession } from '../../session';
import { Dialog, FormDialog } from '../../ui/Dialog';
import { FormError, SelectField, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { ageColumn } from '../../list/columns';
import { DeleteDialog } from '../../ui/DeleteDialog';

/** What the search box matches besides the object's name. */
const repoText = (o: KubeObject) => str(o, 'spec', 'name');
const searchText = (o: KubeObject) => `${str(o, 'spec', 'name')} ${str(o, 'spec', 'displayName')}`;

const G = 'registry.tkestack.io';
const checks: Record<'create' | 'delete', Check> = {
  create: { verb: 'create', group: G, resource: 'namespaces' },
  delete: { verb: 'delete', group: G, resource: 'namespaces' },
};

export function RegistryPage() {
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
        render: (o) => <Link to={`/tkestack/registry/${encodeURIComponent(o.metadata.name)}`}>{str(o, 'spec', 'name')}</Link>,
        width: '1.2fr',
      },
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.2fr' },
      { id: 'visibility', header: t('registry.visibility'), value: (o) => str(o, 'spec', 'visibility'), width: '0.7fr' },
      { id: 'repos', header: t('registry.repoCount'), value: (o) => num(o, 'status', 'repoCount'), width: '0.7fr' },
      ageColumn(t('common.age'), now),
      ...(canDelete
        ? [
            {
              id: 'ops',
              header: t('common.actions'),
              sortable: false,
              value: () => '',
              width: '0.7fr',
              render: (o: KubeObject) => (
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
      <h1 className="page-title">{t('registry.title')}</h1>
      <LiveTable
        url={`${REGISTRY_V1}/namespaces`}
        columns={columns}
        label={t('registry.title')}
        searchText={searchText}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
              {t('registry.createNamespace')}
            </button>
          )
        }
      />
      {creating && <NamespaceForm onClose={() => setCreating(false)} />}
      <DeleteDialog
        target={deleting}
        url={(o) => `${REGISTRY_V1}/namespaces/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'name')}
        title={t('registry.deleteTitle')}
        message={(name) => t('registry.deleteMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

function NamespaceForm({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const form = useApiForm<'name' | 'displayName' | 'visibility'>(
    { name: '', displayName: '', visibility: 'Private' },
    { name: { validators: [registryName] } },
    { 'spec.name': 'name', 'spec.displayName': 'displayName', 'spec.visibility': 'visibility' },
    async (v) => {
      await api.post(`${REGISTRY_V1}/namespaces`, {
        apiVersion: `${G}/v1`,
        kind: 'Namespace',
        metadata: { generateName: 'rns-' },
        spec: { name: v.name, displayName: v.displayName || undefined, visibility: v.visibility },
      });
      toast.success(t('pages.createdNamed', { name: v.name }));
      onClose();
    },
  );
  return (
    <FormDialog
      id="rns-form"
      title={t('registry.createNamespace')}
      onClose={onClose}
      busy={form.busy}
      submitLabel={t('common.create')}
      onSubmit={() => void form.submit()}
    >
      <TextField label={t('common.name')} value={form.values.name} onChange={(v) => form.set('name', v)} error={form.error('name')} hint={t('registry.nameHint')} required />
      <TextField label={t('pages.displayName')} value={form.values.displayName} onChange={(v) => form.set('displayName', v)} error={form.error('displayName')} />
      <SelectField
        label={t('registry.visibility')}
        value={form.values.visibility}
        onChange={(v) => form.set('visibility', v)}
        error={form.error('visibility')}
        options={[
          { value: 'Private', label: t('registry.private') },
          { value: 'Public', label: t('registry.public') },
        ]}
      />
      <FormError message={form.error('')} />
    </FormDialog>
  );
}

/** The registry's host for pull commands. */
function useRegistryHost(): string {
  const { sysinfo } = useSession();
  const r = sysinfo.registry as { domainSuffix?: string; defaultTenant?: string } | undefined;
  return registryHost(r?.domainSuffix, r?.defaultTenant, location.host);
}

/** One image namespace: its repositories, each with its tags. */
export function RegistryNamespacePage() {
  const { ns = '' } = useParams();
  const { t } = useI18n();
  const now = useNow();
  const query = useMemo(() => ({ fieldSelector: `metadata.name=${ns}` }), [ns]);
  const nsList = useLiveList(`${REGISTRY_V1}/namespaces`, query);
  const nsObj = nsList.state ? [...nsList.state.items.values()][0] : undefined;
  const imageNs = str(nsObj, 'spec', 'name');
  const [open, setOpen] = useState<KubeObject | null>(null);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      {
        id: 'name',
        header: t('registry.repository'),
        value: (o) => str(o, 'spec', 'name'),
        render: (o) => (
          <button type="button" className="link-button" onClick={() => setOpen(o)}>
            {str(o, 'spec', 'name')}
          </button>
        ),
        width: '1.5fr',
      },
      { id: 'tags', header: t('registry.tags'), value: (o) => arr(o, 'status', 'tags').length, width: '0.5fr' },
      { id: 'pulls', header: t('registry.pulls'), value: (o) => num(o, 'status', 'pullCount'), width: '0.5fr' },
      { id: 'visibility', header: t('registry.visibility'), value: (o) => str(o, 'spec', 'visibility'), width: '0.6fr' },
      ageColumn(t('common.age'), now),
    ],
    [t, now],
  );
  return (
    <div className="page">
      <div className="page-kind">
        <Link to="/tkestack/registry">{t('registry.title')}</Link>
      </div>
      <h1 className="page-title">{imageNs || ns}</h1>
      <LiveTable url={`${REGISTRY_V1}/namespaces/${encodeURIComponent(ns)}/repositories`} columns={columns} label={t('registry.repositories')} searchText={repoText} />
      {open && <Tags repo={open} imageNs={imageNs} onClose={() => setOpen(null)} />}
    </div>
  );
}

interface TagRow {
  name: string;
  digest: string;
  timeCreated: string;
  /** Bytes of config and layers (0 when the registry did not record it). */
  size: number;
}

function Tags({ repo, imageNs, onClose }: { repo: KubeObject; imageNs: string; onClose: () => void }) {
  const { t } = useI18n();
  const host = useRegistryHost();
  const name = str(repo, 'spec', 'name');
  const tags: TagRow[] = arr(repo, 'status', 'tags').map((x) => ({ name: str(x, 'name'), digest: str(x, 'digest'), timeCreated: str(x, 'timeCreated'), size: num(x, 'size') }));
  return (
    <Dialog
      open
      wide
      title={t('registry.tagsOf', { name: `${imageNs}/${name}` })}
      onClose={onClose}
      footer={
        <button type="button" className="btn" onClick={onClose}>
          {t('pages.close')}
        </button>
      }
    >
      {tags.length === 0 ? (
        <p>{t('registry.noTags')}</p>
      ) : (
        <table className="simple-table">
          <thead>
            <tr>
              <th scope="col">{t('registry.tag')}</th>
              <th scope="col">{t('registry.digest')}</th>
              <th scope="col">{t('registry.size')}</th>
              <th scope="col">{t('registry.pushed')}</th>
              <th scope="col">{t('registry.pull')}</th>
            </tr>
          </thead>
          <tbody>
            {tags.map((tag) => {
              const cmd = pullCommand(host, imageNs, name, tag.name);
              return (
                <tr key={tag.name}>
                  <td>{tag.name}</td>
                  <td title={tag.digest}>
                    <code>{shortDigest(tag.digest)}</code> <CopyButton text={tag.digest} label={t('registry.copyDigest')} />
                  </td>
                  <td>{tag.size > 0 ? formatBytes(tag.size) : '-'}</td>
                  <td>{tag.timeCreated ? age(tag.timeCreated) : '-'}</td>
                  <td>
                    <code className="pull-command">{cmd}</code> <CopyButton text={cmd} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Dialog>
  );
}
