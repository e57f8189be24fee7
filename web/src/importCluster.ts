// What importing a cluster sends: a ClusterCredential (CA, and a token or a client certificate
// and key, base64-encoded PEM as the API keeps them) and an Imported Cluster that references it
// with the API server's address — the objects of the README's import tour. A kubeconfig can fill
// the fields: its current context's server, CA and user credential.
import { parse } from 'yaml';

export interface ImportFields {
  name: string;
  displayName: string;
  server: string;
  caCert: string;
  token: string;
  clientCert: string;
  clientKey: string;
}

export class KubeconfigError extends Error {}

function named(list: unknown, name: string, key: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  const hit = list.find((e) => e && typeof e === 'object' && (e as { name?: unknown }).name === name) as Record<string, unknown> | undefined;
  const v = hit?.[key];
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
}

const s = (v: unknown) => (typeof v === 'string' ? v : '');

/** The server, CA and credential of a kubeconfig's current context (or its only one). */
export function fromKubeconfig(text: string): Pick<ImportFields, 'server' | 'caCert' | 'token' | 'clientCert' | 'clientKey'> {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new KubeconfigError(`the kubeconfig is not valid YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  if (!doc || typeof doc !== 'object') throw new KubeconfigError('the kubeconfig is empty');
  const kc = doc as Record<string, unknown>;
  const contexts = Array.isArray(kc.contexts) ? (kc.contexts as { name?: string }[]) : [];
  const ctxName = s(kc['current-context']) || (contexts.length === 1 ? s(contexts[0]?.name) : '');
  if (!ctxName) throw new KubeconfigError('the kubeconfig has no current-context: set one or keep a single context');
  const ctx = named(kc.contexts, ctxName, 'context');
  if (!ctx) throw new KubeconfigError(`context "${ctxName}" is not in the kubeconfig`);
  const cluster = named(kc.clusters, s(ctx.cluster), 'cluster');
  if (!cluster) throw new KubeconfigError(`cluster "${s(ctx.cluster)}" of context "${ctxName}" is not in the kubeconfig`);
  const user = named(kc.users, s(ctx.user), 'user') ?? {};
  const server = s(cluster.server);
  if (!server) throw new KubeconfigError('the cluster entry has no server');
  if (cluster['certificate-authority'] || user['client-certificate'] || user['client-key'] || user.tokenFile) {
    throw new KubeconfigError('the kubeconfig points to files; embed them (kubectl config view --raw --flatten --minify)');
  }
  if (user.exec || user['auth-provider']) {
    throw new KubeconfigError('the kubeconfig uses an exec or auth-provider plugin; give a token or a client certificate instead');
  }
  return {
    server,
    caCert: s(cluster['certificate-authority-data']),
    token: s(user.token),
    clientCert: s(user['client-certificate-data']),
    clientKey: s(user['client-key-data']),
  };
}

/** The API server's address as the Cluster keeps it. */
export function addressOf(server: string): { type: 'Advertise'; host: string; port: number; path?: string } {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new KubeconfigError(`"${server}" is not a URL (https://host:port)`);
  }
  if (u.protocol !== 'https:') throw new KubeconfigError('the API server must be reached over https');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : 443;
  const path = u.pathname.replace(/\/+$/, '');
  return path ? { type: 'Advertise', host, port, path } : { type: 'Advertise', host, port };
}

/** Base64 of PEM text; text that already is base64 (kubeconfig *-data fields) is kept. */
export function toBase64Pem(v: string): string {
  const t = v.trim();
  if (!t) return '';
  if (t.startsWith('-----BEGIN')) return btoa(t + '\n');
  return t.replace(/\s+/g, '');
}

export function randomClusterName(): string {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return 'cls-' + Array.from(bytes, (b) => abc[b % abc.length]).join('');
}

/** The two objects, in the order to create them. */
export function importObjects(f: ImportFields): { credential: Record<string, unknown>; cluster: Record<string, unknown> } {
  const name = f.name || randomClusterName();
  const cred: Record<string, unknown> = {
    apiVersion: 'platform.tkestack.io/v1',
    kind: 'ClusterCredential',
    metadata: { generateName: 'cc-' },
    clusterName: name,
  };
  if (f.caCert.trim()) cred.caCert = toBase64Pem(f.caCert);
  if (f.token.trim()) cred.token = f.token.trim();
  if (f.clientCert.trim()) cred.clientCert = toBase64Pem(f.clientCert);
  if (f.clientKey.trim()) cred.clientKey = toBase64Pem(f.clientKey);
  const cluster: Record<string, unknown> = {
    apiVersion: 'platform.tkestack.io/v1',
    kind: 'Cluster',
    metadata: { name },
    spec: { type: 'Imported', ...(f.displayName ? { displayName: f.displayName } : {}), clusterCredentialRef: { name: '' } },
    status: { addresses: [addressOf(f.server)] },
  };
  return { credential: cred, cluster };
}
