import { describe, expect, it } from 'vitest';
import { configText, configValues, parseConfig } from './tenant';

describe('tenant provider settings', () => {
  it('reads the LDAP keys into the form, never a secret', () => {
    const stored = parseConfig(
      JSON.stringify({ host: 'ldap:636', bindDN: 'cn=admin', userSearch: { baseDN: 'ou=people', username: 'uid', emailAttr: 'mail' }, insecureNoSSL: true }),
    );
    const v = configValues('ldap', stored);
    expect(v).toMatchObject({ host: 'ldap:636', bindDN: 'cn=admin', bindPW: '', userBaseDN: 'ou=people', userAttr: 'uid', insecureNoSSL: 'true' });
    expect(configValues('tke', stored)).toEqual({});
    expect(parseConfig('not json')).toEqual({});
    expect(parseConfig('[1]')).toEqual({});
  });

  it('writes the form over the stored keys, leaving an empty secret out (kept by the API)', () => {
    const base = parseConfig(JSON.stringify({ host: 'old:389', userSearch: { baseDN: 'ou=old', emailAttr: 'mail' }, groupSearch: { nameAttr: 'cn' } }));
    const out = JSON.parse(configText('ldap', { host: 'ldap:636', bindPW: '', userBaseDN: 'ou=people', insecureNoSSL: 'false' }, base));
    expect(out.host).toBe('ldap:636');
    expect(out.userSearch).toEqual({ baseDN: 'ou=people', emailAttr: 'mail', filter: '', username: '' });
    expect(out.groupSearch.nameAttr).toBe('cn');
    expect('bindPW' in out).toBe(false);
    expect(JSON.parse(configText('ldap', { bindPW: 's3cret' })).bindPW).toBe('s3cret');
    expect(base.host).toBe('old:389');
  });

  it('writes OpenID settings with scopes as a list, and nothing for tke', () => {
    const out = JSON.parse(configText('oidc', { issuer: 'https://id.example.org', clientID: 'tke', clientSecret: 'x', scopes: 'openid, email profile' }));
    expect(out).toMatchObject({ issuer: 'https://id.example.org', clientID: 'tke', clientSecret: 'x', scopes: ['openid', 'email', 'profile'] });
    expect(configText('tke', { host: 'x' })).toBe('');
  });
});
