// The YAML import page: multi-document YAML applied to a cluster by the platform's apply
// subresource (server-side apply of each object), each object's result listed: created,
// configured, unchanged, or why it failed.
import { useMemo, useState } from 'react';
import { useParams } from 'react-router';
import { request } from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import { PLATFORM } from '../api/kube';
import { YamlEditor, useSchemaCheck } from '../editor';
import { useI18n } from '../i18n';
import { YamlSyntaxError, parseDocuments } from '../yamlText';

export interface ObjectResult {
  kind: string;
  namespace: string;
  name: string;
  result: string;
  error?: string;
}

/** kind, namespace and name of every object of the text (List items flattened). */
export function objectsOf(text: string): { kind: string; namespace: string; name: string }[] {
  const out: { kind: string; namespace: string; name: string }[] = [];
  const add = (o: unknown) => {
    if (!o || typeof o !== 'object') return;
    const r = o as { kind?: unknown; items?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    if (typeof r.kind === 'string' && r.kind.endsWith('List') && Array.isArray(r.items)) {
      r.items.forEach(add);
      return;
    }
    out.push({
      kind: typeof r.kind === 'string' ? r.kind : '',
      namespace: typeof r.metadata?.namespace === 'string' ? r.metadata.namespace : '',
      name: typeof r.metadata?.name === 'string' ? r.metadata.name : '',
    });
  };
  parseDocuments(text).forEach(add);
  return out;
}

/**
 * Every object's result. On success the server lists them; on failure its Status names each
 * failed object in a cause (field "Kind ns/name"), and the others were applied.
 */
export function resultsOf(
  objects: { kind: string; namespace: string; name: string }[],
  answer: { items?: { kind?: string; namespace?: string; name?: string; result?: string }[] } | ApiError,
): ObjectResult[] {
  if (answer instanceof ApiError) {
    const failed = new Map<string, string>();
    for (const c of answer.causes) if (c.field) failed.set(c.field, c.message ?? c.reason ?? '');
    return objects.map((o) => {
      const id = `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
      const err = failed.get(id);
      return err !== undefined ? { ...o, result: 'failed', error: err } : { ...o, result: 'applied' };
    });
  }
  return (answer.items ?? []).map((i) => ({ kind: i.kind ?? '', namespace: i.namespace ?? '', name: i.name ?? '', result: i.result ?? '' }));
}

export function ApplyYamlPage() {
  const { cluster = '' } = useParams();
  const { t } = useI18n();
  const [text, setText] = useState('');
  const schemaCheck = useSchemaCheck(cluster);
  const [busy, setBusy] = useState(false);
  const [results, setResults] = useState<ObjectResult[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const count = useMemo(() => {
    try {
      return objectsOf(text).length;
    } catch {
      return 0;
    }
  }, [text]);

  const apply = async () => {
    setError(null);
    setResults(null);
    let objects;
    try {
      objects = objectsOf(text);
    } catch (e) {
      setError(e instanceof YamlSyntaxError ? t('apply.syntax', { message: e.message }) : messageOf(e));
      return;
    }
    if (objects.length === 0) {
      setError(t('apply.empty'));
      return;
    }
    setBusy(true);
    try {
      const res = await request(`/apis/${PLATFORM}/v1/clusters/${encodeURIComponent(cluster)}/apply`, {
        method: 'POST',
        rawBody: text,
        contentType: 'application/yaml',
      });
      setResults(resultsOf(objects, (await res.json()) as { items?: [] }));
    } catch (e) {
      if (e instanceof ApiError && e.causes.length > 0) {
        setResults(resultsOf(objects, e));
        setError(e.message);
      } else setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <h1 className="page-title">{t('apply.title')}</h1>
      <p className="hint">{t('apply.hint', { cluster })}</p>
      <YamlEditor value={text} onChange={setText} check={schemaCheck} label={t('apply.title')} height="45vh" />
      <div className="page-actions" style={{ margin: '12px 0' }}>
        <button type="button" className="btn btn-primary" onClick={() => void apply()} disabled={busy || !text.trim()}>
          {busy ? t('common.working') : t('apply.submit', { n: count })}
        </button>
        <label className="btn">
          {t('apply.upload')}
          <input
            type="file"
            className="visually-hidden"
            accept=".yaml,.yml,.json,text/yaml"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void f.text().then(setText);
            }}
          />
        </label>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {results && (
        <table className="simple-table card" aria-label={t('apply.results')}>
          <thead>
            <tr>
              <th scope="col">{t('col.object')}</th>
              <th scope="col">{t('common.namespace')}</th>
              <th scope="col">{t('apply.result')}</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r, i) => (
              <tr key={i} className={r.result === 'failed' ? 'result-bad' : 'result-ok'}>
                <td>
                  {r.kind}/{r.name}
                </td>
                <td>{r.namespace || '-'}</td>
                <td>
                  {r.result}
                  {r.error ? `: ${r.error}` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
