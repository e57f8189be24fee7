// A cluster's lifecycle page: its progress (every condition as a live step), the environment
// checks' results up front when they fail (the cluster's EnsurePreflight, or a machine's), the
// upgrade (a new spec.version one minor at a time, with the workers' upgrade mode and drain
// option; the cluster turns Upgrading and each worker Machine follows) and scaling (workers are
// the Machines page; masters are appended to spec.machines). Everything follows the watch.
import '../styles/create.css';
import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import { PLATFORM, type KubeObject } from '../api/kube';
import { newMachine, parsePreflight, toBase64, upgradeProblem, upgradeSuggestions, validateMachines, type MachineRow } from '../baremetal';
import { useI18n } from '../i18n';
import { useLiveList } from '../list/useLiveList';
import { arr, conditions, platformKinds, str, type Condition } from '../resources';
import { Conditions, Phase } from '../ui/bits';
import { FormError, SelectField, TextField } from '../ui/Form';
import { useToast } from '../ui/Toasts';
import { useLiveObject } from './DetailPage';

const clusterRef = platformKinds[0]!.ref;
const PREFLIGHT = /^Ensure(ScaleUp)?Preflight$/;
const NEED_UPGRADE = 'platform.tkestack.io/need-upgrade';

export function ClusterLifecyclePage() {
  const { cluster = '' } = useParams();
  const { t } = useI18n();
  const { obj, state } = useLiveObject(clusterRef, cluster);
  const machineQuery = useMemo(() => ({ fieldSelector: `spec.clusterName=${cluster}` }), [cluster]);
  const machines = useLiveList(`/apis/${PLATFORM}/v1/machines`, machineQuery);
  const machineList = useMemo(() => [...(machines.state?.items.values() ?? [])], [machines.state, machines.version]); // eslint-disable-line react-hooks/exhaustive-deps
  const checks = useMemo<Check[]>(() => [{ verb: 'update', group: PLATFORM, resource: 'clusters', name: cluster }], [cluster]);
  const perms = usePermissions(checks);
  const canUpdate = perms.can(checks[0] as Check);

  if (state?.error) {
    return (
      <p className="form-error" role="alert">
        {state.error.message}
      </p>
    );
  }
  if (!obj) return <p>{state?.loading === false ? t('detail.gone', { kind: 'Cluster', name: cluster }) : t('common.loading')}</p>;
  const type = str(obj, 'spec', 'type');
  const phase = str(obj, 'status', 'phase');
  const running = str(obj, 'status', 'version') || str(obj, 'spec', 'version');
  const target = str(obj, 'spec', 'version');
  const upgrading = machineList.filter((m) => m.metadata.labels?.[NEED_UPGRADE] !== undefined);
  return (
    <div className="page">
      <h1 className="page-title">{t('lifecycle.title')}</h1>
      <dl className="props">
        <dt>{t('common.phase')}</dt>
        <dd>
          <Phase phase={phase} /> {str(obj, 'status', 'message')}
        </dd>
        <dt>{t('common.type')}</dt>
        <dd>{type}</dd>
        <dt>{t('common.version')}</dt>
        <dd>{running && target && running !== target ? t('lifecycle.versionTo', { from: running, to: target }) : running || '-'}</dd>
      </dl>
      {canUpdate && <StuckCleanup cluster={obj} />}
      <EnvironmentChecks cluster={obj} machines={machineList} />
      {conditions(obj).length > 0 && <Conditions items={conditions(obj)} title={t('lifecycle.progress')} />}
      {type === 'Baremetal' && (
        <>
          <section className="card" aria-label={t('lifecycle.upgrade')}>
            <h2>{t('lifecycle.upgrade')}</h2>
            {canUpdate ? <UpgradeForm cluster={obj} /> : <p>{t('lifecycle.noPermission')}</p>}
            {upgrading.length > 0 && (
              <table className="simple-table">
                <caption>{t('lifecycle.workers')}</caption>
                <thead>
                  <tr>
                    <th>{t('common.name')}</th>
                    <th>{t('machines.ip')}</th>
                    <th>{t('common.phase')}</th>
                    <th>{t('lifecycle.upgradeState')}</th>
                  </tr>
                </thead>
                <tbody>
                  {upgrading.map((m) => (
                    <tr key={m.metadata.name}>
                      <td>
                        <Link to={`/tkestack/machines/${encodeURIComponent(m.metadata.name)}`}>{m.metadata.name}</Link>
                      </td>
                      <td>{str(m, 'spec', 'ip')}</td>
                      <td>
                        <Phase phase={str(m, 'status', 'phase')} />
                      </td>
                      <td>{m.metadata.labels?.[NEED_UPGRADE]}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section className="card" aria-label={t('lifecycle.scale')}>
            <h2>{t('lifecycle.scale')}</h2>
            <p>
              {t('lifecycle.scaleWorkers', { n: machineList.length })}{' '}
              <Link to={`/tkestack/clusters/${encodeURIComponent(cluster)}/machines`}>{t('lifecycle.toMachines')}</Link>
            </p>
            <p>{t('lifecycle.masters', { n: arr(obj, 'spec', 'machines').length })}</p>
            {canUpdate && <AddMaster cluster={obj} />}
          </section>
        </>
      )}
    </div>
  );
}

/**
 * A cluster being deleted whose machines cannot be cleaned (unreachable, gone): the controller
 * names the step to skip; this offers to skip it, so the deletion can finish without them.
 */
function StuckCleanup({ cluster }: { cluster: KubeObject }) {
  const { t } = useI18n();
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const step = /add (Ensure\w+) to spec\.features\.skipConditions/.exec(str(cluster, 'status', 'message'))?.[1];
  if (!cluster.metadata.deletionTimestamp || !step) return null;
  const skip = async () => {
    setBusy(true);
    try {
      const have = arr(cluster, 'spec', 'features', 'skipConditions').filter((x): x is string => typeof x === 'string');
      await api.patch(`/apis/${PLATFORM}/v1/clusters/${encodeURIComponent(cluster.metadata.name)}`, {
        metadata: { resourceVersion: cluster.metadata.resourceVersion },
        spec: { features: { skipConditions: [...new Set([...have, step])] } },
      });
      toast.success(t('lifecycle.skipping', { step }));
    } catch (e) {
      toast.error(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="checks-failed" aria-label={t('lifecycle.stuck')}>
      <h2>{t('lifecycle.stuck')}</h2>
      <p>{str(cluster, 'status', 'message')}</p>
      <button type="button" className="btn btn-danger" disabled={busy} onClick={() => void skip()}>
        {t('lifecycle.skipCleanup', { step })}
      </button>
    </section>
  );
}

/** The failed environment checks, each with its message; or that they all passed. */
function EnvironmentChecks({ cluster, machines }: { cluster: KubeObject; machines: KubeObject[] }) {
  const { t } = useI18n();
  const sources: { who: string; c: Condition }[] = [];
  for (const c of conditions(cluster)) if (PREFLIGHT.test(c.type)) sources.push({ who: cluster.metadata.name, c });
  for (const m of machines) for (const c of conditions(m)) if (PREFLIGHT.test(c.type)) sources.push({ who: m.metadata.name, c });
  if (sources.length === 0) return null;
  const failed = sources.filter((s) => s.c.status === 'False');
  if (failed.length === 0) {
    const done = sources.every((s) => s.c.status === 'True');
    if (done && sources.every((s) => s.c.reason === 'Skip')) return <p>{t('lifecycle.checksSkipped')}</p>;
    return <p className="checks-ok">{done ? t('lifecycle.checksPassed') : t('lifecycle.checksRunning')}</p>;
  }
  return (
    <section className="checks-failed" role="alert" aria-label={t('lifecycle.checks')}>
      <h2>{t('lifecycle.checksFailed')}</h2>
      {failed.map(({ who, c }) =>
        parsePreflight(c.message ?? '').map((r, i) => (
          <div key={`${who}/${c.type}/${i}`}>
            <h3>{r.machine ? `${who} (${r.machine})` : who}</h3>
            <ul className="check-list">
              {r.failed.map((x, j) => (
                <li key={j} className="check check-failed">
                  <span className="check-mark" aria-hidden="true">
                    ✕
                  </span>
                  <span className="check-name">{x.name}</span>
                  <span className="visually-hidden">{t('step.failed')}</span>
                  <span className="check-message">{x.message}</span>
                </li>
              ))}
            </ul>
          </div>
        )),
      )}
      <p className="field-hint">{t('lifecycle.checksRetry')}</p>
    </section>
  );
}

function UpgradeForm({ cluster }: { cluster: KubeObject }) {
  const { t } = useI18n();
  const toast = useToast();
  const current = str(cluster, 'status', 'version') || str(cluster, 'spec', 'version');
  const phase = str(cluster, 'status', 'phase');
  const [version, setVersion] = useState('');
  const [mode, setMode] = useState('Auto');
  const [drain, setDrain] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (phase === 'Upgrading') return <p>{t('lifecycle.upgrading', { version: str(cluster, 'spec', 'version') })}</p>;
  if (phase !== 'Running') return <p>{t('lifecycle.upgradeWhenRunning', { phase: phase || '-' })}</p>;
  const submit = async () => {
    const problem = version.trim() ? upgradeProblem(current, version) : 'Required value';
    setError(problem);
    setFormError(null);
    if (problem) return;
    setBusy(true);
    try {
      await api.patch(`/apis/${PLATFORM}/v1/clusters/${encodeURIComponent(cluster.metadata.name)}`, {
        spec: { version: version.trim(), features: { upgrade: { mode, strategy: { drainNodeBeforeUpgrade: drain } } } },
      });
      toast.success(t('lifecycle.upgradeStarted', { name: cluster.metadata.name, version: version.trim() }));
      setVersion('');
    } catch (e) {
      const f = e instanceof ApiError ? e.fieldErrors()['spec.version'] : undefined;
      if (f) setError(f);
      else setFormError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <TextField label={t('lifecycle.targetVersion')} value={version} onChange={(v) => (setVersion(v), setError(null))} error={error ?? undefined} hint={t('lifecycle.versionHint', { current })} placeholder={upgradeSuggestions(current)[0]} />
      <div className="suggestions" aria-label={t('lifecycle.suggestions')}>
        {upgradeSuggestions(current).map((v) => (
          <button key={v} type="button" className="btn btn-small" onClick={() => (setVersion(v), setError(null))}>
            {v}
          </button>
        ))}
      </div>
      <SelectField
        label={t('lifecycle.mode')}
        value={mode}
        onChange={setMode}
        options={[
          { value: 'Auto', label: t('lifecycle.modeAuto') },
          { value: 'Manual', label: t('lifecycle.modeManual') },
        ]}
      />
      <label className="inline-field">
        <input type="checkbox" checked={drain} onChange={(e) => setDrain(e.target.checked)} />
        <span>{t('lifecycle.drain')}</span>
      </label>
      <FormError message={formError ?? undefined} />
      <div className="page-actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? t('common.working') : t('lifecycle.upgradeSubmit')}
        </button>
      </div>
    </form>
  );
}

/** Appends a master to spec.machines (the cluster turns Upscaling and installs it). */
function AddMaster({ cluster }: { cluster: KubeObject }) {
  const { t } = useI18n();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [row, setRow] = useState<MachineRow>(newMachine());
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const phase = str(cluster, 'status', 'phase');
  if (!open) {
    return (
      <button type="button" className="btn" disabled={phase !== 'Running'} onClick={() => setOpen(true)}>
        {t('lifecycle.addMaster')}
      </button>
    );
  }
  const existing = arr(cluster, 'spec', 'machines') as Record<string, unknown>[];
  const set = (k: keyof MachineRow, v: string) => (setRow((o) => ({ ...o, [k]: v })), setErrors((o) => ({ ...o, [k]: '' })));
  const submit = async () => {
    // Checked as the wizard checks rows, against the masters already there (a duplicate IP).
    const others = existing.map((m) => ({ ...newMachine(), ip: String(m.ip ?? ''), password: 'x' }));
    const all = validateMachines([...others, row], { clusterCIDR: str(cluster, 'spec', 'clusterCIDR'), serviceCIDR: str(cluster, 'spec', 'serviceCIDR') });
    const at = `machines[${others.length}].`;
    const mine = Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(at)).map(([k, v]) => [k.slice(at.length), v]));
    setErrors(mine);
    if (Object.keys(mine).length) return;
    const m: Record<string, unknown> = { ip: row.ip.trim(), port: Number(row.port), username: row.username.trim() };
    if (row.auth === 'password') m.password = toBase64(row.password);
    else m.privateKey = toBase64(row.privateKey.trim() + '\n');
    setBusy(true);
    try {
      // The whole list, with the resourceVersion read: a concurrent change is refused (409), not lost.
      await api.patch(`/apis/${PLATFORM}/v1/clusters/${encodeURIComponent(cluster.metadata.name)}`, {
        metadata: { resourceVersion: cluster.metadata.resourceVersion },
        spec: { machines: [...existing, m] },
      });
      toast.success(t('lifecycle.masterAdding', { ip: row.ip.trim() }));
      setOpen(false);
      setRow(newMachine());
    } catch (e) {
      const causes = e instanceof ApiError ? e.fieldErrors() : {};
      const ipErr = Object.entries(causes).find(([k]) => k.startsWith(`spec.machines[${existing.length}]`));
      setErrors(ipErr ? { ip: ipErr[1] } : { '': messageOf(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="machine-row"
      aria-label={t('lifecycle.addMaster')}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <TextField label={t('machines.ip')} value={row.ip} onChange={(v) => set('ip', v)} error={errors.ip || undefined} required />
      <TextField label={t('machines.port')} value={row.port} onChange={(v) => set('port', v)} error={errors.port || undefined} />
      <TextField label={t('machines.username')} value={row.username} onChange={(v) => set('username', v)} error={errors.username || undefined} />
      <SelectField
        label={t('machines.auth')}
        value={row.auth}
        onChange={(v) => set('auth', v)}
        options={[
          { value: 'password', label: t('machines.password') },
          { value: 'key', label: t('machines.privateKey') },
        ]}
      />
      {row.auth === 'password' ? (
        <TextField label={t('machines.password')} type="password" autoComplete="off" value={row.password} onChange={(v) => set('password', v)} error={errors.password || undefined} />
      ) : (
        <TextField label={t('machines.privateKey')} multiline rows={4} value={row.privateKey} onChange={(v) => set('privateKey', v)} error={errors.privateKey || undefined} />
      )}
      <FormError message={errors[''] || undefined} />
      <div className="page-actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? t('common.working') : t('lifecycle.addMaster')}
        </button>
        <button type="button" className="btn" onClick={() => setOpen(false)}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}
