// A Secret's values, hidden until the user asks for one (decoded from base64 then), and a
// ConfigMap's data shown as text. Values are React text: never interpreted as HTML.
import { useState } from 'react';
import type { KubeObject } from '../api/kube';
import { useI18n } from '../i18n';

export function decodeBase64(v: string): string {
  try {
    const bin = atob(v);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  } catch {
    return v;
  }
}

function entries(o: KubeObject, key: string): [string, string][] {
  const d = o[key];
  if (!d || typeof d !== 'object') return [];
  return Object.entries(d as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
}

export function SecretData({ o }: { o: KubeObject }) {
  const { t } = useI18n();
  const [shown, setShown] = useState<Set<string>>(new Set());
  const data = entries(o, 'data');
  const toggle = (k: string) =>
    setShown((s) => {
      const n = new Set(s);
      if (n.has(k)) n.delete(k);
      else n.add(k);
      return n;
    });
  return (
    <section className="card" aria-labelledby="secret-data">
      <h2 id="secret-data">{t('col.data')}</h2>
      {data.length === 0 ? (
        <p>-</p>
      ) : (
        <dl className="props">
          {data.map(([k, v]) => (
            <div key={k} style={{ display: 'contents' }}>
              <dt>{k}</dt>
              <dd>
                <button type="button" className="btn btn-small" aria-pressed={shown.has(k)} onClick={() => toggle(k)}>
                  {shown.has(k) ? t('secrets.hide') : t('secrets.show')}
                </button>{' '}
                {shown.has(k) ? <code className="secret-value">{decodeBase64(v)}</code> : <span aria-label={t('secrets.hidden')}>••••••</span>}
              </dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
}

export function ConfigMapData({ o }: { o: KubeObject }) {
  const { t } = useI18n();
  const data = entries(o, 'data');
  return (
    <section className="card" aria-labelledby="cm-data">
      <h2 id="cm-data">{t('col.data')}</h2>
      {data.length === 0 ? (
        <p>-</p>
      ) : (
        data.map(([k, v]) => (
          <div key={k}>
            <h3 className="data-key">{k}</h3>
            <pre className="log-view">{v}</pre>
          </div>
        ))
      )}
    </section>
  );
}

/** The object as the read-only YAML view shows a Secret: every value masked. */
export function maskSecret(o: KubeObject): KubeObject {
  const masked = (d: unknown) =>
    d && typeof d === 'object' ? Object.fromEntries(Object.keys(d as object).map((k) => [k, '(hidden)'])) : d;
  const out: KubeObject = { ...o };
  if (o.data !== undefined) out.data = masked(o.data);
  if (o.stringData !== undefined) out.stringData = masked(o.stringData);
  return out;
}
