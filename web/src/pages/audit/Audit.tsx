// Audit: who did what, in the platform (cluster `control-plane`) and in every business cluster
// that sends its audit webhook. Search by time range, user, cluster, namespace, resource, verb
// and result; a server-paged table, newest first; an event's request and response bodies in a
// side panel; export of the search as CSV or JSON. Tenants see their own events only (the
// server scopes the answers).
import { useEffect, useId, useState, type FormEvent } from 'react';
import {
  emptySearch,
  exportUrl,
  fieldValues,
  getEvent,
  listEvents,
  prettyBody,
  type AuditEvent,
  type AuditPage,
  type AuditSearch,
} from '../../api/audit';
import { messageOf } from '../../api/errors';
import { useI18n } from '../../i18n';
import { FormError } from '../../ui/Form';
import '../../styles/pages.css';

const PAGE_SIZE = 20;
const VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection', 'get', 'list', 'watch'];

/** A `datetime-local` value `days` ago (the page opens on the last day). */
function localAgo(days: number): string {
  const d = new Date(Date.now() - days * 86_400_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function when(ms: number): string {
  return ms ? new Date(ms).toLocaleString() : '-';
}

export function AuditPage() {
  const { t } = useI18n();
  const [draft, setDraft] = useState<AuditSearch>(() => ({ ...emptySearch, from: localAgo(1) }));
  const [search, setSearch] = useState<AuditSearch>(draft);
  const [pageIndex, setPageIndex] = useState(1);
  const [page, setPage] = useState<AuditPage | null>(null);
  const [error, setError] = useState<string>();
  const [values, setValues] = useState<Record<string, string[]>>({});
  const [selected, setSelected] = useState<string | null>(null);

  useEffect(() => {
    fieldValues().then(setValues, () => setValues({}));
  }, []);
  useEffect(() => {
    const abort = new AbortController();
    setError(undefined);
    listEvents(search, pageIndex, PAGE_SIZE, abort.signal).then(setPage, (e) => {
      if (!abort.signal.aborted) setError(messageOf(e));
    });
    return () => abort.abort();
  }, [search, pageIndex]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setPageIndex(1);
    setSearch({ ...draft });
  };
  const set = (key: keyof AuditSearch) => (v: string) => setDraft((d) => ({ ...d, [key]: v }));
  const pages = page ? Math.max(1, Math.ceil(page.total / PAGE_SIZE)) : 1;

  return (
    <div className="page audit-page">
      <h1 className="page-title">{t('audit.title')}</h1>
      <form className="audit-filters" onSubmit={submit} aria-label={t('audit.search')}>
        <Input label={t('audit.from')} type="datetime-local" value={draft.from} onChange={set('from')} />
        <Input label={t('audit.to')} type="datetime-local" value={draft.to} onChange={set('to')} />
        <Input label={t('audit.user')} value={draft.user} onChange={set('user')} options={values.user} />
        <Input label={t('audit.cluster')} value={draft.cluster} onChange={set('cluster')} options={values.cluster} />
        <Input label={t('audit.namespace')} value={draft.namespace} onChange={set('namespace')} options={values.namespace} />
        <Input label={t('audit.resource')} value={draft.resource} onChange={set('resource')} options={values.resource} />
        <Choice label={t('audit.verb')} value={draft.verb} onChange={set('verb')} options={VERBS} any={t('audit.any')} />
        <Choice
          label={t('audit.result')}
          value={draft.status}
          onChange={set('status')}
          options={['Success', 'Failure']}
          any={t('audit.any')}
          names={{ Success: t('audit.success'), Failure: t('audit.failure') }}
        />
        <button type="submit" className="btn btn-primary">
          {t('audit.searchButton')}
        </button>
      </form>
      <FormError message={error} />
      <section className="live-table" aria-label={t('audit.events')}>
        <div className="table-toolbar">
          <span className="table-count" aria-live="polite">
            {page ? t(page.totalIsLowerBound ? 'audit.countMore' : page.total === 1 ? 'audit.countOne' : 'audit.count', { n: String(page.total) }) : t('common.loading')}
          </span>
          <div className="toolbar-actions">
            <a className="btn" href={exportUrl(search, 'csv')} download="audit-events.csv">
              {t('audit.exportCsv')}
            </a>{' '}
            <a className="btn" href={exportUrl(search, 'json')} download="audit-events.json">
              {t('audit.exportJson')}
            </a>
          </div>
        </div>
        <table className="simple-table audit-table">
          <thead>
            <tr>
              <th scope="col">{t('audit.time')}</th>
              <th scope="col">{t('audit.cluster')}</th>
              <th scope="col">{t('audit.user')}</th>
              <th scope="col">{t('audit.verb')}</th>
              <th scope="col">{t('audit.resource')}</th>
              <th scope="col">{t('audit.namespace')}</th>
              <th scope="col">{t('audit.name')}</th>
              <th scope="col">{t('audit.result')}</th>
            </tr>
          </thead>
          <tbody>
            {page?.items.length === 0 && (
              <tr>
                <td colSpan={8} className="table-empty">
                  {t('audit.none')}
                </td>
              </tr>
            )}
            {page?.items.map((e) => (
              <tr key={`${e.auditID}-${e.clusterName}`} className={selected === e.auditID ? 'audit-selected' : undefined}>
                <td>
                  <button type="button" className="link-button" onClick={() => setSelected(e.auditID)} aria-label={t('audit.open', { id: e.auditID })}>
                    {when(e.requestReceivedTimestamp)}
                  </button>
                </td>
                <td>{e.clusterName}</td>
                <td>{e.userName}</td>
                <td>{e.verb}</td>
                <td>{e.resource || e.requestURI}</td>
                <td>{e.namespace || '-'}</td>
                <td>{e.name || '-'}</td>
                <td>
                  <span className={e.status === 'Success' ? 'badge badge-ok' : 'badge badge-bad'}>
                    {e.code} {e.status === 'Success' ? t('audit.success') : t('audit.failure')}
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <nav className="audit-pager" aria-label={t('audit.pages')}>
          <button type="button" className="btn btn-small" disabled={pageIndex <= 1} onClick={() => setPageIndex((p) => p - 1)}>
            {t('audit.previous')}
          </button>
          <span>{t('audit.pageOf', { page: String(pageIndex), pages: String(pages) })}</span>
          <button type="button" className="btn btn-small" disabled={pageIndex >= pages} onClick={() => setPageIndex((p) => p + 1)}>
            {t('audit.next')}
          </button>
        </nav>
      </section>
      {selected && <EventPanel auditID={selected} onClose={() => setSelected(null)} />}
    </div>
  );
}

function Input({ label, value, onChange, type = 'text', options }: { label: string; value: string; onChange: (v: string) => void; type?: string; options?: string[] }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} type={type} value={value} onChange={(e) => onChange(e.target.value)} list={options?.length ? `${id}-values` : undefined} />
      {options && options.length > 0 && (
        <datalist id={`${id}-values`}>
          {options.map((o) => (
            <option key={o} value={o} />
          ))}
        </datalist>
      )}
    </div>
  );
}

function Choice({
  label,
  value,
  onChange,
  options,
  any,
  names,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: string[];
  any: string;
  names?: Record<string, string>;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{any}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {names?.[o] ?? o}
          </option>
        ))}
      </select>
    </div>
  );
}

/** One event with its bodies, beside the table. */
function EventPanel({ auditID, onClose }: { auditID: string; onClose: () => void }) {
  const { t } = useI18n();
  const [event, setEvent] = useState<AuditEvent | null>(null);
  const [error, setError] = useState<string>();
  useEffect(() => {
    setEvent(null);
    setError(undefined);
    getEvent(auditID).then(setEvent, (e) => setError(messageOf(e)));
  }, [auditID]);
  const rows: [string, string][] = event
    ? [
        [t('audit.time'), when(event.requestReceivedTimestamp)],
        [t('audit.user'), event.userName],
        [t('audit.verb'), event.verb],
        ['URI', event.requestURI],
        [t('audit.cluster'), event.clusterName],
        [t('audit.tenant'), event.tenantID],
        [t('audit.result'), `${event.code} ${event.status}${event.reason ? ` (${event.reason})` : ''}`],
        [t('audit.message'), event.message || '-'],
        [t('audit.sourceIPs'), event.sourceIPs || '-'],
        [t('audit.userAgent'), event.userAgent || '-'],
        ['auditID', event.auditID],
      ]
    : [];
  return (
    <aside className="audit-panel" aria-label={t('audit.details')}>
      <div className="audit-panel-head">
        <h2>{t('audit.details')}</h2>
        <button type="button" className="btn btn-small" onClick={onClose}>
          {t('pages.close')}
        </button>
      </div>
      <FormError message={error} />
      {!event && !error && <p>{t('common.loading')}</p>}
      {event && (
        <>
          <dl className="audit-fields">
            {rows.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
          <h3>{t('audit.request')}</h3>
          <pre className="audit-body" aria-label={t('audit.request')}>
            {prettyBody(event.requestObject) || t('audit.notRecorded')}
          </pre>
          <h3>{t('audit.response')}</h3>
          <pre className="audit-body" aria-label={t('audit.response')}>
            {prettyBody(event.responseObject) || t('audit.notRecorded')}
          </pre>
        </>
      )}
    </aside>
  );
}
