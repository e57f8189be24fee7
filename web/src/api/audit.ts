// The audit component's query API (audit.tkestack.io/v1 events/...): the search the Audit page
// sends, the export links, and the shapes of its answers. Not Kubernetes objects: paged by the
// server, newest first.
import { api } from './client';

export const AUDIT = '/apis/audit.tkestack.io/v1/events';

/** One stored event (the reference's flat form). */
export interface AuditEvent {
  auditID: string;
  stage: string;
  requestURI: string;
  verb: string;
  userName: string;
  userAgent: string;
  resource: string;
  namespace: string;
  name: string;
  uid: string;
  apiGroup: string;
  apiVersion: string;
  sourceIPs: string;
  status: string;
  message: string;
  reason: string;
  details: string;
  code: number;
  requestObject: string;
  responseObject: string;
  /** Milliseconds since the epoch. */
  requestReceivedTimestamp: number;
  stageTimestamp: number;
  clusterName: string;
  tenantID: string;
}

export interface AuditPage {
  items: AuditEvent[];
  total: number;
  totalIsLowerBound: boolean;
  pageIndex: number;
  pageSize: number;
}

/** What the page searches by; empty strings do not filter. */
export interface AuditSearch {
  /** `datetime-local` values (the browser's time zone). */
  from: string;
  to: string;
  user: string;
  cluster: string;
  namespace: string;
  resource: string;
  verb: string;
  /** `Success`, `Failure` or empty. */
  status: string;
}

export const emptySearch: AuditSearch = { from: '', to: '', user: '', cluster: '', namespace: '', resource: '', verb: '', status: '' };

/** Milliseconds of a `datetime-local` value, or undefined when it is empty or not a time. */
export function millisOf(local: string): number | undefined {
  if (!local) return undefined;
  const t = new Date(local).getTime();
  return Number.isFinite(t) ? t : undefined;
}

/** The query string of a search (without `?`). */
export function searchQuery(s: AuditSearch, extra: Record<string, string | number> = {}): string {
  const q = new URLSearchParams();
  const start = millisOf(s.from);
  const end = millisOf(s.to);
  if (start !== undefined) q.set('startTime', String(start));
  if (end !== undefined) q.set('endTime', String(end));
  for (const key of ['user', 'cluster', 'namespace', 'resource', 'verb', 'status'] as const) {
    const v = s[key].trim();
    if (v) q.set(key, v);
  }
  for (const [k, v] of Object.entries(extra)) q.set(k, String(v));
  return q.toString();
}

export function listEvents(s: AuditSearch, pageIndex: number, pageSize: number, signal?: AbortSignal): Promise<AuditPage> {
  return api.get<AuditPage>(`${AUDIT}/list?${searchQuery(s, { pageIndex, pageSize })}`, signal);
}

export function getEvent(auditID: string): Promise<AuditEvent> {
  return api.get<AuditEvent>(`${AUDIT}/get?auditID=${encodeURIComponent(auditID)}`);
}

export function fieldValues(): Promise<Record<string, string[]>> {
  return api.get<Record<string, string[]>>(`${AUDIT}/listFieldValues`);
}

/** The export link of a search. */
export function exportUrl(s: AuditSearch, format: 'csv' | 'json'): string {
  return `${AUDIT}/filedownload?${searchQuery(s, { format })}`;
}

/** A stored body (JSON text) indented for reading; other text as it is. */
export function prettyBody(text: string): string {
  if (!text) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
