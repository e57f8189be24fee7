// A kubeconfig for a cluster, as the signed-in user: its server is the platform's cluster proxy
// (so the platform checks the user and impersonates them in the cluster), and its credential is
// the user's own platform token — an API key the user creates, since the browser's session cookie
// cannot be put in a file. Without a token it is written with an empty one to fill in.
import { clusterProxy } from '../api/kube';

export async function kubeconfigFor(cluster: string, token = ''): Promise<string> {
  const server = `${location.origin}${clusterProxy(cluster)}`;
  const user = 'tke-user';
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${cluster}`,
    '  cluster:',
    `    server: ${server}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: "${token.replace(/"/g, '')}"`,
    'contexts:',
    `- name: ${cluster}`,
    '  context:',
    `    cluster: ${cluster}`,
    `    user: ${user}`,
    `current-context: ${cluster}`,
    '',
  ].join('\n');
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
