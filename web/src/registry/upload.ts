// Uploading a chart archive from the console. The chart repository (`/chart/api/{group}/charts`,
// chartmuseum's API) takes Basic credentials only, and the auth component accepts an API key as
// the password; the console's session is a cookie, so it issues a short-lived key for the
// caller, uploads with it, and revokes it at once, whatever the upload's outcome.
import { api, request } from '../api/client';
import type { KubeObject } from '../api/kube';
import { TOKEN_PATH } from '../access/apikey';
import { b64 } from '../access/shared';
import { str } from '../resources';

export const MAX_CHART_BYTES = 10 * 1024 * 1024;

/** Why a file cannot be a chart archive, or null. */
export function checkChartFile(file: { name: string; size: number }): string | null {
  if (!/\.tgz$/.test(file.name)) return `${file.name} is not a chart archive: choose the .tgz that "helm package" makes`;
  if (file.size === 0) return `${file.name} is empty`;
  if (file.size > MAX_CHART_BYTES) return `${file.name} is larger than 10 MiB, the most a chart may be`;
  return null;
}

export async function uploadChart(group: string, username: string, file: File, force: boolean): Promise<void> {
  const key = await api.post<KubeObject>(TOKEN_PATH, { expire: '10m', description: `console upload of ${file.name} to chart group ${group}` });
  const token = str(key, 'spec', 'apiKey');
  try {
    const form = new FormData();
    form.append('chart', file, file.name);
    await request(`/chart/api/${encodeURIComponent(group)}/charts${force ? '?force=true' : ''}`, {
      method: 'POST',
      rawBody: form,
      headers: { Authorization: `Basic ${b64(`${username}:${token}`)}` },
      no401Redirect: true,
    });
  } finally {
    await api.del(`/apis/auth.tkestack.io/v1/apikeys/${encodeURIComponent(key.metadata.name)}`).catch(() => undefined);
  }
}
