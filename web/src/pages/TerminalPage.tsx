// The terminal page: pick a pod's container (from the query: namespace, pod, container) and open
// a shell there; the terminal itself loads lazily.
import { lazy, Suspense } from 'react';
import { useParams, useSearchParams } from 'react-router';
import { useI18n } from '../i18n';

const Terminal = lazy(() => import('../terminal/Terminal'));

export function TerminalPage() {
  const { t } = useI18n();
  const { cluster = '' } = useParams();
  const [q] = useSearchParams();
  const namespace = q.get('namespace') ?? '';
  const pod = q.get('pod') ?? '';
  const container = q.get('container') ?? '';
  const command = q.get('command') ?? 'sh';
  if (!namespace || !pod || !container) {
    return (
      <div className="page">
        <h1 className="page-title">{t('terminal.title')}</h1>
        <p>{t('terminal.pick')}</p>
      </div>
    );
  }
  return (
    <div className="page">
      <h1 className="page-title">
        {t('terminal.title')}: {namespace}/{pod} ({container})
      </h1>
      <Suspense fallback={<p>{t('common.loading')}</p>}>
        <Terminal cluster={cluster} namespace={namespace} pod={pod} container={container} command={[command]} />
      </Suspense>
    </div>
  );
}
