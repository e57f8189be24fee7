import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../api/kube';
import { email, groupsByUser, username } from './Users';
import { b64 } from '../../access/shared';

describe('user form', () => {
  it('checks usernames and e-mails with the API rules', () => {
    expect(username('alice')).toBeNull();
    expect(username('a.b_c-d@corp')).toBeNull();
    expect(username('-alice')).toMatch(/starting with a letter or digit/);
    expect(username('al ice')).toMatch(/^Invalid value: "al ice"/);
    expect(username('a'.repeat(128))).toBeNull();
    expect(username('a'.repeat(129))).not.toBeNull();
    expect(email('bob@example.org')).toBeNull();
    expect(email('bob@localhost')).toMatch(/e-mail address/);
    expect(email('bob@@example.org')).not.toBeNull();
  });

  it('sends passwords as base64 of their UTF-8 bytes', () => {
    expect(b64('password')).toBe('cGFzc3dvcmQ=');
    expect(b64('密码')).toBe('5a+G56CB');
  });

  it('reads membership from the groups', () => {
    const g = (name: string, display: string, ids: string[]): KubeObject => ({
      metadata: { name },
      spec: { displayName: display },
      status: { users: ids.map((id) => ({ id, name: id })) },
    });
    const m = groupsByUser([g('grp-1', 'devs', ['usr-a', 'usr-b']), g('grp-2', '', ['usr-a'])]);
    expect(m.get('usr-a')).toEqual(['devs', 'grp-2']);
    expect(m.get('usr-b')).toEqual(['devs']);
    expect(m.get('usr-c')).toBeUndefined();
  });
});
