// TKEStack's own workload kinds in a business cluster: TApps (`apps.tkestack.io/v1`, from the
// TappController add-on) and CronHPAs (`extensions.tkestack.io/v1`, from the CronHPA add-on).
// A page shows only when the cluster serves the kind (API discovery through the cluster proxy);
// otherwise it says which add-on provides it. Lists are live; objects have the generic detail
// page (summary, YAML, delete); both kinds can be created from YAML and CronHPAs from a form too.
import '../styles/create.css';
import { useEffect, useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import { apiVersionOf, clusterProxy, collectionPath, objectPath, type KubeObject, type ResourceRef } from '../api/kube';
import { cronHpaField, cronHpaObject, validateCronHpa, TARGET_KINDS, type CronHpaFields } from '../cronhpa';
import { YamlEditor, useSchemaCheck } from '../editor';
import { useI18n } from '../i18n';
import { LiveTable, type Column } from '../list/LiveTable';
import { useNow } from '../list/useLiveList';
import { arr, num, str } from '../resources';
import { ConfirmDialog, Dialog } from '../ui/Dialog';
import { FormError, SelectField, TextField } from '../ui/Form';
import { useToast } from '../ui/Toasts';
import { parseOne } from '../yamlText';
import { NamespaceSelect } from './ClusterResources';
import { DetailPage } from './DetailPage';
import { ageColumn } from '../list/columns';

export interface TkeKind {
  id: 'tapps' | 'cronhpas';
  kind: string;
  ref: Omit<ResourceRef, 'cluster'>;
  /** The add-on type that serves it (ClusterAddonType name). */
  addon: string;
}

export const tkeKinds: TkeKind[] = [
  { id: 'tapps', kind: 'TApp', ref: { group: 'apps.tkestack.io', version: 'v1', resource: 'tapps', namespaced: true }, addon: 'TappController' },
  { id: 'cronhpas', kind: 'CronHPA', ref: { group: 'extensions.tkestack.io', version: 'v1', resource: 'cronhpas', namespaced: true }, addon: 'CronHPA' },
];

const tkeKind = (id: string | undefined) => tkeKinds.find((k) => k.id === id);

export function tkeObjectLink(cluster: string, kind: string, name: string, namespace?: string): string {
  return `/tkestack/clusters/${encodeURIComponent(cluster)}/x/${kind}/${encodeURIComponent(namespace || '_')}/${encodeURIComponent(name)}`;
}

type Served = 'loading' | 'yes' | 'no' | { error: string };

/** How often a kind not served yet is looked for again (an add-on being installed serves it soon). */
const RECHECK_MS = 5000;

/** Whether the cluster serves the kind: its group-version's discovery lists the resource. */
export function useServed(cluster: string, ref: TkeKind['ref']): Served {
  const [served, setServed] = useState<Served>('loading');
  useEffect(() => {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    setServed('loading');
    const look = () => {
      api
        .get<{ resources?: { name?: string }[] }>(`${clusterProxy(cluster)}/apis/${ref.group}/${ref.version}`, ac.signal)
        .then((r) => ((r?.resources ?? []).some((x) => x.name === ref.resource) ? 'yes' : 'no'))
        .catch((e: unknown): Served => (e instanceof ApiError && e.code === 404 ? 'no' : { error: messageOf(e) }))
        .then((v) => {
          if (ac.signal.aborted) return;
          setServed(v);
          if (v === 'no') timer = setTimeout(look, RECHECK_MS);
        });
    };
    look();
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
  }, [cluster, ref.group, ref.version, ref.resource]);
  return served;
}

/** Renders `children` when the kind is served, else which add-on provides it. */
function WhenServed({ cluster, kind, children }: { cluster: string; kind: TkeKind; children: React.ReactNode }) {
  const { t } = useI18n();
  const served = useServed(cluster, kind.ref);
  if (served === 'loading') return <p>{t('common.loading')}</p>;
  if (served === 'yes') return <>{children}</>;
  if (served === 'no') {
    return (
      <div className="page">
        <h1 className="page-title">{t(`tke.${kind.id}`)}</h1>
        <p className="notice" role="status">
          {t('tke.notServed', { kind: kind.kind, group: `${kind.ref.group}/${kind.ref.version}`, addon: kind.addon })}{' '}
          <Link to={`/tkestack/clusters/${encodeURIComponent(cluster)}/addons`}>{t('tke.toAddons')}</Link>
        </p>
      </div>
    );
  }
  return (
    <p className="form-error" role="alert">
      {served.error}
    </p>
  );
}

export function TkeResourcesPage() {
  const { cluster = '', kind: kindId } = useParams();
  const { t } = useI18n();
  const kind = tkeKind(kindId);
  if (!kind) return <p>{t('common.notFound')}</p>;
  return (
    <WhenServed key={`${cluster}/${kind.id}`} cluster={cluster} kind={kind}>
      <TkeList cluster={cluster} kind={kind} />
    </WhenServed>
  );
}

function columnsFor(kind: TkeKind, t: ReturnType<typeof useI18n>['t']): Column<KubeObject>[] {
  if (kind.id === 'tapps') {
    return [
      { id: 'replicas', header: t('tke.replicas'), value: (o) => `${num(o, 'status', 'readyReplicas')}/${num(o, 'spec', 'replicas')}`, width: '0.6fr' },
      { id: 'state', header: t('common.status'), value: (o) => str(o, 'status', 'appStatus'), width: '0.8fr' },
    ];
  }
  return [
    { id: 'target', header: t('tke.target'), value: (o) => `${str(o, 'spec', 'scaleTargetRef', 'kind')}/${str(o, 'spec', 'scaleTargetRef', 'name')}`, width: '1fr' },
    {
      id: 'crons',
      header: t('tke.crons'),
      value: (o) => arr(o, 'spec', 'crons').map((c) => `${str(c, 'schedule')} → ${num(c, 'targetReplicas')}`).join(', '),
      width: '1.6fr',
    },
    { id: 'next', header: t('tke.next'), value: (o) => str(o, 'status', 'nextScheduleTime'), width: '1fr' },
  ];
}

function template(kind: TkeKind, namespace: string): string {
  const head = `apiVersion: ${apiVersionOf({ ...kind.ref })}\nkind: ${kind.kind}\nmetadata:\n  name: ""\n  namespace: ${namespace || 'default'}\n`;
  if (kind.id === 'cronhpas') {
    return `${head}spec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: ""\n  crons:\n  - schedule: "0 22 * * *"\n    targetReplicas: 1\n`;
  }
  return `${head}spec:\n  replicas: 1\n  template:\n    metadata:\n      labels: {app: ""}\n    spec:\n      containers:\n      - name: main\n        image: ""\n`;
}

function TkeList({ cluster, kind }: { cluster: string; kind: TkeKind }) {
  const { t } = useI18n();
  const toast = useToast();
  const now = useNow();
  const [namespace, setNamespace] = useState('');
  const [creating, setCreating] = useState<string | null>(null);
  const [createError, setCreateError] = useState<string | null>(null);
  const [formOpen, setFormOpen] = useState(false);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const ref: ResourceRef = { ...kind.ref, cluster };
  const schemaCheck = useSchemaCheck(cluster, creating !== null);
  const checks = useMemo<Check[]>(
    () => [
      { verb: 'create', group: kind.ref.group, resource: kind.ref.resource, namespace },
      { verb: 'delete', group: kind.ref.group, resource: kind.ref.resource, namespace },
    ],
    [kind, namespace],
  );
  const perms = usePermissions(checks, cluster);
  const canCreate = perms.can(checks[0] as Check);
  const canDelete = perms.can(checks[1] as Check);
  const columns = useMemo<Column<KubeObject>[]>(() => {
    const cols: Column<KubeObject>[] = [
      {
        id: 'name',
        header: t('common.name'),
        value: (o) => o.metadata.name,
        render: (o) => <Link to={tkeObjectLink(cluster, kind.id, o.metadata.name, o.metadata.namespace)}>{o.metadata.name}</Link>,
        width: '1.4fr',
      },
      { id: 'ns', header: t('common.namespace'), value: (o) => o.metadata.namespace ?? '', width: '0.8fr' },
      ...columnsFor(kind, t),
      ageColumn(t('common.age'), now),
    ];
    if (canDelete)
      cols.push({
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        render: (o) => (
          <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDeleting(o)} aria-label={t('list.deleteNamed', { name: o.metadata.name })}>
            {t('common.delete')}
          </button>
        ),
        width: '0.6fr',
      });
    return cols;
  }, [t, cluster, kind, now, canDelete]);

  const create = async () => {
    if (creating === null) return;
    setCreateError(null);
    try {
      const o = parseOne(creating);
      await api.post(collectionPath(ref, o.metadata?.namespace || namespace || 'default'), o);
      toast.success(t('list.created', { kind: kind.kind, name: o.metadata?.name ?? '' }));
      setCreating(null);
    } catch (e) {
      setCreateError(messageOf(e));
    }
  };

  return (
    <div className="page">
      <h1 className="page-title">{t(`tke.${kind.id}`)}</h1>
      <LiveTable
        url={collectionPath(ref, namespace)}
        columns={columns}
        label={t(`tke.${kind.id}`)}
        toolbar={
          <>
            <NamespaceSelect cluster={cluster} value={namespace} onChange={setNamespace} />
            {canCreate && kind.id === 'cronhpas' && (
              <button type="button" className="btn btn-primary" onClick={() => setFormOpen(true)}>
                {t('common.create')}
              </button>
            )}
            {canCreate && (
              <button type="button" className="btn" onClick={() => (setCreating(template(kind, namespace)), setCreateError(null))}>
                {t('list.createYaml')}
              </button>
            )}
          </>
        }
      />
      <Dialog
        open={creating !== null}
        wide
        title={t('list.createTitle', { kind: kind.kind })}
        onClose={() => setCreating(null)}
        footer={
          <>
            <button type="button" className="btn" onClick={() => setCreating(null)}>
              {t('common.cancel')}
            </button>
            <button type="button" className="btn btn-primary" onClick={create}>
              {t('common.create')}
            </button>
          </>
        }
      >
        {createError && (
          <p className="form-error" role="alert">
            {createError}
          </p>
        )}
        {creating !== null && <YamlEditor value={creating} onChange={setCreating} check={schemaCheck} label={t('list.createTitle', { kind: kind.kind })} height="50vh" />}
      </Dialog>
      {formOpen && <CronHpaForm cluster={cluster} namespace={namespace} onClose={() => setFormOpen(false)} />}
      <ConfirmDialog
        open={deleting !== null}
        title={t('detail.deleteTitle', { kind: kind.kind })}
        message={t('detail.deleteMessage', { kind: kind.kind, name: deleting?.metadata.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          await api.del(objectPath(ref, deleting.metadata.name, deleting.metadata.namespace ?? ''));
          toast.success(t('detail.deleted', { kind: kind.kind, name: deleting.metadata.name }));
        }}
      />
    </div>
  );
}

function CronHpaForm({ cluster, namespace, onClose }: { cluster: string; namespace: string; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const [f, setF] = useState<CronHpaFields>({
    name: '',
    namespace: namespace || 'default',
    targetKind: 'Deployment',
    targetName: '',
    timeZone: '',
    crons: [{ schedule: '0 8 * * *', replicas: '3' }],
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const err = (k: string) => errors[k] || undefined;
  const set = (k: 'name' | 'namespace' | 'targetKind' | 'targetName' | 'timeZone', v: string) => (setF((o) => ({ ...o, [k]: v })), setErrors((o) => ({ ...o, [k]: '' })));
  const setCron = (i: number, k: 'schedule' | 'replicas', v: string) => {
    setF((o) => ({ ...o, crons: o.crons.map((c, j) => (j === i ? { ...c, [k]: v } : c)) }));
    setErrors((o) => ({ ...o, [`crons[${i}].${k}`]: '', crons: '' }));
  };
  const submit = async () => {
    const local = validateCronHpa(f);
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const ref: ResourceRef = { ...tkeKinds[1]!.ref, cluster };
      const o = await api.post<KubeObject>(collectionPath(ref, f.namespace.trim()), cronHpaObject(f));
      toast.success(t('list.created', { kind: 'CronHPA', name: o.metadata.name }));
      onClose();
    } catch (e) {
      const out: Record<string, string> = {};
      if (e instanceof ApiError) for (const [p, m] of Object.entries(e.fieldErrors())) out[cronHpaField(p)] = cronHpaField(p) ? m : `${p}: ${m}`;
      if (!out['']) out[''] = messageOf(e);
      setErrors(out);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open
      wide
      title={t('tke.cronCreate')}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" form="cronhpa-form" className="btn btn-primary" disabled={busy}>
            {busy ? t('common.working') : t('common.create')}
          </button>
        </>
      }
    >
      <form
        id="cronhpa-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <TextField label={t('common.name')} value={f.name} onChange={(v) => set('name', v)} error={err('name')} required />
        <TextField label={t('common.namespace')} value={f.namespace} onChange={(v) => set('namespace', v)} error={err('namespace')} required />
        <SelectField label={t('tke.targetKind')} value={f.targetKind} onChange={(v) => set('targetKind', v)} options={Object.keys(TARGET_KINDS).map((k) => ({ value: k, label: k }))} error={err('targetKind')} />
        <TextField label={t('tke.targetName')} value={f.targetName} onChange={(v) => set('targetName', v)} error={err('targetName')} required />
        <TextField label={t('tke.timeZone')} value={f.timeZone} onChange={(v) => set('timeZone', v)} error={err('timeZone')} placeholder="Asia/Shanghai" hint={t('tke.timeZoneHint')} />
        {f.crons.map((c, i) => (
          <div className="machine-row" key={i} role="group" aria-label={t('tke.cronN', { n: i + 1 })}>
            <TextField label={t('tke.schedule')} value={c.schedule} onChange={(v) => setCron(i, 'schedule', v)} error={err(`crons[${i}].schedule`)} hint={t('tke.scheduleHint')} />
            <TextField label={t('tke.targetReplicas')} value={c.replicas} onChange={(v) => setCron(i, 'replicas', v)} error={err(`crons[${i}].replicas`)} />
            {f.crons.length > 1 && (
              <button type="button" className="btn btn-small btn-danger-text" onClick={() => (setF((o) => ({ ...o, crons: o.crons.filter((_, j) => j !== i) })), setErrors({}))}>
                {t('tke.removeCron')}
              </button>
            )}
          </div>
        ))}
        <FormError message={err('crons')} />
        <button type="button" className="btn" onClick={() => setF((o) => ({ ...o, crons: [...o.crons, { schedule: '', replicas: '1' }] }))}>
          {t('tke.addCron')}
        </button>
        <FormError message={err('')} />
      </form>
    </Dialog>
  );
}

export function TkeObjectPage() {
  const { cluster = '', kind: kindId, namespace = '_', name = '' } = useParams();
  const { t } = useI18n();
  const kind = tkeKind(kindId);
  if (!kind) return <p>{t('common.notFound')}</p>;
  return (
    <WhenServed key={`${cluster}/${kind.id}/${namespace}/${name}`} cluster={cluster} kind={kind}>
      <DetailPage
        ref_={{ ...kind.ref, cluster }}
        kind={kind.kind}
        name={name}
        namespace={namespace === '_' ? undefined : namespace}
        backTo={`/tkestack/clusters/${encodeURIComponent(cluster)}/x/${kind.id}`}
        extra={kind.id === 'cronhpas' ? (o) => <CronStatus o={o} /> : undefined}
      />
    </WhenServed>
  );
}

/** Each cron of a CronHPA with its last and next run. */
function CronStatus({ o }: { o: KubeObject }) {
  const { t } = useI18n();
  const status = arr(o, 'status', 'crons');
  return (
    <table className="simple-table">
      <caption>{t('tke.crons')}</caption>
      <thead>
        <tr>
          <th>{t('tke.schedule')}</th>
          <th>{t('tke.targetReplicas')}</th>
          <th>{t('tke.last')}</th>
          <th>{t('tke.next')}</th>
        </tr>
      </thead>
      <tbody>
        {arr(o, 'spec', 'crons').map((c, i) => (
          <tr key={i}>
            <td>{str(c, 'schedule')}</td>
            <td>{num(c, 'targetReplicas')}</td>
            <td>{str(status[i], 'lastScheduleTime') || '-'}</td>
            <td>{str(status[i], 'nextScheduleTime') || '-'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
