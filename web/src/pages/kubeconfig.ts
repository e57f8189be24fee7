// A kubeconfig for a cluster, as the signed-in user: its server is the platform's cluster proxy
// (so the platform checks the user and impersonates them in the cluster), and its credential is
// an API key issued to the user for it (the browser's session cannot be put in a file): valid
// 30 days, listed and revocable with the user's other API keys. The server's certificate is
// trusted through the platform's own CA when it generated its certificate (the gateway's
// `cacert`), otherwise as the system trusts it.
import { api } from '../api/client';
import { stringify } from 'yaml';
import { clusterProxy } from '../api/kube';

const KEY_TTL = '720h';

export async function kubeconfigFor(cluster: string): Promise<string> {
  const key = await api.post<{ spec?: { apiKey?: string } }>('/apis/auth.tkestack.io/v1/apikeys/default/token', {
    expire: KEY_TTL,
    description: `kubeconfig of cluster ${cluster} (console)`,
  });
  const token = key?.spec?.apiKey;
  if (!token) throw new Error('the platform issued no API key for the kubeconfig');
  return kubeconfigText(cluster, location.origin, token, await platformCa());
}

/** The platform's CA (PEM) when it generated its serving certificate; '' otherwise. */
async function platformCa(): Promise<string> {
  const res = await fetch('/apis/gateway.tkestack.io/v1/cacert', { credentials: 'same-origin' });
  return res.ok ? (await res.text()).trim() : '';
}

/** Base64 of text (UTF-8), as kubeconfigs carry certificates. */
function base64Of(text: string): string {
  let binary = '';
  for (const b of new TextEncoder().encode(text)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** The kubeconfig's text. */
export function kubeconfigText(cluster: string, origin: string, token: string, caPem = ''): string {
  const user = 'tke-user';
  const server = `${origin}${clusterProxy(cluster)}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: caPem ? { server, 'certificate-authority-data': base64Of(`${caPem}\n`) } : { server } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: cluster, context: { cluster, user } }],
    'current-context': cluster,
  });
}

/** Saves text as a file through a temporary object URL (no inline script, CSP-safe). */
export function download(filename: string, text: string, type = 'text/plain'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
