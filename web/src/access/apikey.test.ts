import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../api/kube';
import { checkDescription, checkExpire, keyFlow, parseDuration, type KeyFlow } from './apikey';

const issued: KubeObject = {
  apiVersion: 'auth.tkestack.io/v1',
  kind: 'APIKey',
  metadata: { name: 'apk-1' },
  spec: { apiKey: 'eyJhbGciOiJFUzI1NiJ9.secret', expire_at: '2027-01-06T00:00:00Z', username: 'admin' },
};

describe('API key expiry', () => {
  it("parses the auth API's durations", () => {
    expect(parseDuration('24h')).toBe(86400);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('90d')).toBe(90 * 86400);
    expect(parseDuration('0h')).toBeNull();
    expect(parseDuration('1.5h')).toBeNull();
    expect(parseDuration('h')).toBeNull();
    expect(parseDuration('10')).toBeNull();
  });
  it('answers what the API answers', () => {
    expect(checkExpire('')).toBeNull();
    expect(checkExpire('720h')).toBeNull();
    expect(checkExpire('soon')).toBe('expire "soon" is not a duration such as 24h, 30m or 90d');
    expect(checkExpire('87600h')).toBeNull();
    expect(checkExpire('87601h')).toBe('expire may be at most 10 years (87600h)');
    expect(checkDescription('x'.repeat(1024))).toBeNull();
    expect(checkDescription('x'.repeat(1025))).toMatch(/at most 1024/);
  });
});

describe('show-once flow', () => {
  const run = (events: Parameters<typeof keyFlow>[1][]): KeyFlow => events.reduce(keyFlow, { step: 'form' } as KeyFlow);

  it('shows the token after issuing, until the dialog closes', () => {
    const shown = run([{ type: 'issue' }, { type: 'issued', key: issued }]);
    expect(shown).toEqual({ step: 'shown', name: 'apk-1', token: 'eyJhbGciOiJFUzI1NiJ9.secret', copied: false, expireAt: '2027-01-06T00:00:00Z' });
    expect(keyFlow(shown, { type: 'copied' })).toMatchObject({ copied: true });
    const closed = keyFlow(keyFlow(shown, { type: 'copied' }), { type: 'close' });
    expect(closed).toEqual({ step: 'done' });
    expect(JSON.stringify(closed)).not.toContain('secret');
  });

  it('never shows a token twice or without issuing', () => {
    const done = run([{ type: 'issue' }, { type: 'issued', key: issued }, { type: 'close' }]);
    expect(keyFlow(done, { type: 'issued', key: issued })).toEqual({ step: 'done' });
    expect(run([{ type: 'issued', key: issued }])).toEqual({ step: 'form' });
  });

  it('goes back to the form on failure or an answer without a token', () => {
    expect(run([{ type: 'issue' }, { type: 'failed' }])).toEqual({ step: 'form' });
    const noToken = { ...issued, spec: { username: 'admin' } };
    expect(run([{ type: 'issue' }, { type: 'issued', key: noToken }])).toEqual({ step: 'form' });
  });
});
