// The lazy entry to the YAML editor: pages import this, and CodeMirror is fetched the first time
// an editor is shown.
import { lazy, Suspense, useEffect, useState } from 'react';
import { clusterProxy } from '../api/kube';
import { loadOpenApi, Validator } from './schema';
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
import type { Problem } from './YamlEditor';
export type { Problem };

const validators = new Map<string, Promise<Validator | null>>();

/** The OpenAPI document's URL: the platform's own, or a business cluster's through its proxy. */
export function openApiUrl(cluster?: string): string {
  return cluster ? `${clusterProxy(cluster)}/openapi/v2` : '/openapi/v2';
}

/**
 * A schema check for the editor, from the cluster's OpenAPI document, loaded when an editor
 * first needs it (undefined until then, or when the document cannot be had).
 */
export function useSchemaCheck(cluster: string | undefined, enabled = true): ((text: string) => Problem[]) | undefined {
  const url = openApiUrl(cluster);
  const [v, setV] = useState<Validator | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    let p = validators.get(url);
    if (!p) {
      p = loadOpenApi(url).then((doc) => (doc ? new Validator(doc) : null));
      validators.set(url, p);
    }
    void p.then((got) => live && setV(got));
    return () => {
      live = false;
    };
  }, [url, enabled]);
  return v ? (text: string) => v.check(text) : undefined;
}
