// A tenant (IdentityProvider) as its form edits it: the provider's configuration is a JSON
// string; the form shows the usual keys of an LDAP directory (dex's LDAP connector) or an
// upstream OpenID provider and keeps every other key as it was. Secrets (`bindPW`,
// `clientSecret`) are write-only: the API moves them out of the configuration and never
// returns them, so an empty secret field means "keep the current one" and is left out.

export type TenantType = 'tke' | 'ldap' | 'oidc';

/** Form fields → where they live in the configuration (dotted paths). */
export const CONFIG_FIELDS: Record<Exclude<TenantType, 'tke'>, { key: string; path: string; secret?: boolean; bool?: boolean }[]> = {
  ldap: [
    { key: 'host', path: 'host' },
    { key: 'insecureNoSSL', path: 'insecureNoSSL', bool: true },
    { key: 'bindDN', path: 'bindDN' },
    { key: 'bindPW', path: 'bindPW', secret: true },
    { key: 'userBaseDN', path: 'userSearch.baseDN' },
    { key: 'userFilter', path: 'userSearch.filter' },
    { key: 'userAttr', path: 'userSearch.username' },
    { key: 'groupBaseDN', path: 'groupSearch.baseDN' },
    { key: 'groupFilter', path: 'groupSearch.filter' },
  ],
  oidc: [
    { key: 'issuer', path: 'issuer' },
    { key: 'clientID', path: 'clientID' },
    { key: 'clientSecret', path: 'clientSecret', secret: true },
    { key: 'redirectURI', path: 'redirectURI' },
    { key: 'scopes', path: 'scopes' },
  ],
};

function getPath(o: Record<string, unknown>, path: string): unknown {
  let cur: unknown = o;
  for (const p of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function setPath(o: Record<string, unknown>, path: string, v: unknown) {
  const parts = path.split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1] as string] = v;
}

/** The configuration string parsed ({} when empty or not JSON). */
export function parseConfig(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text || '{}');
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The form's values of a configuration (secrets always empty). */
export function configValues(type: TenantType, config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  if (type === 'tke') return out;
  for (const f of CONFIG_FIELDS[type]) {
    const v = getPath(config, f.path);
    out[f.key] = f.secret ? '' : Array.isArray(v) ? v.join(' ') : v === undefined || v === null ? '' : String(v);
  }
  return out;
}

/** The configuration string to send: `base` with the form's values over it; empty secrets left out. */
export function configText(type: TenantType, values: Record<string, string>, base: Record<string, unknown> = {}): string {
  if (type === 'tke') return '';
  const out = structuredClone(base);
  for (const f of CONFIG_FIELDS[type]) {
    const v = (values[f.key] ?? '').trim();
    if (f.secret) {
      if (v) setPath(out, f.path, v);
      continue;
    }
    if (f.bool) setPath(out, f.path, v === 'true');
    else if (f.key === 'scopes') setPath(out, f.path, v.split(/[\s,]+/).filter(Boolean));
    else setPath(out, f.path, v);
  }
  return JSON.stringify(out);
}
