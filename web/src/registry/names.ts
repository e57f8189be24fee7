// Image and chart addresses as people copy them: the registry is served on the platform's own
// host (or `{tenant}.{domainSuffix}` when the platform sets a domain suffix), images are
// `{host}/{namespace}/{repository}:{tag}`.

export function registryHost(domainSuffix: string | undefined, tenant: string | undefined, here: string): string {
  return domainSuffix && tenant ? `${tenant}.${domainSuffix}` : here;
}

export function pullCommand(host: string, namespace: string, repo: string, tag: string): string {
  return `docker pull ${host}/${namespace}/${repo}:${tag}`;
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
