// A cluster's alarm policies (the monitor component's REST API): the list, the editor (type,
// objects, metrics with operator, threshold, periods and unit, receivers, receiver groups and
// channel:template pairs, offered from the notify objects when they exist and typed freely
// otherwise) and delete.
import { useCallback, useEffect, useState } from 'react';
import { useParams } from 'react-router';
import { api } from '../api/client';
import { useI18n } from '../i18n';
import { ConfirmDialog, FormDialog } from '../ui/Dialog';
import { FormError, SelectField, TextField } from '../ui/Form';
import { useToast } from '../ui/Toasts';
import {
  KNOWN_METRICS,
  OPERATORS,
  POLICY_TYPES,
  alarmApi,
  describeMetrics,
  emptyForm,
  envelopeMessage,
  formErrors,
  toForm,
  toPolicy,
  type AlarmPolicy,
  type PolicyForm,
} from './alarm';

const TYPE_LABELS = {
  cluster: 'alarm.type.cluster',
  node: 'alarm.type.node',
  pod: 'alarm.type.pod',
  virtualMachine: 'alarm.type.virtualMachine',
} as const;

/** Names of notify objects for the pick lists (empty when notify is not there). */
interface NotifyNames {
  receivers: string[];
  groups: string[];
  ways: string[];
}

async function names(path: string, withNamespace = false): Promise<string[]> {
  try {
    const l = await api.get<{ items?: { metadata?: { name?: string; namespace?: string } }[] }>(path);
    return (l.items ?? []).map((i) => (withNamespace ? `${i.metadata?.namespace ?? ''}:${i.metadata?.name ?? ''}` : (i.metadata?.name ?? '')));
  } catch {
    return [];
  }
}

export function AlarmPoliciesPage() {
  const { cluster = '' } = useParams();
  const { t } = useI18n();
  const toast = useToast();
  const [rows, setRows] = useState<AlarmPolicy[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ form: PolicyForm; isNew: boolean } | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [notify, setNotify] = useState<NotifyNames>({ receivers: [], groups: [], ways: [] });

  const load = useCallback(async () => {
    try {
      const data = await alarmApi.list(cluster);
      setRows(data.alarmPolicies ?? []);
      setError(null);
    } catch (e) {
      setError(envelopeMessage(e));
      setRows([]);
    }
  }, [cluster]);

  useEffect(() => {
    void load();
    const n = '/apis/notify.tkestack.io/v1';
    void Promise.all([names(`${n}/receivers`), names(`${n}/receivergroups`), names(`${n}/templates`, true)]).then(
      ([receivers, groups, ways]) => setNotify({ receivers, groups, ways }),
    );
  }, [load]);

  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title">{t('alarm.title')}</h1>
        <button type="button" className="btn btn-primary" onClick={() => setEditing({ form: emptyForm(), isNew: true })}>
          {t('alarm.new')}
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {rows === null ? (
        <p>{t('common.loading')}</p>
      ) : rows.length === 0 ? (
        <p>{t('alarm.none')}</p>
      ) : (
        <table className="simple-table card" aria-label={t('alarm.title')}>
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('common.type')}</th>
              <th scope="col">{t('alarm.metrics')}</th>
              <th scope="col">{t('alarm.receivers')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => {
              const name = p.AlarmPolicySettings.AlarmPolicyName;
              const n = p.NotifySettings;
              return (
                <tr key={name}>
                  <td>{name}</td>
                  <td>{p.AlarmPolicySettings.AlarmPolicyType}</td>
                  <td>{describeMetrics(p)}</td>
                  <td>{[...(n?.Receivers ?? []), ...(n?.ReceiverGroups ?? [])].join(', ')}</td>
                  <td className="row-actions">
                    <button type="button" className="btn btn-small" aria-label={t('alarm.editNamed', { name })} onClick={() => setEditing({ form: toForm(p), isNew: false })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" className="btn btn-small btn-danger-text" aria-label={t('alarm.deleteNamed', { name })} onClick={() => setRemoving(name)}>
                      {t('common.delete')}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {editing && (
        <PolicyDialog
          initial={editing.form}
          isNew={editing.isNew}
          notify={notify}
          onClose={() => setEditing(null)}
          onSave={async (f) => {
            const p = toPolicy(f);
            if (editing.isNew) await alarmApi.create(cluster, p);
            else await alarmApi.replace(cluster, p);
            toast.success(t('alarm.saved', { name: p.AlarmPolicySettings.AlarmPolicyName }));
            void load();
          }}
        />
      )}
      <ConfirmDialog
        open={removing !== null}
        title={t('alarm.deleteTitle')}
        message={t('alarm.deleteMessage', { name: removing ?? '' })}
        confirmLabel={t('common.delete')}
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          if (removing === null) return;
          try {
            await alarmApi.remove(cluster, removing);
          } catch (e) {
            throw new Error(envelopeMessage(e));
          }
          toast.success(t('alarm.deleted', { name: removing }));
          void load();
        }}
      />
    </div>
  );
}

function PolicyDialog({
  initial,
  isNew,
  notify,
  onClose,
  onSave,
}: {
  initial: PolicyForm;
  isNew: boolean;
  notify: NotifyNames;
  onClose: () => void;
  onSave: (f: PolicyForm) => Promise<void>;
}) {
  const { t } = useI18n();
  const [f, setF] = useState<PolicyForm>(initial);
  const [invalid, setInvalid] = useState<string[]>([]);
  const [failure, setFailure] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof PolicyForm>(k: K, v: PolicyForm[K]) => setF((old) => ({ ...old, [k]: v }));
  const setMetric = (i: number, k: keyof PolicyForm['metrics'][number], v: string) =>
    setF((old) => ({ ...old, metrics: old.metrics.map((m, j) => (j === i ? { ...m, [k]: v } : m)) }));
  const err = (k: string) => (invalid.includes(k) ? t('alarm.fix') : undefined);
  const submit = async () => {
    const errs = formErrors(f);
    setInvalid(errs);
    if (errs.length > 0) return;
    setBusy(true);
    setFailure(undefined);
    try {
      await onSave(f);
      onClose();
    } catch (e) {
      setFailure(envelopeMessage(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <FormDialog
      id="alarm-form"
      wide
      title={isNew ? t('alarm.new') : t('alarm.editNamed', { name: f.name })}
      onClose={onClose}
      busy={busy}
      submitLabel={isNew ? t('common.create') : t('common.save')}
      onSubmit={() => void submit()}
    >
      {isNew ? <TextField label={t('common.name')} value={f.name} onChange={(v) => set('name', v)} error={err('name')} /> : <p>{f.name}</p>}
      <SelectField label={t('common.type')} value={f.type} onChange={(v) => set('type', v)} options={POLICY_TYPES.map((x) => ({ value: x, label: t(TYPE_LABELS[x]) }))} />
      <TextField label={t('alarm.period')} value={f.period} onChange={(v) => set('period', v)} error={err('period')} type="number" />
      {f.type !== 'cluster' && (
        <>
          <SelectField
            label={t('alarm.objectsType')}
            value={f.objectsType}
            onChange={(v) => set('objectsType', v)}
            options={[
              { value: 'all', label: t('alarm.objectsAll') },
              { value: 'part', label: t('alarm.objectsPart') },
            ]}
          />
          {f.objectsType === 'part' && <TextField label={t('alarm.objects')} value={f.objects} onChange={(v) => set('objects', v)} error={err('objects')} hint={t('alarm.commaHint')} />}
        </>
      )}
      {f.type === 'pod' && (
        <>
          <TextField label={t('alarm.namespace')} value={f.namespace} onChange={(v) => set('namespace', v)} />
          <TextField label={t('alarm.workloadType')} value={f.workloadType} onChange={(v) => set('workloadType', v)} />
        </>
      )}
      <fieldset className="card">
        <legend>{t('alarm.metrics')}</legend>
        <datalist id="alarm-metric-names">
          {(KNOWN_METRICS[f.type] ?? []).map((m) => (
            <option key={m} value={m} />
          ))}
        </datalist>
        {f.metrics.map((m, i) => (
          <div className="form-row" key={i} role="group" aria-label={t('alarm.metricN', { n: i + 1 })}>
            <label>
              {t('alarm.metric')}
              <input list="alarm-metric-names" value={m.metric} aria-invalid={invalid.includes(`metric${i}`)} onChange={(e) => setMetric(i, 'metric', e.target.value)} />
            </label>
            <label>
              {t('alarm.operator')}
              <select value={m.operator} onChange={(e) => setMetric(i, 'operator', e.target.value)}>
                {OPERATORS.map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('alarm.threshold')}
              <input value={m.threshold} aria-invalid={invalid.includes(`threshold${i}`)} onChange={(e) => setMetric(i, 'threshold', e.target.value)} />
            </label>
            <label>
              {t('alarm.periods')}
              <input type="number" value={m.periods} aria-invalid={invalid.includes(`periods${i}`)} onChange={(e) => setMetric(i, 'periods', e.target.value)} />
            </label>
            <label>
              {t('alarm.unit')}
              <input value={m.unit} onChange={(e) => setMetric(i, 'unit', e.target.value)} />
            </label>
            {f.metrics.length > 1 && (
              <button type="button" className="btn btn-small btn-danger-text" onClick={() => set('metrics', f.metrics.filter((_, j) => j !== i))}>
                {t('alarm.removeMetric')}
              </button>
            )}
          </div>
        ))}
        {invalid.some((x) => /^(metric|threshold|periods)\d/.test(x)) && <p className="field-error">{t('alarm.fixMetrics')}</p>}
        <button type="button" className="btn btn-small" onClick={() => set('metrics', [...f.metrics, { metric: '', operator: 'gt', threshold: '', periods: '1', unit: '' }])}>
          {t('alarm.addMetric')}
        </button>
      </fieldset>
      <datalist id="alarm-receivers">
        {notify.receivers.map((r) => (
          <option key={r} value={r} />
        ))}
      </datalist>
      <datalist id="alarm-groups">
        {notify.groups.map((r) => (
          <option key={r} value={r} />
        ))}
      </datalist>
      <TextField label={t('alarm.receivers')} value={f.receivers} onChange={(v) => set('receivers', v)} hint={hintOf(t('alarm.commaHint'), notify.receivers)} />
      <TextField label={t('alarm.receiverGroups')} value={f.receiverGroups} onChange={(v) => set('receiverGroups', v)} hint={hintOf(t('alarm.commaHint'), notify.groups)} />
      <TextField label={t('alarm.notifyWays')} value={f.notifyWays} onChange={(v) => set('notifyWays', v)} multiline rows={3} hint={hintOf(t('alarm.waysHint'), notify.ways)} />
      <FormError message={failure} />
    </FormDialog>
  );
}

/** A hint with the names notify offers, when there are some. */
function hintOf(hint: string, offered: string[]): string {
  return offered.length > 0 ? `${hint} (${offered.slice(0, 10).join(', ')})` : hint;
}
