// Kubernetes object shapes the console relies on, and the paths of resources: the platform's own
// groups directly, a business cluster's resources through the platform's cluster proxy.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generateName?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [k: string]: unknown;
}

export interface KubeList<T = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Where a resource lives: group '' is the core API. */
export interface ResourceRef {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
  /** Set for a business cluster's resources: reached through the platform's cluster proxy. */
  cluster?: string;
}

export const PLATFORM = 'platform.tkestack.io';

export function clusterProxy(cluster: string): string {
  return `/apis/${PLATFORM}/v1/clusters/${encodeURIComponent(cluster)}/proxy`;
}

/** The collection path (namespace '' = all namespaces, or a cluster-scoped resource). */
export function collectionPath(r: ResourceRef, namespace = ''): string {
  const prefix = r.cluster ? clusterProxy(r.cluster) : '';
  const gv = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix}${gv}${ns}/${r.resource}`;
}

export function objectPath(r: ResourceRef, name: string, namespace = ''): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
}

export function apiVersionOf(r: ResourceRef): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** A stable key for an object within one list. */
export function keyOfObject(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** "5m", "3h", "2d": how long ago a timestamp was. */
export function age(ts: string | undefined, now: number = Date.now()): string {
  if (!ts) return '';
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
