// Create a cluster on your own machines: a wizard (basics → machines → review → create) that
// builds a Baremetal Cluster, checks every field the way the API does before sending, puts the
// API's own field causes back on their step and field, and then opens the cluster's page, where
// the progress (each condition, the environment checks) follows live. Passwords and keys are
// never shown back: the review says only that one is set.
import '../styles/create.css';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { api } from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import { PLATFORM, type KubeObject } from '../api/kube';
import {
  baremetalCluster,
  newMachine,
  stepOf,
  validateBasics,
  validateMachines,
  wizardErrors,
  type BaremetalFields,
  type MachineRow,
  type WizardErrors,
} from '../baremetal';
import { useI18n } from '../i18n';
import { FormError, SelectField, TextField } from '../ui/Form';
import { useToast } from '../ui/Toasts';

const STEPS = ['create.stepBasics', 'create.stepMachines', 'create.stepReview'] as const;

export function ClusterCreatePage() {
  const { t } = useI18n();
  const toast = useToast();
  const navigate = useNavigate();
  const [step, setStep] = useState<0 | 1 | 2>(0);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<WizardErrors>({});
  const [f, setF] = useState<BaremetalFields>({
    name: '',
    displayName: '',
    version: '1.30.2',
    clusterCIDR: '10.244.0.0/16',
    serviceCIDR: '10.96.0.0/16',
    machines: [newMachine()],
  });

  const set = <K extends keyof BaremetalFields>(k: K, v: BaremetalFields[K]) => {
    setF((old) => ({ ...old, [k]: v }));
    setErrors((old) => ({ ...old, [k]: '' }));
  };
  const setRow = (i: number, k: keyof MachineRow, v: string) => {
    setF((old) => ({ ...old, machines: old.machines.map((m, j) => (j === i ? { ...m, [k]: v } : m)) }));
    setErrors((old) => ({ ...old, [`machines[${i}].${k}`]: '', machines: '' }));
  };
  const err = (k: string) => errors[k] || undefined;

  const next = () => {
    const found = step === 0 ? validateBasics(f) : step === 1 ? validateMachines(f.machines, f) : {};
    setErrors(found);
    if (Object.keys(found).length === 0 && step < 2) setStep((step + 1) as 1 | 2);
  };

  const create = async () => {
    const local = { ...validateBasics(f), ...validateMachines(f.machines, f) };
    if (Object.keys(local).length) {
      setErrors(local);
      setStep(Math.min(...Object.keys(local).map(stepOf)) as 0 | 1 | 2);
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const created = await api.post<KubeObject>(`/apis/${PLATFORM}/v1/clusters`, baremetalCluster(f));
      toast.success(t('create.started', { name: created.metadata.name }));
      navigate(`/tkestack/clusters/${encodeURIComponent(created.metadata.name)}/lifecycle`);
    } catch (e) {
      const out: WizardErrors = {};
      if (e instanceof ApiError) {
        Object.assign(out, wizardErrors(e.fieldErrors(), e.message));
      } else out[''] = messageOf(e);
      setErrors(out);
      const fieldKeys = Object.keys(out).filter((k) => k !== '');
      if (fieldKeys.length) setStep(Math.min(...fieldKeys.map(stepOf)) as 0 | 1 | 2);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <h1 className="page-title">{t('create.title')}</h1>
      <ol className="wizard-steps" aria-label={t('create.steps')}>
        {STEPS.map((s, i) => (
          <li key={s} className={i === step ? 'wizard-step wizard-step-current' : 'wizard-step'} aria-current={i === step ? 'step' : undefined}>
            {i + 1}. {t(s)}
          </li>
        ))}
      </ol>
      <form
        className="card"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (step === 2) void create();
          else next();
        }}
      >
        {step === 0 && (
          <fieldset className="wizard-page">
            <legend>{t('create.stepBasics')}</legend>
            <TextField label={t('import.name')} value={f.name} onChange={(v) => set('name', v)} error={err('name')} hint={t('import.nameHint')} />
            <TextField label={t('clusters.displayName')} value={f.displayName} onChange={(v) => set('displayName', v)} error={err('displayName')} />
            <TextField label={t('create.version')} value={f.version} onChange={(v) => set('version', v)} error={err('version')} hint={t('create.versionHint')} required />
            <TextField label={t('create.clusterCIDR')} value={f.clusterCIDR} onChange={(v) => set('clusterCIDR', v)} error={err('clusterCIDR')} hint={t('create.cidrHint')} />
            <TextField label={t('create.serviceCIDR')} value={f.serviceCIDR} onChange={(v) => set('serviceCIDR', v)} error={err('serviceCIDR')} />
          </fieldset>
        )}
        {step === 1 && (
          <fieldset className="wizard-page">
            <legend>{t('create.stepMachines')}</legend>
            <p className="field-hint">{t('create.machinesHint')}</p>
            {f.machines.map((m, i) => (
              <div className="machine-row" key={i} role="group" aria-label={t('create.machineN', { n: i + 1 })}>
                <div className="machine-row-head">
                  <strong>{t('create.machineN', { n: i + 1 })}</strong>
                  {f.machines.length > 1 && (
                    <button
                      type="button"
                      className="btn btn-small btn-danger-text"
                      onClick={() => {
                        setF((old) => ({ ...old, machines: old.machines.filter((_, j) => j !== i) }));
                        setErrors({});
                      }}
                    >
                      {t('create.removeMachine')}
                    </button>
                  )}
                </div>
                <TextField label={t('machines.ip')} value={m.ip} onChange={(v) => setRow(i, 'ip', v)} error={err(`machines[${i}].ip`)} placeholder="10.0.0.21" required />
                <TextField label={t('machines.port')} value={m.port} onChange={(v) => setRow(i, 'port', v)} error={err(`machines[${i}].port`)} />
                <TextField label={t('machines.username')} value={m.username} onChange={(v) => setRow(i, 'username', v)} error={err(`machines[${i}].username`)} />
                <SelectField
                  label={t('machines.auth')}
                  value={m.auth}
                  onChange={(v) => setRow(i, 'auth', v)}
                  options={[
                    { value: 'password', label: t('machines.password') },
                    { value: 'key', label: t('machines.privateKey') },
                  ]}
                />
                {m.auth === 'password' ? (
                  <TextField label={t('machines.password')} type="password" autoComplete="off" value={m.password} onChange={(v) => setRow(i, 'password', v)} error={err(`machines[${i}].password`)} />
                ) : (
                  <>
                    <TextField label={t('machines.privateKey')} multiline rows={4} value={m.privateKey} onChange={(v) => setRow(i, 'privateKey', v)} error={err(`machines[${i}].privateKey`)} />
                    <TextField label={t('create.passPhrase')} type="password" autoComplete="off" value={m.passPhrase} onChange={(v) => setRow(i, 'passPhrase', v)} error={err(`machines[${i}].passPhrase`)} />
                  </>
                )}
              </div>
            ))}
            <FormError message={err('machines')} />
            <button type="button" className="btn" onClick={() => setF((old) => ({ ...old, machines: [...old.machines, newMachine()] }))}>
              {t('create.addMachine')}
            </button>
          </fieldset>
        )}
        {step === 2 && (
          <section className="wizard-page" aria-label={t('create.stepReview')}>
            <dl className="props">
              <dt>{t('import.name')}</dt>
              <dd>{f.name || t('create.generated')}</dd>
              {f.displayName && (
                <>
                  <dt>{t('clusters.displayName')}</dt>
                  <dd>{f.displayName}</dd>
                </>
              )}
              <dt>{t('create.version')}</dt>
              <dd>{f.version}</dd>
              <dt>{t('create.clusterCIDR')}</dt>
              <dd>{f.clusterCIDR || '10.244.0.0/16'}</dd>
              <dt>{t('create.serviceCIDR')}</dt>
              <dd>{f.serviceCIDR || '-'}</dd>
            </dl>
            <table className="simple-table">
              <caption>{t('create.stepMachines')}</caption>
              <thead>
                <tr>
                  <th>{t('machines.ip')}</th>
                  <th>{t('machines.port')}</th>
                  <th>{t('machines.username')}</th>
                  <th>{t('machines.auth')}</th>
                </tr>
              </thead>
              <tbody>
                {f.machines.map((m, i) => (
                  <tr key={i}>
                    <td>{m.ip}</td>
                    <td>{m.port}</td>
                    <td>{m.username}</td>
                    <td>{m.auth === 'password' ? t('create.passwordSet') : t('create.keySet')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
        <FormError message={err('')} />
        <div className="page-actions">
          {step > 0 && (
            <button type="button" className="btn" onClick={() => (setStep((step - 1) as 0 | 1), setErrors({}))}>
              {t('create.back')}
            </button>
          )}
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {step < 2 ? t('create.next') : busy ? t('common.working') : t('create.submit')}
          </button>
          <button type="button" className="btn" onClick={() => navigate('/tkestack/clusters')}>
            {t('common.cancel')}
          </button>
        </div>
      </form>
    </div>
  );
}
