// The notify objects as the console's forms see them: a channel's kind and fields (credentials
// are write-only: the form starts them empty, and an empty one is left out of the update so the
// server keeps the stored one), webhook headers as "Name: value" lines, receivers' addresses,
// and the inbox's unread count. Pure functions, tested without a browser.
import type { KubeObject } from '../api/kube';
import { field, str } from '../resources';

export const NOTIFY = 'notify.tkestack.io';
export const NOTIFY_V1 = '/apis/notify.tkestack.io/v1';
export const API_VERSION = 'notify.tkestack.io/v1';

export const CHANNEL_KINDS = ['smtp', 'webhook', 'tencentCloudSMS', 'wechat'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

export type ChannelField =
  | 'displayName'
  | 'kind'
  | 'smtpHost'
  | 'smtpPort'
  | 'tls'
  | 'email'
  | 'password'
  | 'url'
  | 'headers'
  | 'sdkAppID'
  | 'secretID'
  | 'appKey'
  | 'extend'
  | 'appID'
  | 'appSecret';

/** Which of the four a channel is ('' when none). */
export function channelKind(o: KubeObject | undefined): ChannelKind | '' {
  return CHANNEL_KINDS.find((k) => typeof field(o, 'spec', k) === 'object' && field(o, 'spec', k) !== null) ?? '';
}

/** The form of an existing channel (credentials empty: they are never shown), or a new one. */
export function channelForm(o?: KubeObject): Record<ChannelField, string> {
  const headers = field(o, 'spec', 'webhook', 'headers');
  return {
    displayName: str(o, 'spec', 'displayName'),
    kind: channelKind(o) || 'smtp',
    smtpHost: str(o, 'spec', 'smtp', 'smtpHost'),
    smtpPort: String(field(o, 'spec', 'smtp', 'smtpPort') ?? '465'),
    tls: field(o, 'spec', 'smtp', 'tls') === false ? 'false' : 'true',
    email: str(o, 'spec', 'smtp', 'email'),
    password: '',
    url: str(o, 'spec', 'webhook', 'url'),
    headers: headers && typeof headers === 'object' ? Object.entries(headers).map(([k, v]) => `${k}: ${String(v)}`).join('\n') : '',
    sdkAppID: str(o, 'spec', 'tencentCloudSMS', 'sdkAppID'),
    secretID: str(o, 'spec', 'tencentCloudSMS', 'secretID'),
    appKey: '',
    extend: str(o, 'spec', 'tencentCloudSMS', 'extend'),
    appID: str(o, 'spec', 'wechat', 'appID'),
    appSecret: '',
  };
}

/** "Name: value" lines as a header map; the first malformed line is an error. */
export function parseHeaders(text: string): Record<string, string> | { error: string } {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf(':');
    const name = at > 0 ? line.slice(0, at).trim() : '';
    if (!name || /\s/.test(name)) return { error: `line ${i + 1}: write "Name: value"` };
    out[name] = line.slice(at + 1).trim();
  }
  return out;
}

/** Sets `key` to `value` unless it is empty (a write-only credential left as it is). */
function secret(target: Record<string, unknown>, key: string, value: string) {
  if (value) target[key] = value;
}

/** The channel's spec from the form, keeping what the form does not show (tenant, finalizers). */
export function channelSpec(v: Record<ChannelField, string>, old?: KubeObject): Record<string, unknown> {
  const base = { ...((old?.spec as Record<string, unknown>) ?? {}) };
  for (const k of CHANNEL_KINDS) delete base[k];
  base.displayName = v.displayName.trim();
  const kind = v.kind as ChannelKind;
  if (kind === 'smtp') {
    const smtp: Record<string, unknown> = { smtpHost: v.smtpHost.trim(), smtpPort: Number(v.smtpPort) || 0, tls: v.tls === 'true', email: v.email.trim() };
    secret(smtp, 'password', v.password);
    base.smtp = smtp;
  } else if (kind === 'webhook') {
    const headers = parseHeaders(v.headers);
    base.webhook = { url: v.url.trim(), headers: 'error' in headers ? {} : headers };
  } else if (kind === 'tencentCloudSMS') {
    const sms: Record<string, unknown> = { sdkAppID: v.sdkAppID.trim(), secretID: v.secretID.trim() };
    if (v.extend.trim()) sms.extend = v.extend.trim();
    secret(sms, 'appKey', v.appKey);
    base.tencentCloudSMS = sms;
  } else {
    const wechat: Record<string, unknown> = { appID: v.appID.trim() };
    secret(wechat, 'appSecret', v.appSecret);
    base.wechat = wechat;
  }
  return base;
}

export const IDENTITIES = ['email', 'mobile', 'wechat_openid', 'webhook'] as const;

/** A receiver's addresses without the empty ones. */
export function identities(v: Partial<Record<(typeof IDENTITIES)[number], string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of IDENTITIES) {
    const value = (v[k] ?? '').trim();
    if (value) out[k] = value;
  }
  return out;
}

/** Comma- or space-separated names as a list. */
export function nameList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** How many of the messages are unread. */
export function unreadCount(messages: KubeObject[]): number {
  return messages.filter((m) => str(m, 'status', 'phase') !== 'Read').length;
}
