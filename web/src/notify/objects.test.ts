import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../api/kube';
import { channelForm, channelKind, channelSpec, identities, nameList, parseHeaders, unreadCount } from './objects';

const smtp: KubeObject = {
  metadata: { name: 'chn-a' },
  spec: { tenantID: 't1', displayName: 'Mail', smtp: { smtpHost: 'mail.example.org', smtpPort: 587, tls: false, email: 'a@example.org' } },
};

describe('channels', () => {
  it('never shows a credential and leaves an empty one out of the update', () => {
    const form = channelForm(smtp);
    expect(form.kind).toBe('smtp');
    expect(form.password).toBe('');
    expect(form.tls).toBe('false');
    const kept = channelSpec(form, smtp);
    expect(kept).toEqual({ tenantID: 't1', displayName: 'Mail', smtp: { smtpHost: 'mail.example.org', smtpPort: 587, tls: false, email: 'a@example.org' } });
    const changed = channelSpec({ ...form, password: 'new' }, smtp);
    expect((changed.smtp as Record<string, unknown>).password).toBe('new');
  });

  it('switches kinds cleanly', () => {
    const spec = channelSpec({ ...channelForm(smtp), kind: 'webhook', url: ' http://x/hook ', headers: 'X-Team: ops\n\nAuthorization: Bearer t' }, smtp);
    expect(spec.smtp).toBeUndefined();
    expect(spec.webhook).toEqual({ url: 'http://x/hook', headers: { 'X-Team': 'ops', Authorization: 'Bearer t' } });
    expect(channelKind({ metadata: { name: 'x' }, spec })).toBe('webhook');
    const sms = channelSpec({ ...channelForm(), kind: 'tencentCloudSMS', sdkAppID: '1400', secretID: 'AKID', appKey: '' });
    expect(sms.tencentCloudSMS).toEqual({ sdkAppID: '1400', secretID: 'AKID' });
  });

  it('reads webhook headers', () => {
    expect(parseHeaders('A: 1\nB:2')).toEqual({ A: '1', B: '2' });
    expect(parseHeaders('no colon')).toHaveProperty('error');
    expect(parseHeaders('Bad Name: 1')).toHaveProperty('error');
  });
});

describe('receivers and the inbox', () => {
  it('keeps only given addresses and names', () => {
    expect(identities({ email: ' a@example.org ', mobile: '', wechat_openid: 'o-1' })).toEqual({ email: 'a@example.org', wechat_openid: 'o-1' });
    expect(nameList('rcv-a, rcv-b  rcv-c,')).toEqual(['rcv-a', 'rcv-b', 'rcv-c']);
  });

  it('counts unread messages', () => {
    const m = (phase: string): KubeObject => ({ metadata: { name: phase }, status: { phase } });
    expect(unreadCount([m('Unread'), m('Read'), m('Unread')])).toBe(2);
  });
});
