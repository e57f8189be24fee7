// Small pieces many pages show: timestamps with age, label maps, phase badges, conditions as a
// step list. Every value is rendered as React text (escaped), never as HTML.
import { age } from '../api/kube';
import { useI18n } from '../i18n';
import type { Condition } from '../resources';

export function Timestamp({ ts }: { ts: string | undefined }) {
  if (!ts) return <span>-</span>;
  return (
    <time dateTime={ts} title={ts}>
      {new Date(ts).toLocaleString()} ({age(ts)})
    </time>
  );
}

export function Labels({ map }: { map: Record<string, string> | undefined }) {
  const entries = Object.entries(map ?? {});
  if (entries.length === 0) return <span>-</span>;
  return (
    <ul className="labels">
      {entries.map(([k, v]) => (
        <li key={k} className="label-chip">
          {k}
          {v ? `=${v}` : ''}
        </li>
      ))}
    </ul>
  );
}

const good = new Set(['Running', 'Ready', 'Succeeded', 'Active', 'Bound', 'Available', 'Complete', 'True', 'Healthy']);
const bad = new Set(['Failed', 'Unhealthy', 'Error', 'CrashLoopBackOff', 'False', 'Lost', 'NotReady']);

export function Phase({ phase }: { phase: string }) {
  const cls = good.has(phase) ? 'badge badge-ok' : bad.has(phase) ? 'badge badge-bad' : phase ? 'badge badge-wait' : 'badge';
  return <span className={cls}>{phase || '-'}</span>;
}

const stepKey = { done: 'step.done', failed: 'step.failed', pending: 'step.pending' } as const;

/** Conditions as steps: done, failed, or in progress, with reason and message. */
export function Conditions({ items, title }: { items: Condition[]; title?: string }) {
  const { t } = useI18n();
  return (
    <section className="conditions" aria-label={title ?? t('detail.conditions')}>
      <h2>{title ?? t('detail.conditions')}</h2>
      <ol className="steps">
        {items.map((c) => {
          const state: keyof typeof stepKey = c.status === 'True' ? 'done' : c.status === 'False' ? 'failed' : 'pending';
          return (
            <li key={c.type} className={`step step-${state}`}>
              <span className="step-mark" aria-hidden="true">
                {state === 'done' ? '✓' : state === 'failed' ? '✕' : '…'}
              </span>
              <span className="step-name">{c.type}</span>
              <span className="visually-hidden">{t(stepKey[state])}</span>
              {(c.reason || c.message) && (
                <span className="step-detail">
                  {c.reason}
                  {c.reason && c.message ? ': ' : ''}
                  {c.message}
                </span>
              )}
              {c.lastTransitionTime && <span className="step-time">{age(c.lastTransitionTime)}</span>}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
