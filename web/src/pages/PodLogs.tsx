// A pod's logs: the container's log streamed with follow=true through the cluster proxy (a
// fetch whose body is read as it arrives), appended at most once per animation frame and capped
// at the last MAX_CHARS characters, with download of the whole log.
import { useEffect, useRef, useState } from 'react';
import { request } from '../api/client';
import { messageOf } from '../api/errors';
import { clusterProxy, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { arr, str } from '../resources';
import { useToast } from '../ui/Toasts';
import { download } from './kubeconfig';

const MAX_CHARS = 512 * 1024;

export function logPath(cluster: string, namespace: string, pod: string, container: string, opts: Record<string, string>): string {
  const q = new URLSearchParams({ container, ...opts });
  return `${clusterProxy(cluster)}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log?${q.toString()}`;
}

/** Appends and keeps only the last `max` characters, cut at a line start. */
export function appendCapped(buf: string, chunk: string, max = MAX_CHARS): string {
  const all = buf + chunk;
  if (all.length <= max) return all;
  const cut = all.slice(all.length - max);
  const nl = cut.indexOf('\n');
  return nl >= 0 ? cut.slice(nl + 1) : cut;
}

export function PodLogs({ cluster, pod }: { cluster: string; pod: KubeObject }) {
  const { t } = useI18n();
  const toast = useToast();
  const containers = arr(pod, 'spec', 'containers').map((c) => str(c, 'name'));
  const [container, setContainer] = useState(containers[0] ?? '');
  const [follow, setFollow] = useState(true);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [streaming, setStreaming] = useState(false);
  const pre = useRef<HTMLPreElement>(null);
  const ns = pod.metadata.namespace ?? 'default';
  const name = pod.metadata.name;

  useEffect(() => {
    if (!container) return;
    const ctl = new AbortController();
    let pending = '';
    let frame = 0;
    const flush = () => {
      frame = 0;
      const chunk = pending;
      pending = '';
      setText((old) => appendCapped(old, chunk));
    };
    setText('');
    setError(null);
    setStreaming(true);
    (async () => {
      const res = await request(logPath(cluster, ns, name, container, { follow: String(follow), tailLines: '1000' }), { signal: ctl.signal });
      const reader = res.body?.getReader();
      const dec = new TextDecoder();
      if (!reader) {
        pending += await res.text();
        flush();
        return;
      }
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pending += dec.decode(value, { stream: true });
        if (!frame) frame = requestAnimationFrame(flush);
      }
      pending += dec.decode();
      flush();
    })()
      .catch((e: unknown) => {
        if (!ctl.signal.aborted) setError(messageOf(e));
      })
      .finally(() => {
        if (!ctl.signal.aborted) setStreaming(false);
      });
    return () => {
      ctl.abort();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [cluster, ns, name, container, follow]);

  useEffect(() => {
    const el = pre.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [text, follow]);

  const downloadAll = async () => {
    try {
      const res = await request(logPath(cluster, ns, name, container, {}));
      download(`${name}-${container}.log`, await res.text());
    } catch (e) {
      toast.error(e);
    }
  };

  return (
    <section className="card" aria-labelledby="pod-logs">
      <div className="page-head">
        <h2 id="pod-logs">{t('pods.logs')}</h2>
        <div className="page-actions">
          <label className="inline-field">
            <span>{t('pods.container')}</span>
            <select value={container} onChange={(e) => setContainer(e.target.value)}>
              {containers.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          </label>
          <label className="inline-field">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
            <span>{t('pods.follow')}</span>
          </label>
          <button type="button" className="btn" onClick={() => void downloadAll()}>
            {t('pods.download')}
          </button>
        </div>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <pre ref={pre} className="log-view" style={{ maxHeight: '50vh', minHeight: '8em' }} aria-label={t('pods.logsOf', { name: container })} aria-busy={streaming} tabIndex={0}>
        {text || (streaming ? t('common.loading') : t('pods.noLogs'))}
      </pre>
    </section>
  );
}
