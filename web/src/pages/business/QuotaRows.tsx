// The rows of one quota (resource and quantity), each showing its own error: the form's check
// or the quota admission's answer for that resource (`…hard[requests.cpu]`).
import { rowError, COMMON_RESOURCES, type QuotaRow } from '../../business/quota';
import { useI18n } from '../../i18n';

interface Props {
  /** null for a namespace's own spec.hard. */
  cluster: string | null;
  rows: QuotaRow[];
  errors: Record<string, string>;
  onChange: (rows: QuotaRow[]) => void;
}

export function QuotaRows({ cluster, rows, errors, onChange }: Props) {
  const { t } = useI18n();
  const set = (i: number, patch: Partial<QuotaRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const listId = `quota-resources-${cluster ?? 'ns'}`;
  const blankError = rowError(errors, cluster, '');
  return (
    <div className="quota-rows">
      <datalist id={listId}>
        {COMMON_RESOURCES.map((r) => (
          <option key={r} value={r} />
        ))}
      </datalist>
      {rows.map((r, i) => {
        const err = r.resource.trim() ? rowError(errors, cluster, r.resource) : blankError;
        const errId = `${listId}-${i}-err`;
        return (
          <div key={i} className={err ? 'quota-row field-invalid' : 'quota-row'}>
            <input
              aria-label={t('quota.resource')}
              list={listId}
              value={r.resource}
              placeholder="requests.cpu"
              aria-invalid={!!err}
              aria-describedby={err ? errId : undefined}
              onChange={(e) => set(i, { resource: e.target.value })}
            />
            <input
              aria-label={t('quota.amount', { resource: r.resource || '…' })}
              value={r.value}
              placeholder="2 / 4Gi / 500m"
              aria-invalid={!!err}
              aria-describedby={err ? errId : undefined}
              onChange={(e) => set(i, { value: e.target.value })}
            />
            <button type="button" className="btn btn-small btn-danger-text" onClick={() => onChange(rows.filter((_, j) => j !== i))}>
              {t('quota.removeRow')}
              <span className="visually-hidden"> {r.resource}</span>
            </button>
            {err && (
              <div id={errId} className="field-error">
                {err}
              </div>
            )}
          </div>
        );
      })}
      <button type="button" className="btn btn-small" onClick={() => onChange([...rows, { resource: '', value: '' }])}>
        {t('quota.addRow')}
      </button>
    </div>
  );
}
