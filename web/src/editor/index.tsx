// The lazy entry to the YAML editor: pages import this, and CodeMirror is fetched the first time
// an editor is shown.
import { lazy, Suspense } from 'react';
import { useI18n } from '../i18n';
import type { YamlEditorProps } from './YamlEditor';

const Editor = lazy(() => import('./YamlEditor'));

export function YamlEditor(props: YamlEditorProps) {
  const { t } = useI18n();
  return (
    <Suspense fallback={<div className="yaml-editor loading">{t('common.loading')}</div>}>
      <Editor {...props} />
    </Suspense>
  );
}
export type { Problem } from './YamlEditor';
