// Image and chart addresses as people copy them: the registry is served on the platform's own
// host (or `{tenant}.{domainSuffix}` when the platform sets a domain suffix), images are
// `{host}/{namespace}/{repository}:{tag}`.

export function registryHost(domainSuffix: string | undefined, tenant: string | undefined, here: string): string {
  return domainSuffix && tenant ? `${tenant}.${domainSuffix}` : here;
}

export function pullCommand(host: string, namespace: string, repo: string, tag: string): string {
  return `docker pull ${host}/${namespace}/${repo}:${tag}`;
}

export function pullByDigest(host: string, namespace: string, repo: string, digest: string): string {
  return `docker pull ${host}/${namespace}/${repo}@${digest}`;
}

/** "sha256:0123456789ab" — the digest shortened for a table cell (the whole one is copied). */
export function shortDigest(d: string): string {
  const [alg, hex] = d.split(':');
  return hex ? `${alg}:${hex.slice(0, 12)}` : d;
}

/** Chart repository names: the DNS label rule of the registry API. */
export const DNS_LABEL_RULE = "must consist of lowercase letters, digits and '-', start and end with a letter or digit, and be at most 63 characters";
export function registryName(v: string): string | null {
  if (v.trim() === '') return 'Required value';
  return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v) ? null : `Invalid value: "${v}": ${DNS_LABEL_RULE}`;
}

/** A chart archive's name and version from its file name (`nginx-1.2.3.tgz`), or null. */
export function chartFileName(file: string): { name: string; version: string } | null {
  const m = /^(.+?)-(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)\.tgz$/.exec(file);
  return m ? { name: m[1] as string, version: m[2] as string } : null;
}
