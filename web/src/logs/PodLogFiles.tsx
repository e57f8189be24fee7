// A pod's log files as the cluster's log agent sees them (the LogAgent's `filetree`): the
// container's stdout files and the files on its volumes, each opened a page at a time (the last
// page first; `filecontent` with start and length; older and newer pages) or downloaded whole
// (`filedownload`, saved as a blob).
import { useCallback, useEffect, useRef, useState } from 'react';
import { Link } from 'react-router';
import { messageOf } from '../api/errors';
import type { KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { arr, str } from '../resources';
import { useToast } from '../ui/Toasts';
import { commonDir, downloadFile, fileContent, fileTree, lastPageStart, neighbours, type FileChunk, type LogFile, type PodRef } from './collector';
import { useLogAgent } from './useLogAgent';

/** Bytes per page of the viewer. */
export const PAGE = 64 * 1024;

export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}

export function PodLogFiles({ cluster, pod }: { cluster: string; pod: KubeObject }) {
  const { t } = useI18n();
  const { agent, loading, served, forbidden } = useLogAgent(cluster);
  const containers = arr(pod, 'spec', 'containers').map((c) => str(c, 'name'));
  const [container, setContainer] = useState(containers[0] ?? '');
  if (!served || forbidden) return null;
  const ref: PodRef = { clusterId: cluster, namespace: pod.metadata.namespace ?? 'default', pod: pod.metadata.name, container };
  return (
    <section className="card" aria-labelledby="pod-log-files">
      <div className="page-head">
        <h2 id="pod-log-files">{t('logfiles.title')}</h2>
        {agent && (
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
          </div>
        )}
      </div>
      {loading ? (
        <p>{t('common.loading')}</p>
      ) : !agent ? (
        <p>
          {t('logfiles.noAgent')} <Link to={`/tkestack/clusters/${encodeURIComponent(cluster)}/logs`}>{t('logs.title')}</Link>
        </p>
      ) : (
        <FileBrowser key={container} agent={agent.metadata.name} podRef={ref} />
      )}
    </section>
  );
}

function FileBrowser({ agent, podRef }: { agent: string; podRef: PodRef }) {
  const { t } = useI18n();
  const toast = useToast();
  const [files, setFiles] = useState<LogFile[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<LogFile | null>(null);
  const refKey = JSON.stringify(podRef);
  const dir = commonDir((files ?? []).map((f) => f.path));
  const load = useCallback(async () => {
    setError(null);
    try {
      setFiles(await fileTree(agent, JSON.parse(refKey) as PodRef));
    } catch (e) {
      setError(messageOf(e));
      setFiles([]);
    }
  }, [agent, refKey]);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {files === null ? (
        <p>{t('common.loading')}</p>
      ) : files.length === 0 ? (
        !error && <p>{t('logfiles.none')}</p>
      ) : (
        <>
          {dir && (
            <p className="field-hint">
              {t('logfiles.in')} <code>{dir}</code>
            </p>
          )}
          <table className="simple-table" aria-label={t('logfiles.title')}>
            <thead>
              <tr>
                <th scope="col">{t('logfiles.path')}</th>
                <th scope="col">{t('logfiles.kind')}</th>
                <th scope="col">{t('logfiles.size')}</th>
                <th scope="col">{t('logfiles.modified')}</th>
                <th scope="col">{t('common.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {files.map((f) => (
                <tr key={f.path}>
                  <td>
                    <code title={f.path}>{f.path.slice(dir.length) || f.path}</code>
                  </td>
                  <td>{f.kind === 'stdout' ? t('logfiles.stdout') : f.kind === 'volume' ? t('logfiles.volume') : (f.kind ?? '')}</td>
                  <td>{formatSize(f.size)}</td>
                  <td>{f.modTime ? new Date(f.modTime).toLocaleString() : '-'}</td>
                  <td className="row-actions">
                    <button type="button" className="btn btn-small" aria-label={t('logfiles.openNamed', { name: f.path })} onClick={() => setOpen(f)}>
                      {t('logfiles.open')}
                    </button>
                    <button
                      type="button"
                      className="btn btn-small"
                      aria-label={t('logfiles.downloadNamed', { name: f.path })}
                      onClick={() => void downloadFile(agent, podRef, f.path).catch((e: unknown) => toast.error(e))}
                    >
                      {t('pods.download')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <div className="page-actions">
        <button type="button" className="btn btn-small" onClick={() => void load()}>
          {t('logfiles.refresh')}
        </button>
      </div>
      {open && <FileViewer key={open.path} agent={agent} podRef={podRef} file={open} />}
    </>
  );
}

function FileViewer({ agent, podRef, file }: { agent: string; podRef: PodRef; file: LogFile }) {
  const path = file.path;
  const { t } = useI18n();
  const [chunk, setChunk] = useState<FileChunk | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const size = useRef(0);
  const show = useCallback(
    async (start: number | 'end', length = PAGE) => {
      setBusy(true);
      setError(null);
      try {
        // 'end': the last page of the file as large as it was when last seen (listed, or read).
        const at = start === 'end' ? lastPageStart(Math.max(file.size, size.current), PAGE) : start;
        const c = await fileContent(agent, podRef, path, at, length);
        size.current = c.size;
        setChunk(c);
      } catch (e) {
        setError(messageOf(e));
      } finally {
        setBusy(false);
      }
    },
    [agent, podRef, path, file.size],
  );
  useEffect(() => {
    void show('end');
    // Opened once per file (the component is keyed by the path).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  // Older: the PAGE bytes before this page; newer: right after it (none after an empty read).
  const nav = chunk
    ? { older: neighbours(chunk.start, PAGE, chunk.size).older, newer: chunk.length > 0 ? neighbours(chunk.start, chunk.length, chunk.size).newer : null }
    : { older: null, newer: null };
  return (
    <div className="log-file" role="region" aria-label={t('logfiles.viewing', { name: path })}>
      <div className="page-head">
        <h3>
          <code>{path}</code>
        </h3>
        <div className="page-actions">
          {chunk && (
            <span className="table-count">
              {t('logfiles.range', { from: chunk.start, to: chunk.start + chunk.length, size: chunk.size })}
            </span>
          )}
          <button type="button" className="btn btn-small" disabled={busy || nav.older === null} onClick={() => chunk && nav.older !== null && void show(nav.older, chunk.start - nav.older)}>
            {t('logfiles.older')}
          </button>
          <button type="button" className="btn btn-small" disabled={busy || nav.newer === null} onClick={() => nav.newer !== null && void show(nav.newer)}>
            {t('logfiles.newer')}
          </button>
          <button type="button" className="btn btn-small" disabled={busy} onClick={() => void show('end')}>
            {t('logfiles.latest')}
          </button>
        </div>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <pre className="log-view" style={{ maxHeight: '50vh', minHeight: '6em' }} aria-busy={busy} tabIndex={0} aria-label={t('logfiles.contentOf', { name: path })}>
        {chunk ? chunk.content || t('logfiles.empty') : t('common.loading')}
      </pre>
    </div>
  );
}
