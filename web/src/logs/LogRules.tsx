// A cluster's log collection: whether a log agent runs there (and enabling one), and the
// collection rules (LogCollector objects of the business cluster) listed live, created, edited and
// deleted in an editor that offers exactly what the node agent follows: containers' stdout of all
// or chosen namespaces/workloads, files inside containers, files on the nodes; to Kafka or to
// Elasticsearch (with a connection test through the agent's `esdetection`).
import { useEffect, useMemo, useState } from 'react';
import { useParams } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import { collectionPath, type KubeObject } from '../api/kube';
import { useI18n, type T } from '../i18n';
import { ageColumn } from '../list/columns';
import { LiveTable, type Column } from '../list/LiveTable';
import { useLiveList, useNow } from '../list/useLiveList';
import { useLogAgent } from './useLogAgent';
import { NamespaceSelect } from '../pages/ClusterResources';
import { arr, field, str } from '../resources';
import { ConfirmDialog, FormDialog } from '../ui/Dialog';
import { Field, FormError, SelectField, TextField } from '../ui/Form';
import { Phase } from '../ui/bits';
import { useToast } from '../ui/Toasts';
import {
  GROUP,
  INPUT_TYPES,
  LOGAGENT_GROUP,
  WORKLOAD_TYPES,
  describeInput,
  describeOutput,
  emptyRuleForm,
  esDetection,
  logAgentsPath,
  newLogAgent,
  parseEsHost,
  ruleErrors,
  rulesApi,
  rulesProxyPath,
  toCollector,
  toRuleForm,
  type LogCollector,
  type RuleErrors,
  type RuleForm,
} from './collector';

/** Where a workload type's objects are (for the names the editor offers). */
function workloadRef(type: string): { group: string; version: string; resource: string } | null {
  switch (type) {
    case 'deployment':
    case 'statefulset':
    case 'daemonset':
      return { group: 'apps', version: 'v1', resource: `${type}s` };
    case 'job':
      return { group: 'batch', version: 'v1', resource: 'jobs' };
    default:
      return null;
  }
}

const INPUT_LABELS = { 'container-log': 'logs.input.container', 'pod-log': 'logs.input.pod', 'host-log': 'logs.input.host' } as const;

export function LogRulesPage() {
  const { cluster = '' } = useParams();
  return <LogRules key={cluster} cluster={cluster} />;
}

function LogRules({ cluster }: { cluster: string }) {
  const { t } = useI18n();
  const now = useNow();
  const toast = useToast();
  const [namespace, setNamespace] = useState('');
  const [editing, setEditing] = useState<{ form: RuleForm; base?: LogCollector } | null>(null);
  const [removing, setRemoving] = useState<LogCollector | null>(null);
  const [enabling, setEnabling] = useState(false);
  const { agent, loading: agentLoading, served, forbidden } = useLogAgent(cluster);
  const agentName = agent?.metadata.name;
  // Whether the LogCollector kind is in the cluster at all (the log add-on installs it).
  const [kindMissing, setKindMissing] = useState<boolean | null>(null);
  useEffect(() => {
    let live = true;
    api
      .get(`${rulesProxyPath(cluster)}?limit=1`)
      .then(() => live && setKindMissing(false))
      .catch((e: unknown) => live && setKindMissing(e instanceof ApiError && e.code === 404));
    return () => {
      live = false;
    };
  }, [cluster, agentName, agent?.status?.phase]);

  const checks = useMemo<Check[]>(
    () => [
      { verb: 'create', group: GROUP, resource: 'logcollectors', namespace },
      { verb: 'update', group: GROUP, resource: 'logcollectors', namespace },
      { verb: 'delete', group: GROUP, resource: 'logcollectors', namespace },
    ],
    [namespace],
  );
  const perms = usePermissions(checks, cluster);
  const agentChecks = useMemo<Check[]>(() => [{ verb: 'create', group: LOGAGENT_GROUP, resource: 'logagents' }], []);
  const agentPerms = usePermissions(agentChecks);
  const [canCreate, canUpdate, canDelete] = checks.map((c) => perms.can(c));

  const columns = useMemo<Column<LogCollector>[]>(() => {
    const cols: Column<LogCollector>[] = [
      { id: 'name', header: t('common.name'), value: (o) => o.metadata.name, render: (o) => <span title={o.metadata.name}>{o.metadata.name}</span>, width: '1.1fr' },
      { id: 'ns', header: t('common.namespace'), value: (o) => o.metadata.namespace ?? '', width: '0.7fr' },
      { id: 'input', header: t('logs.source'), value: (o) => describeInput(o), render: (o) => <span className="cell-wrap" title={describeInput(o)}>{describeInput(o)}</span>, width: '2.2fr' },
      { id: 'output', header: t('logs.destination'), value: (o) => describeOutput(o), render: (o) => <span className="cell-wrap" title={describeOutput(o)}>{describeOutput(o)}</span>, width: '2.2fr' },
      ageColumn<LogCollector>(t('common.age'), now),
    ];
    if (canUpdate || canDelete)
      cols.push({
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        render: (o) => (
          <span className="row-actions log-rule-actions">
            {canUpdate && (
              <button type="button" className="btn btn-small" aria-label={t('logs.editNamed', { name: o.metadata.name })} onClick={() => setEditing({ form: toRuleForm(o), base: o })}>
                {t('common.edit')}
              </button>
            )}
            {canDelete && (
              <button type="button" className="btn btn-small btn-danger-text" aria-label={t('list.deleteNamed', { name: o.metadata.name })} onClick={() => setRemoving(o)}>
                {t('common.delete')}
              </button>
            )}
          </span>
        ),
        width: '150px',
      });
    return cols;
  }, [t, now, canUpdate, canDelete]);

  return (
    <div className="page">
      <h1 className="page-title">{t('logs.title')}</h1>
      <section className="card log-agent-state" aria-label={t('logs.agent')} hidden={forbidden}>
        {agentLoading ? (
          <p>{t('common.loading')}</p>
        ) : !served ? (
          <p>{t('logs.agentsNotServed')}</p>
        ) : agent ? (
          <p>
            {t('logs.agentIs', { name: agent.metadata.name })} <Phase phase={str(agent, 'status', 'phase')} />
            {str(agent, 'status', 'reason') && ` ${str(agent, 'status', 'reason')}`}
          </p>
        ) : (
          <div className="page-head">
            <p>{t('logs.noAgent')}</p>
            {agentPerms.can(agentChecks[0] as Check) && (
              <button type="button" className="btn btn-primary" onClick={() => setEnabling(true)}>
                {t('logs.enable')}
              </button>
            )}
          </div>
        )}
      </section>
      {kindMissing ? (
        <p className="notice">{t('logs.kindMissing')}</p>
      ) : (
        kindMissing === false && (
          <LiveTable<LogCollector>
            url={rulesProxyPath(cluster, namespace)}
            columns={columns}
            label={t('logs.rules')}
            rowHeight={52}
            emptyText={t('logs.none')}
            toolbar={
              <>
                <NamespaceSelect cluster={cluster} value={namespace} onChange={setNamespace} />
                {canCreate && (
                  <button type="button" className="btn btn-primary" onClick={() => setEditing({ form: emptyRuleForm(namespace || 'default') })}>
                    {t('logs.new')}
                  </button>
                )}
              </>
            }
          />
        )
      )}
      {editing && (
        <RuleDialog
          cluster={cluster}
          agent={agentName}
          initial={editing.form}
          isNew={!editing.base}
          onClose={() => setEditing(null)}
          onSave={async (f) => {
            const o = toCollector(f, editing.base);
            if (editing.base) await rulesApi.replace(cluster, agentName, o);
            else await rulesApi.create(cluster, agentName, o);
            toast.success(t('logs.saved', { name: o.metadata.name }));
          }}
        />
      )}
      <ConfirmDialog
        open={removing !== null}
        title={t('logs.deleteTitle')}
        message={t('logs.deleteMessage', { name: removing?.metadata.name ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          if (!removing) return;
          await rulesApi.remove(cluster, agentName, removing);
          toast.success(t('pages.deleted', { name: removing.metadata.name }));
        }}
      />
      <ConfirmDialog
        open={enabling}
        danger={false}
        title={t('logs.enable')}
        message={t('logs.enableMessage', { cluster })}
        confirmLabel={t('logs.enable')}
        onClose={() => setEnabling(false)}
        onConfirm={async () => {
          const c = await api.get<KubeObject>(`${collectionPath({ group: 'platform.tkestack.io', version: 'v1', resource: 'clusters', namespaced: false })}/${encodeURIComponent(cluster)}`);
          await api.post(logAgentsPath, newLogAgent(cluster, str(c, 'spec', 'tenantID')));
          toast.success(t('logs.enabled', { cluster }));
        }}
      />
    </div>
  );
}

function fieldError(t: T, errs: RuleErrors, k: string): string | undefined {
  const m = errs[k];
  return m ? t('logs.fix', { message: m }) : undefined;
}

function RuleDialog({
  cluster,
  agent,
  initial,
  isNew,
  onClose,
  onSave,
}: {
  cluster: string;
  agent: string | undefined;
  initial: RuleForm;
  isNew: boolean;
  onClose: () => void;
  onSave: (f: RuleForm) => Promise<void>;
}) {
  const { t } = useI18n();
  const [f, setF] = useState<RuleForm>(initial);
  const [errs, setErrs] = useState<RuleErrors>({});
  const [failure, setFailure] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [probe, setProbe] = useState<{ ok: boolean; text: string } | null>(null);
  const { state: nsState, version: nsVersion } = useLiveList(collectionPath({ group: '', version: 'v1', resource: 'namespaces', namespaced: false, cluster }));
  const namespaces = useMemo(() => [...(nsState?.items.keys() ?? [])].sort(), [nsState, nsVersion]); // eslint-disable-line react-hooks/exhaustive-deps
  const wref = workloadRef(f.workloadType);
  const { state: wState, version: wVersion } = useLiveList(
    f.inputType === 'pod-log' && wref && f.namespace.trim() ? collectionPath({ ...wref, namespaced: true, cluster }, f.namespace.trim()) : null,
  );
  // The chosen type's workloads of the rule namespace, and the containers of the one named.
  const workloads = useMemo(() => [...(wState?.items.values() ?? [])], [wState, wVersion]); // eslint-disable-line react-hooks/exhaustive-deps
  const containerNames = useMemo(() => {
    const w = workloads.find((x) => x.metadata.name === f.workloadName.trim());
    return arr(field(w, 'spec', 'template'), 'spec', 'containers').map((c) => str(c, 'name'));
  }, [workloads, f.workloadName]);
  const set = <K extends keyof RuleForm>(k: K, v: RuleForm[K]) => setF((old) => ({ ...old, [k]: v }));
  const err = (k: string) => fieldError(t, errs, k);
  const setNs = (i: number, k: keyof RuleForm['namespaces'][number], v: string | boolean) =>
    setF((old) => ({ ...old, namespaces: old.namespaces.map((n, j) => (j === i ? { ...n, [k]: v } : n)) }));
  const setC = (i: number, k: keyof RuleForm['containers'][number], v: string) =>
    setF((old) => ({ ...old, containers: old.containers.map((n, j) => (j === i ? { ...n, [k]: v } : n)) }));
  const submit = async () => {
    const e = ruleErrors(f);
    setErrs(e);
    if (Object.keys(e).length > 0) return;
    setBusy(true);
    setFailure(undefined);
    try {
      await onSave(f);
      onClose();
    } catch (x) {
      setFailure(messageOf(x));
    } finally {
      setBusy(false);
    }
  };
  const testEs = async () => {
    const host = f.esHosts.split(',').map((h) => h.trim()).find(Boolean) ?? '';
    if (!agent || !parseEsHost(host)) {
      setProbe({ ok: false, text: t('logs.fix', { message: ruleErrors({ ...f, esHosts: host }).esHosts ?? '' }) });
      return;
    }
    setProbe(null);
    try {
      await esDetection(agent, host, f.esUser.trim(), f.esPassword);
      setProbe({ ok: true, text: t('logs.esReachable', { host }) });
    } catch (x) {
      setProbe({ ok: false, text: t('logs.esUnreachable', { host, message: messageOf(x) }) });
    }
  };
  const anyErrors = Object.keys(errs).length > 0;
  return (
    <FormDialog id="log-rule-form" wide title={isNew ? t('logs.new') : t('logs.editNamed', { name: f.name })} onClose={onClose} busy={busy} submitLabel={t('common.confirm')} onSubmit={() => void submit()}>
      <datalist id="log-rule-namespaces">
        {namespaces.map((n) => (
          <option key={n} value={n} />
        ))}
      </datalist>
      {isNew ? (
        <div className="form-row">
          <TextField label={t('common.name')} value={f.name} onChange={(v) => set('name', v)} error={err('name')} />
          <NamespaceField label={t('logs.ruleNamespace')} value={f.namespace} onChange={(v) => set('namespace', v)} error={err('namespace')} />
        </div>
      ) : (
        <p>
          {f.namespace}/{f.name}
        </p>
      )}
      <SelectField label={t('logs.sourceType')} value={f.inputType} onChange={(v) => set('inputType', v as RuleForm['inputType'])} options={INPUT_TYPES.map((x) => ({ value: x, label: t(INPUT_LABELS[x]) }))} />
      {f.inputType === 'container-log' && (
        <fieldset className="card">
          <legend>{t('logs.input.container')}</legend>
          <label className="inline-field">
            <input type="checkbox" checked={f.allNamespaces} onChange={(e) => set('allNamespaces', e.target.checked)} />
            <span>{t('logs.allNamespaces')}</span>
          </label>
          {!f.allNamespaces && (
            <>
              {f.namespaces.map((n, i) => (
                <div className="form-row form-row-top" key={i} role="group" aria-label={t('logs.namespaceN', { n: i + 1 })}>
                  <NamespaceField label={t('common.namespace')} value={n.namespace} onChange={(v) => setNs(i, 'namespace', v)} error={err(`ns${i}`)} />
                  <label className="inline-field">
                    <input type="checkbox" checked={n.allContainers} onChange={(e) => setNs(i, 'allContainers', e.target.checked)} />
                    <span>{t('logs.allContainers')}</span>
                  </label>
                  {!n.allContainers && (
                    <TextField label={t('logs.workloads')} value={n.workloads} onChange={(v) => setNs(i, 'workloads', v)} error={err(`workloads${i}`)} hint={t('logs.workloadsHint')} placeholder="deployment/web, statefulset/db" />
                  )}
                  {f.namespaces.length > 1 && (
                    <button type="button" className="btn btn-small btn-danger-text" onClick={() => set('namespaces', f.namespaces.filter((_, j) => j !== i))}>
                      {t('logs.remove')}
                    </button>
                  )}
                </div>
              ))}
              {errs.namespaces && <p className="field-error">{err('namespaces')}</p>}
              <button type="button" className="btn btn-small" onClick={() => set('namespaces', [...f.namespaces, { namespace: '', allContainers: true, workloads: '' }])}>
                {t('logs.addNamespace')}
              </button>
            </>
          )}
        </fieldset>
      )}
      {f.inputType === 'pod-log' && (
        <fieldset className="card">
          <legend>{t('logs.input.pod')}</legend>
          <p className="field-hint">{t('logs.podLogHint', { namespace: f.namespace || '-' })}</p>
          <div className="form-row form-row-top">
            <SelectField label={t('logs.workloadType')} value={f.workloadType} onChange={(v) => set('workloadType', v)} options={WORKLOAD_TYPES.map((x) => ({ value: x, label: x }))} />
            <Field label={t('logs.workloadName')} hint={t('logs.workloadNameHint')}>
              {({ id, describedBy }) => (
                <input id={id} list="log-rule-workloads" value={f.workloadName} aria-describedby={describedBy} onChange={(e) => set('workloadName', e.target.value)} />
              )}
            </Field>
            <datalist id="log-rule-workloads">
              {workloads.map((w) => (
                <option key={w.metadata.name} value={w.metadata.name} />
              ))}
            </datalist>
            <datalist id="log-rule-containers">
              {containerNames.map((c) => (
                <option key={c} value={c} />
              ))}
            </datalist>
          </div>
          {f.containers.map((c, i) => (
            <div className="form-row form-row-top" key={i} role="group" aria-label={t('logs.containerN', { n: i + 1 })}>
              <Field label={t('pods.container')} error={err(`container${i}`)}>
                {({ id, describedBy, invalid }) => (
                  <input id={id} list="log-rule-containers" value={c.container} aria-describedby={describedBy} aria-invalid={invalid} onChange={(e) => setC(i, 'container', e.target.value)} />
                )}
              </Field>
              <TextField label={t('logs.paths')} value={c.paths} onChange={(v) => setC(i, 'paths', v)} error={err(`paths${i}`)} hint={t('logs.pathsHint')} placeholder="/data/logs/" />
              {f.containers.length > 1 && (
                <button type="button" className="btn btn-small btn-danger-text" onClick={() => set('containers', f.containers.filter((_, j) => j !== i))}>
                  {t('logs.remove')}
                </button>
              )}
            </div>
          ))}
          {errs.containers && <p className="field-error">{err('containers')}</p>}
          <button type="button" className="btn btn-small" onClick={() => set('containers', [...f.containers, { container: '', paths: '' }])}>
            {t('logs.addContainer')}
          </button>
          <label className="inline-field">
            <input type="checkbox" checked={f.metadata} onChange={(e) => set('metadata', e.target.checked)} />
            <span>{t('logs.metadata')}</span>
          </label>
        </fieldset>
      )}
      {f.inputType === 'host-log' && (
        <fieldset className="card">
          <legend>{t('logs.input.host')}</legend>
          <TextField label={t('logs.hostPath')} value={f.hostPath} onChange={(v) => set('hostPath', v)} error={err('hostPath')} hint={t('logs.hostPathHint')} placeholder="/var/log/nginx/*.log" />
          <TextField label={t('logs.hostLabels')} value={f.hostLabels} onChange={(v) => set('hostLabels', v)} error={err('hostLabels')} hint={t('logs.hostLabelsHint')} multiline rows={3} />
        </fieldset>
      )}
      <SelectField
        label={t('logs.destinationType')}
        value={f.outputType}
        onChange={(v) => set('outputType', v as RuleForm['outputType'])}
        options={[
          { value: 'kafka', label: 'Kafka' },
          { value: 'elasticsearch', label: 'Elasticsearch' },
        ]}
      />
      {f.outputType === 'kafka' ? (
        <fieldset className="card">
          <legend>Kafka</legend>
          <div className="form-row">
            <TextField label={t('logs.kafkaHost')} value={f.kafkaHost} onChange={(v) => set('kafkaHost', v)} error={err('kafkaHost')} />
            <TextField label={t('logs.port')} value={f.kafkaPort} onChange={(v) => set('kafkaPort', v)} error={err('kafkaPort')} type="number" />
            <TextField label={t('logs.topic')} value={f.kafkaTopic} onChange={(v) => set('kafkaTopic', v)} error={err('kafkaTopic')} />
          </div>
        </fieldset>
      ) : (
        <fieldset className="card">
          <legend>Elasticsearch</legend>
          <TextField label={t('logs.esHosts')} value={f.esHosts} onChange={(v) => set('esHosts', v)} error={err('esHosts')} hint={t('logs.esHostsHint')} placeholder="http://10.0.0.5:9200" />
          <TextField label={t('logs.esIndex')} value={f.esIndex} onChange={(v) => set('esIndex', v)} error={err('esIndex')} />
          <div className="form-row">
            <TextField label={t('logs.esUser')} value={f.esUser} onChange={(v) => set('esUser', v)} autoComplete="off" />
            <TextField label={t('logs.esPassword')} value={f.esPassword} onChange={(v) => set('esPassword', v)} type="password" autoComplete="new-password" />
          </div>
          <div className="page-actions">
            <button type="button" className="btn" disabled={!agent} onClick={() => void testEs()}>
              {t('logs.esTest')}
            </button>
            {!agent && <span className="field-hint">{t('logs.esTestNeedsAgent')}</span>}
          </div>
          {probe && (
            <p role="status" className={probe.ok ? 'checks-ok' : 'field-error'}>
              {probe.text}
            </p>
          )}
        </fieldset>
      )}
      {anyErrors && <FormError message={t('logs.fixAbove')} />}
      <FormError message={failure} />
    </FormDialog>
  );
}

function NamespaceField({ label, value, onChange, error }: { label: string; value: string; onChange: (v: string) => void; error?: string | undefined }) {
  return (
    <Field label={label} error={error}>
      {({ id, describedBy, invalid }) => (
        <input id={id} list="log-rule-namespaces" value={value} aria-describedby={describedBy} aria-invalid={invalid} onChange={(e) => onChange(e.target.value)} />
      )}
    </Field>
  );
}
